"""The initial state of a protocol: a label (two spins: 'uu', 'ud', 'du', 'dd', 'S', 'T2'), a state vector or
a density matrix, checked (normalised, Hermitian, unit trace, positive within STATE_TOL) and returned as
a (d, d) density matrix with MIN_DIM <= d <= MAX_DIM.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .operator_checks import MAX_DIM, MIN_DIM, STATE_TOL
from .operators import basis_state
from .protocol_checks import _numeric, _short

INITIAL_LABELS = ("uu", "ud", "du", "dd", "S", "T2")


def initial_density_matrix(initial: Any) -> np.ndarray:
    """The initial density matrix of a protocol.

    Parameters
    ----------
    initial : str, array_like of shape (d,) or (d, d), or qutip.Qobj
        A two-spin label in INITIAL_LABELS (d = 4), a normalised d-vector, a d x d density matrix, or a
        QuTiP Qobj ket or density matrix; 2 <= d <= 64.

    Returns
    -------
    ndarray of complex128, shape (d, d)
        Exactly Hermitian.

    Raises
    ------
    ValueError
        Naming 'initial', for an unknown label, a wrong shape, or a vector or matrix that is not a state.
    """
    if hasattr(initial, "full") and hasattr(initial, "dims"):  # a qutip.Qobj, read without importing qutip
        initial = np.asarray(initial.full())
        if initial.ndim == 2 and initial.shape[1] == 1:
            initial = initial[:, 0]
    if isinstance(initial, str):
        if initial not in INITIAL_LABELS:
            raise ValueError(f"initial must be one of {INITIAL_LABELS}, a 4-vector or a 4x4 matrix; got {initial!r}")
        v = basis_state(initial)
        return np.outer(v, v.conj())
    try:
        _numeric("initial", initial)
        arr = np.array(initial, dtype=complex)
    except (TypeError, ValueError):
        raise ValueError(f"initial must be a label, a 4-vector or a 4x4 matrix, got {_short(initial)}") from None
    if not np.all(np.isfinite(arr)):
        raise ValueError("initial must contain finite numbers only")
    d = arr.shape[0] if arr.ndim in (1, 2) and arr.size else 0
    if not MIN_DIM <= d <= MAX_DIM:
        raise ValueError(
            f"initial must have shape (d,) or (d, d) with {MIN_DIM} <= d <= {MAX_DIM}, got shape {arr.shape}"
        )
    if arr.shape == (d,):
        norm = np.linalg.norm(arr)
        if abs(norm - 1) > STATE_TOL:
            raise ValueError(
                f"initial state vector must be normalised (|psi| = 1 within {STATE_TOL}), got {float(norm)!r}"
            )
        rho = np.outer(arr, arr.conj()) / norm**2
        return 0.5 * (rho + rho.conj().T)  # exactly Hermitian (an FMA in outer may break the symmetry)
    if arr.shape == (d, d):
        if np.max(np.abs(arr - arr.conj().T)) > STATE_TOL:
            raise ValueError("initial density matrix must be Hermitian")
        tr = np.trace(arr).real
        if abs(tr - 1) > STATE_TOL:
            raise ValueError(f"initial density matrix must have trace 1 (within {STATE_TOL}), got {float(tr)!r}")
        ev = np.linalg.eigvalsh(arr)
        if ev[0] < -STATE_TOL:
            raise ValueError(
                f"initial density matrix must be positive semidefinite, lowest eigenvalue {float(ev[0])!r}"
            )
        return 0.5 * (arr + arr.conj().T)
    raise ValueError(f"initial must have shape (d,) or (d, d), got shape {arr.shape}")
