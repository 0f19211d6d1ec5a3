"""The exact solver's superoperators: the instruments' record maps on vec(rho), the smallest subspace of
operator space a protocol reaches, and the propagators exp(L dt) restricted to it.

Everything is done in the smallest subspace of operator space that contains rho0 and is invariant under
L and every record's map (found once, by Krylov iteration). Directions outside it, such as the dark
singlet when starting from a triplet state at the symmetric point, are then exactly zero forever instead
of carrying rounding errors that a long post-selection would amplify by 1/p per round. Short steps use
scipy's scaling and squaring; steps many relaxation times long use the eigenbasis of L (when it is well
conditioned), because squaring doubles the error of the stationary part at every step.

The point solver (:mod:`.solver`), its jump statistics (:mod:`.jump_statistics`) and the batched solver
(:mod:`.batch`) all build on this module.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable
from typing import Literal

import numpy as np
import scipy.linalg
from numpy.typing import ArrayLike

from ...trajectories.monitor import Monitor
from ...trajectories.plan import Model
from ...trajectories.protocol import Protocol
from .monitor_generator import Window, extra_superops, watched_superop

#: Weight (relative to the norm of the operator producing it) below which a Krylov direction counts as
#: rounding, not structure: rounding leaves ~1e-16, a physical coupling of relative size 1e-13 is kept.
SUBSPACE_TOL = 1e-13
_EPS = np.finfo(float).eps

#: Steps with |Lr dt|_1 above this use the eigenbasis of Lr: scaling and squaring doubles the error of
#: the stationary part at every squaring, so it loses ~1 digit per 3 decades of dt (5e-10 at 1e6).
EXPM_NORM_MAX = 50.0
#: Largest condition number of Lr's eigenbasis accepted for that (error ~ cond * 1e-16).
EIG_COND_MAX = 1e5


def _superop(K: np.ndarray) -> np.ndarray:
    """Superoperator of rho -> K rho K^dag on row-major vec(rho): kron(K, conj(K))."""
    return np.kron(K, K.conj())


def record_superops(protocol: Protocol) -> tuple[np.ndarray, np.ndarray]:
    """The superoperators of the instruments' record maps: (maps (I, 2, d^2, d^2) complex, one per
    distinct instrument and record, which (R,) int64 the instrument of each round).

    Record r maps rho -> sum_j w_j K_j rho K_j^dag (Measurement.superoperators; for a projective
    instrument U_r (sum_m P(r | m) P_m rho P_m) U_r^dag). A monitored window's record is not a map of
    the state at one instant: its entry is (0, identity), the sum of its records without feedback,
    and the solver propagates it with :mod:`.monitor_generator` instead.
    """
    d = protocol.rho0.shape[0]
    distinct = list(dict.fromkeys(protocol.measurements))
    which = np.array([distinct.index(m) for m in protocol.measurements], np.int64)
    maps = np.zeros((len(distinct), 2, d * d, d * d), complex)
    for i, m in enumerate(distinct):
        if isinstance(m, Monitor):
            maps[i, 1] = np.eye(d * d)
        else:
            maps[i] = m.superoperators()
    return maps, which


def reachable_subspace(
    L: np.ndarray, maps: Iterable[np.ndarray], v0: np.ndarray, tol: float = SUBSPACE_TOL
) -> np.ndarray:
    """Orthonormal basis (D, q) of the smallest subspace containing v0 and invariant under L and ``maps``.

    L: (D, D); maps: iterable of (D, D); v0: (D,). A new direction counts only if its weight exceeds
    ``tol`` times the norm of the operator that produced it: applying an operator of norm |A| to a unit
    vector leaves rounding errors of ~1e-16 |A|, while a structural zero (the dark singlet at the
    symmetric point) stays at that level forever.
    """
    ops = [op for op in (L, *maps)]
    scale = [max(np.linalg.norm(op, 2), 1e-300) for op in ops]
    Q = (v0 / np.linalg.norm(v0))[:, None]
    frontier = Q
    while frontier.shape[1] and Q.shape[1] < v0.size:
        cand = np.concatenate([op @ frontier / a for op, a in zip(ops, scale, strict=True)], axis=1)
        cand = cand - Q @ (Q.conj().T @ cand)
        cand = cand - Q @ (Q.conj().T @ cand)  # twice is enough (Kahan-Parlett)
        u, sv, _ = np.linalg.svd(cand, full_matrices=False)
        new = u[:, sv > tol][:, : v0.size - Q.shape[1]]
        # small singular values amplify the rounding left along Q: orthogonalise the new basis again
        for _ in range(2):
            new = new - Q @ (Q.conj().T @ new)
            new = np.linalg.qr(new)[0]
        Q = np.concatenate([Q, new], axis=1)
        frontier = new
    return Q


class _Solver:
    """The exact solver's reduced representation of one (model, protocol)."""

    def __init__(self, model: Model, protocol: Protocol):
        d = protocol.rho0.shape[0]
        self.d = d
        self.L = np.asarray(model.liouvillian(), complex)
        maps, which = record_superops(protocol)
        extra = extra_superops(model, protocol)
        self.Q = reachable_subspace(
            self.L, [*maps.reshape(-1, d * d, d * d), *extra], protocol.rho0.reshape(-1).astype(complex)
        )
        Qh = self.Q.conj().T
        self.Lr = Qh @ self.L @ self.Q
        # reduced record maps of each round, (R, 2, q, q), shared between rounds with one instrument
        self.maps_r = np.einsum("ab,krbc,cd->krad", Qh, maps, self.Q)[which]
        # feedback on the rule state: (round, state) -> (2, q, q); monitored windows: round -> Window
        self.hist: dict[tuple[int, int], np.ndarray] = {}
        self.windows: dict[int, Window] = {}
        built: dict[int, Window] = {}
        for k, m in enumerate(protocol.measurements):
            if isinstance(m, Monitor):
                if id(m) not in built:
                    J = watched_superop(model, m)
                    built[id(m)] = Window(self.Lr, self.Q, J, m, protocol.selection.n_states)
                self.windows[k] = built[id(m)]
            elif m.history_feedback:
                for st in range(protocol.selection.n_states):
                    self.hist[k, st] = np.einsum("ab,rbc,cd->rad", Qh, m.superoperators(st), self.Q)
        # trace functional in reduced coordinates
        self.tr = self.Q.reshape(d, d, -1)[np.arange(d), np.arange(d)].sum(axis=0)
        self._cache: dict[float, np.ndarray] = {}
        # (lam, V, V^-1) once found; False when the eigenbasis is too ill-conditioned to use
        self._eig: tuple[np.ndarray, np.ndarray, np.ndarray] | Literal[False] | None = None
        self._warned_long = False
        self._noise = np.random.default_rng(20211)

    def propagator(self, dt: float, cache: bool = True) -> np.ndarray:
        """exp(Lr dt), (q, q): scaling and squaring for short steps, the eigenbasis for long ones.

        cache: keep it for the next call with the same dt (a search over times sees each dt once: False).
        """
        if not cache:
            return self._cache[dt] if dt in self._cache else self._exp(dt)
        U = self._cache.get(dt)
        if U is None:
            U = self._cache[dt] = self._exp(dt)
        return U

    def _exp(self, dt: float) -> np.ndarray:
        A = self.Lr * dt
        if np.linalg.norm(A, 1) <= EXPM_NORM_MAX:
            return scipy.linalg.expm(A)
        if self._eig is None:
            lam, V = _eig_checked(self.Lr)
            cond = np.linalg.cond(V) if np.all(np.isfinite(V)) else np.inf
            # decay rates are <= 0; those within rounding of 0 (the stationary states, undamped
            # coherences) are exactly 0, else exp(lam dt) would drift by eps |L| dt
            tiny = 64 * _EPS * np.linalg.norm(self.Lr, 2)
            re = np.minimum(lam.real, 0.0)
            re[np.abs(re) <= tiny] = 0.0
            lam = np.where(np.abs(lam) <= tiny, 0.0, re + 1j * lam.imag)
            self._eig = (lam, V, np.linalg.inv(V)) if cond <= EIG_COND_MAX else False
        if self._eig is False:
            # nearly defective: no well-conditioned eigenbasis; squaring is all there is
            if not self._warned_long:
                warnings.warn(
                    f"a step of length {dt:g} is {np.linalg.norm(A, 1):.3g} relaxation times long and the "
                    "Liouvillian is nearly defective: the exact solution may lose accuracy there",
                    RuntimeWarning,
                    stacklevel=4,
                )
                self._warned_long = True
            return scipy.linalg.expm(A)
        lam, V, Vinv = self._eig
        # modes that decayed below the smallest double are exactly zero; the kernel stays exactly one
        return (V * np.exp(lam * dt)) @ Vinv

    @property
    def q(self) -> int:
        """Dimension of the reduced space."""
        return int(self.Q.shape[1])

    def reduce(self, x: np.ndarray) -> np.ndarray:
        """Reduced coordinates (q,) of a vectorised operator x (d^2,)."""
        return self.Q.conj().T @ x

    def expand(self, vecs: np.ndarray) -> np.ndarray:
        """Vectorised operators (m, d^2) of reduced vectors (m, q)."""
        return vecs @ self.Q.T

    def propagate(self, dt: float, vecs: list[np.ndarray]) -> list[np.ndarray]:
        """exp(Lr dt) applied to each stack of row vectors (m, q) in ``vecs``."""
        U = self.propagator(dt).T
        return [v @ U for v in vecs]

    def apply_map(self, k: int, r: int, v: np.ndarray, state: int | None = None) -> np.ndarray:
        """Round k's record-r map applied to a vector (q,) or to each row of a stack (m, q); ``state``, the
        rule machine's state before the round, picks the variant of feedback on the history."""
        M = self.maps_r[k, r] if state is None or (k, state) not in self.hist else self.hist[k, state][r]
        return M @ v if v.ndim == 1 else v @ M.T

    def noise(self, shape: tuple[int, ...], scale: ArrayLike) -> np.ndarray:
        """Random vectors of norm ``scale`` (per row): the size of one rounding error."""
        z = self._noise.standard_normal(shape + (2,)).view(complex)[..., 0]
        n = np.linalg.norm(z, axis=-1, keepdims=True)
        return z / np.where(n > 0, n, 1.0) * np.asarray(scale)[..., None]

    def state(self, vec: np.ndarray) -> np.ndarray:
        return (self.Q @ vec).reshape(self.d, self.d)

    def trace(self, vec: np.ndarray) -> np.ndarray:
        return (vec @ self.tr).real


#: Largest eigenpair residual |A v - lam v|, relative to |A|_F, accepted from np.linalg.eig.
EIG_RESIDUAL_MAX = 1e3 * _EPS


def _eig_checked(A: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """np.linalg.eig of A (q, q), checked by its residuals; NaN eigenvectors if no accurate one was found.

    LAPACK balances A first, and for some Liouvillians (couplings many orders of magnitude apart, or
    nearly reducible structure) the balanced eigenvectors come back wrong at 1e-8 or worse. Then A is
    decomposed again after a fixed unitary change of basis, which leaves nothing to balance.
    """
    q = A.shape[0]
    limit = EIG_RESIDUAL_MAX * np.maximum(np.linalg.norm(A), 1e-300)
    lam, V = np.linalg.eig(A)
    if np.max(np.linalg.norm(A @ V - V * lam, axis=0)) <= limit:
        return lam, V
    U = np.linalg.qr(np.random.default_rng(q).standard_normal((q, q, 2)).view(complex)[..., 0])[0]
    lam, W = np.linalg.eig(U.conj().T @ A @ U)
    V = U @ W
    if np.max(np.linalg.norm(A @ V - V * lam, axis=0)) <= limit:
        return lam, V
    return lam, np.full_like(V, np.nan)
