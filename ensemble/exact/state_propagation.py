"""The exact solver for larger systems: exp(L dt) applied to the states, never formed.

The dense path (:class:`.superoperators._Solver`) exponentiates the d^2 x d^2 Liouvillian restricted to
the reachable subspace: exact and fast for small d, but its cost grows as d^6 (d = 16: seconds, d = 64:
hours). From d >= STATE_PROPAGATION_DIM the solver instead propagates the vectorised branch states
with scipy.sparse.linalg.expm_multiply (Al-Mohy & Higham 2011: a truncated Taylor series with scaling
whose degree and step count are chosen for a backward error below double-precision unit roundoff; no
ODE tolerance). The Liouvillian acts either as a sparse CSR matrix built from H_eff and the jump
operators (spin chains: local operators are sparse) or, when that matrix would be nearly full (dense
random models), as matrix products rho -> A rho + rho B + sum_k L_k rho L_k^dag, O(K d^3) per vector;
the cheaper of the two is chosen from the operators' sparsity. The record maps act as K rho K^dag in
the same way. The full operator space is used (no reachable-subspace reduction), so directions the
dense path keeps exactly zero carry rounding errors here (~1e-16 relative per step).
"""

from __future__ import annotations

import math
import sys
import time
import warnings
from typing import Any

import numpy as np
import scipy.sparse as sp
from numpy.typing import ArrayLike
from scipy.sparse.linalg import LinearOperator, aslinearoperator, onenormest
from scipy.sparse.linalg._interface import IdentityOperator

from ...trajectories.plan import Model
from ...trajectories.protocol import Protocol

try:  # scipy's parameter choice of Al-Mohy & Higham (2011), Algorithm 3.2; private, so a missing one falls back
    from scipy.sparse.linalg._expm_multiply import LazyOperatorNormInfo, _fragment_3_1
except ImportError:  # pragma: no cover (depends on the scipy release)
    LazyOperatorNormInfo = _fragment_3_1 = None

#: Fall-back Taylor degree and its theta (the same paper's Table 3.1, unit roundoff 2**-53): s steps with
#: dt * ||A||_1 / s <= theta_55 keep the backward error below unit roundoff, at a few more products.
_M_FALLBACK, _THETA_FALLBACK = 55, 9.9

#: From this Hilbert-space dimension on the solver propagates states (measured on random LindbladModels
#: with 4 channels: at d = 8 the dense path takes ~0.05 s and wins; at d = 16 it takes seconds against
#: ~0.1 s here; benchmarks/exact_scaling.py).
STATE_PROPAGATION_DIM = 16
#: A predicted run time above this shows a progress bar (stderr); above WARN_SECONDS a RuntimeWarning.
PROGRESS_SECONDS = 3.0
WARN_SECONDS = 60.0
#: CSR is used when its entries cost less than this fraction of the matrix-product flops (BLAS
#: matrix products run several times faster per flop than a sparse matrix-vector product).
CSR_FRACTION = 0.25


def _csr(a: np.ndarray) -> sp.csr_matrix:
    m = sp.csr_matrix(a)
    m.eliminate_zeros()
    return m


def sparse_liouvillian(heff: np.ndarray, jumps: np.ndarray) -> sp.csr_matrix:
    """The Liouvillian (d^2, d^2) on row-major vec(rho) as a CSR matrix, built without dense d^2 x d^2.

    L = -i H_eff kron 1 + i 1 kron H_eff^* + sum_k L_k kron L_k^* (vec(A X B) = (A kron B^T) vec(X)),
    the same matrix as ``model.liouvillian()``.

    Parameters
    ----------
    heff : ndarray of complex, shape (d, d)
        The effective Hamiltonian H - (i/2) sum_k L_k^dag L_k.
    jumps : ndarray of complex, shape (K, d, d)

    Returns
    -------
    scipy.sparse.csr_matrix of complex128, shape (d^2, d^2)
    """
    d = heff.shape[0]
    one = sp.identity(d, complex, format="csr")
    h = _csr(heff)
    L = sp.kron(-1j * h, one, format="csr") + sp.kron(one, 1j * h.conj(), format="csr")
    for Lk in jumps:
        k = _csr(Lk)
        L = L + sp.kron(k, k.conj(), format="csr")
    L = sp.csr_matrix(L)
    L.sum_duplicates()
    return L


