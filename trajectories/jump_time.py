"""Numba: the time of a trajectory's next jump, the root of log||exp(-i H_eff tau) psi||^2 = log r.

Newton's method safeguarded by bisection (relative residual < ROOT_TOL), on the block propagator of any
H_eff (:func:`_jump_time`) or on the STM pair's 1 + 2 + 1 blocks (:func:`_jump_time4`, the same
operations in the same order, so the same bits). They take the arrays they read, not the plan: a call that
passes the plan pays a reference count on each of its arrays, on cache lines the threads share.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from .blocks import apply_propagator_work
from .linalg import pair_propagator

#: Relative residual |  ||psi(t_jump)||^2 / r - 1 | at which the jump-time search stops.
ROOT_TOL = 1e-13
_MAX_ROOT_ITER = 200


@njit(cache=True, inline="always")
def _norm2(v: np.ndarray) -> float:
    s = 0.0
    for i in range(v.size):
        s += v[i].real ** 2
        s += v[i].imag ** 2
    return s


@njit(cache=True, inline="always")
def _norm2_4(v: np.ndarray) -> float:
    # _norm2's sum for d = 4, unrolled (0.0 + x == x, so the same bits)
    return (
        v[0].real ** 2
        + v[0].imag ** 2
        + v[1].real ** 2
        + v[1].imag ** 2
        + v[2].real ** 2
        + v[2].imag ** 2
        + v[3].real ** 2
        + v[3].imag ** 2
    )


@njit(cache=True)
def _expect(A, v):
    s = 0.0
    n = v.size
    for i in range(n):
        for j in range(n):
            s += (np.conj(v[i]) * A[i, j] * v[j]).real
    return s


@njit(cache=True)
def _jump_time(bp, gamma, psi, r, span, phi, work):
    """Root tau in (0, span] of ||exp(-i H_eff tau) psi||^2 = r; leaves that state in ``phi``.

    Requires ||psi||^2 > r >= ||exp(-i H_eff span) psi||^2. Returns (tau, relative residual).
    """
    logr = math.log(r)
    n0 = _norm2(psi)
    lo, hi = 0.0, span
    rate = _expect(gamma, psi) / n0
    g0 = math.log(n0) - logr
    tau = g0 / rate if rate > 0 else 0.5 * span
    resid = 1.0
    for _ in range(_MAX_ROOT_ITER):
        if not (lo < tau < hi):
            tau = 0.5 * (lo + hi)
        apply_propagator_work(bp, tau, psi, phi, work)
        n2 = _norm2(phi)
        g = math.log(n2) - logr if n2 > 0 else -math.inf
        resid = abs(n2 / r - 1.0)
        if g > 0:
            lo = tau
        else:
            hi = tau
        if resid < ROOT_TOL or hi - lo <= 4e-16 * hi:
            break
        dg = -_expect(gamma, phi) / n2 if n2 > 0 else 0.0
        tau = tau - g / dg if dg < 0 else 0.5 * (lo + hi)
    return tau, resid


@njit(cache=True, inline="always")
def _evolve4(coef: np.ndarray, tau: float, psi: np.ndarray, out: np.ndarray) -> None:
    """:func:`_evolve` for the STM pair's 1 + 2 + 1 layout (coef: the plan's prop_coef), the same operations."""
    out[0] = np.exp(-1j * coef[0] * tau) * psi[0]
    u00, u01, u10, u11 = pair_propagator(coef[1], coef[2], coef[3], coef[4], tau)
    out[1] = u00 * psi[1] + u01 * psi[2]
    out[2] = u10 * psi[1] + u11 * psi[2]
    out[3] = np.exp(-1j * coef[5] * tau) * psi[3]


@njit(cache=True, inline="always")
def _expect4(A, v):
    s = 0.0
    for i in range(4):
        for j in range(4):
            s += (np.conj(v[i]) * A[i, j] * v[j]).real
    return s


@njit(cache=True)
def _jump_time4(coef, gamma, psi, r, span, phi):
    """:func:`_jump_time` for the 1 + 2 + 1 layout, the same iteration and operations (so the same bits).

    Takes the two arrays it reads rather than the plan: a call that passes the plan pays a reference
    count on each of its arrays, which the threads share.
    """
    logr = math.log(r)
    n0 = _norm2_4(psi)
    lo, hi = 0.0, span
    rate = _expect4(gamma, psi) / n0
    g0 = math.log(n0) - logr
    tau = g0 / rate if rate > 0 else 0.5 * span
    resid = 1.0
    for _ in range(_MAX_ROOT_ITER):
        if not (lo < tau < hi):
            tau = 0.5 * (lo + hi)
        _evolve4(coef, tau, psi, phi)
        n2 = _norm2_4(phi)
        g = math.log(n2) - logr if n2 > 0 else -math.inf
        resid = abs(n2 / r - 1.0)
        if g > 0:
            lo = tau
        else:
            hi = tau
        if resid < ROOT_TOL or hi - lo <= 4e-16 * hi:
            break
        dg = -_expect4(gamma, phi) / n2 if n2 > 0 else 0.0
        tau = tau - g / dg if dg < 0 else 0.5 * (lo + hi)
    return tau, resid
