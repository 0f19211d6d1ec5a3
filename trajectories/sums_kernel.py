"""Numba kernel: streaming ensemble sums over many trajectories of one plan.

Ensemble sums are exact integers: each trajectory's |psi><psi| is rounded to a multiple of
2^-FRAC_BITS and summed in int64, so sums are bit-identical under any split or order of trajectories.
Standard errors come from the matching sums of |psi_i psi_j|^2 (sums of squares).

Shared branches (:mod:`.branches`): before its first jump a run's outputs are not summed per run; each
chunk counts how many runs went through each (branch, output) cell and :func:`add_shared` adds count x
the cell's fixed-point terms at the chunk's end (exact in int64, so the same bits as summing every run).
``sums_with_table(..., table_rows=0)`` is the plain path.

Length: the accumulation, the shared-branch totals and the per-run distribution binning all write the
same integer sums in the one parallel loop of :func:`sums_with_table`; apart they would need a second
pass over the runs.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np
from numba import njit, prange

from .branches import new_table, shareable, table_capacity, undo, walk
from .kernel import RunLog, _all_pair4, _apply_event, bin_of, carry_in, run_from, run_scratch
from .rng import seed_state

if TYPE_CHECKING:
    from .branches import BranchTable
    from .distributions import DistributionSpec
    from .plan import Plan

#: Fixed-point resolution of the ensemble sums: contributions are rounded to multiples of 2^-40 (9e-13).
FRAC_BITS = 40
_SCALE = float(2**FRAC_BITS)
_INV_SQRT2 = 1.0 / math.sqrt(2.0)
#: Trajectories per kernel call: keeps every int64 sum below 2^62 (each contribution is <= 1).
MAX_CALL = 2**22
#: Kernel calls with fewer trajectories than this run on one thread (waking a thread team costs more;
#: the results are identical either way).
SMALL_CALL = 512


def pairs(d: int) -> np.ndarray:
    """Upper-triangle index pairs (i <= j) of a d x d matrix, row by row.

    Parameters
    ----------
    d : int

    Returns
    -------
    ndarray of int64, shape (d (d + 1) / 2, 2)
    """
    return np.array([(i, j) for i in range(d) for j in range(i, d)], dtype=np.int64).reshape(-1, 2)


def acc_layout(d: int) -> tuple[int, int, int, int, int]:
    """Layout of one accumulator row for dimension d: (n_re, n_im, n_sq, i_pop, n_acc).

    Re over pairs(d) (n_re), Im over the off-diagonal pairs (n_im), |.|^2 over pairs(d) (n_sq), then
    the target population |<target|psi>|^2 and its square (for its exact standard error).

    Parameters
    ----------
    d : int

    Returns
    -------
    n_re, n_im, n_sq, i_pop, n_acc : int
    """
    n_re = d * (d + 1) // 2
    n_im = d * (d - 1) // 2
    i_pop = 2 * n_re + n_im
    return n_re, n_im, n_re, i_pop, i_pop + 2


#: The two-spin layout (d = 4): 10 pairs, 6 off-diagonal, 28 sums per output.
PAIRS = pairs(4)
N_RE, N_IM, N_SQ, I_POP, N_ACC = acc_layout(4)


@njit(cache=True, inline="always")
def chunk_bounds(start: int, ntraj: int, nchunks: int, ch: int) -> tuple[int, int]:
    """Trajectory index range of chunk ``ch`` when ``ntraj`` runs from ``start`` are split in ``nchunks``.

    Parameters
    ----------
    start, ntraj, nchunks, ch : int

    Returns
    -------
    lo, hi : int
        The runs [lo, hi).
    """
    return start + (ntraj * ch) // nchunks, start + (ntraj * (ch + 1)) // nchunks


@njit(cache=True, inline="always")
def trajectory_buffers(
    n_out: int, rounds: int, d: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Scratch for :func:`trajectory`.

    Parameters
    ----------
    n_out, rounds, d : int

    Returns
    -------
    rng : ndarray of uint64, shape (4,)
    states : ndarray of complex128, shape (n_out, d)
    post : ndarray of bool, shape (n_out,)
    outcomes, records : ndarray of int8, shape (max(rounds, 1),)
    """
    return (
        np.empty(4, np.uint64),
        np.empty((n_out, d), np.complex128),
        np.empty(n_out, np.bool_),
        np.empty(max(rounds, 1), np.int8),
        np.empty(max(rounds, 1), np.int8),
    )