class LiouvillianAction:
    """The action of a Liouvillian on stacks of vectorised operators, for expm_multiply.

    Parameters
    ----------
    heff : ndarray of complex, shape (d, d)
    jumps : ndarray of complex, shape (K, d, d)
    """

    def __init__(self, heff: np.ndarray, jumps: np.ndarray) -> None:
        d = heff.shape[0]
        self.d = d
        self.D = d * d
        jumps = np.asarray(jumps, complex).reshape(-1, d, d)
        nnz_h = int(np.count_nonzero(heff))
        nnz = 2 * d * nnz_h + sum(int(np.count_nonzero(k)) ** 2 for k in jumps)
        flops = (2 + 2 * len(jumps)) * d**3
        self.is_csr = nnz <= CSR_FRACTION * flops
        # tr(A kron B) = tr A tr B
        self.trace = complex(-1j * d * np.trace(heff) + 1j * d * np.conj(np.trace(heff)))
        self.trace += complex(sum(abs(np.trace(k)) ** 2 for k in jumps))
        self.op: Any
        if self.is_csr:
            self.op = sparse_liouvillian(heff, jumps)
            self.cost = float(self.op.nnz)
            self.norm1 = float(abs(self.op).sum(axis=0).max()) if self.op.nnz else 0.0
        else:
            self._a, self._b, self._jumps = -1j * heff, 1j * heff.conj().T, jumps
            self._jumps_h = np.conj(np.swapaxes(jumps, 1, 2))
            self.op = LinearOperator(
                (self.D, self.D), matvec=self._apply, matmat=self._apply, rmatvec=self._adjoint, dtype=complex
            )
            self.op.rmatmat = self._adjoint
            self.cost = float(flops) / 4
            # |A kron B|_1 = |A|_1 |B|_1 bounds the 1-norm (only for estimates)
            n1 = np.linalg.norm(heff, 1)
            self.norm1 = float(2 * n1 + sum(np.linalg.norm(k, 1) ** 2 for k in jumps))

    def _stack(self, X: np.ndarray) -> tuple[np.ndarray, bool]:
        one = X.ndim == 1
        m = 1 if one else X.shape[1]
        return X.reshape(self.D, m).T.reshape(m, self.d, self.d), one

    def _unstack(self, Y: np.ndarray, one: bool) -> np.ndarray:
        out = Y.reshape(Y.shape[0], self.D).T
        return out[:, 0] if one else out

    def _apply(self, X: np.ndarray) -> np.ndarray:
        R, one = self._stack(np.asarray(X, complex))
        Y = self._a @ R + R @ self._b
        for k, kh in zip(self._jumps, self._jumps_h, strict=True):
            Y += k @ R @ kh
        return self._unstack(Y, one)

    def _adjoint(self, X: np.ndarray) -> np.ndarray:
        R, one = self._stack(np.asarray(X, complex))
        Y = self._a.conj().T @ R + R @ self._b.conj().T
        for k, kh in zip(self._jumps, self._jumps_h, strict=True):
            Y += kh @ R @ k
        return self._unstack(Y, one)

    def matvecs(self, dt: float, m: int) -> int:
        """Rough number of operator applications for one step dt on m vectors (for time estimates)."""
        return m * math.ceil(5.5 * self.norm1 * dt + 20.0)


