"""General measurement instruments in Kraus form: checking a set of Kraus operators per record, and the
weak (partial) measurement of a +-1 observable.

An instrument with records +1 and -1 is a list of Kraus operators M_{r,j} per record r with
sum_{r,j} M_{r,j}^dag M_{r,j} = 1 (completeness). Record r and operator j occur with the Born weight
||M_{r,j} psi||^2 and leave M_{r,j} psi / ||M_{r,j} psi||; averaged over j, record r applies the map
rho -> sum_j M_{r,j} rho M_{r,j}^dag. A projective measurement with readout error is the special case
M_{r,m} = sqrt(P(r | m)) P_m.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

#: Largest |sum M^dag M - 1| (elementwise) accepted for a set of Kraus operators.
COMPLETENESS_TOL = 1e-10
#: Most Kraus operators per record.
MAX_KRAUS = 64

RECORDS = (1, -1)


def check_kraus(value: Any, dim: int | None = None) -> tuple[tuple[np.ndarray, ...], tuple[np.ndarray, ...]]:
    """A complete set of Kraus operators per record.

    Parameters
    ----------
    value : dict of int to sequence of array_like, each of shape (d, d)
        ``{+1: [M, ...], -1: [M, ...]}``; a record may have no operators (it never occurs), but not both.
    dim : int, optional
        The dimension d the operators must have; None accepts any d in [2, 64].

    Returns
    -------
    plus, minus : tuple of ndarray of complex128, shape (d, d)
        The operators of record +1 and of record -1 (read-only).

    Raises
    ------
    ValueError
        Naming 'kraus', for a missing or unknown record, a non-square or non-finite operator, operators of
        different dimensions (or not ``dim``), more than MAX_KRAUS per record, or
        max |sum M^dag M - 1| > COMPLETENESS_TOL.
    """
    if not isinstance(value, Mapping):
        raise ValueError(f"kraus must be a dict {{+1: [M, ...], -1: [M, ...]}}, got {type(value).__name__}")
    keys = set(value)
    if any(isinstance(k, bool) for k in keys) or keys != set(RECORDS):
        raise ValueError(f"kraus must have exactly the records +1 and -1 as keys, got {sorted(map(repr, keys))}")
    out: list[tuple[np.ndarray, ...]] = []
    d = dim
    for r in RECORDS:
        ops = value[r]
        if isinstance(ops, np.ndarray) and ops.ndim == 2:
            ops = [ops]
        if isinstance(ops, (str, bytes)) or not hasattr(ops, "__iter__"):
            raise ValueError(f"kraus[{r:+d}] must be a list of (d, d) arrays, got {ops!r}")
        ops = list(ops)
        if len(ops) > MAX_KRAUS:
            raise ValueError(f"kraus[{r:+d}] may hold at most {MAX_KRAUS} operators, got {len(ops)}")
        mats = []
        for j, M in enumerate(ops):
            arr = _operator(f"kraus[{r:+d}][{j}]", M)
            if d is None:
                d = arr.shape[0]
            if arr.shape != (d, d):
                raise ValueError(f"kraus[{r:+d}][{j}] must have shape ({d}, {d}), got {arr.shape}")
            arr.setflags(write=False)
            mats.append(arr)
        out.append(tuple(mats))
    if d is None or not (out[0] or out[1]):
        raise ValueError("kraus must hold at least one operator")
    total = sum((M.conj().T @ M for M in out[0] + out[1]), np.zeros((d, d), complex))
    dev = float(np.max(np.abs(total - np.eye(d))))
    if not dev <= COMPLETENESS_TOL:
        raise ValueError(
            f"kraus operators must be complete: max |sum M^dag M - 1| <= {COMPLETENESS_TOL:g}, got {dev:.3g}"
        )
    return out[0], out[1]


def _operator(name: str, value: Any) -> np.ndarray:
    if isinstance(value, (str, bytes)) or np.asarray(value).dtype.kind not in "iufc":
        raise ValueError(f"{name} must be a (d, d) array of numbers, got {value!r}")
    arr = np.array(value, dtype=complex)
    if arr.ndim != 2 or arr.shape[0] != arr.shape[1] or not 2 <= arr.shape[0] <= 64:
        raise ValueError(f"{name} must be a square (d, d) array with 2 <= d <= 64, got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} must contain finite numbers only")
    return arr


def weak_kraus(observable: ArrayLike, strength: float) -> dict[int, list[np.ndarray]]:
    """Kraus operators of a weak measurement of a +-1 observable A with strength s in (0, 1].

    M_+ = sqrt((1 + s)/2) P_+ + sqrt((1 - s)/2) P_-, M_- = sqrt((1 - s)/2) P_+ + sqrt((1 + s)/2) P_-,
    with P_+- = (1 +- A)/2: record +1 is (1 + s)/2 likely on the +1 eigenspace, and s = 1 gives the
    projectors. Completeness holds for every s (M_+^2 + M_-^2 = P_+ + P_- = 1).

    Parameters
    ----------
    observable : array_like, shape (d, d)
        Hermitian with eigenvalues +1 and -1 only (already checked).
    strength : float
        s in (0, 1] (dimensionless).

    Returns
    -------
    dict of int to list of ndarray of complex128, shape (d, d)
        ``{+1: [M_+], -1: [M_-]}``.

    Raises
    ------
    ValueError
        Naming 'strength', if it is not a real number in (0, 1].
    """
    if isinstance(strength, bool) or not isinstance(strength, (int, float, np.integer, np.floating)):
        raise ValueError(f"strength must be a real number in (0, 1], got {strength!r}")
    s = float(strength)
    if not 0.0 < s <= 1.0:
        raise ValueError(f"strength must be a real number in (0, 1], got {s!r}")
    A = np.asarray(observable, complex)
    eye = np.eye(A.shape[0])
    Pp, Pm = 0.5 * (eye + A), 0.5 * (eye - A)
    if s == 1.0:
        return {1: [Pp], -1: [Pm]}
    a, b = np.sqrt(0.5 * (1.0 + s)), np.sqrt(0.5 * (1.0 - s))
    return {1: [a * Pp + b * Pm], -1: [b * Pp + a * Pm]}
