"""Stationary correlation spectra C_1, C_2, C_3 of the paper's Eq. 8 (Fig. 2), by quantum regression.

Conventions (hbar = 1; omega in the energy unit of the model, i.e. units of nu for the presets):

* Connected stationary correlation, for t >= 0 (quantum regression theorem):
  G(t) = <A(t) B(0)> - G(inf) = Tr[A e^{L t} Q(B rho)],  G(-t) = <A(0) B(t)> - G(inf) = Tr[B e^{L t} Q(rho A)],
  with L the Liouvillian (``model.liouvillian()``, acting on rho.reshape(16) row-major, where
  vec(X Y Z) = (X kron Z^T) vec(Y)), rho the steady state, P0 the spectral projector of L onto its
  kernel and Q = 1 - P0. The removed constant G(inf) = Tr[A P0(B rho)] would give a
  2 pi G(inf) delta(omega) term, which is left out; for a unique steady state G(inf) = <A><B>.
* Full-line transform S(omega) = int dt e^{+i omega t} G(t)
  = -Tr[A (L + i omega)^{-1} Q(B rho)] - Tr[B (L - i omega)^{-1} Q(rho A)].
  For B = A^dag (all three pairs of Eq. 8) G(-t) = conj(G(t)) and S = 2 Re of the one-sided transform,
  real. Sign: with H = (nu/2) tau_z, A = tau_- evolves as A(t) = A e^{-i nu t}, so S of
  (A, B) = (tau_-, tau_+) peaks at omega = +nu. In general a line of S sits at omega = E_m - E_n for
  a transition n -> m made by B. QuTiP's ``spectrum`` uses e^{-i omega t}: it returns S(-omega).
* C(omega) = S(omega) + S(-omega), even in omega: lines at +-|E_a - E_b|.

Resolvents are evaluated with one LU per frequency of the 16 x 16 matrix L + c P0 +- i omega
(c = ||L||_2), which equals L +- i omega on the range of Q and is invertible at every real omega
(also omega = 0), even if L is not diagonalisable.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import scipy.signal
from numpy.typing import ArrayLike

from ..ensemble.exact.steady import steady_states
from ..trajectories.model import SpinPair
from ..trajectories.operators import kron
from ..trajectories.plan import Model, check_model

__all__ = [
    "NAMES",
    "KERNEL_TOL",
    "correlation_operators",
    "correlation_spectrum",
    "spectra",
    "transition_lines",
    "find_peaks",
    "linewidth",
]

#: The correlation functions of Eq. 8.
NAMES = ("C1", "C2", "C3")

#: Relative singular-value threshold defining the kernel of L (the default of ``steady_states``).
KERNEL_TOL = 1e-10

#: Frequencies are solved in blocks of this size (memory ~ 16 kB per frequency and sign).
_BLOCK = 2048


def correlation_operators() -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """The operator pairs (A, B) of Eq. 8, each (4, 4) complex, with B = A^dag.

    C1: A = tau_- x tau_z + tau_z x tau_-  (both spins, as in ESR);
    C2: A = tau_- x tau_z                  (one spin, as in STM);
    C3: A = tau_- x tau_+                  (double spin flip).

    Returns
    -------
    dict of str to (numpy.ndarray, numpy.ndarray)
        {'C1', 'C2', 'C3'} to (A, B), each of shape (4, 4), complex, dimensionless.
    """
    pairs = {
        "C1": (kron("-", "z") + kron("z", "-"), kron("+", "z") + kron("z", "+")),
        "C2": (kron("-", "z"), kron("+", "z")),
        "C3": (kron("-", "+"), kron("+", "-")),
    }
    return pairs


# ---- validation --------------------------------------------------------------------------------


def _check_model(model: Model, two_spins: bool = False) -> Model:
    d = check_model(model)
    if two_spins and d != 4:
        raise ValueError(
            f"the correlation functions of Eq. 8 are defined for two spins (d = 4); this model has "
            f"d = {d}: use correlation_spectrum with operators of your own"
        )
    return model


def _check_omega(omega: ArrayLike) -> np.ndarray:
    w = np.asarray(omega)
    if w.dtype == np.bool_ or not np.issubdtype(w.dtype, np.number) or np.iscomplexobj(w):
        raise ValueError(f"omega must be an array of real frequencies, got dtype {w.dtype}")
    w = np.atleast_1d(w.astype(float))
    if w.ndim != 1 or w.size == 0:
        raise ValueError(f"omega must be a non-empty 1-d array, got shape {np.shape(omega)}")
    if not np.isfinite(w).all():
        raise ValueError("omega must be finite")
    return w


def _check_which(which: str | Iterable[str]) -> tuple[str, ...]:
    names = (which,) if isinstance(which, str) else tuple(which)
    bad = [w for w in names if w not in NAMES]
    if bad or not names:
        raise ValueError(f"which must be a non-empty subset of {NAMES}, got {names!r}")
    return names


def _check_operator(name: str, op: ArrayLike, d: int = 4) -> np.ndarray:
    arr = np.asarray(op)
    if arr.shape != (d, d) or not np.issubdtype(arr.dtype, np.number) or not np.isfinite(arr).all():
        raise ValueError(f"{name} must be a finite numeric ({d}, {d}) operator, got shape {arr.shape}")
    return arr.astype(complex)


# ---- stationary resolvent ----------------------------------------------------------------------


class _Resolvent:
    """L, the steady state rho, the kernel projector P0 and the shifted matrix M0 = L + c P0."""

    def __init__(self, model: Model, steady_state: ArrayLike | None = None) -> None:
        L = np.asarray(model.liouvillian(), complex)
        self.D = D = L.shape[0]
        self.d = int(round(D**0.5))
        u, s, vh = np.linalg.svd(L)
        scale = max(s[0], 1e-300)
        null = s <= KERNEL_TOL * scale
        k = int(null.sum())
        right = vh[null].conj().T  # (16, k): L @ right = 0
        left = u[:, null]  # (16, k): left^dag @ L = 0
        # Zero is a semisimple eigenvalue of a Lindbladian, so this oblique projector is the spectral one.
        P0 = right @ np.linalg.solve(left.conj().T @ right, left.conj().T)
        if steady_state is None:
            if k != 1:
                raise ValueError(
                    f"steady_state: the Liouvillian has a {k}-dimensional kernel (relative tolerance"
                    f" {KERNEL_TOL:g}), so the stationary state is not unique (at the symmetric point it is"
                    " the family p d + (1 - p) rho_tr, see analysis.steady.steady_family); pass"
                    f" steady_state, a stationary ({self.d}, {self.d}) density matrix"
                )
            rho = steady_states(model, tol=KERNEL_TOL)[0]
        else:
            rho = self._check_state(steady_state, L, scale, self.d)
        self.L, self.P0, self.rho, self.kernel_dim = L, P0, rho, k
        self.M0 = L + scale * P0
        self.Q = np.eye(D) - P0

    @staticmethod
    def _check_state(rho: ArrayLike, L: np.ndarray, scale: float, d: int) -> np.ndarray:
        arr = np.asarray(rho)
        if arr.shape != (d, d) or not np.issubdtype(arr.dtype, np.number) or not np.isfinite(arr).all():
            raise ValueError(f"steady_state must be a finite ({d}, {d}) density matrix, got shape {arr.shape}")
        arr = arr.astype(complex)
        if np.abs(arr - arr.conj().T).max() > 1e-10:
            raise ValueError("steady_state must be Hermitian (to 1e-10)")
        if abs(np.trace(arr).real - 1) > 1e-8:
            raise ValueError(f"steady_state must have unit trace (to 1e-8), got {np.trace(arr).real!r}")
        if np.linalg.eigvalsh(arr)[0] < -1e-8:
            raise ValueError("steady_state must be positive semidefinite (eigenvalues >= -1e-8)")
        resid = np.linalg.norm(L @ arr.reshape(d * d))
        if resid > 1e-8 * scale:
            raise ValueError(f"steady_state must be stationary: ||L rho|| = {resid:.3g} > 1e-8 ||L||")
        return 0.5 * (arr + arr.conj().T)

    def one_sided(self, omega: np.ndarray, ops: list[tuple[np.ndarray, np.ndarray]]) -> np.ndarray:
        """F[n, j] = int_0^inf dt e^{i omega_n t} Tr[X_j e^{L t} Q(Y_j)] for ops[j] = (X_j, Y_j (d^2,)).

        Parameters
        ----------
        omega : numpy.ndarray, shape (n,)
            Real frequencies, energy unit of the model.
        ops : list of (numpy.ndarray, numpy.ndarray)
            Pairs (X_j of shape (d, d), Y_j of shape (d^2,)), complex.

        Returns
        -------
        numpy.ndarray, shape (n, len(ops)), complex
            F, in units of [X][Y] / [omega].
        """
        D = self.D
        rhs = np.stack([self.Q @ y for _, y in ops], axis=1)  # (d^2, m)
        bra = np.stack([x.T.reshape(D) for x, _ in ops])  # Tr[X Z] = x^T-vec . vec(Z)
        out = np.empty((omega.size, len(ops)), complex)
        eye = np.eye(D)
        for start in range(0, omega.size, _BLOCK):
            w = omega[start : start + _BLOCK]
            M = self.M0[None] + 1j * w[:, None, None] * eye
            Y = np.linalg.solve(M, np.broadcast_to(rhs, (w.size, D, len(ops))))
            out[start : start + w.size] = -np.einsum("jk,nkj->nj", bra, Y)
        return out

    def full_line(self, omega: np.ndarray, A: np.ndarray, B: np.ndarray, symmetrise: bool) -> np.ndarray:
        """S(omega), or S(omega) + S(-omega) if ``symmetrise``.

        Parameters
        ----------
        omega : numpy.ndarray, shape (n,)
            Real frequencies, energy unit of the model.
        A, B : numpy.ndarray, shape (d, d)
            The operators of <A(t) B(0)>, complex.
        symmetrise : bool
            Whether to add S(-omega).

        Returns
        -------
        numpy.ndarray, shape (n,), complex
            The spectrum, in units of [A][B] / [omega].
        """
        rho = self.rho
        ops = [(A, (B @ rho).reshape(self.D)), (B, (rho @ A).reshape(self.D))]
        if not symmetrise:
            plus = self.one_sided(omega, ops[:1])[:, 0]
            minus = self.one_sided(-omega, ops[1:])[:, 0]
            return plus + minus
        both = self.one_sided(np.concatenate([omega, -omega]), ops)
        n = omega.size
        return both[:n, 0] + both[n:, 1] + both[n:, 0] + both[:n, 1]


def correlation_spectrum(
    model: Model, A: ArrayLike, B: ArrayLike, omega: ArrayLike, steady_state: ArrayLike | None = None
) -> np.ndarray:
    """Full-line transform S(omega) = int dt e^{i omega t} (<A(t) B(0)> - G(inf)) in the steady state.

    See the module docstring for the sign of omega and the removed delta(omega) part
    G(inf) = Tr[A P0(B rho)] (= <A><B> for a unique steady state).

    Parameters
    ----------
    model : SpinPair or LindbladModel
        Any model of dimension d.
    A, B : array_like, shape (d, d)
        The operators the user names.
    omega : array_like, shape (n,)
        Real frequencies (energy unit of the model).
    steady_state : array_like, shape (d, d), optional
        Density matrix, required when the kernel of L is not one-dimensional (e.g. at the symmetric
        point); otherwise the unique steady state is used.

    Returns
    -------
    numpy.ndarray, shape (n,), complex
        S(omega) in units of [A][B] / [omega]; real for B = A^dag.

    Raises
    ------
    ValueError
        If the model, operators, frequencies or steady state are invalid, or if the kernel of L is
        not one-dimensional and no steady_state is given.
    """
    d = check_model(model)
    A, B = _check_operator("A", A, d), _check_operator("B", B, d)
    w = _check_omega(omega)
    return _Resolvent(model, steady_state).full_line(w, A, B, symmetrise=False)


def spectra(
    model: SpinPair,
    omega: ArrayLike,
    which: str | Iterable[str] = NAMES,
    steady_state: ArrayLike | None = None,
) -> dict[str, np.ndarray]:
    """C(omega) = S(omega) + S(-omega) of Eq. 8 for each name in ``which`` ('C1', 'C2', 'C3').

    The delta(omega) part of the disconnected correlation is not included. Cost: 2 n LU
    factorisations of 16 x 16 matrices in all (~10 ms for n = 2000). Two spins only (the operators
    of Eq. 8); for any other model use :func:`correlation_spectrum`.

    Parameters
    ----------
    model : SpinPair
        The two-spin model.
    omega : array_like, shape (n,)
        Real frequencies in the model's energy unit (units of nu for the presets).
    which : str or iterable of str
        Names among 'C1', 'C2', 'C3'.
    steady_state : array_like, shape (4, 4), optional
        As in :func:`correlation_spectrum` (required at the symmetric point, whose steady states
        form a family).

    Returns
    -------
    dict of str to numpy.ndarray
        {name: (n,) real array}, in units of 1/[omega] (the operators are dimensionless).

    Raises
    ------
    ValueError
        If the model is not of dimension 4, or omega, which or steady_state are invalid, or if the
        steady state is not unique and none is given.
    """
    _check_model(model, two_spins=True)
    w = _check_omega(omega)
    names = _check_which(which)
    res = _Resolvent(model, steady_state)
    pairs = correlation_operators()
    ops = []
    for name in names:
        A, B = pairs[name]
        ops += [(A, (B @ res.rho).reshape(res.D)), (B, (res.rho @ A).reshape(res.D))]
    both = res.one_sided(np.concatenate([w, -w]), ops)
    n = w.size
    out = {}
    for j, name in enumerate(names):
        f, g = both[:, 2 * j], both[:, 2 * j + 1]
        out[name] = (f[:n] + g[n:] + f[n:] + g[:n]).real
    return out


def transition_lines(model: SpinPair, which: str | Iterable[str] = NAMES, tol: float = 1e-9) -> dict[str, np.ndarray]:
    """Predicted line positions (>= 0) of C(omega): Bohr frequencies |E_a - E_b| of the Eq. 9 levels
    connected by A, i.e. with ||P_a A P_b|| > tol for the spectral projectors P_a of H.

    Degenerate levels are grouped, so the result does not depend on the choice of eigenvectors. The
    numerical eigenvalues of H are checked against Eq. 9 (``model.eigenenergies()``), whose values
    are used.

    Parameters
    ----------
    model : SpinPair
        The two-spin model (the dissipator's small shifts and widths are ignored).
    which : str or iterable of str
        Names as in :func:`spectra`.
    tol : float
        Matrix-element threshold, in (0, 1) (A has entries of order 1).

    Returns
    -------
    dict of str to numpy.ndarray
        {name: sorted unique (k,) array}, energy unit of the model.

    Raises
    ------
    ValueError
        If the model is not of dimension 4 or lacks ``eigenenergies()``, or which or tol are
        invalid.
    RuntimeError
        If the eigenvalues of H differ from Eq. 9.
    """
    _check_model(model, two_spins=True)
    if not callable(getattr(model, "eigenenergies", None)):
        raise ValueError("model must offer the closed-form Eq. 9 levels (eigenenergies(), as SpinPair does)")
    names = _check_which(which)
    if not (isinstance(tol, (int, float)) and 0 < tol < 1):
        raise ValueError(f"tol must be in (0, 1), got {tol!r}")
    energies, vecs = np.linalg.eigh(model.hamiltonian())
    eq9 = np.sort(np.array(list(model.eigenenergies().values())))
    scale = max(1.0, float(np.abs(eq9).max()))
    if np.abs(energies - eq9).max() > 1e-9 * scale:
        raise RuntimeError(f"eigenvalues of H {energies} differ from Eq. 9 {eq9}")
    # group (near-)degenerate levels into spectral projectors
    groups: list[list[int]] = []
    for i in range(4):
        if groups and eq9[i] - eq9[groups[-1][-1]] <= 1e-9 * scale:
            groups[-1].append(i)
        else:
            groups.append([i])
    levels = [float(np.mean(eq9[g])) for g in groups]
    proj = [vecs[:, g] @ vecs[:, g].conj().T for g in groups]
    pairs = correlation_operators()
    out = {}
    for name in names:
        A = pairs[name][0]
        lines = {
            round(abs(levels[a] - levels[b]), 12)
            for a in range(len(groups))
            for b in range(len(groups))
            if np.linalg.norm(proj[a] @ A @ proj[b], 2) > tol
        }
        out[name] = np.array(sorted(lines))
    return out


# ---- reading spectra ---------------------------------------------------------------------------


def _check_curve(omega: ArrayLike, values: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    w = _check_omega(omega)
    v = np.asarray(values, dtype=float)
    if v.shape != w.shape or not np.isfinite(v).all():
        raise ValueError(f"values must be finite with the shape of omega {w.shape}, got {v.shape}")
    if w.size < 3 or np.any(np.diff(w) <= 0):
        raise ValueError("omega must be strictly increasing with at least 3 points")
    return w, v


def _mirrored(w: np.ndarray, v: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
    """For a grid starting at omega = 0, append the mirror image (C is even); offset of the original."""
    if w[0] == 0.0:
        return np.concatenate([-w[:0:-1], w]), np.concatenate([v[:0:-1], v]), w.size - 1
    return w, v, 0


def find_peaks(omega: ArrayLike, values: ArrayLike, rel_prominence: float = 1e-3) -> np.ndarray:
    """Positions of the local maxima of a sampled spectrum.

    A grid starting exactly at omega = 0 is treated as one half of an even function, so a maximum
    at omega = 0 counts. Each position is refined by a parabola through the three samples around the
    maximum (on a non-uniform grid: in sample index, then mapped back linearly).

    Parameters
    ----------
    omega : array_like, shape (n,)
        Strictly increasing frequencies, n >= 3.
    values : array_like, shape (n,)
        Real spectrum values.
    rel_prominence : float
        Peaks must have a prominence of at least this (in (0, 1]) times max(values).

    Returns
    -------
    numpy.ndarray, shape (k,)
        Sorted peak positions, unit of omega.

    Raises
    ------
    ValueError
        If omega or values are invalid, or rel_prominence is out of range.
    """
    w, v = _check_curve(omega, values)
    if not (isinstance(rel_prominence, (int, float)) and 0 < rel_prominence <= 1):
        raise ValueError(f"rel_prominence must be in (0, 1], got {rel_prominence!r}")
    ww, vv, offset = _mirrored(w, v)
    idx, _ = scipy.signal.find_peaks(vv, prominence=rel_prominence * float(np.max(np.abs(vv))))
    pos = []
    for i in idx:
        if i < offset:
            continue
        y0, y1, y2 = vv[i - 1], vv[i], vv[i + 1]
        den = y0 - 2 * y1 + y2
        x = 0.5 * (y0 - y2) / den if den != 0 else 0.0  # in units of samples, |x| <= 1/2
        j = i + (1 if x > 0 else -1)
        pos.append(ww[i] + abs(x) * (ww[j] - ww[i]))
    return np.array(sorted(pos))


def linewidth(omega: ArrayLike, values: ArrayLike, position: float) -> float:
    """Full width at half maximum of the peak of a sampled spectrum nearest to ``position``.

    Half maximum is half the sampled peak value (baseline 0, so a line on the tail of another comes
    out somewhat broader); crossings are located by linear interpolation. A grid starting at
    omega = 0 is mirrored (C is even), so a peak at omega = 0 gets its full width.

    Parameters
    ----------
    omega : array_like, shape (n,)
        Strictly increasing frequencies, n >= 3.
    values : array_like, shape (n,)
        Real spectrum values.
    position : float
        Approximate peak location, unit of omega.

    Returns
    -------
    float
        The FWHM, unit of omega.

    Raises
    ------
    ValueError
        If omega, values or position are invalid, the peak is not positive, or the half-maximum
        crossing lies outside the grid on either side.
    """
    w, v = _check_curve(omega, values)
    if not np.isfinite(position):
        raise ValueError(f"position must be finite, got {position!r}")
    ww, vv, _ = _mirrored(w, v)
    i = int(np.argmin(np.abs(ww - position)))
    while 0 < i and vv[i - 1] > vv[i]:  # climb to the local maximum
        i -= 1
    while i < ww.size - 1 and vv[i + 1] > vv[i]:
        i += 1
    half = 0.5 * vv[i]
    if half <= 0:
        raise ValueError(f"the peak near {position} is not positive")
    lo = i
    while lo > 0 and vv[lo] > half:
        lo -= 1
    hi = i
    while hi < ww.size - 1 and vv[hi] > half:
        hi += 1
    if vv[lo] > half or vv[hi] > half:
        raise ValueError(f"the half maximum of the peak near {position} lies outside the omega grid")

    def cross(a: int, b: int) -> float:  # linear interpolation of the half-maximum crossing between samples a and b
        return ww[a] + (half - vv[a]) * (ww[b] - ww[a]) / (vv[b] - vv[a])

    return float(cross(hi - 1, hi) - cross(lo, lo + 1))