@njit(cache=True, inline="always")
def _q(x: float) -> np.int64:
    return np.int64(np.rint(x * _SCALE))


@njit(cache=True, inline="always")
def target_population(target: np.ndarray, target_kind: int, v: np.ndarray) -> float:
    """|<target|v>|^2 for a normalised state v.

    Parameters
    ----------
    target : ndarray of complex128, shape (d,)
    target_kind : int
        0 the singlet by its own formula |v_1 - v_2|^2 / 2 (d = 4; the sums of darkspin 0.1 bit for
        bit), 1 the vector ``target``, 2 none (0).
    v : ndarray of complex128, shape (d,)

    Returns
    -------
    float
    """
    if target_kind == 0:
        a = (v[1] - v[2]) * _INV_SQRT2
    elif target_kind == 1:
        a = 0j
        for i in range(v.size):
            a += np.conj(target[i]) * v[i]
    else:
        return 0.0
    return a.real**2 + a.imag**2


@njit(cache=True)
def _accumulate(acc, states, start, stop, target, target_kind):
    """Add the fixed-point |psi><psi| terms of ``states[start:stop]`` ((n, d)) into ``acc`` (n, n_acc) int64.

    target_kind 0: the singlet population (|psi_1 - psi_2|^2 / 2, d = 4); 1: |<target|psi>|^2 for the
    vector ``target`` (d,); 2: no target (zeros).
    """
    # the STM pair's d = 4 gets its own compiled loops (constant bounds unroll; 0.1's speed)
    if states.shape[1] == 4:
        _accumulate_d(acc, states, start, stop, target, target_kind, 4)
    else:
        _accumulate_d(acc, states, start, stop, target, target_kind, states.shape[1])


@njit(cache=True, inline="always")
def _accumulate_d(acc, states, start, stop, target, target_kind, d):
    """:func:`_accumulate`'s loops for dimension d (a constant where inlined)."""
    n_re = d * (d + 1) // 2
    n_im = d * (d - 1) // 2
    i_sq = n_re + n_im
    i_pop = i_sq + n_re
    for o in range(start, stop):
        ps = target_population(target, target_kind, states[o])
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
def _accumulate_flagged(a_post, a_rest, states, post, n_out, target, target_kind, first):
    """Sum outputs first .. n_out - 1 once each, into a_post where post[o] else a_rest, in runs of equal flags."""
    o = first
    while o < n_out:
        stop = o + 1
        while stop < n_out and post[stop] == post[o]:
            stop += 1
        _accumulate(a_post if post[o] else a_rest, states, o, stop, target, target_kind)
        o = stop


