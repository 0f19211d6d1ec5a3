"""The operators of an instrument: the named two-spin observables and feedback unitaries, the record order,
and the checks of an observable (Hermitian, eigenvalues +-1), a unitary and a feedback table keyed by
record or by (record, rule state).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from .operators import kron

#: Tolerance on Hermiticity, on the +-1 spectrum of an observable and on the unitarity of a feedback.
OPERATOR_TOL = 1e-10

#: Named two-spin observables (d = 4), each with eigenvalues +-1 only.
NAMED_OBSERVABLES = {
    "zz": ("z", "z"),
    "xx": ("x", "x"),
    "yy": ("y", "y"),
    "z1": ("z", "1"),
    "z2": ("1", "z"),
}

#: Named two-spin feedback unitaries (d = 4).
NAMED_FEEDBACK = {"flip1": ("x", "1"), "flip2": ("1", "x")}

#: Record order in every per-record array: index 0 is record +1, index 1 is record -1.
RECORDS = (1, -1)


def _matrix(name: str, value: Any, dim: int | None) -> np.ndarray:
    if isinstance(value, (str, bytes)):
        raise ValueError(f"{name}: unknown name {value!r}")
    if np.asarray(value).dtype.kind not in "iufc":
        raise ValueError(f"{name} must be a (d, d) array of numbers, got dtype {np.asarray(value).dtype}")
    try:
        arr = np.array(value, dtype=complex)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a (d, d) complex array, got {value!r}") from None
    if arr.ndim != 2 or arr.shape[0] != arr.shape[1] or not 2 <= arr.shape[0] <= 64:
        raise ValueError(f"{name} must be a square (d, d) array with 2 <= d <= 64, got shape {arr.shape}")
    if dim is not None and arr.shape[0] != dim:
        raise ValueError(f"{name} must have shape ({dim}, {dim}) for this model, got {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} must contain finite numbers only")
    return arr


def check_observable(value: str | ArrayLike, dim: int | None = None) -> np.ndarray:
    """A Hermitian (d, d) operator with eigenvalues +1 and -1 only (named ones need d = 4).

    Parameters
    ----------
    value : str or array_like, shape (d, d)
        A name from NAMED_OBSERVABLES, or the operator.
    dim : int, optional
        The model's dimension d the operator must have; None accepts any d in [2, 64].

    Returns
    -------
    ndarray of complex128, shape (d, d)
        The operator, made exactly Hermitian.

    Raises
    ------
    ValueError
        For an unknown name, a wrong shape, non-finite entries, or a spectrum other than +-1.
    """
    if isinstance(value, str):
        if value not in NAMED_OBSERVABLES:
            raise ValueError(f"observable must be one of {sorted(NAMED_OBSERVABLES)} or a (d, d) array, got {value!r}")
        if dim not in (None, 4):
            raise ValueError(f"observable {value!r} is a two-spin operator (d = 4); this model has d = {dim}")
        return kron(*NAMED_OBSERVABLES[value])
    arr = _matrix("observable", value, dim)
    if np.max(np.abs(arr - arr.conj().T)) > OPERATOR_TOL:
        raise ValueError("observable must be Hermitian")
    arr = 0.5 * (arr + arr.conj().T)
    ev = np.linalg.eigvalsh(arr)
    bad = ev[np.minimum(np.abs(ev - 1.0), np.abs(ev + 1.0)) > 1e-8]
    if bad.size:
        raise ValueError(f"observable must have eigenvalues +1 and -1 only, found {float(bad[0]):.6g}")
    return arr


def check_unitary(name: str, value: str | ArrayLike, dim: int | None = None) -> np.ndarray:
    """A unitary (d, d) array, or a named one ('flip1', 'flip2', d = 4).

    Parameters
    ----------
    name : str
        The parameter's name in error messages.
    value : str or array_like, shape (d, d)
        A name from NAMED_FEEDBACK, or the unitary.
    dim : int, optional
        The dimension d it must have; None accepts any d in [2, 64].

    Returns
    -------
    ndarray of complex128, shape (d, d)

    Raises
    ------
    ValueError
        For an unknown name, a wrong shape, or |U^dag U - 1| > OPERATOR_TOL.
    """
    if isinstance(value, str):
        if value not in NAMED_FEEDBACK:
            raise ValueError(f"{name} must be one of {sorted(NAMED_FEEDBACK)} or a unitary (d, d) array, got {value!r}")
        if dim not in (None, 4):
            raise ValueError(f"{name} {value!r} is a two-spin operator (d = 4); this model has d = {dim}")
        return kron(*NAMED_FEEDBACK[value])
    arr = _matrix(name, value, dim)
    dev = float(np.max(np.abs(arr.conj().T @ arr - np.eye(arr.shape[0]))))
    if dev > OPERATOR_TOL:
        raise ValueError(f"{name} must be unitary (|U^dag U - 1| <= {OPERATOR_TOL:g}), got deviation {dev:.3g}")
    return arr


def _name_of(matrix: np.ndarray, named: Mapping[str, tuple[str, str]]) -> str | None:
    """The name of a named two-spin operator equal to ``matrix``, or None."""
    if matrix.shape != (4, 4):
        return None
    return next((n for n, ops in named.items() if np.array_equal(matrix, kron(*ops))), None)


def check_feedback(
    feedback: Any, dim: int
) -> tuple[dict[int, np.ndarray], dict[tuple[int, int], np.ndarray], dict[int | tuple[int, int], str]]:
    """Feedback unitaries keyed by record, or by (record, rule state before the round).

    Parameters
    ----------
    feedback : dict, optional
        ``{record: U}`` or ``{(record, state): U}`` with record +1 or -1, state an int >= 0 (the
        post-selection rule machine's state before the round) and U a (d, d) unitary or a named one.
    dim : int
        The dimension d.

    Returns
    -------
    by_record : dict of int to ndarray, shape (d, d)
    by_history : dict of (int, int) to ndarray, shape (d, d)
    names : dict
        The names given for named unitaries, by key.

    Raises
    ------
    ValueError
        Naming 'feedback', for a key or unitary outside the ranges above.
    """
    fb: dict[int, np.ndarray] = {}
    hist: dict[tuple[int, int], np.ndarray] = {}
    names: dict[int | tuple[int, int], str] = {}
    if feedback is None:
        return fb, hist, names
    if not isinstance(feedback, dict):
        raise ValueError(f"feedback must be None or a dict {{record: unitary}}, got {feedback!r}")
    for key, U in feedback.items():
        if isinstance(key, tuple):
            if (
                len(key) != 2
                or isinstance(key[0], bool)
                or key[0] not in RECORDS
                or isinstance(key[1], bool)
                or not isinstance(key[1], (int, np.integer))
                or key[1] < 0
            ):
                raise ValueError(f"feedback keys must be records +1 or -1 or pairs (record, state >= 0), got {key!r}")
            k2 = (int(key[0]), int(key[1]))
            hist[k2] = check_unitary(f"feedback[({k2[0]:+d}, {k2[1]})]", U, dim)
            if isinstance(U, str):
                names[k2] = U
            continue
        if isinstance(key, bool) or key not in RECORDS:
            raise ValueError(f"feedback keys must be records +1 or -1 or pairs (record, state >= 0), got {key!r}")
        fb[int(key)] = check_unitary(f"feedback[{int(key):+d}]", U, dim)
        if isinstance(U, str):
            names[int(key)] = U
    for a in [*fb.values(), *hist.values()]:
        a.setflags(write=False)
    return fb, hist, names
