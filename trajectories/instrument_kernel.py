"""Numba pieces of the trajectory kernel for the general instruments: a Kraus instrument's draw, a monitored
window's record, and feedback that depends on the post-selection rule's state.

The projective instrument keeps its own draw (:func:`darkspin.trajectories.kernel._measure`), so runs of
protocols without these instruments draw the same numbers as before. The plan's tables are built by
:func:`darkspin.trajectories.instrument_tables.kind_tables`.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from .rng import uniform


@njit(cache=True, inline="always")
def _sq(v: np.ndarray) -> float:
    s = 0.0
    for i in range(v.size):
        s += v[i].real ** 2 + v[i].imag ** 2
    return s


@njit(cache=True, inline="always")
def _mul(A: np.ndarray, v: np.ndarray, out: np.ndarray) -> None:
    n = v.size
    for i in range(n):
        s = 0j
        for j in range(n):
            s += A[i, j] * v[j]
        out[i] = s


@njit(cache=True, inline="always")
def _measure_kraus(rng, plan, k, psi, n2, phi):
    """Round k's Kraus instrument on the unnormalised state psi (norm n2): :func:`_kraus_draw`'s record index."""
    return _kraus_draw(rng, plan.kraus_ops[k], plan.kraus_n[k], plan.meas_fb[k], plan.meas_U[k], psi, n2, phi)[0]


@njit(cache=True)
def _kraus_draw(rng, ops, n_ops, fb, U, psi, n2, phi):
    """One round's Kraus instrument (ops (2, J, d, d), n_ops (2,), fb (2,), U (2, d, d)) on the unnormalised
    state psi (norm n2).

    Draws the record r and operator j with Born weight ||M_{r,j} psi||^2 (they add up to n2), leaves
    M_{r,j} psi normalised (then the record's feedback) in psi and returns (r, j), r = 0 for +1. Takes one
    round's arrays rather than the plan: a call that passes the plan pays a reference count on each of
    its arrays, which the threads share.
    """
    u = uniform(rng) * n2
    pick_r, pick_j, pick_w = -1, -1, 0.0
    done = False
    for r in range(2):
        for j in range(n_ops[r]):
            _mul(ops[r, j], psi, phi)
            w = _sq(phi)
            if w > 0.0:
                pick_r, pick_j, pick_w = r, j, w
                if u < w:
                    done = True
                    break
                u -= w
        if done:
            break
    if not done:  # u beyond the sum by rounding: the last operator with weight, recomputed
        _mul(ops[pick_r, pick_j], psi, phi)
    nrm = 1.0 / math.sqrt(pick_w)
    for i in range(psi.size):
        psi[i] = phi[i] * nrm
    if fb[pick_r]:
        _mul(U[pick_r], psi, phi)
        for i in range(psi.size):
            psi[i] = phi[i]
    return pick_r, pick_j


@njit(cache=True)
def _close_window(rng, plan, k, psi, n2, phi, clicks):
    """The end of round k's monitored window, which saw ``clicks`` detected jumps.

    One uniform decides whether the dark count N ~ Poisson(r D) reaches the clicks still missing
    (P(N >= n) = mon_tail[k, n]); normalises psi, applies the record's feedback and returns the record
    index (0: +1, the clicks reached the threshold).
    """
    need = plan.mon_thr[k] - clicks
    u = uniform(rng)
    rec = 0 if (need <= 0 or u < plan.mon_tail[k, need]) else 1
    nrm = 1.0 / math.sqrt(n2)
    for i in range(psi.size):
        psi[i] = psi[i] * nrm
    if plan.meas_fb[k, rec]:
        _mul(plan.meas_U[k, rec], psi, phi)
        for i in range(psi.size):
            psi[i] = phi[i]
    return rec


@njit(cache=True)
def _history_feedback(plan, k, state, rec, psi, phi):
    """The feedback of record index ``rec`` in round k when the rule machine was in ``state``."""
    if plan.fbh_on[k, state, rec]:
        _mul(plan.fbh_U[k, state, rec], psi, phi)
        for i in range(psi.size):
            psi[i] = phi[i]