@njit(cache=True)
def add_shared(
    plan: Plan, tab: BranchTable, a_post: np.ndarray, a_rest: np.ndarray, npost: np.ndarray, phi: np.ndarray
) -> None:
    """Add the outputs a chunk's runs shared (:mod:`.branches`): count x each one's fixed-point terms.

    count x _q(x) is the sum of count copies of _q(x) in int64, so the sums are those of the plain path.

    Parameters
    ----------
    plan : Plan
    tab : BranchTable
        The chunk's table after its runs.
    a_post, a_rest : ndarray of int64, shape (n_out, n_acc)
        The chunk's sums, post-selected and not (added to).
    npost : ndarray of int64, shape (n_out,)
        Post-selected runs per output (added to).
    phi : ndarray of complex128, shape (d,)
        Scratch.
    """
    nn = tab.used[0]
    d = phi.size
    entered = np.zeros(nn, np.int64)
    one = np.empty((1, d), np.complex128)
    row = np.zeros((1, a_post.shape[1]), np.int64)
    # children are made after their parents: a reverse sweep sees every child first
    for node in range(nn - 1, -1, -1):
        s, L, b = tab.start[node], tab.length[node], tab.base[node]
        runs = tab.passed[node]
        for j in range(L):
            runs += tab.stops[b + j]
        for x in range(tab.child.shape[1]):
            if tab.child[node, x] >= 0:
                runs += entered[tab.child[node, x]]
        entered[node] = runs
        post = plan.sel_acc[tab.rule[node]]
        dest = a_post if post else a_rest
        for j in range(L):
            runs -= tab.stops[b + j]  # a run stopped at row j computes that event's output itself
            if runs == 0:
                break
            e = s + j
            if plan.ev_kind[e] != 1:
                continue
            o = plan.ev_index[e]
            _apply_event(plan, e, tab.psi[b + j], phi)
            nrm = 1.0 / math.sqrt(tab.n2[b + j])
            for i in range(d):
                one[0, i] = phi[i] * nrm
            row[0, :] = 0
            _accumulate(row, one, 0, 1, plan.target, plan.target_kind)
            for a in range(row.shape[1]):
                dest[o, a] += runs * row[0, a]
            if post:
                npost[o] += runs


@njit(cache=True)
def _bin_run(
    spec, log, states, post, round_post, njump, t_first, k_first, fid, split_n, split_q, jc, fj, cs1, cs2, cnt, fjk
):
    """Add one run's fidelity snapshots, jump counts, first-jump time (and channel k_first) and counts by
    output time (their sums and, per channel set, their histograms)."""
    n_fb = spec.fid_edges.size - 1
    for s in range(spec.snap_kind.size):
        i = spec.snap_index[s]
        if spec.snap_kind[s] == 0:
            f = target_population(spec.target, spec.target_kind, log.round_states[i])
            p = round_post[i]
            jumped = 1 if log.round_jumps[i] > 0 else 0
        else:
            f = target_population(spec.target, spec.target_kind, states[i])
            p = post[i]
            jumped = 0
            for k in range(log.out_counts.shape[1]):
                if log.out_counts[i, k] > 0:
                    jumped = 1
        b = min(max(bin_of(spec.fid_edges, max(1.0 - f, 0.0)), 0), n_fb - 1)
        fid[s, 0, b] += 1
        if p:
            fid[s, 1, b] += 1
            split_n[s, jumped] += 1
            split_q[s, jumped] += _q(f)
    final_post = post[post.size - 1]
    top = spec.jump_max + 1
    for k in range(jc.shape[1]):
        b = min(log.kcount[k], top)
        jc[0, k, b] += 1
        if final_post:
            jc[1, k, b] += 1
    n_tb = spec.time_edges.size - 1
    b = n_tb + 1 if njump == 0 else min(max(bin_of(spec.time_edges, t_first), 0), n_tb)
    fj[0, b] += 1
    if final_post:
        fj[1, b] += 1
    if njump > 0:
        fjk[0, k_first, b] += 1
        if final_post:
            fjk[1, k_first, b] += 1
    # counts by output time change at a few outputs only: cnt holds the run's cell at each output as
    # differences along the outputs (+1 where it enters a cell, -1 where it leaves), summed up outside
    top = spec.count_max
    K = log.out_counts.shape[1]
    for o in range(cnt.shape[2]):
        same = o > 0 and post[o] == post[o - 1]
        for k in range(K):
            if same and log.out_counts[o, k] != log.out_counts[o - 1, k]:
                same = False
        if same:
            continue
        for c in range(cnt.shape[0]):
            n = 0
            n_was = 0
            for k in range(K):
                if spec.count_sets[c, k] != 0:
                    n += log.out_counts[o, k]
                    if o > 0:
                        n_was += log.out_counts[o - 1, k]
            b = min(n, top)
            if o > 0:
                was = min(n_was, top)
                if was != b:
                    cnt[c, 0, o, was] -= 1
                    cnt[c, 0, o, b] += 1
                if post[o - 1] and (was != b or not post[o]):
                    cnt[c, 1, o, was] -= 1
                if post[o] and (was != b or not post[o - 1]):
                    cnt[c, 1, o, b] += 1
            else:
                cnt[c, 0, o, b] += 1
                if post[o]:
                    cnt[c, 1, o, b] += 1
    for o in range(cs1.shape[0]):
        for k in range(cs1.shape[1]):
            c = log.out_counts[o, k]
            cs1[o, k] += c
            cs2[o, k] += c * c


