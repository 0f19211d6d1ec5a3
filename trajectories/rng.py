"""Per-trajectory random streams: xoshiro256** seeded from (seed, trajectory index) by SplitMix64.

Each trajectory owns its stream, so results do not depend on threads, batches or execution order.
"""

from __future__ import annotations

import numpy as np
from numba import njit

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_INDEX_SALT = np.uint64(0xD1B54A32D192ED03)
_TO_UNIT = 2.0**-53

SEED_MAX = 2**64 - 1


@njit(cache=True, inline="always")
def _mix64(z):
    # SplitMix64 finaliser: a bijection on 64-bit words
    z = (z ^ (z >> np.uint64(30))) * _M1
    z = (z ^ (z >> np.uint64(27))) * _M2
    return z ^ (z >> np.uint64(31))


@njit(cache=True, inline="always")
def _rotl(x, k):
    return (x << np.uint64(k)) | (x >> np.uint64(64 - k))


@njit(cache=True)
def seed_state(state: np.ndarray, seed: int | np.uint64, index: int | np.uint64) -> None:
    """Fill ``state`` with the xoshiro256** state of trajectory ``index`` under ``seed``.

    Parameters
    ----------
    state : ndarray of uint64, shape (4,)
        Written.
    seed, index : int or numpy.uint64
        In [0, 2**64).
    """
    x = _mix64(np.uint64(seed) + _GOLDEN) ^ _mix64(np.uint64(index) * _INDEX_SALT + _GOLDEN)
    for i in range(4):
        x = x + _GOLDEN
        state[i] = _mix64(x)


@njit(cache=True, inline="always")
def next_u64(state: np.ndarray) -> np.uint64:
    """Next 64-bit word of the xoshiro256** stream in ``state``.

    Parameters
    ----------
    state : ndarray of uint64, shape (4,)
        Advanced in place.

    Returns
    -------
    numpy.uint64
    """
    result = _rotl(state[1] * np.uint64(5), 7) * np.uint64(9)
    t = state[1] << np.uint64(17)
    state[2] ^= state[0]
    state[3] ^= state[1]
    state[1] ^= state[2]
    state[0] ^= state[3]
    state[2] ^= t
    state[3] = _rotl(state[3], 45)
    return result


@njit(cache=True, inline="always")
def uniform(state: np.ndarray) -> float:
    """Uniform double in [0, 1) with 53 random bits.

    Parameters
    ----------
    state : ndarray of uint64, shape (4,)
        The stream, advanced in place.

    Returns
    -------
    float
    """
    return float(next_u64(state) >> np.uint64(11)) * _TO_UNIT
