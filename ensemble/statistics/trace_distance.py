"""The trace distance between density matrices: how far the Monte Carlo state is from the exact one."""

from __future__ import annotations

import numpy as np


def trace_distance(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """0.5 * sum |eigenvalues(a - b)| of Hermitian (..., d, d) arrays; shape (...), NaN where either has NaN."""
    d = np.asarray(a) - np.asarray(b)
    flat = d.reshape(-1, *d.shape[-2:])
    out = np.full(flat.shape[0], np.nan)
    ok = np.all(np.isfinite(flat), axis=(-2, -1))
    if np.any(ok):
        h = flat[ok]
        h = 0.5 * (h + np.conj(np.swapaxes(h, -1, -2)))  # remove rounding-level anti-Hermitian parts
        out[ok] = 0.5 * np.sum(np.abs(np.linalg.eigvalsh(h)), axis=-1)
    return out.reshape(d.shape[:-2])
