"""Numba kernels: one quantum-jump trajectory of the protocol, and streaming ensemble sums over many.

Between events a pure state of any dimension d evolves under H_eff = H - (i/2) sum_k L_k^dag L_k
with the exact block propagator of :mod:`.blocks` (closed forms for 1 x 1 and 2 x 2 blocks, such as
the STM pair's 1 + 2 + 1; eigenbasis or Schur-Pade for larger ones). A jump happens when ||psi||^2
falls to a uniform r: its time is the root of log||psi(t)||^2 = log r, found by Newton's method
safeguarded by bisection (relative residual < 1e-13; :mod:`.jump_time`), so there is no time step. When H_eff has a
Schur-Pade block the search runs on :mod:`.stepping`'s precomputed ladder of fixed-step propagators
and a local Taylor polynomial instead (O(nnz) per evaluation, not O(d^3); the same root tolerance).
The channel is drawn with weights ||L_k psi||^2. At a measurement round the plan's instrument draws the true outcome by
the Born rule and projects, the detector's record is drawn with the readout error, the feedback of
that record acts, and the post-selection rule's machine steps on the record. Kraus instruments,
monitored windows and feedback on the rule state are drawn by :mod:`.instrument_kernel` (a switch on
the round's kind, so the projective draw is unchanged).

A run can also be resumed at any event (:func:`carry_in`, then :func:`run_from`): the shared-branch
walk of :mod:`.branches` hands a run over there at its first jump.

Segment switches and gates (:mod:`.segments`) are events too: a run goes through its events one
segment at a time, on that segment's plan, carrying psi and the jump threshold over each switch; a gate
applies its unitary. The streaming sums over many runs are in :mod:`.sums_kernel`.

Length: one trajectory's event loop with its two compiled bodies (the STM pair's and the generic one),
its one entry point for fresh, resumed and segmented runs and the round's draw, which share the loop's
state; splitting the loop would split the operations that must stay bit-identical between the paths.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np
from numba import njit

from .blocks import apply_propagator_work
from .instrument_kernel import _close_window, _history_feedback, _measure_kraus
from .jump_time import ROOT_TOL, _evolve4, _jump_time, _jump_time4, _norm2, _norm2_4
from .plan import propagator_of, segment_plan
from .rng import uniform
from .run_log import RunLog, bin_of
from .stepping import csr_matvec, stepped_jump_time

if TYPE_CHECKING:
    from .plan import Plan

#: A run looks at its abort flag every ABORT_EVERY jumps (a power of 2; events are bounded by the plan).
ABORT_EVERY = 1024
_ABORT_MASK = ABORT_EVERY - 1


@njit(cache=True, inline="always")
def _evolve(plan: Plan, tau: float, psi: np.ndarray, out: np.ndarray, work: np.ndarray) -> None:
    """out = exp(-i H_eff tau) psi for any tau >= 0, block by block (closed forms, eigen or Schur-Pade)."""
    apply_propagator_work(propagator_of(plan), tau, psi, out, work)


@njit(cache=True, inline="always")
def _apply_event(plan: Plan, e: int, psi: np.ndarray, out: np.ndarray) -> None:
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


@njit(cache=True, inline="always")
def _stepped_jump_time(plan, psi, r, span, phi):
    """:func:`.stepping.stepped_jump_time` on the plan's stepper: (tau, resid, hit)."""
    return stepped_jump_time(
        plan.step_h,
        plan.step_hnorm,
        plan.step_theta,
        plan.step_ptr,
        plan.step_idx,
        plan.step_val,
        plan.jumps.shape[0],
        psi,
        r,
        span,
        phi,
        ROOT_TOL,
    )


@njit(cache=True, inline="always")
def _sparse_weights(plan, phi, tmp, weights):
    """weights[k] = ||L_k phi||^2 from the CSR jump operators (the same sums as the dense loop)."""
    for k in range(plan.jumps.shape[0]):
        csr_matvec(plan.step_ptr[k], plan.step_idx, plan.step_val, phi, tmp)
        wk = 0.0
        for i in range(tmp.size):
            wk += tmp[i].real ** 2 + tmp[i].imag ** 2
        weights[k] = wk


@njit(cache=True, inline="always")
def _matvec(A, v, out):
    n = v.size
    for i in range(n):
        s = 0j
        for j in range(n):
            s += A[i, j] * v[j]
        out[i] = s


