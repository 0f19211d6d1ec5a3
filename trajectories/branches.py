"""Shared branches: a run's states before its first jump, computed once per branch instead of once per run.

Before its first jump a run's state at any event is fixed by its initial eigenvector c and the
(true outcome, record) pairs of the rounds so far: between rounds it only evolves under the event
propagators, and a round's projection and feedback are fixed by (m, r). Such a branch is a node of a
tree: the segment of events from one round to the next, its state psi at the start of each event's
interval (unnormalised, exactly as the run holds it) and the norm^2 after the event's propagator.

A run walks the tree instead of evolving: it draws c and r as :func:`.kernel.trajectory` would, takes
the first event whose stored norm^2 falls below r (the event in whose interval it jumps), measures at
each round from the stored state (the same random draws, the same operations) and moves to the child
of its (m, r). At its first jump it hands its state to :func:`.kernel.run_from`, which
continues the ordinary event loop. The walk only counts where the run stopped (one integer cell per
run); :func:`add_shared` then adds count x the fixed-point contribution of every shared output, which
is exactly the sum of that many copies, so the integer sums are bit-identical to the plain path.

The table is per chunk of runs, filled on first visit and bounded (:data:`MAX_TABLE_BYTES`): a run
reaching a branch that has no room continues from there by the ordinary loop (still bit-identical).
The "no channel can fire: renormalise" step of the kernel happens only inside a jump interval, i.e.
after the shared path has ended.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, NamedTuple

import numpy as np
from numba import njit

from .instrument_kernel import _kraus_draw
from .jump_time import _norm2
from .kernel import _apply_event, _matvec, _measure
from .rng import uniform

if TYPE_CHECKING:
    from .plan import Plan

#: Bytes of one chunk's branch table at most (states, norms and counts of its event rows).
MAX_TABLE_BYTES = 8 * 2**20


class BranchTable(NamedTuple):
    """One chunk's branch tree (N nodes, W event rows, m initial eigenvectors, d the dimension).

    roots (m,) node of each initial eigenvector (-1: none yet); start (N,) first event of the node's
    segment; length (N,) its events (the last one a round, or the protocol's last event); base (N,)
    its first row; child (N, W) node after the round's draw (:func:`branch_width`; -1: none); rule (N,) the rule
    machine's state during the segment; passed (N,) runs that got past the segment's end without a
    child node to go on in; psi (W, d) complex the state at the start of each event's interval; n2 (W,)
    its norm^2 after the event's propagator; stops (W,) runs whose first jump (or the end of their
    shared path) fell in that event's interval; used (2,) nodes and rows in use.
    """

    roots: np.ndarray
    start: np.ndarray
    length: np.ndarray
    base: np.ndarray
    child: np.ndarray
    rule: np.ndarray
    passed: np.ndarray
    psi: np.ndarray
    n2: np.ndarray
    stops: np.ndarray
    used: np.ndarray


@njit(cache=True)
def shareable(plan: Plan) -> bool:
    """Whether runs of the plan can share branches: every round a projective or Kraus instrument with
    feedback on its record alone, and segments of one block layout (monitored windows, feedback on the
    rule state and segments of other layouts run the plain path).

    Parameters
    ----------
    plan : Plan

    Returns
    -------
    bool
    """
    for k in range(plan.meas_kind.size):
        if plan.meas_kind[k] > 1 or plan.meas_hist[k]:
            return False
    for e in range(plan.ev_kind.size):
        if plan.ev_kind[e] > 3:  # a monitored window
            return False
    # segment switches and gates are deterministic, but the table applies every event's propagator in
    # segment 0's block layout: segments must share it (the STM pair's always do)
    nb = plan.seg_nb[0]
    for s in range(1, plan.seg_nb.size):
        if plan.seg_nb[s] != nb:
            return False
        for i in range(nb + 1):
            if plan.seg_starts[s, i] != plan.seg_starts[0, i]:
                return False
        for i in range(plan.seg_order.shape[1]):
            if plan.seg_order[s, i] != plan.seg_order[0, i]:
                return False
    return True


@njit(cache=True)
def table_capacity(plan: Plan, max_rows: int) -> tuple[int, int]:
    """Nodes and rows a branch table of the plan needs, at most ``max_rows`` rows.

    Parameters
    ----------
    plan : Plan
    max_rows : int
        Row limit (< 0: the limit of MAX_TABLE_BYTES; 0: no table).

    Returns
    -------
    nodes, rows : int
    """
    d = plan.heff.shape[0]
    cap = MAX_TABLE_BYTES // (16 * d + 24) if max_rows < 0 else max_rows
    ev_kind = plan.ev_kind
    branches = plan.init_w.size
    nodes = 0
    rows = 0
    seg = 0
    for e in range(ev_kind.size):
        seg += 1
        if ev_kind[e] == 0 or e == ev_kind.size - 1:
            nodes += branches
            rows += branches * seg
            seg = 0
            if rows >= cap:
                return min(nodes, cap), cap
            if ev_kind[e] == 0:
                k = plan.ev_index[e]
                b = 0
                if plan.meas_kind[k] == 1:
                    b = plan.kraus_n[k, 0] + plan.kraus_n[k, 1]
                else:
                    for m in range(2):
                        b += 2 if plan.meas_C[k, 1 - m, m] > 0.0 else 1
                branches *= b
    return nodes, rows


@njit(cache=True, inline="always")
def branch_width(plan: Plan) -> int:
    """Children a node can have: (m, r) pairs of a projective round at 2 m + r, (r, j) of a Kraus round's
    operator j at r J + j (J operators per record at most).

    Parameters
    ----------
    plan : Plan

    Returns
    -------
    int
    """
    return max(4, 2 * plan.kraus_ops.shape[2])


@njit(cache=True)
def new_table(plan: Plan, nodes: int, rows: int) -> BranchTable:
    """An empty branch table with room for ``nodes`` nodes and ``rows`` event rows.

    Parameters
    ----------
    plan : Plan
    nodes, rows : int

    Returns
    -------
    BranchTable
    """
    d = plan.heff.shape[0]
    return BranchTable(
        np.full(plan.init_w.size, -1, np.int64),
        np.zeros(nodes, np.int64),
        np.zeros(nodes, np.int64),
        np.zeros(nodes, np.int64),
        np.full((nodes, branch_width(plan)), -1, np.int64),
        np.zeros(nodes, np.int64),
        np.zeros(nodes, np.int64),
        np.zeros((rows, d), np.complex128),
        np.zeros(rows),
        np.zeros(rows, np.int64),
        np.zeros(2, np.int64),
    )


@njit(cache=True)
def _build(plan, tab, e_start, psi0, rule, phi):
    """A new node for the segment from event e_start with state psi0 (-1: no room or no events)."""
    ev_kind = plan.ev_kind
    E = ev_kind.size
    L = 0
    while e_start + L < E:
        L += 1
        if ev_kind[e_start + L - 1] == 0:
            break
    nn, nr = tab.used[0], tab.used[1]
    if L == 0 or nn >= tab.start.size or nr + L > tab.n2.size:
        return -1
    tab.start[nn] = e_start
    tab.length[nn] = L
    tab.base[nn] = nr
    tab.rule[nn] = rule
    d = psi0.size
    for i in range(d):
        tab.psi[nr, i] = psi0[i]
    for j in range(L):
        row = nr + j
        # the operations of the kernel's event step, so the same bits
        _apply_event(plan, e_start + j, tab.psi[row], phi)
        tab.n2[row] = _norm2(phi)
        if j + 1 < L:
            if ev_kind[e_start + j] == 3:  # a gate acts on the state the kernel carries on, unnormalised
                _matvec(plan.gate_U[plan.ev_index[e_start + j]], phi, tab.psi[row + 1])
            else:
                for i in range(d):
                    tab.psi[row + 1, i] = phi[i]
    tab.used[0] = nn + 1
    tab.used[1] = nr + L
    return nn


@njit(cache=True)
def walk(
    rng: np.ndarray,
    plan: Plan,
    tab: BranchTable,
    psi: np.ndarray,
    phi: np.ndarray,
    tmp: np.ndarray,
    outcomes: np.ndarray,
    records: np.ndarray,
    fill: bool,
    need_state: np.ndarray,
    out_states: np.ndarray,
    out_post: np.ndarray,
    round_states: np.ndarray,
    round_jumps: np.ndarray,
    out_counts: np.ndarray,
    kcount: np.ndarray,
) -> tuple[int, float, float, int, bool, int]:
    """A run's shared path: its draws up to its first jump, from the table (filled on the way).

    Parameters
    ----------
    rng : ndarray of uint64, shape (4,)
        The run's stream, freshly seeded (advanced exactly as :func:`.kernel.trajectory` would).
    plan : Plan
    tab : BranchTable
        The chunk's table (nodes added, one stop cell counted).
    psi, phi, tmp : ndarray of complex128, shape (d,)
        psi: written, the state to resume from; phi, tmp: scratch.
    outcomes, records : ndarray of int8, shape (>= rounds,)
        Written for the rounds on the shared path.
    fill : bool
        Also write the shared outputs' flags, the rounds' states and zero jump counts (the distributions
        read them).
    need_state : ndarray of bool, shape (n_out,)
        With ``fill``: the shared outputs whose states are written too.
    out_states, out_post, round_states, round_jumps, out_counts : ndarray
        As in :class:`.kernel.RunLog` and :func:`.kernel.trajectory` (written only when ``fill``).
    kcount : ndarray of int64, shape (K,)
        Zeroed (the run's jumps per channel so far).

    Returns
    -------
    e0 : int
        The event the ordinary loop resumes at (E: the run ended without a jump).
    t0, r0 : float
        Its time and the run's current threshold r.
    rule : int
        The rule machine's state.
    post : bool
        Whether it accepts.
    cell : int
        The stop cell counted: a row index, or -1 - node for ``passed[node]`` (to undo an aborted run).
    """
    init_w, ev_time, ev_kind, ev_index = plan.init_w, plan.ev_time, plan.ev_kind, plan.ev_index
    d = psi.size
    kcount[:] = 0
    m = init_w.size
    c = 0
    if m > 1:
        u = uniform(rng)
        while c < m - 1 and u >= init_w[c]:
            c += 1
    r = 1.0 - uniform(rng)
    rule = 0
    post = True
    node = tab.roots[c]
    if node < 0:
        node = _build(plan, tab, 0, plan.init_states[c], 0, phi)
        tab.roots[c] = node
    if node < 0:
        for i in range(d):
            psi[i] = plan.init_states[c, i]
        return 0, 0.0, r, rule, post, 0 - 1 - tab.start.size
    while True:
        s, L, b = tab.start[node], tab.length[node], tab.base[node]
        for j in range(L):
            if tab.n2[b + j] < r:
                tab.stops[b + j] += 1
                e = s + j
                for i in range(d):
                    psi[i] = tab.psi[b + j, i]
                return e, ev_time[e - 1] if e > 0 else 0.0, r, rule, post, b + j
            if fill and ev_kind[s + j] == 1:
                o = ev_index[s + j]
                if need_state[o]:  # the distributions read a few outputs' states, every output's flags
                    _apply_event(plan, s + j, tab.psi[b + j], phi)
                    nrm = 1.0 / np.sqrt(tab.n2[b + j])
                    for i in range(d):
                        out_states[o, i] = phi[i] * nrm
                out_post[o] = post
                for k in range(out_counts.shape[1] if out_counts.shape[0] > 0 else 0):
                    out_counts[o, k] = 0
        e = s + L - 1
        if ev_kind[e] != 0:  # the protocol's end, no jump
            tab.passed[node] += 1
            return ev_kind.size, ev_time[e], r, rule, post, -1 - node
        _apply_event(plan, e, tab.psi[b + L - 1], psi)
        idx = ev_index[e]
        if plan.meas_kind[idx] == 0:
            mi, ri = _measure(rng, plan, idx, psi, tab.n2[b + L - 1], phi, tmp)
            x = 2 * mi + ri
        else:  # the kernel's Kraus draw: the record is the outcome, and (r, j) picks the child
            ri, j = _kraus_draw(
                rng, plan.kraus_ops[idx], plan.kraus_n[idx], plan.meas_fb[idx], plan.meas_U[idx], psi,
                tab.n2[b + L - 1], phi,
            )  # fmt: skip
            mi = ri
            x = ri * plan.kraus_ops.shape[2] + j
        outcomes[idx] = 1 - 2 * mi
        records[idx] = 1 - 2 * ri
        rule = plan.sel_tr[idx, rule, ri]
        post = plan.sel_acc[rule]
        r = 1.0 - uniform(rng)
        if fill:
            if round_states.shape[0] > 0:
                for i in range(d):
                    round_states[idx, i] = psi[i]
            if round_jumps.size > 0:
                round_jumps[idx] = 0
        nxt = tab.child[node, x]
        if nxt < 0:
            nxt = _build(plan, tab, e + 1, psi, rule, phi)
            tab.child[node, x] = nxt
        if nxt < 0:
            tab.passed[node] += 1
            return e + 1, ev_time[e], r, rule, post, -1 - node
        node = nxt


@njit(cache=True)
def undo(tab: BranchTable, cell: int) -> None:
    """Take back the stop cell :func:`walk` counted (a run that was then aborted adds nothing).

    Parameters
    ----------
    tab : BranchTable
    cell : int
        As :func:`walk` returned it.
    """
    if cell >= 0:
        tab.stops[cell] -= 1
    elif cell >= -tab.start.size:
        tab.passed[-1 - cell] -= 1