class TaylorExponential:
    """exp(A dt) B by the truncated Taylor method of Al-Mohy & Higham (2011), as in
    scipy.sparse.linalg.expm_multiply (whose parameter selection it uses), with the degree and the number
    of substeps chosen once per distinct dt: a protocol's steps repeat, and choosing them costs more than
    a short step. Backward error below double-precision unit roundoff.

    Parameters
    ----------
    op : scipy.sparse.csr_matrix or LinearOperator, shape (n, n)
    trace : complex
        The trace of ``op`` (the shift mu = trace / n reduces the norm).
    """

    def __init__(self, op: Any, trace: complex) -> None:
        n = op.shape[0]
        self.mu = trace / n
        self.csr = sp.issparse(op)
        if self.csr:
            self.A = sp.csr_matrix(op - self.mu * sp.identity(n, complex, format="csr"))
            self.norm1 = float(abs(self.A).sum(axis=0).max()) if self.A.nnz else 0.0
        else:
            self.A = aslinearoperator(op) - self.mu * IdentityOperator((n, n), dtype=complex)
            self.norm1 = float(onenormest(self.A)) if n > 1 else float(abs(self.A @ np.ones(1))[0])
        self._params: dict[float, tuple[int, int]] = {}

    def _choose(self, dt: float, m: int) -> tuple[int, int]:
        p = self._params.get(dt)
        if p is None:
            if dt * self.norm1 == 0:
                p = (0, 1)
            elif _fragment_3_1 is None:
                p = (_M_FALLBACK, max(1, math.ceil(dt * self.norm1 / _THETA_FALLBACK)))
            else:
                info = LazyOperatorNormInfo(self.A * dt, A_1_norm=dt * self.norm1, ell=2)
                p = _fragment_3_1(info, m, _TOL, ell=2)
            self._params[dt] = p
        return p

    def __call__(self, B: np.ndarray, dt: float) -> np.ndarray:
        """exp(op dt) B for B (n,) or (n, m)."""
        m_star, s = self._choose(dt, 1 if B.ndim == 1 else B.shape[1])
        F = B
        eta = np.exp(dt * self.mu / s)
        for _ in range(s):
            c1 = _inf_norm(B)
            for j in range(m_star):
                B = (dt / (s * (j + 1))) * (self.A @ B)
                c2 = _inf_norm(B)
                F = F + B
                if c1 + c2 <= _TOL * _inf_norm(F):
                    break
                c1 = c2
            F = eta * F
            B = F
        return F


_TOL = 2.0**-53


def _inf_norm(B: np.ndarray) -> float:
    a = np.abs(B)
    return float(a.max()) if B.ndim == 1 else float(a.sum(axis=1).max())


class _RecordMap:
    """rho -> sum_j c_j K_j rho K_j^dag on vec(rho) (d^2,) or on each row of a stack (m, d^2)."""

    def __init__(self, pieces: list[tuple[float, np.ndarray]], d: int) -> None:
        self.d = d
        self.pieces = pieces
        nnz = sum(int(np.count_nonzero(K)) ** 2 for _, K in pieces)
        self.csr: sp.csr_matrix | None = None
        if nnz <= CSR_FRACTION * 2 * max(len(pieces), 1) * d**3:
            M = sp.csr_matrix((d * d, d * d), dtype=complex)
            for c, K in pieces:
                k = _csr(K)
                M = M + c * sp.kron(k, k.conj(), format="csr")
            self.csr = sp.csr_matrix(M)

    def __call__(self, v: np.ndarray) -> np.ndarray:
        if self.csr is not None:
            return self.csr @ v if v.ndim == 1 else (self.csr @ v.T).T
        R = v.reshape(-1, self.d, self.d)
        out = np.zeros_like(R)
        for c, K in self.pieces:
            out += c * (K @ R @ K.conj().T)
        return out.reshape(v.shape)