@njit(cache=True, parallel=True, nogil=True)
def sums_with_table(
    seed: np.uint64,
    start: int,
    ntraj: int,
    nchunks: int,
    plan: Plan,
    spec: DistributionSpec,
    abort: np.ndarray,
    done: np.ndarray,
    table_rows: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.int64, tuple[np.ndarray, ...]]:
    """Streaming sums over trajectories start .. start + ntraj - 1 (ntraj <= MAX_CALL).

    Chunks run in parallel, each with its own sums; integer sums make the result independent of
    ``nchunks`` and of the thread count. Setting ``abort[0]`` stops every chunk within a few thousand
    jumps: a chunk sums a prefix of its runs (``done``), a run cut short adds nothing.

    Parameters
    ----------
    seed : numpy.uint64
        The stream.
    start, ntraj : int
        The runs.
    nchunks : int
        Parallel chunks (>= 1).
    plan : Plan
    spec : DistributionSpec
        What the histograms bin (all empty when spec.on is False).
    abort : ndarray of int64, shape (1,)
        Nonzero: stop (read between runs and every ABORT_EVERY jumps of a run).
    done : ndarray of int64, shape (nchunks,)
        Written: runs chunk ch finished, the runs chunk_bounds(start, ntraj, nchunks, ch)[0] + [0, done[ch]).
    table_rows : int
        Event rows of each chunk's shared-branch table (:mod:`.branches`): -1 (default) up to
        MAX_TABLE_BYTES, 0 none (every run evolves and sums all its outputs itself). The sums are the
        same bits either way.

    Returns
    -------
    acc : ndarray of int64, shape (n_out, 2, n_acc)
        [all, post-selected] sums in units of 2^-FRAC_BITS (layout: acc_layout(d)).
    n_post : ndarray of int64, shape (n_out,)
    n_success : ndarray of int64, shape (R,)
        Runs post-selected after round k.
    n_kept : ndarray of int64, shape (R,)
        Runs post-selected both before and after round k.
    record_counts : ndarray of int64, shape (plan.n_records,)
        Runs per record string (index sum_k 2**k [r_k = +1]).
    n_jumps : numpy.int64
    dist : tuple of ndarray
        fidelity (S, 2, B) [all, post-selected] over the infidelity bins; split_n (S, 2) post-selected
        runs that had not / had jumped by the snapshot and split_q (S, 2) their summed fidelities in units
        of 2^-FRAC_BITS; jump_counts (2, K, jump_max + 2) [all, post-selected at the final time];
        first_jump (2, T + 2) (bin T: past the grid, T + 1: never); waiting (T + 1,); count_sums
        (n_out, K) and count_squares (n_out, K) of the jumps per channel by each output time; counts
        (C, 2, n_out, count_max + 1) [all, post-selected at that output] histograms of the jumps of each
        channel set of spec.count_sets by each output time, as differences along the outputs (their
        cumulative sum over axis 2 is the histograms); first_jump_channel (2, K, T + 1) the first
        jump's time by its channel (bin T: past the grid).
    """
    n_out, rounds = plan.n_out, plan.rounds
    d = plan.heff.shape[0]
    n_acc = d * (d + 1) + d * (d - 1) // 2 + 2
    on = spec.on
    S = spec.snap_kind.size if on else 0
    B = spec.fid_edges.size - 1 if on else 0
    T = spec.time_edges.size - 1 if on else 0
    K = plan.jumps.shape[0] if on else 0
    acc = np.zeros((nchunks, n_out, 2, n_acc), np.int64)
    npost = np.zeros((nchunks, n_out), np.int64)
    nsucc = np.zeros((nchunks, max(rounds, 1)), np.int64)
    nkept = np.zeros((nchunks, max(rounds, 1)), np.int64)
    nrec = np.zeros((nchunks, max(plan.n_records, 1)), np.int64)
    njumps = np.zeros(nchunks, np.int64)
    fid = np.zeros((nchunks, S, 2, B), np.int64)
    split_n = np.zeros((nchunks, S, 2), np.int64)
    split_q = np.zeros((nchunks, S, 2), np.int64)
    jc = np.zeros((nchunks, 2, K, spec.jump_max + 2 if on else 0), np.int64)
    fj = np.zeros((nchunks, 2, T + 2 if on else 0), np.int64)
    wait = np.zeros((nchunks, T + 1 if on else 0), np.int64)
    cs1 = np.zeros((nchunks, n_out if on else 0, K), np.int64)
    cs2 = np.zeros((nchunks, n_out if on else 0, K), np.int64)
    share = table_rows != 0 and shareable(plan)
    t_nodes, t_rows = table_capacity(plan, table_rows) if share else (0, 0)
    E = plan.ev_time.size
    out_before = np.zeros(E + 1, np.int64)  # outputs before each event
    for e in range(E):
        out_before[e + 1] = out_before[e] + (1 if plan.ev_kind[e] == 1 else 0)
    C = spec.count_sets.shape[0] if on else 0
    cnt = np.zeros((nchunks, C, 2, n_out if on else 0, spec.count_max + 1 if on else 0), np.int64)
    fjk = np.zeros((nchunks, 2, K, T + 1 if on else 0), np.int64)
    for ch in prange(nchunks):
        lo, hi = chunk_bounds(start, ntraj, nchunks, ch)
        done[ch] = _chunk(
            seed, lo, hi, plan, spec, abort, share, t_nodes, t_rows, out_before,
            acc[ch], npost[ch], nsucc[ch], nkept[ch], nrec[ch], njumps[ch : ch + 1],
            fid[ch], split_n[ch], split_q[ch], jc[ch], fj[ch], wait[ch], cs1[ch], cs2[ch], cnt[ch], fjk[ch],
        )  # fmt: skip
    dist = (
        fid.sum(axis=0),
        split_n.sum(axis=0),
        split_q.sum(axis=0),
        jc.sum(axis=0),
        fj.sum(axis=0),
        wait.sum(axis=0),
        cs1.sum(axis=0),
        cs2.sum(axis=0),
        cnt.sum(axis=0),
        fjk.sum(axis=0),
    )
    return (
        acc.sum(axis=0),
        npost.sum(axis=0),
        nsucc.sum(axis=0)[:rounds],
        nkept.sum(axis=0)[:rounds],
        nrec.sum(axis=0)[: plan.n_records],
        njumps.sum(),
        dist,
    )


