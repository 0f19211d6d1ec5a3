"""The checks of a general model's operators: dimensions (MIN_DIM <= d <= MAX_DIM), channel count, finite
entries bounded by MAX_ENTRY, a Hamiltonian or jump operators given as arrays or as ``qutip.Qobj`` (read by
their ``full()`` method, without importing QuTiP).
"""

from __future__ import annotations

from typing import Any

import numpy as np

#: Smallest and largest Hilbert-space dimension d of a model (the Liouvillian is d^2 x d^2: 256 MB at 64).
MIN_DIM = 2

MAX_DIM = 64

#: Most jump operators (channels) a model may have.
MAX_CHANNELS = 1024

#: Largest magnitude of any matrix entry (the same bound as SpinPair's MAX_PARAM): beyond it, rates
#: overflow the propagators into NaN instead of failing loudly.
MAX_ENTRY = 1e12

#: Relative tolerance on Hermiticity of H: max|H - H^dag| <= HERMITIAN_TOL * max(1, max|H|).
HERMITIAN_TOL = 1e-12

#: Tolerance on the norm of a state vector and on the Hermiticity, trace and positivity of a density matrix.
STATE_TOL = 1e-10


# ---- validation helpers ------------------------------------------------------------------------------
def _short(value: Any) -> str:
    """A value for an error message: its shape if it is a large array, else a short repr."""
    if isinstance(value, np.ndarray):
        return f"an array of shape {value.shape}" if value.size > 8 else repr(value.tolist())
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _is_qobj(x: Any) -> bool:
    """A qutip.Qobj (or anything like it), recognised without importing qutip."""
    return hasattr(x, "full") and hasattr(x, "dims") and not isinstance(x, np.ndarray)


def _numeric_array(name: str, value: Any) -> np.ndarray:
    """``value`` as a complex128 array; ValueError naming ``name`` for strings, booleans, objects, NaN, inf."""
    if isinstance(value, (str, bytes)):
        raise ValueError(f"{name} must hold numbers, got {_short(value)}")
    try:
        raw = np.asarray(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be an array of numbers, got {_short(value)}") from None
    if raw.dtype.kind not in "iufc":
        # 'b' (booleans would pass as 0/1), 'O' (ragged lists, Qobj in a list), 'U'/'S' (strings)
        raise ValueError(
            f"{name} must hold real or complex numbers (not booleans, strings or objects), got {_short(value)}"
        )
    arr = np.array(raw, dtype=np.complex128)
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} must contain finite numbers only")
    return arr


def _check_bounded(name: str, arr: np.ndarray) -> None:
    if arr.size and float(np.max(np.abs(arr))) > MAX_ENTRY:
        raise ValueError(
            f"{name} entries must lie within |x| <= {MAX_ENTRY:g}, got max |x| = {float(np.max(np.abs(arr)))!r}"
        )


def _check_dim(name: str, d: int) -> None:
    if not MIN_DIM <= d <= MAX_DIM:
        raise ValueError(f"{name} must have dimension d in [{MIN_DIM}, {MAX_DIM}], got d = {d}")


def _jump_array(jump_operators: Any, d: int) -> np.ndarray:
    """The jump operators as a (K, d, d) complex array, validated (see LindbladModel)."""
    if _is_qobj(jump_operators):
        raise ValueError("jump_operators must be numpy arrays; use LindbladModel.from_qutip for qutip.Qobj input")
    if isinstance(jump_operators, (list, tuple)):
        if len(jump_operators) == 0:
            return np.zeros((0, d, d), dtype=np.complex128)
        if any(_is_qobj(op) for op in jump_operators):
            raise ValueError("jump_operators must be numpy arrays; use LindbladModel.from_qutip for qutip.Qobj input")
        if len(jump_operators) > MAX_CHANNELS:
            raise ValueError(f"jump_operators may hold at most {MAX_CHANNELS} operators, got {len(jump_operators)}")
    jumps = _numeric_array("jump_operators", jump_operators)
    if jumps.ndim != 3 or jumps.shape[1:] != (d, d):
        raise ValueError(
            f"jump_operators must have shape (K, {d}, {d}) (K operators of the Hamiltonian's size), "
            f"got shape {jumps.shape}"
        )
    if jumps.shape[0] > MAX_CHANNELS:
        raise ValueError(f"jump_operators may hold at most {MAX_CHANNELS} operators, got {jumps.shape[0]}")
    _check_bounded("jump_operators", jumps)
    return jumps


def _operator_from(name: str, op: Any) -> np.ndarray:
    """A (d, d) array from a Qobj operator or array-like; kets, bras and superoperators are refused."""
    if _is_qobj(op):
        if getattr(op, "issuper", False):
            raise ValueError(f"{name} must be an operator, got a superoperator (dims {op.dims})")
        if getattr(op, "isket", False) or getattr(op, "isbra", False):
            raise ValueError(f"{name} must be an operator, got a {'ket' if op.isket else 'bra'} (dims {op.dims})")
        if not getattr(op, "isoper", True):
            raise ValueError(f"{name} must be a square operator, got a Qobj of type {getattr(op, 'type', '?')!r}")
        op = op.full()
    arr = _numeric_array(name, op)
    if arr.ndim != 2 or arr.shape[0] != arr.shape[1]:
        raise ValueError(
            f"{name} must be a square (d, d) operator with d in [{MIN_DIM}, {MAX_DIM}], got shape {arr.shape}"
        )
    return arr
