"""Two-spin operators and states in the basis |uu>, |ud>, |du>, |dd> (first spin first).

Conventions (docs/physics.md): tau_z|u> = +|u>, tau_- = |d><u|, tau_+ = |u><d|.
Every array here is a fresh numpy array, so callers may modify what they get.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

BASIS_LABELS = ("uu", "ud", "du", "dd")

_I2 = np.eye(2, dtype=complex)
_SZ = np.diag([1.0, -1.0]).astype(complex)
_SM = np.array([[0, 0], [1, 0]], dtype=complex)  # |d><u|
_SP = _SM.T.copy()  # |u><d|
_SX = _SP + _SM
_SY = -1j * (_SP - _SM)

SINGLE = {"1": _I2, "z": _SZ, "-": _SM, "+": _SP, "x": _SX, "y": _SY}


def kron(a: str, b: str) -> np.ndarray:
    """Product operator a x b on two spins.

    Parameters
    ----------
    a, b : str
        Names in ``SINGLE`` ('1', 'z', '-', '+', 'x', 'y'), first spin first.

    Returns
    -------
    ndarray of complex128, shape (4, 4)

    Raises
    ------
    KeyError
        For an unknown name.
    """
    return np.kron(SINGLE[a], SINGLE[b])


def basis_state(label: str) -> np.ndarray:
    """A named two-spin state vector.

    Parameters
    ----------
    label : str
        'uu', 'ud', 'du', 'dd', 'S' (singlet) or 'T1', 'T2', 'T3'.

    Returns
    -------
    ndarray of complex128, shape (4,)

    Raises
    ------
    ValueError
        For an unknown label.
    """
    s = 1 / np.sqrt(2)
    vectors = {
        "uu": [1, 0, 0, 0],
        "ud": [0, 1, 0, 0],
        "du": [0, 0, 1, 0],
        "dd": [0, 0, 0, 1],
        "S": [0, s, -s, 0],
        "T1": [1, 0, 0, 0],
        "T2": [0, s, s, 0],
        "T3": [0, 0, 0, 1],
    }
    if label not in vectors:
        raise ValueError(f"state label must be one of {sorted(vectors)}, got {label!r}")
    return np.array(vectors[label], dtype=complex)


def projector(label: str) -> np.ndarray:
    """|v><v| for a label of :func:`basis_state`.

    Parameters
    ----------
    label : str

    Returns
    -------
    ndarray of complex128, shape (4, 4)

    Raises
    ------
    ValueError
        For an unknown label.
    """
    v = basis_state(label)
    return np.outer(v, v.conj())


#: Singlet-triplet basis as columns (S, T1, T2, T3): populations are diag(B^dag rho B).
SINGLET_TRIPLET = np.stack([basis_state(k) for k in ("S", "T1", "T2", "T3")], axis=1)

#: tau_z x tau_z outcome projectors: -1 keeps |ud>, |du> (indices 1, 2), +1 keeps |uu>, |dd>.
MINUS_INDICES = (1, 2)
P_MINUS = np.diag([0.0, 1.0, 1.0, 0.0]).astype(complex)
P_PLUS = np.diag([1.0, 0.0, 0.0, 1.0]).astype(complex)


def singlet_population(rho: np.ndarray) -> np.ndarray:
    """The singlet population <S|rho|S>.

    Parameters
    ----------
    rho : ndarray, shape (..., 4, 4)
        Density matrices.

    Returns
    -------
    ndarray of float64, shape (...)
    """
    s = basis_state("S")
    return np.real(np.einsum("i,...ij,j->...", s.conj(), rho, s))


#: Target-state labels accepted for two spins (see :func:`basis_state`).
TARGET_LABELS = ("S", "T1", "T2", "T3", "uu", "ud", "du", "dd")


def target_vector(target_state: str | ArrayLike | None, d: int) -> np.ndarray:
    """The normalised target state.

    Parameters
    ----------
    target_state : str, array_like of shape (d,), or None
        None (the singlet, d = 4 only), a label of :func:`basis_state` (d = 4), or a d-vector (normalised
        here; its norm must be > 0).
    d : int
        The model's dimension.

    Returns
    -------
    ndarray of complex128, shape (d,)

    Raises
    ------
    ValueError
        Naming 'target_state', for anything else.
    """
    if target_state is None:
        if d != 4:
            raise ValueError(
                f"target_state must be given for a model of dimension {d} (the default singlet needs d = 4)"
            )
        return basis_state("S")
    if isinstance(target_state, str):
        if d != 4 or target_state not in TARGET_LABELS:
            raise ValueError(
                f"target_state must be one of {TARGET_LABELS} (two spins) or a {d}-vector, got {target_state!r}"
            )
        return basis_state(target_state)
    try:
        v = np.array(target_state, dtype=complex)
    except (TypeError, ValueError):
        raise ValueError(f"target_state must be a label or a {d}-vector of numbers, got {target_state!r}") from None
    if v.shape != (d,) or not np.all(np.isfinite(v)) or np.linalg.norm(v) == 0:
        raise ValueError(f"target_state must be a nonzero finite vector of shape ({d},), got shape {v.shape}")
    return v / np.linalg.norm(v)