class _StateSolver:
    """The solver interface of :class:`.superoperators._Solver` (reduce, expand, propagate, apply_map,
    trace, noise), in the full operator space, with exp(L dt) applied to the states."""

    def __init__(self, model: Model, protocol: Protocol) -> None:
        d = protocol.rho0.shape[0]
        self.d = d
        self.action = LiouvillianAction(
            np.asarray(model.effective_hamiltonian(), complex),
            np.asarray(model.jump_operators(), complex).reshape(-1, d, d),
        )
        self.exp = TaylorExponential(self.action.op, self.action.trace)
        if protocol.has_monitor:
            raise ValueError(
                f"measurement: monitored windows need the dense exact solver (d < {STATE_PROPAGATION_DIM}); "
                f"this model has d = {d}"
            )
        # each distinct instrument's record maps rho -> sum_j c_j K_j rho K_j^dag, as a sparse
        # superoperator when the K_j are sparse (projectors of local observables), else as products
        built: dict[int, list[_RecordMap]] = {}
        self.maps: list[list[_RecordMap]] = []
        self.hist: dict[tuple[int, int], list[_RecordMap]] = {}
        for k, m in enumerate(protocol.measurements):
            if id(m) not in built:
                built[id(m)] = [_RecordMap(terms, d) for terms in m.weighted_kraus()]  # type: ignore[union-attr]
            self.maps.append(built[id(m)])
            if m.history_feedback:
                for st in range(protocol.selection.n_states):
                    self.hist[k, st] = [_RecordMap(terms, d) for terms in m.weighted_kraus(st)]  # type: ignore[union-attr]
        self.tr = np.eye(d, dtype=complex).reshape(-1)
        self._noise = np.random.default_rng(20211)
        self.progress: Any = None

    @property
    def q(self) -> int:
        """Dimension of the (full) operator space, d^2."""
        return self.d * self.d

    def reduce(self, x: np.ndarray) -> np.ndarray:
        """The identity: the state path works in the full space."""
        return np.array(x, complex)

    def expand(self, vecs: np.ndarray) -> np.ndarray:
        """The identity (see :meth:`reduce`)."""
        return vecs

    def propagate(self, dt: float, vecs: list[np.ndarray]) -> list[np.ndarray]:
        """exp(L dt) applied to each row of every stack (m, d^2) in ``vecs``, in one expm_multiply call."""
        rows = np.concatenate(vecs, axis=0)
        live = np.flatnonzero(np.any(rows != 0, axis=1))
        out = np.zeros_like(rows)
        if live.size:
            out[live] = self.exp(np.ascontiguousarray(rows[live].T), dt).T
        if self.progress is not None:
            self.progress.update(self.action.matvecs(dt, live.size))
        parts = np.cumsum([v.shape[0] for v in vecs])[:-1]
        return list(np.split(out, parts, axis=0))

    def apply_map(self, k: int, r: int, v: np.ndarray, state: int | None = None) -> np.ndarray:
        """Round k's record-r map on a vector (d^2,) or on each row of a stack (m, d^2); ``state`` as for
        the dense solver's."""
        if state is not None and (k, state) in self.hist:
            return self.hist[k, state][r](v)
        return self.maps[k][r](v)

    def noise(self, shape: tuple[int, ...], scale: ArrayLike) -> np.ndarray:
        """Random vectors of norm ``scale`` (per row): the size of one rounding error."""
        z = self._noise.standard_normal(shape + (2,)).view(complex)[..., 0]
        n = np.linalg.norm(z, axis=-1, keepdims=True)
        return z / np.where(n > 0, n, 1.0) * np.asarray(scale)[..., None]

    def trace(self, vec: np.ndarray) -> np.ndarray:
        """Trace of vectorised operators (..., d^2)."""
        return (vec @ self.tr).real

    def start_progress(self, protocol: Protocol, branches: int) -> None:
        """Estimate the run time up front (one timed operator application); warn when it will take
        minutes, and show a tqdm bar on stderr when it will take more than a few seconds."""
        t_events = protocol.events()[0]
        steps = np.diff(np.concatenate([[0.0], t_events]))
        steps = steps[steps > 0]
        m = 2 * branches  # branch states and their rounding probes
        total = sum(self.action.matvecs(float(dt), m) for dt in steps)
        R = protocol.rounds
        if 0 < R <= 16:  # the record probabilities: 2**k prefixes between rounds k and k + 1
            total += sum(self.action.matvecs(float(dt), 2**k) for k, dt in enumerate(np.diff(protocol.measure_at)))
        probe = np.zeros((self.q, 1), complex)
        probe[0] = 1.0
        t0 = time.perf_counter()
        self.action.op @ probe
        per = max(time.perf_counter() - t0, 1e-7)
        seconds = total * per
        if seconds > WARN_SECONDS:
            warnings.warn(
                f"the exact solve of a d = {self.d} model will take about {seconds / 60:.1f} min "
                f"({total:.3g} Liouvillian applications on {m} branch vectors)",
                RuntimeWarning,
                stacklevel=4,
            )
        if seconds > PROGRESS_SECONDS:
            from tqdm.auto import tqdm

            self.progress = tqdm(total=total, unit="matvec", desc="darkspin exact", file=sys.stderr, dynamic_ncols=True)

    def close(self) -> None:
        """Close the progress bar, if any."""
        if self.progress is not None:
            self.progress.update(max(self.progress.total - self.progress.n, 0))  # the estimate was rough
            self.progress.close()
            self.progress = None