@njit(cache=True, nogil=True)
def _chunk(
    seed, lo, hi, plan, spec, abort, share, t_nodes, t_rows, out_before,
    acc, npost, nsucc, nkept, nrec, njumps, fid, split_n, split_q, jc, fj, wait, cs1, cs2, cnt, fjk,
):  # fmt: skip
    """Runs lo .. hi - 1 of :func:`sums_with_table`, one chunk's sums (its rows of every output array;
    njumps (1,)); returns the runs finished.

    A function of its own, so the parallel loop stays small: Numba's parallel passes take time that grows
    fast with the loop body (the first compile took minutes).
    """
    n_out, rounds = plan.n_out, plan.rounds
    d = plan.heff.shape[0]
    nk = max(plan.jumps.shape[0], 1)
    n_acc = acc.shape[2]
    on = spec.on
    T = spec.time_edges.size - 1 if on else 0
    E = plan.ev_time.size
    rng, states, post, outcomes, records = trajectory_buffers(n_out, rounds, d)
    hist = np.zeros(T + 1 if on else 0, np.int64)
    log = RunLog(
        np.zeros(nk, np.int64),
        np.zeros((rounds if on else 0, d), np.complex128),
        np.zeros(rounds if on else 0, np.int64),
        np.zeros((n_out if on else 0, nk), np.int64),
        spec.time_edges if on else np.zeros(0),
        hist,
    )
    first = np.zeros(1 if on else 0, np.float64)
    first_k = np.zeros(1 if on else 0, np.int64)
    first_r = np.zeros(1 if on else 0, np.float64)
    round_post = np.zeros(max(rounds, 1), np.bool_)
    a_post = np.zeros((n_out, n_acc), np.int64)
    a_rest = np.zeros((n_out, n_acc), np.int64)
    wait_kept = np.zeros(T + 1 if on else 0, np.int64)
    tab = new_table(plan, t_nodes, t_rows)
    sc = run_scratch(plan)
    pair4 = _all_pair4(plan)
    need_state = np.zeros(n_out, np.bool_)  # outputs whose states the distributions read (snapshots)
    for i in range(spec.snap_kind.size if on else 0):
        if spec.snap_kind[i] == 1:
            need_state[spec.snap_index[i]] = True
    finished = 0
    for traj in range(lo, hi):
        if abort[0] != 0:
            break
        seed_state(rng, seed, traj)
        for b in range(hist.size):
            wait_kept[b] = hist[b]
        o0 = 0
        cell = 0
        e0 = 0
        fresh = True
        if share:
            e0, t0, r0, rule0, post0, cell = walk(
                rng, plan, tab, sc.psi, sc.phi, sc.tmp, outcomes, records, on, need_state,
                states, post, log.round_states, log.round_jumps, log.out_counts, log.kcount,
            )  # fmt: skip
            o0 = out_before[e0]
            fresh = False
            carry_in(sc, log, t0, r0, rule0, post0)
        nj = 0  # a walk to the end left log.kcount zeroed
        if e0 < E:
            # the one call of the event loop: fresh and resumed runs share its compiled body
            nj = run_from(
                rng, plan, states, post, outcomes, records, first, first_k, first_r, log, abort, e0, sc, fresh, pair4
            )
        if nj < 0:
            # a run cut short adds nothing, not even its waiting times
            for b in range(hist.size):
                hist[b] = wait_kept[b]
            if share:
                undo(tab, cell)
            break
        njumps[0] += nj
        for o in range(o0, n_out):
            if post[o]:
                npost[o] += 1
        # "all" = post + rest exactly, because the sums are integers
        _accumulate_flagged(a_post, a_rest, states, post, n_out, plan.target, plan.target_kind, o0)
        state = 0
        before = True
        code = 0
        for k in range(rounds):
            ri = 0 if records[k] == 1 else 1
            state = plan.sel_tr[k, state, ri]
            after = plan.sel_acc[state]
            round_post[k] = after
            if after:
                nsucc[k] += 1
                if before:
                    nkept[k] += 1
            before = after
            if ri == 0 and k < 62:
                code += 1 << k
        if plan.n_records > 0:
            nrec[code] += 1
        if on:
            t_first = first[0] if nj > 0 else math.inf
            _bin_run(
                spec, log, states, post, round_post, nj, t_first, first_k[0] if nj > 0 else -1,
                fid, split_n, split_q, jc, fj, cs1, cs2, cnt, fjk,
            )  # fmt: skip
        finished += 1
    if share:
        add_shared(plan, tab, a_post, a_rest, npost, sc.phi)
    acc[:, 0, :] = a_post + a_rest
    acc[:, 1, :] = a_post
    wait[:] = hist
    return finished
