"""QuTiP interop of Liouvillians: darkspin vectorises density matrices row-major (numpy's C order,
vec(A X B) = (A kron B^T) vec(X)), QuTiP column-major; :func:`liouvillian_to_qutip` and
:func:`liouvillian_from_qutip` convert between the two. QuTiP itself is never imported here.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from .operator_checks import (
    MAX_DIM,
    MIN_DIM,
    _is_qobj,
    _numeric_array,
    _short,
)


def _tensor_dims(dims: Any, d: int) -> list[int]:
    """The subsystem dimensions for QuTiP (see LindbladModel.to_qutip)."""
    if dims is None:
        n = d.bit_length() - 1
        return [2] * n if d == 1 << n else [d]
    msg = (
        f"dims must be positive integers whose product is d = {d} (or [[...], [...]] with two equal lists), "
        f"got {_short(dims)}"
    )
    if isinstance(dims, (str, bytes)) or not isinstance(dims, (Sequence, np.ndarray)):
        raise ValueError(msg)
    dims = list(dims)
    if len(dims) == 2 and all(isinstance(x, (Sequence, np.ndarray)) and not isinstance(x, str) for x in dims):
        if list(dims[0]) != list(dims[1]):
            raise ValueError(msg)
        dims = list(dims[0])
    if not dims or not all(isinstance(x, (int, np.integer)) and not isinstance(x, bool) and x >= 1 for x in dims):
        raise ValueError(msg)
    dims = [int(x) for x in dims]
    if math.prod(dims) != d:
        raise ValueError(msg)
    return dims


# ---- superoperators: row-major (darkspin) <-> column-major (QuTiP) -------------------------------------
def _superoperator(name: str, L: Any) -> np.ndarray:
    if _is_qobj(L):
        if not getattr(L, "issuper", True):
            raise ValueError(f"{name} must be a superoperator, got a Qobj of type {getattr(L, 'type', '?')!r}")
        rep = getattr(L, "superrep", "super")
        if rep not in (None, "super"):
            raise ValueError(f"{name} must be in QuTiP's 'super' representation, got superrep {rep!r}")
        L = L.full()
    arr = _numeric_array(name, L)
    n = arr.shape[0] if arr.ndim == 2 else -1
    d = math.isqrt(n) if n > 0 else 0
    if arr.ndim != 2 or arr.shape[0] != arr.shape[1] or d * d != n or not MIN_DIM <= d <= MAX_DIM:
        raise ValueError(
            f"{name} must be a (d^2, d^2) superoperator with d in [{MIN_DIM}, {MAX_DIM}], got shape {arr.shape}"
        )
    return arr


def _swap_vectorisation(L: np.ndarray) -> np.ndarray:
    """P L P^T with P the permutation taking index i * d + j to j * d + i (its own inverse)."""
    d = math.isqrt(L.shape[0])
    return np.ascontiguousarray(L.reshape(d, d, d, d).transpose(1, 0, 3, 2)).reshape(d * d, d * d)


def liouvillian_to_qutip(L: Any) -> np.ndarray:
    """A (d^2, d^2) superoperator on row-major rho.reshape(d * d) -> the same on QuTiP's column-major vec.

    L: numpy array (or a Qobj superoperator), d in [2, 64]. Returns a new (d^2, d^2) complex array M with
    M[j * d + i, l * d + k] = L[i * d + j, k * d + l]; wrap it as qutip.Qobj(M, dims=[[[d], [d]]] * 2,
    superrep='super') if a Qobj is needed.

    Parameters
    ----------
    L : array_like or qutip.Qobj, shape (d^2, d^2)

    Returns
    -------
    ndarray of complex128, shape (d^2, d^2)

    Raises
    ------
    ValueError
        If L is not a finite (d^2, d^2) superoperator with d in [2, 64].

    Examples
    --------
    >>> import numpy as np
    >>> import darkspin as ds
    >>> L = ds.SpinPair().liouvillian()
    >>> bool(np.array_equal(ds.liouvillian_from_qutip(ds.liouvillian_to_qutip(L)), L))
    True
    """
    return _swap_vectorisation(_superoperator("L", L))


def liouvillian_from_qutip(L: Any) -> np.ndarray:
    """QuTiP's column-major superoperator (a Qobj, e.g. qutip.liouvillian(H, c_ops), or an array) -> row-major.

    Returns a new (d^2, d^2) complex array acting on rho.reshape(d * d), d in [2, 64]: the inverse of
    :func:`liouvillian_to_qutip` (the permutation is its own inverse).

    Parameters
    ----------
    L : qutip.Qobj or array_like, shape (d^2, d^2)

    Returns
    -------
    ndarray of complex128, shape (d^2, d^2)

    Raises
    ------
    ValueError
        If L is not a finite (d^2, d^2) superoperator in QuTiP's 'super' representation.

    Examples
    --------
    >>> import numpy as np
    >>> import darkspin as ds
    >>> L = ds.SpinPair().liouvillian()
    >>> ds.liouvillian_from_qutip(ds.liouvillian_to_qutip(L)).shape
    (16, 16)
    """
    return _swap_vectorisation(_superoperator("L", L))
