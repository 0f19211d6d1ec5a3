"""The input check shared by the block propagators: a finite square complex (n, n) matrix with
1 <= n <= MAX_DIM.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

#: Largest dimension n of a matrix the kernels accept (so of H_eff and any of its blocks).
MAX_DIM = 64


def _square_matrix(a: ArrayLike, name: str) -> np.ndarray:
    arr = np.asarray(a)
    if arr.ndim != 2 or arr.shape[0] != arr.shape[1] or arr.shape[0] == 0:
        raise ValueError(f"{name} must be a non-empty square matrix, got shape {arr.shape}")
    if not 1 <= arr.shape[0] <= MAX_DIM:
        raise ValueError(f"{name} must have dimension in [1, {MAX_DIM}], got {arr.shape[0]}")
    if not (np.issubdtype(arr.dtype, np.number) and np.isfinite(arr).all()):
        raise ValueError(f"{name} must contain finite numbers")
    return np.ascontiguousarray(arr, dtype=np.complex128)
