"""The eigen path of the no-jump propagator: U psi = V diag(exp(-i lam tau)) V^-1 psi, O(n^2) per
application after one O(n^3) decomposition (numpy, once per model). Its error relative to ||U|| is about
cond(V) * eps * (n + tau ||A||), so a block takes this path only when cond(V) <= EIG_COND_MAX (see
:mod:`.linalg` for the error analysis).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit
from numpy.typing import ArrayLike

from .block_checks import _square_matrix

#: Largest cond_2(V) of the eigenvector matrix (unit columns) for which a block uses the eigen path: its
#: error ~ cond(V) eps (n + tau ||A||) stays below 1e-10 up to tau ||A|| ~ 1e3 (module docstring).
EIG_COND_MAX = 1e3


def eig_data(a: ArrayLike, cond_max: float = EIG_COND_MAX) -> tuple[np.ndarray, np.ndarray, np.ndarray, bool]:
    """Eigen-decomposition A = V diag(lam) V^-1 of one block, for :func:`eig_apply`.

    Parameters
    ----------
    a : array_like, shape (n, n)
        Complex, 1 <= n <= 64, finite.
    cond_max : float
        >= 1; the largest cond_2(V) accepted (default EIG_COND_MAX = 1e3; see the module docstring for
        the error bound).

    Returns
    -------
    lam : ndarray of complex128, shape (n,)
    V : ndarray of complex128, shape (n, n)
        Unit 2-norm columns.
    Vinv : ndarray of complex128, shape (n, n)
    ok : bool
        True when cond_2(V) <= cond_max, False otherwise (then V^-1 may be inaccurate or zero: use
        :func:`expm_dense`). All arrays C-contiguous.

    Raises
    ------
    ValueError
        Naming 'a' or 'cond_max'.
    """
    A = _square_matrix(a, "a")
    cond_max = float(cond_max)
    if not cond_max >= 1.0:
        raise ValueError(f"cond_max must be >= 1, got {cond_max!r}")
    lam, V, Vinv, cond = _eig_decompose(A)
    return lam, V, Vinv, bool(cond <= cond_max)


def _eig_decompose(A: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    lam, V = np.linalg.eig(A)
    V = np.ascontiguousarray(V, dtype=np.complex128)
    with np.errstate(all="ignore"):
        cond = float(np.linalg.cond(V))
    try:
        Vinv = np.linalg.inv(V)
    except np.linalg.LinAlgError:
        Vinv = np.zeros_like(V)
        cond = math.inf
    if not np.isfinite(cond) or not np.isfinite(Vinv).all():
        cond = math.inf
        Vinv = np.zeros_like(V)
    return np.ascontiguousarray(lam, dtype=np.complex128), V, np.ascontiguousarray(Vinv), cond


@njit(cache=True)
def eig_apply(lam: np.ndarray, V: np.ndarray, Vinv: np.ndarray, tau: float, psi: np.ndarray, out: np.ndarray) -> None:
    """out = V diag(exp(-i lam tau)) V^-1 psi, O(n^2).

    Parameters
    ----------
    lam : ndarray of complex128, shape (n,)
    V, Vinv : ndarray of complex128, shape (n, n)
        From :func:`eig_data` (with ok True).
    tau : float
        >= 0 (time, inverse energy unit).
    psi : ndarray of complex128, shape (n,)
    out : ndarray of complex128, shape (n,)
        Written; must not alias psi.

    Raises
    ------
    ValueError
        If tau < 0 or NaN.
    """
    if not tau >= 0.0:
        raise ValueError("tau must be >= 0")
    n = lam.size
    y = np.empty(n, np.complex128)
    for k in range(n):
        acc = 0j
        for j in range(n):
            acc += Vinv[k, j] * psi[j]
        y[k] = np.exp(-1j * lam[k] * tau) * acc
    for i in range(n):
        acc = 0j
        for k in range(n):
            acc += V[i, k] * y[k]
        out[i] = acc


@njit(cache=True)
def eig_matrix(lam: np.ndarray, V: np.ndarray, Vinv: np.ndarray, tau: float, out: np.ndarray) -> None:
    """out = V diag(exp(-i lam tau)) V^-1, the full block propagator.

    Parameters
    ----------
    lam, V, Vinv, tau
        As :func:`eig_apply`.
    out : ndarray of complex128, shape (n, n)
        Written.

    Raises
    ------
    ValueError
        If tau < 0 or NaN.
    """
    if not tau >= 0.0:
        raise ValueError("tau must be >= 0")
    n = lam.size
    e = np.empty(n, np.complex128)
    for k in range(n):
        e[k] = np.exp(-1j * lam[k] * tau)
    for i in range(n):
        for j in range(n):
            acc = 0j
            for k in range(n):
                acc += V[i, k] * e[k] * Vinv[k, j]
            out[i, j] = acc
