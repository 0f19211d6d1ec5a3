"""The two-spin closed form exp(-i H_eff tau) as six numbers (blocks 1 + 2 + 1 in total S_z).

The kernels use :mod:`.blocks`, which handles any block structure; this module keeps the STM pair's
classic form for tests and benchmarks, computed by the same closed form (:func:`.linalg.pair_propagator`:
exact at and near exceptional points), so the two agree bit for bit.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from .linalg import pair_propagator


@njit(cache=True)
def block_propagator(heff: np.ndarray, tau: float) -> tuple[complex, complex, complex, complex, complex, complex]:
    """exp(-i H_eff tau) as its 1 + 2 + 1 blocks.

    Parameters
    ----------
    heff : ndarray of complex128, shape (4, 4)
        Block diagonal in S_z.
    tau : float
        >= 0 (time, inverse energy unit).

    Returns
    -------
    u_uu, U00, U01, U10, U11, u_dd : complex
        The 1 x 1 block of |uu>, the 2 x 2 block of |ud>, |du> row-major, the 1 x 1 block of |dd>.
    """
    b00, b01, b10, b11 = pair_propagator(heff[1, 1], heff[1, 2], heff[2, 1], heff[2, 2], tau)
    return np.exp(-1j * heff[0, 0] * tau), b00, b01, b10, b11, np.exp(-1j * heff[3, 3] * tau)


@njit(cache=True)
def propagator_matrix(heff: np.ndarray, tau: float) -> np.ndarray:
    """exp(-i H_eff tau) as a matrix, from :func:`block_propagator`.

    Parameters
    ----------
    heff : ndarray of complex128, shape (4, 4)
        Block diagonal in S_z.
    tau : float
        >= 0 (time, inverse energy unit).

    Returns
    -------
    ndarray of complex128, shape (4, 4)
    """
    u0, b00, b01, b10, b11, u3 = block_propagator(heff, tau)
    U = np.zeros((4, 4), np.complex128)
    U[0, 0] = u0
    U[1, 1] = b00
    U[1, 2] = b01
    U[2, 1] = b10
    U[2, 2] = b11
    U[3, 3] = u3
    return U
