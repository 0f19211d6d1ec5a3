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
def block_propagator(heff, tau):
    """exp(-i H_eff tau) as (u_uu, U00, U01, U10, U11, u_dd): the 1 + 2 + 1 blocks, complex scalars.

    heff: (4, 4) complex, block diagonal in S_z; tau >= 0 (time, inverse energy unit).
    """
    b00, b01, b10, b11 = pair_propagator(heff[1, 1], heff[1, 2], heff[2, 1], heff[2, 2], tau)
    return np.exp(-1j * heff[0, 0] * tau), b00, b01, b10, b11, np.exp(-1j * heff[3, 3] * tau)


@njit(cache=True)
def propagator_matrix(heff, tau):
    """exp(-i H_eff tau) as a (4, 4) complex matrix, from :func:`block_propagator`."""
    u0, b00, b01, b10, b11, u3 = block_propagator(heff, tau)
    U = np.zeros((4, 4), np.complex128)
    U[0, 0] = u0
    U[1, 1] = b00
    U[1, 2] = b01
    U[2, 1] = b10
    U[2, 2] = b11
    U[3, 3] = u3
    return U