@njit(cache=True, inline="always")
def _measure(rng, plan, k, psi, n2, phi, tmp):
    """Round k on the unnormalised state psi (norm n2): draw, project, read out, feed back.

    Leaves the normalised post-measurement state in psi; returns (true outcome index, record index),
    index 0 for +1 and 1 for -1.
    """
    return _measure_round(rng, plan.meas_P[k], plan.meas_C[k], plan.meas_fb[k], plan.meas_U[k], psi, n2, phi, tmp)


@njit(cache=True)
def _measure_round(rng, P, C, fb, U, psi, n2, phi, tmp):
    """:func:`_measure` on one round's arrays: P (2, d, d) projectors, C (2, 2) readout, fb (2,), U (2, d, d).

    A call that passes the whole plan pays a reference count on each of its arrays, shared between threads.
    """
    _matvec(P[1], psi, phi)
    nm = _norm2(phi)
    _matvec(P[0], psi, tmp)
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
    flip = C[1 - m, m]
    if flip > 0.0 and uniform(rng) < flip:
        r = 1 - m
    if fb[r]:
        _matvec(U[r], psi, phi)
        for i in range(psi.size):
            psi[i] = phi[i]
    return m, r


@njit(cache=True)
def trajectory(
    rng: np.ndarray,
    plan: Plan,
    out_states: np.ndarray,
    out_post: np.ndarray,
    outcomes: np.ndarray,
    records: np.ndarray,
    jump_t: np.ndarray,
    jump_k: np.ndarray,
    jump_resid: np.ndarray,
    log: RunLog,
    abort: np.ndarray,
) -> int:
    """Run one trajectory of the plan.

    Parameters
    ----------
    rng : ndarray of uint64, shape (4,)
        The run's stream state (advanced).
    plan : Plan
    out_states : ndarray of complex128, shape (n, d)
        Written: the normalised state at each output time.
    out_post : ndarray of bool, shape (n,)
        Written: the rule's machine accepting at that time.
    outcomes, records : ndarray of int8, shape (>= rounds,)
        Written: the true outcomes +1/-1 and what the detector reported.
    jump_t, jump_k, jump_resid : ndarray, shape (J,) (float64, int64, float64)
        The first J jumps are logged: time (time unit), channel, relative root residual.
    log : RunLog
        Receives the per-channel counts and what else it has room for.
    abort : ndarray of int64, shape (1,)
        Looked at every ABORT_EVERY jumps: nonzero stops the run (returning -1).

    Returns
    -------
    int
        The number of jumps (all of them, logged or not); -1 if the run was stopped by ``abort``.
    """
    # np.int64(0) and np.bool_(True), not literals: Numba compiles a callee once per literal value, and the
    # ensemble sums call run_from with run-time values (one compiled event loop serves both)
    e0: Any = np.int64(0)
    fresh: Any = np.bool_(True)
    return run_from(
        rng, plan, out_states, out_post, outcomes, records, jump_t, jump_k, jump_resid, log, abort, e0,
        run_scratch(plan), fresh, _all_pair4(plan),
    )  # fmt: skip


class RunScratch(NamedTuple):
    """A run's working arrays, allocated once per chunk of runs (:func:`run_scratch`).

    psi, phi, tmp (d,) complex: the state and two buffers; work (max block,) complex: the propagator's
    workspace; weights (>= K,) float: channel weights; carry_f (3,) float (r, t, t_last) and carry_i (4,)
    int (rule state, post, jumps, steps): what one segment's events hand to the next.
    """

    psi: np.ndarray
    phi: np.ndarray
    tmp: np.ndarray
    work: np.ndarray
    weights: np.ndarray
    carry_f: np.ndarray
    carry_i: np.ndarray


@njit(cache=True)
def run_scratch(plan: Plan) -> RunScratch:
    """Working arrays for runs of ``plan`` (sized for its largest segment).

    Parameters
    ----------
    plan : Plan

    Returns
    -------
    RunScratch
    """
    d = plan.heff.shape[0]
    return RunScratch(
        np.empty(d, np.complex128),
        np.empty(d, np.complex128),
        np.empty(d, np.complex128),
        np.empty(plan.prop_max_block, np.complex128),
        np.empty(max(plan.jumps.shape[0], 1)),
        np.empty(3),
        np.empty(4, np.int64),
    )


