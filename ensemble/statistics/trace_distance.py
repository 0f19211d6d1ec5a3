"""The trace distance between density matrices: how far the Monte Carlo state is from the exact one."""

from __future__ import annotations

import numpy as np


def trace_distance(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """0.5 * sum |eigenvalues(a - b)| of Hermitian (..., d, d) arrays; shape (...), NaN where either has NaN.

    Parameters
    ----------
    a, b : numpy.ndarray, shape (..., d, d)
        Hermitian matrices (density matrices), broadcasting together.

    Returns
    -------
    numpy.ndarray, shape (...)
        The trace distance, in [0, 1] for states; NaN where either input has a NaN.

    Examples
    --------
    >>> import numpy as np
    >>> import darkspin as ds
    >>> float(ds.trace_distance(np.diag([1.0, 0.0]), np.diag([0.5, 0.5])))
    0.5
    """
    d = np.asarray(a) - np.asarray(b)
    flat = d.reshape(-1, *d.shape[-2:])
    out = np.full(flat.shape[0], np.nan)
    ok = np.all(np.isfinite(flat), axis=(-2, -1))
    if np.any(ok):
        h = flat[ok]
        h = 0.5 * (h + np.conj(np.swapaxes(h, -1, -2)))  # remove rounding-level anti-Hermitian parts
        out[ok] = 0.5 * np.sum(np.abs(np.linalg.eigvalsh(h)), axis=-1)
    return out.reshape(d.shape[:-2])
