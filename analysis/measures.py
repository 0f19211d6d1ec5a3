"""Entanglement and correlation measures of a two-spin density matrix.

Basis |uu>, |ud>, |du>, |dd> (first spin first, index 2*i1 + i2 with u=0, d=1), as in
:mod:`trajectories.operators`. Every function takes one (4, 4) matrix or a stack of shape
(..., 4, 4) and returns a float (one matrix) or an array over the stack axes (...).
Logarithms are base 2: entropies and mutual information are in bits, entanglement of
formation and logarithmic negativity in ebits.

Inputs are Hermitised, (rho + rho^dag)/2, but not required to be exactly positive or of unit
trace (Monte Carlo estimates are neither, to within their noise); they are not renormalised.
A matrix with any NaN entry (the exact solver's marker for an undefined post-selected state)
gives NaN, silently; infinite entries raise ValueError.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from ..trajectories.operators import SINGLET_TRIPLET, kron

__all__ = [
    "concurrence",
    "entanglement_of_formation",
    "log_negativity",
    "mutual_information",
    "populations",
    "partial_trace",
    "partial_transpose",
    "von_neumann_entropy",
]

#: sigma_y x sigma_y, the spin flip of Wootters' rho~ = Y rho^* Y (real, symmetric, Y @ Y = 1).
_YY = kron("y", "y")


def _as_array(rho: ArrayLike, dim: int | None = 4) -> np.ndarray:
    """Validate ``rho`` as a numeric (..., dim, dim) array (any square size if dim is None)."""
    arr = np.asarray(rho)
    if not (np.issubdtype(arr.dtype, np.number) or arr.dtype == np.bool_):
        raise ValueError(f"rho must be a numeric array, got dtype {arr.dtype}")
    if dim is None:
        if arr.ndim < 2 or arr.shape[-1] != arr.shape[-2] or arr.shape[-1] == 0:
            raise ValueError(f"rho must have shape (..., d, d) with d >= 1, got {arr.shape}")
    elif arr.ndim < 2 or arr.shape[-2:] != (dim, dim):
        raise ValueError(f"rho must have shape (..., {dim}, {dim}), got {arr.shape}")
    if np.isinf(arr).any():
        raise ValueError("rho must have finite entries (NaN marks an undefined state), got inf")
    return arr.astype(complex)


def _prepare(rho: ArrayLike, dim: int | None = 4) -> tuple[np.ndarray, np.ndarray]:
    """Hermitised copy of a validated ``rho`` with NaN matrices replaced, and the NaN mask (...).

    The stand-in (the maximally mixed state) only keeps LAPACK away from NaN; its results are
    overwritten with NaN by :func:`_finish`.
    """
    arr = _as_array(rho, dim)
    herm = 0.5 * (arr + np.swapaxes(arr, -1, -2).conj())
    bad = np.isnan(herm).any(axis=(-2, -1))
    if bad.any():
        d = herm.shape[-1]
        herm[bad] = np.eye(d) / d
    return herm, bad


def _finish(values: np.ndarray, bad: np.ndarray) -> float | np.ndarray:
    """Put NaN where the input was NaN; a float for a single matrix, else an array (...)."""
    out = np.where(bad, np.nan, values).astype(float)
    return out[()] if out.ndim == 0 else out


def concurrence(rho: ArrayLike) -> float | np.ndarray:
    """Wootters concurrence C = max(0, l1 - l2 - l3 - l4), dimensionless in [0, 1].

    l1 >= ... >= l4 are the square roots of the eigenvalues of rho (Y rho^* Y), Y = sigma_y x
    sigma_y. Negative eigenvalues of rho (estimation noise) are clipped to zero first, i.e. C is
    that of the positive part of rho.

    Parameters
    ----------
    rho : array_like, shape (..., 4, 4)
        Two-spin density matrices (Hermitised here); a matrix with a NaN entry gives NaN.

    Returns
    -------
    float or numpy.ndarray, shape (...)
        The concurrence: a float for one matrix, else an array over the stack axes.

    Raises
    ------
    ValueError
        If rho is not numeric, not of shape (..., 4, 4), or has an infinite entry.
    """
    herm, bad = _prepare(rho)
    # With rho = W W^dag, the l_i are the singular values of the symmetric matrix W^T Y W
    # (Wootters 1998). Taking them directly avoids square roots of the near-zero eigenvalues of
    # R, which would turn rounding errors of 1e-16 into errors of 1e-8 for pure states.
    w, v = np.linalg.eigh(herm)
    factor = v * np.sqrt(np.clip(w, 0.0, None))[..., None, :]  # columns sqrt(w_k) |v_k>
    tau = np.swapaxes(factor, -1, -2) @ _YY @ factor
    lam = np.linalg.svd(tau, compute_uv=False)  # LAPACK returns them in decreasing order
    c = np.maximum(0.0, lam[..., 0] - lam[..., 1] - lam[..., 2] - lam[..., 3])
    return _finish(c, bad)


def _xlog2x(x: np.ndarray) -> np.ndarray:
    """x log2 x elementwise, with 0 log 0 = 0 (x >= 0 assumed)."""
    pos = x > 0
    return np.where(pos, x * np.log2(np.where(pos, x, 1.0)), 0.0)


def _entropy_bits(herm: np.ndarray) -> np.ndarray:
    """Von Neumann entropy in bits of a Hermitian stack (..., d, d) with no NaN."""
    # Negative eigenvalues are estimation noise: clip them rather than take logs of them.
    w = np.clip(np.linalg.eigvalsh(herm), 0.0, None)
    return -_xlog2x(w).sum(axis=-1)


def partial_trace(rho: ArrayLike, keep: int) -> np.ndarray:
    """Reduced state of spin ``keep`` (0: first spin, 1: second spin).

    Linear and exact: no Hermitisation, NaN entries propagate.

    Parameters
    ----------
    rho : array_like, shape (..., 4, 4)
        Two-spin density matrices.
    keep : int
        The spin kept: 0 (first spin) or 1 (second spin).

    Returns
    -------
    numpy.ndarray, shape (..., 2, 2), complex
        The reduced density matrices of spin ``keep``.

    Raises
    ------
    ValueError
        If keep is not 0 or 1, or rho is not numeric, not of shape (..., 4, 4), or has an
        infinite entry.
    """
    if isinstance(keep, bool) or not isinstance(keep, (int, np.integer)) or keep not in (0, 1):
        raise ValueError(f"keep must be 0 (first spin) or 1 (second spin), got {keep!r}")
    arr = _as_array(rho)
    arr = arr.reshape(*arr.shape[:-2], 2, 2, 2, 2)  # (..., i1, i2, j1, j2)
    if keep == 0:
        return np.einsum("...ikjk->...ij", arr)
    return np.einsum("...kikj->...ij", arr)


def partial_transpose(rho: ArrayLike) -> np.ndarray:
    """Partial transpose on the second spin: <i1 i2|rho^T_B|j1 j2> = <i1 j2|rho|j1 i2>.

    Linear and exact: no Hermitisation.

    Parameters
    ----------
    rho : array_like, shape (..., 4, 4)
        Two-spin density matrices.

    Returns
    -------
    numpy.ndarray, shape (..., 4, 4), complex
        The partial transposes rho^T_B.

    Raises
    ------
    ValueError
        If rho is not numeric, not of shape (..., 4, 4), or has an infinite entry.
    """
    arr = _as_array(rho)
    lead = arr.shape[:-2]
    split = arr.reshape(*lead, 2, 2, 2, 2)  # (..., i1, i2, j1, j2)
    return np.swapaxes(split, -3, -1).reshape(*lead, 4, 4)


def von_neumann_entropy(rho: ArrayLike) -> float | np.ndarray:
    """S(rho) = -Tr rho log2 rho in bits, for rho of shape (..., d, d) with any d >= 1.

    Eigenvalues below zero (estimation noise) count as zero.

    Parameters
    ----------
    rho : array_like, shape (..., d, d)
        Density matrices of any size d >= 1 (Hermitised here); a matrix with a NaN entry gives
        NaN.

    Returns
    -------
    float or numpy.ndarray, shape (...)
        The entropy in bits: a float for one matrix, else an array over the stack axes.

    Raises
    ------
    ValueError
        If rho is not numeric, not of shape (..., d, d) with d >= 1, or has an infinite entry.
    """
    herm, bad = _prepare(rho, dim=None)
    return _finish(_entropy_bits(herm), bad)


def entanglement_of_formation(rho: ArrayLike) -> float | np.ndarray:
    """E_F = h((1 + sqrt(1 - C^2)) / 2) in ebits, h the binary entropy, C the concurrence.

    Parameters
    ----------
    rho : array_like, shape (..., 4, 4)
        Two-spin density matrices (Hermitised here); a matrix with a NaN entry gives NaN.

    Returns
    -------
    float or numpy.ndarray, shape (...)
        E_F in ebits, in [0, 1]: a float for one matrix, else an array over the stack axes.

    Raises
    ------
    ValueError
        If rho is not numeric, not of shape (..., 4, 4), or has an infinite entry.
    """
    c = np.clip(np.asarray(concurrence(rho), dtype=float), 0.0, 1.0)  # NaN passes through
    r = np.sqrt(1.0 - c * c)
    x = 0.5 * (1.0 + r)
    # y = 1 - x without cancellation, and log x = log1p(-y), so E_F keeps its relative
    # accuracy for weak entanglement (C ~ 1e-7 would otherwise be off by ~1e-3).
    y = 0.5 * c * c / (1.0 + r)
    ef = -x * np.log1p(-y) / np.log(2.0) - _xlog2x(y)
    ef = np.where(np.isnan(c), np.nan, ef)
    return ef[()] if ef.ndim == 0 else ef


def log_negativity(rho: ArrayLike) -> float | np.ndarray:
    """E_N = log2 ||rho^T_B||_1 in ebits (sum of |eigenvalues| of the partial transpose).

    Parameters
    ----------
    rho : array_like, shape (..., 4, 4)
        Two-spin density matrices (Hermitised here); a matrix with a NaN entry gives NaN.

    Returns
    -------
    float or numpy.ndarray, shape (...)
        E_N in ebits: a float for one matrix, else an array over the stack axes.

    Raises
    ------
    ValueError
        If rho is not numeric, not of shape (..., 4, 4), or has an infinite entry.
    """
    herm, bad = _prepare(rho)
    # The partial transpose of a Hermitian matrix is Hermitian, so eigvalsh applies.
    w = np.linalg.eigvalsh(partial_transpose(herm))
    return _finish(np.log2(np.abs(w).sum(axis=-1)), bad)


def mutual_information(rho: ArrayLike) -> float | np.ndarray:
    """I = S(rho_1) + S(rho_2) - S(rho) in bits, from von Neumann entropies.

    Parameters
    ----------
    rho : array_like, shape (..., 4, 4)
        Two-spin density matrices (Hermitised here); a matrix with a NaN entry gives NaN.

    Returns
    -------
    float or numpy.ndarray, shape (...)
        I in bits, in [0, 2] for a valid state: a float for one matrix, else an array over the
        stack axes.

    Raises
    ------
    ValueError
        If rho is not numeric, not of shape (..., 4, 4), or has an infinite entry.
    """
    herm, bad = _prepare(rho)
    total = _entropy_bits(partial_trace(herm, 0)) + _entropy_bits(partial_trace(herm, 1)) - _entropy_bits(herm)
    return _finish(total, bad)


def populations(rho: ArrayLike) -> np.ndarray:
    """Populations of (S, T1, T2, T3) = diag(B^dag rho B), B = ``SINGLET_TRIPLET``.

    Parameters
    ----------
    rho : array_like, shape (..., 4, 4)
        Two-spin density matrices.

    Returns
    -------
    numpy.ndarray, shape (..., 4), float
        The singlet and triplet populations; NaN matrices give NaN rows.

    Raises
    ------
    ValueError
        If rho is not numeric, not of shape (..., 4, 4), or has an infinite entry.
    """
    arr = _as_array(rho)
    # Re of the diagonal equals the diagonal of the Hermitised rho, so no explicit Hermitising.
    return np.real(np.einsum("ia,...ij,ja->...a", SINGLET_TRIPLET.conj(), arr, SINGLET_TRIPLET))