@njit(cache=True)
def run_from(
    rng: np.ndarray,
    plan: Plan,
    out_states: np.ndarray,
    out_post: np.ndarray,
    outcomes: np.ndarray,
    records: np.ndarray,
    jump_t: np.ndarray,
    jump_k: np.ndarray,
    jump_resid: np.ndarray,
    log: RunLog,
    abort: np.ndarray,
    e0: int,
    sc: RunScratch,
    fresh: bool,
    pair4: bool,
) -> int:
    """A run from event e0 to the end, one segment at a time (fresh: from t = 0, e0 = 0; else resumed from
    sc.psi and sc.carry_*).

    Each segment's events, up to and including the switch to the next, run on that segment's plan
    (:func:`.plan.segment_plan`). psi, the jump threshold r and the rest of the run's state carry over a
    switch (in ``sc``), so a waiting time spans segment boundaries exactly. (A plan variable reassigned
    inside the event loop would cost a reference count per array per event, shared between threads.)

    Returns
    -------
    int
        As :func:`trajectory`.
    """
    kind = plan.ev_kind
    n_seg = plan.seg_nb.size
    s = 0  # the segment of event e0: a switch event ends its segment's range
    if n_seg > 1:
        for e in range(e0):
            if kind[e] == 2:
                s += 1
    lo = e0
    n = 0
    while s < n_seg:
        hi = kind.size
        if s + 1 < n_seg:
            hi = lo
            while kind[hi] != 2:  # the switch to segment s + 1 (switches come in segment order)
                hi += 1
            hi += 1
        # one call site, so the inlined event loop is compiled once per layout
        sp = plan if n_seg == 1 else segment_plan(plan, s)
        n = run_events(
            rng, sp, out_states, out_post, outcomes, records, jump_t, jump_k, jump_resid, log, abort, lo, hi, sc,
            fresh and lo == e0, pair4,
        )  # fmt: skip
        if n < 0:
            return n
        lo = hi
        s += 1
    return n


@njit(cache=True, inline="always")
def run_events(
    rng: np.ndarray,
    plan: Plan,
    out_states: np.ndarray,
    out_post: np.ndarray,
    outcomes: np.ndarray,
    records: np.ndarray,
    jump_t: np.ndarray,
    jump_k: np.ndarray,
    jump_resid: np.ndarray,
    log: RunLog,
    abort: np.ndarray,
    e_lo: int,
    e_hi: int,
    sc: RunScratch,
    fresh: bool,
    pair4: bool,
) -> int:
    """The event loop :func:`_trajectory` over events e_lo .. e_hi - 1, compiled twice: for the STM pair's
    1 + 2 + 1 layout (pair4) and for any d. fresh: start the run; else resume from sc.psi and sc.carry_*.

    Returns
    -------
    int
        As :func:`trajectory`.
    """
    # the STM pair's blocks get a body compiled for d = 4 and that layout: the generic loops (runtime d,
    # block indirection) cost 2x on the per-event path (benchmarks/versions.py)
    scratch = (sc.phi, sc.tmp, sc.work)
    if pair4:
        return _trajectory(
            rng, plan, out_states, out_post, outcomes, records, jump_t, jump_k, jump_resid, log, abort, 4, True,
            e_lo, e_hi, sc.psi, sc.carry_f, sc.carry_i, scratch, sc.weights, fresh,
        )  # fmt: skip
    return _trajectory(
        rng, plan, out_states, out_post, outcomes, records, jump_t, jump_k, jump_resid, log, abort,
        plan.heff.shape[0], False, e_lo, e_hi, sc.psi, sc.carry_f, sc.carry_i, scratch, sc.weights, fresh,
    )  # fmt: skip


@njit(cache=True, inline="always")
def _all_pair4(plan: Plan) -> bool:
    """Whether every segment's H_eff is 4 x 4 with the STM pair's 1 + 2 + 1 blocks in order."""
    if plan.heff.shape[0] != 4:
        return False
    st, od = plan.seg_starts, plan.seg_order  # scalar reads below: no per-segment views
    for s in range(plan.seg_nb.size):
        if not (plan.seg_nb[s] == 3 and st[s, 1] == 1 and st[s, 2] == 3 and od[s, 1] == 1 and od[s, 2] == 2):
            return False
    return True


