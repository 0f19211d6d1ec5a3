"""Wootters concurrence of a two-spin density matrix, and the input checks shared with
:mod:`darkspin.analysis.measures` (which re-exports :func:`concurrence`).

It lives here, below the ensemble layer, because sweeps (``darkspin.ensemble.sweeps``) report the
post-selected concurrence and imports go analysis -> ensemble -> trajectories only.

Basis |uu>, |ud>, |du>, |dd> (first spin first), as in :mod:`trajectories.operators`. Inputs are
Hermitised, (rho + rho^dag)/2, but not required to be exactly positive or of unit trace; a matrix with
any NaN entry gives NaN, silently; infinite entries raise ValueError.
"""

from __future__ import annotations

import numpy as np

from .operators import kron

#: sigma_y x sigma_y, the spin flip of Wootters' rho~ = Y rho^* Y (real, symmetric, Y @ Y = 1).
_YY = kron("y", "y")


def _as_array(rho, dim: int | None = 4) -> np.ndarray:
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


def _prepare(rho, dim: int | None = 4) -> tuple[np.ndarray, np.ndarray]:
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


def _finish(values: np.ndarray, bad: np.ndarray):
    """Put NaN where the input was NaN; a float for a single matrix, else an array (...)."""
    out = np.where(bad, np.nan, values).astype(float)
    return out[()] if out.ndim == 0 else out


def concurrence(rho):
    """Wootters concurrence C = max(0, l1 - l2 - l3 - l4), dimensionless in [0, 1].

    l1 >= ... >= l4 are the square roots of the eigenvalues of rho (Y rho^* Y), Y = sigma_y x
    sigma_y. rho: (..., 4, 4); returns a float or an array (...). Negative eigenvalues of rho
    (estimation noise) are clipped to zero first, i.e. C is that of the positive part of rho.
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
