"""Numba kernels: one quantum-jump trajectory of the protocol, and streaming ensemble sums over many.

Between events a pure state of any dimension d evolves under H_eff = H - (i/2) sum_k L_k^dag L_k
with the exact block propagator of :mod:`.blocks` (closed forms for 1 x 1 and 2 x 2 blocks, such as
the STM pair's 1 + 2 + 1; eigenbasis or Schur-Pade for larger ones). A jump happens when ||psi||^2
falls to a uniform r: its time is the root of log||psi(t)||^2 = log r, found by Newton's method
safeguarded by bisection (relative residual < 1e-13), so there is no time step. The channel is drawn
with weights ||L_k psi||^2. At a measurement round the plan's instrument draws the true outcome by
the Born rule and projects, the detector's record is drawn with the readout error, the feedback of
that record acts, and the post-selection rule's machine steps on the record.

Ensemble sums are exact integers: each trajectory's |psi><psi| is rounded to a multiple of
2^-FRAC_BITS and summed in int64, so sums are bit-identical under any split or order of trajectories.
Standard errors come from the matching sums of |psi_i psi_j|^2 (sums of squares).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

from .blocks import apply_propagator_work
from .plan import propagator_of
from .rng import seed_state, uniform

#: Fixed-point resolution of the ensemble sums: contributions are rounded to multiples of 2^-40 (9e-13).
FRAC_BITS = 40
_SCALE = float(2**FRAC_BITS)
_INV_SQRT2 = 1.0 / math.sqrt(2.0)
#: Trajectories per kernel call: keeps every int64 sum below 2^62 (each contribution is <= 1).
MAX_CALL = 2**22


def pairs(d: int) -> np.ndarray:
    """Upper-triangle index pairs (i <= j) of a d x d matrix, row by row; (d (d + 1) / 2, 2) int64."""
    return np.array([(i, j) for i in range(d) for j in range(i, d)], dtype=np.int64).reshape(-1, 2)


def acc_layout(d: int) -> tuple[int, int, int, int, int]:
    """Layout of one accumulator row for dimension d: (n_re, n_im, n_sq, i_pop, n_acc).

    Re over pairs(d) (n_re), Im over the off-diagonal pairs (n_im), |.|^2 over pairs(d) (n_sq), then
    the target population |<target|psi>|^2 and its square (for its exact standard error).
    """
    n_re = d * (d + 1) // 2
    n_im = d * (d - 1) // 2
    i_pop = 2 * n_re + n_im
    return n_re, n_im, n_re, i_pop, i_pop + 2


#: The two-spin layout (d = 4): 10 pairs, 6 off-diagonal, 28 sums per output.
PAIRS = pairs(4)
N_RE, N_IM, N_SQ, I_POP, N_ACC = acc_layout(4)

#: Relative residual |  ||psi(t_jump)||^2 / r - 1 | at which the jump-time search stops.
ROOT_TOL = 1e-13
_MAX_ROOT_ITER = 200


@njit(cache=True, inline="always")
def _norm2(v):
    s = 0.0
    for i in range(v.size):
        s += v[i].real ** 2
        s += v[i].imag ** 2
    return s


@njit(cache=True, inline="always")
def _evolve(plan, tau, psi, out, work):
    """out = exp(-i H_eff tau) psi for any tau >= 0, block by block (closed forms, eigen or Schur-Pade)."""
    apply_propagator_work(propagator_of(plan), tau, psi, out, work)


@njit(cache=True, inline="always")
def _apply_event(plan, e, psi, out):
    """out = U_e psi with U_e the precomputed propagator over the interval ending at event e."""
    order, starts = plan.prop_order, plan.prop_starts
    U = plan.ev_U
    off = 0
    for b in range(starts.size - 1):
        s = starts[b]
        n = starts[b + 1] - s
        for i in range(n):
            row = off + i * n
            acc = U[e, row] * psi[order[s]]
            for j in range(1, n):
                acc += U[e, row + j] * psi[order[s + j]]
            out[order[s + i]] = acc
        off += n * n


@njit(cache=True)
def _expect(A, v):
    s = 0.0
    n = v.size
    for i in range(n):
        for j in range(n):
            s += (np.conj(v[i]) * A[i, j] * v[j]).real
    return s


@njit(cache=True)
def _jump_time(plan, psi, r, span, phi, work):
    """Root tau in (0, span] of ||exp(-i H_eff tau) psi||^2 = r; leaves that state in ``phi``.

    Requires ||psi||^2 > r >= ||exp(-i H_eff span) psi||^2. Returns (tau, relative residual).
    """
    gamma = plan.gamma
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
        _evolve(plan, tau, psi, phi, work)
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
def _matvec(A, v, out):
    n = v.size
    for i in range(n):
        s = 0j
        for j in range(n):
            s += A[i, j] * v[j]
        out[i] = s


@njit(cache=True)
def _measure(rng, plan, k, psi, n2, phi, tmp):
    """Round k on the unnormalised state psi (norm n2): draw, project, read out, feed back.

    Leaves the normalised post-measurement state in psi; returns (true outcome index, record index),
    index 0 for +1 and 1 for -1.
    """
    _matvec(plan.meas_P[k, 1], psi, phi)
    nm = _norm2(phi)
    _matvec(plan.meas_P[k, 0], psi, tmp)
    npl = _norm2(tmp)
    # nm > 0 guards the rounding case pm -> 1 with an empty -1 branch, npl == 0 the reverse
    if nm > 0.0 and (uniform(rng) < nm / n2 or npl == 0.0):
        m = 1
        nrm = 1.0 / math.sqrt(nm)
        for i in range(psi.size):
            psi[i] = phi[i] * nrm
    else:
        m = 0
        nrm = 1.0 / math.sqrt(npl)
        for i in range(psi.size):
            psi[i] = tmp[i] * nrm
    r = m
    flip = plan.meas_C[k, 1 - m, m]
    if flip > 0.0 and uniform(rng) < flip:
        r = 1 - m
    if plan.meas_fb[k, r]:
        _matvec(plan.meas_U[k, r], psi, phi)
        for i in range(psi.size):
            psi[i] = phi[i]
    return m, r


@njit(cache=True)
def trajectory(rng, plan, out_states, out_post, outcomes, records, jump_t, jump_k, jump_resid):
    """Run one trajectory of the plan; returns the number of jumps.

    rng: (4,) uint64 stream state. Writes out_states (n, d) complex (normalised state at each output
    time), out_post (n,) bool (the rule's machine accepting at that time), outcomes (rounds,) int8
    (true outcomes +1/-1) and records (rounds,) int8 (what the detector reported). The first
    len(jump_t) jumps are logged in jump_t (time), jump_k (channel) and jump_resid (root residual).
    """
    jumps = plan.jumps
    init_w, init_states = plan.init_w, plan.init_states
    ev_time, ev_kind, ev_index = plan.ev_time, plan.ev_kind, plan.ev_index
    d = plan.heff.shape[0]
    psi = np.empty(d, np.complex128)
    phi = np.empty(d, np.complex128)
    tmp = np.empty(d, np.complex128)
    work = np.empty(plan.prop_max_block, np.complex128)
    m = init_w.size
    c = 0
    if m > 1:
        u = uniform(rng)
        while c < m - 1 and u >= init_w[c]:
            c += 1
    for i in range(d):
        psi[i] = init_states[c, i]
    nk = jumps.shape[0]
    weights = np.empty(max(nk, 1))
    r = 1.0 - uniform(rng)  # in (0, 1]
    t = 0.0
    state = 0
    post = True
    njump = 0
    for e in range(ev_time.size):
        # every event leaves t at its own time, so the precomputed interval propagator applies
        te = ev_time[e]
        _apply_event(plan, e, psi, phi)
        n2 = _norm2(phi)
        while n2 < r:
            tau, resid = _jump_time(plan, psi, r, te - t, phi, work)
            t = t + tau
            total = 0.0
            for k in range(nk):
                wk = 0.0
                for i in range(d):
                    s = 0j
                    for j in range(d):
                        s += jumps[k, i, j] * phi[j]
                    wk += s.real**2 + s.imag**2
                weights[k] = wk
                total += wk
            if total > 0.0:
                u = uniform(rng) * total
                k = 0
                while k < nk - 1 and u >= weights[k]:
                    u -= weights[k]
                    k += 1
                nrm = 1.0 / math.sqrt(weights[k])
                for i in range(d):
                    s = 0j
                    for j in range(d):
                        s += jumps[k, i, j] * phi[j]
                    psi[i] = s * nrm
                if njump < jump_t.size:
                    jump_t[njump] = t
                    jump_k[njump] = k
                    jump_resid[njump] = resid
                njump += 1
            else:
                # no channel can fire from this state (norm loss was rounding): just renormalise
                nrm = 1.0 / math.sqrt(_norm2(phi))
                for i in range(d):
                    psi[i] = phi[i] * nrm
            r = 1.0 - uniform(rng)
            _evolve(plan, te - t, psi, phi, work)
            n2 = _norm2(phi)
        for i in range(d):
            psi[i] = phi[i]
        t = te
        idx = ev_index[e]
        if ev_kind[e] == 0:
            mi, ri = _measure(rng, plan, idx, psi, n2, phi, tmp)
            outcomes[idx] = 1 - 2 * mi
            records[idx] = 1 - 2 * ri
            state = plan.sel_tr[idx, state, ri]
            post = plan.sel_acc[state]
            r = 1.0 - uniform(rng)
        else:
            nrm = 1.0 / math.sqrt(n2)
            for i in range(d):
                out_states[idx, i] = psi[i] * nrm
            out_post[idx] = post
    return njump


@njit(cache=True, inline="always")
def chunk_bounds(start, ntraj, nchunks, ch):
    """Trajectory index range [lo, hi) of chunk ``ch`` when ``ntraj`` from ``start`` are split in ``nchunks``."""
    return start + (ntraj * ch) // nchunks, start + (ntraj * (ch + 1)) // nchunks


@njit(cache=True, inline="always")
def trajectory_buffers(n_out, rounds, d):
    """Scratch for :func:`trajectory`: (rng (4,) uint64, states (n_out, d), post (n_out,), outcomes, records)."""
    return (
        np.empty(4, np.uint64),
        np.empty((n_out, d), np.complex128),
        np.empty(n_out, np.bool_),
        np.empty(max(rounds, 1), np.int8),
        np.empty(max(rounds, 1), np.int8),
    )


@njit(cache=True, inline="always")
def _q(x):
    return np.int64(np.rint(x * _SCALE))


@njit(cache=True)
def _accumulate(acc, states, start, stop, target, target_kind):
    """Add the fixed-point |psi><psi| terms of ``states[start:stop]`` ((n, d)) into ``acc`` (n, n_acc) int64.

    target_kind 0: the singlet population (|psi_1 - psi_2|^2 / 2, d = 4); 1: |<target|psi>|^2 for the
    vector ``target`` (d,); 2: no target (zeros).
    """
    d = states.shape[1]
    n_re = d * (d + 1) // 2
    n_im = d * (d - 1) // 2
    i_sq = n_re + n_im
    i_pop = i_sq + n_re
    for o in range(start, stop):
        if target_kind == 0:
            sing = (states[o, 1] - states[o, 2]) * _INV_SQRT2
            ps = sing.real**2 + sing.imag**2
        elif target_kind == 1:
            amp = 0j
            for i in range(d):
                amp += np.conj(target[i]) * states[o, i]
            ps = amp.real**2 + amp.imag**2
        else:
            ps = 0.0
        acc[o, i_pop] += _q(ps)
        acc[o, i_pop + 1] += _q(ps * ps)
        # trajectories often live in one invariant sector: skip the exact zeros
        p = 0
        q = 0
        for i in range(d):
            si = states[o, i]
            if si == 0:
                p += d - i
                q += d - 1 - i
                continue
            a2 = si.real**2 + si.imag**2
            acc[o, p] += _q(a2)
            acc[o, i_sq + p] += _q(a2 * a2)
            p += 1
            for j in range(i + 1, d):
                sj = states[o, j]
                if sj != 0:
                    x = si * np.conj(sj)
                    acc[o, p] += _q(x.real)
                    acc[o, n_re + q] += _q(x.imag)
                    acc[o, i_sq + p] += _q(a2 * (sj.real**2 + sj.imag**2))
                p += 1
                q += 1


@njit(cache=True)
def _accumulate_flagged(a_post, a_rest, states, post, n_out, target, target_kind):
    """Sum each output once, into a_post where post[o] else a_rest, in runs of equal flags."""
    o = 0
    while o < n_out:
        stop = o + 1
        while stop < n_out and post[stop] == post[o]:
            stop += 1
        _accumulate(a_post if post[o] else a_rest, states, o, stop, target, target_kind)
        o = stop


@njit(cache=True, parallel=True)
def ensemble_sums(seed, start, ntraj, nchunks, plan):
    """Streaming sums over trajectories start .. start + ntraj - 1 (ntraj <= MAX_CALL).

    Returns (acc (n_out, 2, n_acc) int64 for [all, post-selected] (layout: acc_layout(d)), n_post (n_out,) int64,
    n_success (R,) int64 runs post-selected after round k, n_kept (R,) int64 runs post-selected both
    before and after round k, record_counts (plan.n_records,) int64 runs per record string (index
    sum_k 2**k [r_k = +1]), n_jumps int64). Chunks run in parallel, each with its own sums; integer
    sums make the result independent of ``nchunks`` and of the thread count.
    """
    n_out, rounds = plan.n_out, plan.rounds
    d = plan.heff.shape[0]
    n_acc = d * (d + 1) + d * (d - 1) // 2 + 2
    acc = np.zeros((nchunks, n_out, 2, n_acc), np.int64)
    npost = np.zeros((nchunks, n_out), np.int64)
    nsucc = np.zeros((nchunks, max(rounds, 1)), np.int64)
    nkept = np.zeros((nchunks, max(rounds, 1)), np.int64)
    nrec = np.zeros((nchunks, max(plan.n_records, 1)), np.int64)
    njumps = np.zeros(nchunks, np.int64)
    for ch in prange(nchunks):
        lo, hi = chunk_bounds(start, ntraj, nchunks, ch)
        rng, states, post, outcomes, records = trajectory_buffers(n_out, rounds, d)
        no_log = np.empty(0, np.float64)
        no_k = np.empty(0, np.int64)
        a_post = np.zeros((n_out, n_acc), np.int64)
        a_rest = np.zeros((n_out, n_acc), np.int64)
        for traj in range(lo, hi):
            seed_state(rng, seed, traj)
            njumps[ch] += trajectory(rng, plan, states, post, outcomes, records, no_log, no_k, no_log)
            for o in range(n_out):
                if post[o]:
                    npost[ch, o] += 1
            # "all" = post + rest exactly, because the sums are integers
            _accumulate_flagged(a_post, a_rest, states, post, n_out, plan.target, plan.target_kind)
            state = 0
            before = True
            code = 0
            for k in range(rounds):
                ri = 0 if records[k] == 1 else 1
                state = plan.sel_tr[k, state, ri]
                after = plan.sel_acc[state]
                if after:
                    nsucc[ch, k] += 1
                    if before:
                        nkept[ch, k] += 1
                before = after
                if ri == 0 and k < 62:
                    code += 1 << k
            if plan.n_records > 0:
                nrec[ch, code] += 1
        acc[ch, :, 0, :] = a_post + a_rest
        acc[ch, :, 1, :] = a_post
    return (
        acc.sum(axis=0),
        npost.sum(axis=0),
        nsucc.sum(axis=0)[:rounds],
        nkept.sum(axis=0)[:rounds],
        nrec.sum(axis=0)[: plan.n_records],
        njumps.sum(),
    )