@njit(cache=True, inline="always")
def carry_in(sc: RunScratch, log: RunLog, t0: float, r0: float, rule0: int, post0: bool) -> None:
    """Set up a run that resumes at time t0 with no jump yet (:mod:`.branches` hands runs over at their first
    jump): threshold r0, rule state rule0 and its acceptance post0 in ``sc``; counts, jumps and the last
    jump time from zero. The state is the caller's, in sc.psi; then :func:`run_from` with fresh False.

    Parameters
    ----------
    sc : RunScratch
    log : RunLog
        Its per-channel counts are zeroed.
    t0, r0 : float
        Time (time unit) and the run's current jump threshold.
    rule0 : int
    post0 : bool
    """
    sc.carry_f[0], sc.carry_f[1], sc.carry_f[2] = r0, t0, 0.0
    sc.carry_i[0], sc.carry_i[1], sc.carry_i[2], sc.carry_i[3] = rule0, 1 if post0 else 0, 0, 0
    log.kcount[:] = 0


@njit(cache=True, inline="always")
def _trajectory(
    rng: np.ndarray,
    plan: Plan,
    out_states: np.ndarray,
    out_post: np.ndarray,
    outcomes: np.ndarray,
    records: np.ndarray,
    jump_t: np.ndarray,
    jump_k: np.ndarray,
    jump_resid: np.ndarray,
    log: RunLog,
    abort: np.ndarray,
    d: int,
    pair4: bool,
    e_lo: int,
    e_hi: int,
    psi: np.ndarray,
    carry_f: np.ndarray,
    carry_i: np.ndarray,
    scratch: tuple[np.ndarray, np.ndarray, np.ndarray],
    weights: np.ndarray,
    fresh: bool,
) -> int:
    """The body of :func:`trajectory` over events e_lo .. e_hi - 1 (all of them, or one segment's: see
    :func:`run_from`); d and pair4 are constants where it is inlined. A fresh call starts the run; a
    later one resumes it from psi (d,) and the state left in carry_f (r, t, t_last) and carry_i
    (rule state, post, jumps, steps): the next segment, or a run the shared-branch walk hands over
    (:func:`carry_in`). scratch: (phi, tmp) of size d and the propagator's workspace;
    weights: (>= K,) channel weights."""
    jumps = plan.jumps
    init_w, init_states = plan.init_w, plan.init_states
    ev_time, ev_kind, ev_index = plan.ev_time, plan.ev_kind, plan.ev_index
    ev_U = plan.ev_U
    phi, tmp, work = scratch
    nk = jumps.shape[0]
    kcount = log.kcount
    wait_edges, wait_hist = log.wait_edges, log.wait_hist
    if fresh:
        m = init_w.size
        c = 0
        if m > 1:
            u = uniform(rng)
            while c < m - 1 and u >= init_w[c]:
                c += 1
        for i in range(d):
            psi[i] = init_states[c, i]
        r = 1.0 - uniform(rng)  # in (0, 1]
        t = 0.0
        state = 0
        post = True
        njump = 0
        t_last = 0.0
        kcount[:] = 0
        steps = 0
    else:
        r, t, t_last = carry_f[0], carry_f[1], carry_f[2]
        state, post, njump, steps = carry_i[0], carry_i[1] != 0, carry_i[2], carry_i[3]
    watching = -1  # the round whose monitored window is open (never open across a hand-over)
    clicks = 0
    # a Schur-Pade H_eff: jump times by the stepped search (the pair4 body never steps)
    stepped = (not pair4) and plan.step_h > 0.0
    for e in range(e_lo, e_hi):
        # every event leaves t at its own time, so the precomputed interval propagator applies
        te = ev_time[e]
        if pair4:  # _apply_event and _norm2 for that layout, the same operations in the same order
            phi[0] = ev_U[e, 0] * psi[0]
            phi[1] = ev_U[e, 1] * psi[1] + ev_U[e, 2] * psi[2]
            phi[2] = ev_U[e, 3] * psi[1] + ev_U[e, 4] * psi[2]
            phi[3] = ev_U[e, 5] * psi[3]
            n2 = _norm2_4(phi)
        else:
            _apply_event(plan, e, psi, phi)
            n2 = _norm2(phi)
        while n2 < r:
            steps += 1
            if steps & _ABORT_MASK == 0 and abort[0] != 0:
                return -1
            if stepped:
                tau, resid, hit = _stepped_jump_time(plan, psi, r, te - t, phi)
                if not hit:  # the march reached te above r (rounding against ev_U, or after a jump)
                    n2 = _norm2(phi)
                    break
            elif pair4:
                tau, resid = _jump_time4(plan.prop_coef, plan.gamma, psi, r, te - t, phi)
            else:
                tau, resid = _jump_time(propagator_of(plan), plan.gamma, psi, r, te - t, phi, work)
            t = t + tau
            total = 0.0
            if stepped:
                _sparse_weights(plan, phi, tmp, weights)
                for k in range(nk):
                    total += weights[k]
            else:
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
                if stepped:
                    csr_matvec(plan.step_ptr[k], plan.step_idx, plan.step_val, phi, psi)
                    for i in range(d):
                        psi[i] *= nrm
                else:
                    for i in range(d):
                        s = 0j
                        for j in range(d):
                            s += jumps[k, i, j] * phi[j]
                        psi[i] = s * nrm
                if njump < jump_t.size:
                    jump_t[njump] = t
                    jump_k[njump] = k
                    jump_resid[njump] = resid
                if njump > 0 and wait_hist.size > 0:
                    wait_hist[max(bin_of(wait_edges, t - t_last), 0)] += 1
                t_last = t
                kcount[k] += 1
                njump += 1
                if watching >= 0 and plan.mon_watch[watching, k]:
                    if uniform(rng) < plan.mon_eta[watching]:
                        clicks += 1
            else:
                # no channel can fire from this state (norm loss was rounding): just renormalise
                nrm = 1.0 / math.sqrt(_norm2(phi))
                for i in range(d):
                    psi[i] = phi[i] * nrm
            r = 1.0 - uniform(rng)
            if stepped:
                n2 = -1.0  # the march from the jump finds the next jump before te or the state at te
            elif pair4:
                _evolve4(plan.prop_coef, te - t, psi, phi)
                n2 = _norm2_4(phi)
            else:
                _evolve(plan, te - t, psi, phi, work)
                n2 = _norm2(phi)
        for i in range(d):
            psi[i] = phi[i]
        t = te
        idx = ev_index[e]
        kind = ev_kind[e]
        if kind == 0:
            mk = plan.meas_kind[idx]
            if mk == 0:
                mi, ri = _measure(rng, plan, idx, psi, n2, phi, tmp)
            elif mk == 1:
                ri = _measure_kraus(rng, plan, idx, psi, n2, phi)
                mi = ri
            else:
                ri = _close_window(rng, plan, idx, psi, n2, phi, clicks)
                mi = ri
                watching = -1
            if plan.meas_hist[idx]:
                _history_feedback(plan, idx, state, ri, psi, phi)
            outcomes[idx] = 1 - 2 * mi
            records[idx] = 1 - 2 * ri
            state = plan.sel_tr[idx, state, ri]
            post = plan.sel_acc[state]
            r = 1.0 - uniform(rng)
            if log.round_states.shape[0] > 0:
                for i in range(d):
                    log.round_states[idx, i] = psi[i]
            if log.round_jumps.size > 0:
                log.round_jumps[idx] = njump
        elif kind == 1:
            nrm = 1.0 / math.sqrt(n2)
            for i in range(d):
                out_states[idx, i] = psi[i] * nrm
            out_post[idx] = post
            if log.out_counts.shape[0] > 0:
                for k in range(kcount.size):  # every segment's channels (a segment may have fewer)
                    log.out_counts[idx, k] = kcount[k]
        elif kind == 3:  # a gate: unitary, so the norm (the survival probability so far) is unchanged
            _matvec(plan.gate_U[idx], psi, phi)
            for i in range(d):
                psi[i] = phi[i]
        elif kind == 4:  # a monitored window opens
            watching = idx
            clicks = 0
        # kind 2, a segment switch: nothing here; the caller goes on with the next segment's plan
    carry_f[0], carry_f[1], carry_f[2] = r, t, t_last
    carry_i[0], carry_i[1], carry_i[2], carry_i[3] = state, post, njump, steps
    return njump
