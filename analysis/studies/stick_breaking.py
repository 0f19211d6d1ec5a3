"""Stick breaking: schedules of R non-decreasing times in [0, t_max] from weights in the box [0, 1]^R.

Each time takes the fraction w_k of what is left of the interval, t_k = t_{k-1} + (t_max - t_{k-1}) w_k
with t_0 = 0. The box's faces are the edges of schedule space (w_1 = 0: a measurement at t = 0; w_k = 0:
two rounds at one instant; w_k = 1: this and every later round at t_max), and the map is a polynomial,
so an objective is as smooth in w as in the times (:mod:`.schedule` searches in w).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike


def stick_times(w: ArrayLike, t_max: float) -> np.ndarray:
    """Times from stick-breaking weights: t_k = t_{k-1} + (t_max - t_{k-1}) w_k, t_0 = 0.

    Parameters
    ----------
    w : array_like, shape (R,)
        Weights in [0, 1] (clipped to it).
    t_max : float
        The end of the interval (model time unit).

    Returns
    -------
    numpy.ndarray, shape (R,)
        Non-decreasing times in [0, t_max].
    """
    t, out = 0.0, []
    for wk in np.clip(np.asarray(w, float), 0.0, 1.0):
        t = t_max if wk == 1.0 else min(t + (t_max - t) * wk, t_max)
        out.append(t)
    return np.array(out)


def stick_weights(times: ArrayLike, t_max: float) -> np.ndarray:
    """Inverse of :func:`stick_times`.

    Parameters
    ----------
    times : array_like, shape (R,)
        Sorted times in [0, t_max].
    t_max : float
        The end of the interval (model time unit).

    Returns
    -------
    numpy.ndarray, shape (R,)
        Weights in [0, 1] (w_k = 0 where nothing is left of the interval).
    """
    t_prev, out = 0.0, []
    for t in np.asarray(times, float):
        rest = t_max - t_prev
        out.append(min(max((t - t_prev) / rest, 0.0), 1.0) if rest > 0 else 0.0)
        t_prev = t
    return np.array(out)


def stick_jacobian(w: ArrayLike, times: np.ndarray, t_max: float) -> np.ndarray:
    """dt_k / dw_j of :func:`stick_times`, (R, R) lower triangular.

    t_k = t_{k-1} + (t_max - t_{k-1}) w_k, so dt_k/dw_k = t_max - t_{k-1} and dt_k/dt_{k-1} = 1 - w_k.

    Parameters
    ----------
    w : array_like, shape (R,)
        Weights in [0, 1] (clipped to it).
    times : numpy.ndarray, shape (R,)
        ``stick_times(w, t_max)``.
    t_max : float
        The end of the interval (model time unit).

    Returns
    -------
    numpy.ndarray, shape (R, R)
        The Jacobian (model time unit).
    """
    weights = np.clip(np.asarray(w, float), 0.0, 1.0)
    R = weights.size
    J = np.zeros((R, R))
    before = np.concatenate([[0.0], times[:-1]])
    for k in range(R):
        J[k, k] = t_max - before[k]
        if k:
            J[k, :k] = J[k - 1, :k] * (1.0 - weights[k])
    return J
