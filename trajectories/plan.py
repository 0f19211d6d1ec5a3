"""The step that compiles a model and a protocol into one plan: the arrays both solvers read.

The trajectory kernel takes a :class:`Plan` as one value (a NamedTuple, which Numba passes as a
struct); the exact solver reads the same instrument and rule tables from it, so the two cannot
disagree about what a measurement or a post-selection rule means.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numba import njit

from . import sanity
from .blocks import BlockPropagator, apply_propagator_work, make_block_propagator
from .instrument_tables import kind_tables
from .lindblad import LindbladModel
from .model import SpinPair
from .protocol import EV_SWITCH, Protocol
from .stepping import make_stepper, no_stepper

#: Record strings are counted per run up to this many rounds (2**16 cells).
MAX_RECORD_ROUNDS = 16

#: Initial-mixture eigenvalues at or below this are dropped (rounding of a pure state's rho).
INIT_TOL = 1e-14


class Plan(NamedTuple):
    """Model and protocol as arrays (E events, K channels, R rounds, S rule states; d = 4).

    heff (d, d), gamma = sum_k L_k^dag L_k (d, d), jumps (K, d, d): the model (complex);
    init_w (m,) cumulative weights and init_states (m, d) of the initial mixture;
    ev_time (E,), ev_kind (E,) 0 measurement / 1 output, ev_index (E,) round or output index,
    ev_U (E, W) the propagator over the interval ending at each event, its blocks' (n, n) matrices
    row-major one after the other (W = sum n^2; for the STM pair's blocks 1 + 2 + 1, W = 6);
    meas_P (R, 2, d, d) projectors P_+, P_-; meas_C (R, 2, 2) P(record r | true m) [r, m];
    meas_U (R, 2, d, d) feedback per record; meas_fb (R, 2) bool: record r applies feedback;
    sel_tr (R, S, 2) rule transitions per record index (0: +1, 1: -1); sel_acc (S,) accepting states;
    n_out, rounds; n_records: 2**R record cells if R <= MAX_RECORD_ROUNDS, else 0 (not counted);
    prop_*: the fields of the BlockPropagator of exp(-i H_eff tau) for any tau (:mod:`.blocks`), flat
    because Numba's parallel loops do not take nested tuples (:func:`propagator_of` rebuilds it);
    target (d,) complex and target_kind (0: the singlet formula, d = 4; 1: |<target|psi>|^2; 2: none):
    the state whose population the sums track;
    meas_kind .. mon_tail: the general instruments' tables (:class:`.instrument_tables.KindTables`);
    ev_kind 4 is the opening of a monitored window;
    step_*: the fields of the :class:`.stepping.Stepper` (step_h 0.0: the kernel's jump times use the
    block propagator; > 0: H_eff has a Schur-Pade block and they come from the stepped search; never with
    segments).

    Segments and gates (:mod:`.segments`; S' segments, segment 0 the model at t = 0, G gates):
    ev_kind 2 is a segment switch (ev_index: the segment that starts), 3 a gate (ev_index: the gate);
    heff, gamma, prop_* are segment 0's and jumps holds K = max_s K_s channels (zero-padded), so the
    one-model fields above still describe t = 0; seg_* stack every segment's heff, gamma, jumps
    (zero-padded), channel count seg_nk and block propagator (prop_* padded to the largest segment,
    seg_nb blocks, seg_ncoef coefficients); ev_U uses the segment in force over each interval (blocks
    of that segment, padded); gate_U (G, d, d) (one zero row when G = 0). :func:`segment_plan` gives a
    segment's plan.
    """

    heff: np.ndarray
    gamma: np.ndarray
    jumps: np.ndarray
    init_w: np.ndarray
    init_states: np.ndarray
    ev_time: np.ndarray
    ev_kind: np.ndarray
    ev_index: np.ndarray
    ev_U: np.ndarray
    meas_P: np.ndarray
    meas_C: np.ndarray
    meas_U: np.ndarray
    meas_fb: np.ndarray
    sel_tr: np.ndarray
    sel_acc: np.ndarray
    n_out: int
    rounds: int
    n_records: int
    prop_order: np.ndarray
    prop_starts: np.ndarray
    prop_kind: np.ndarray
    prop_offsets: np.ndarray
    prop_coef: np.ndarray
    prop_cond: np.ndarray
    prop_max_block: int
    target: np.ndarray
    target_kind: int
    meas_kind: np.ndarray
    kraus_ops: np.ndarray
    kraus_n: np.ndarray
    meas_hist: np.ndarray
    fbh_on: np.ndarray
    fbh_U: np.ndarray
    mon_watch: np.ndarray
    mon_eta: np.ndarray
    mon_thr: np.ndarray
    mon_tail: np.ndarray
    step_h: float
    step_hnorm: float
    step_theta: np.ndarray
    step_ptr: np.ndarray
    step_idx: np.ndarray
    step_val: np.ndarray
    seg_heff: np.ndarray
    seg_gamma: np.ndarray
    seg_jumps: np.ndarray
    seg_nk: np.ndarray
    seg_order: np.ndarray
    seg_starts: np.ndarray
    seg_nb: np.ndarray
    seg_kind: np.ndarray
    seg_offsets: np.ndarray
    seg_coef: np.ndarray
    seg_ncoef: np.ndarray
    seg_cond: np.ndarray
    seg_max_block: np.ndarray
    gate_U: np.ndarray


#: The models every solver takes (anything offering MODEL_INTERFACE works the same way).
Model = SpinPair | LindbladModel

#: What every model offers (SpinPair and LindbladModel both do); checked once, by :func:`check_model`.
MODEL_INTERFACE = ("hamiltonian", "jump_operators", "jump_labels", "effective_hamiltonian", "liouvillian")


def check_model(model: Model, protocol: Protocol | None = None) -> int:
    """The model's dimension d, after checking that it offers MODEL_INTERFACE and (given a protocol) that
    its dimension is the protocol's.

    Parameters
    ----------
    model : SpinPair, LindbladModel, or anything offering MODEL_INTERFACE
    protocol : Protocol, optional

    Returns
    -------
    int
        The dimension d.

    Raises
    ------
    ValueError
        Naming 'model', if it lacks a method or its dimension is not the protocol's.

    Warns
    -----
    UnitSlipWarning
        Once per process, if a SpinPair's rates times the protocol's final time are below 0.01
        (:mod:`.sanity`).
    """
    missing = [name for name in MODEL_INTERFACE if not callable(getattr(model, name, None))]
    if missing:
        raise ValueError(
            f"model must be a SpinPair, a LindbladModel or offer {', '.join(MODEL_INTERFACE)}(); "
            f"{type(model).__name__} lacks {', '.join(missing)}"
        )
    d = int(getattr(model, "dim", 0) or np.shape(model.hamiltonian())[0])
    if protocol is not None and protocol.rho0.shape[0] != d:
        raise ValueError(
            f"model has dimension {d} but the protocol's initial state has dimension {protocol.rho0.shape[0]}"
        )
    if protocol is not None and isinstance(model, SpinPair):
        sanity.check_duration(model.rates()[1], protocol.t_final)
    return d


def instrument_tables(protocol: Protocol) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The instrument tables of the protocol's R rounds (one row when R = 0).

    Parameters
    ----------
    protocol : Protocol

    Returns
    -------
    meas_P : ndarray of complex128, shape (R, 2, d, d)
        Projectors P_+, P_-.
    meas_C : ndarray of float64, shape (R, 2, 2)
        P(record r | true m) [r, m].
    meas_U : ndarray of complex128, shape (R, 2, d, d)
        Feedback unitary per record.
    meas_fb : ndarray of bool, shape (R, 2)
        Whether record r applies feedback (False in rounds whose feedback depends on the rule state:
        the plan's fbh tables hold theirs).
    """
    d = protocol.rho0.shape[0]
    R = protocol.rounds
    P = np.zeros((max(R, 1), 2, d, d), complex)
    C = np.zeros((max(R, 1), 2, 2))
    U = np.zeros((max(R, 1), 2, d, d), complex)
    fb = np.zeros((max(R, 1), 2), np.bool_)
    for k, m in enumerate(protocol.measurements):
        if m.kind == "monitor":
            C[k] = np.eye(2)
            U[k], fb[k] = m.unitaries(None, d)  # type: ignore[call-arg]  # a Monitor's takes the dimension
        else:
            P[k] = m.projectors()  # type: ignore[union-attr]  # a Measurement here
            C[k] = m.confusion()  # type: ignore[union-attr]
            U[k], fb[k] = m.unitaries()
        if m.history_feedback:
            fb[k] = False
    return P, C, U, fb


def compile_plan(model: Model, protocol: Protocol) -> Plan:
    """Precompute what the kernels need (tens of microseconds of numpy work).

    Parameters
    ----------
    model : SpinPair or LindbladModel
    protocol : Protocol

    Returns
    -------
    Plan

    Raises
    ------
    ValueError
        As :func:`check_model`.
    """
    d = check_model(model, protocol)
    segs = [_segment_model(m, d) for m in (model, *(m for _, m in protocol.segments))]
    heff, jumps, gamma, prop = segs[0]
    kmax = max(s[1].shape[0] for s in segs)
    if kmax > jumps.shape[0]:
        jumps = np.concatenate([jumps, np.zeros((kmax - jumps.shape[0], d, d), complex)])
    w, v = np.linalg.eigh(protocol.rho0)
    keep = w > INIT_TOL
    w, v = w[keep], v[:, keep]
    cum = np.cumsum(w / w.sum())
    cum[-1] = 1.0
    tables = kind_tables(protocol, list(model.jump_labels()))
    t, kind, idx = protocol.events(windows=True)
    prev = np.concatenate([[0.0], t[:-1]])
    if len(segs) == 1:
        U = event_propagators(prop, t - prev)
    else:
        U = _segment_event_propagators([s[3] for s in segs], t - prev, kind)
    P, C, Ufb, fb = instrument_tables(protocol)
    # the stepper's ladder is one model's: a segmented plan searches with each segment's block propagator
    st = make_stepper(heff, jumps, prop, float(np.max(t - prev, initial=0.0))) if len(segs) == 1 else no_stepper(d)
    sel = protocol.selection
    R = protocol.rounds
    tr = np.ascontiguousarray(sel.transitions) if R else np.zeros((1, sel.n_states, 2), np.int64)
    return Plan._make(  # _make: the segment fields are a tuple of arrays
        (
            heff,
            np.ascontiguousarray(gamma),
            jumps,
            cum,
            np.ascontiguousarray(v.T),
            t,
            kind,
            idx,
            U,
            P,
            C,
            Ufb,
            fb,
            tr,
            np.array(sel.accepting),
            int(protocol.times.size),
            int(R),
            2**R if R <= MAX_RECORD_ROUNDS else 0,
            *prop[:-1],
            max(s[3].max_block for s in segs),
            *_target(model, d),
            *tables,
            st.h,
            st.hnorm,
            st.theta,
            st.sp_ptr,
            st.sp_idx,
            st.sp_val,
            *_stack_segments(segs, d),
            np.ascontiguousarray(protocol.gate_unitaries if protocol.gates else np.zeros((1, d, d), complex)),
        )
    )


def _segment_model(model: Model, d: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, BlockPropagator]:
    """heff (d, d), jumps (K, d, d), gamma (d, d) and the block propagator of one segment's model."""
    jumps = np.ascontiguousarray(model.jump_operators(), dtype=complex).reshape(-1, d, d)
    heff = np.ascontiguousarray(model.effective_hamiltonian(), dtype=complex)
    gamma = np.einsum("kji,kjl->il", jumps.conj(), jumps) if len(jumps) else np.zeros((d, d), complex)
    return heff, jumps, np.ascontiguousarray(gamma), make_block_propagator(heff)


def _stack_segments(segs: list, d: int) -> tuple[np.ndarray, ...]:
    """The seg_* fields of the plan: every segment's arrays stacked, padded to the largest."""
    S = len(segs)
    kmax = max(s[1].shape[0] for s in segs)
    nb = np.array([s[3].kind.size for s in segs], np.int64)
    nc = np.array([s[3].coef.size for s in segs], np.int64)
    jumps = np.zeros((S, kmax, d, d), complex)
    starts = np.zeros((S, nb.max() + 1), np.int64)
    offsets = np.zeros((S, nb.max() + 1), np.int64)
    kinds = np.zeros((S, nb.max()), np.int64)
    cond = np.full((S, nb.max()), np.nan)
    coef = np.zeros((S, nc.max()), complex)
    for i, (_, j, _, p) in enumerate(segs):
        jumps[i, : j.shape[0]] = j
        starts[i, : nb[i] + 1] = p.starts
        offsets[i, : nb[i] + 1] = p.offsets
        kinds[i, : nb[i]] = p.kind
        cond[i, : nb[i]] = p.cond
        coef[i, : nc[i]] = p.coef
    return (
        np.ascontiguousarray([s[0] for s in segs]),
        np.ascontiguousarray([s[2] for s in segs]),
        jumps,
        np.array([s[1].shape[0] for s in segs], np.int64),
        np.ascontiguousarray([s[3].order for s in segs]),
        starts,
        nb,
        kinds,
        offsets,
        coef,
        nc,
        cond,
        np.array([s[3].max_block for s in segs], np.int64),
    )


def _segment_event_propagators(props: list[BlockPropagator], dts: np.ndarray, kind: np.ndarray) -> np.ndarray:
    """(E, W) block matrices of each interval's propagator under the segment in force over it (a switch
    event ends the old segment's interval), each row padded to the largest W."""
    seg = np.concatenate([[0], np.cumsum(kind == EV_SWITCH)[:-1]])
    width = max(int(np.sum(np.diff(p.starts) ** 2)) for p in props)
    out = np.zeros((dts.size, width), complex)
    for s, p in enumerate(props):
        rows = np.flatnonzero(seg == s)
        if rows.size:
            blocks = event_propagators(p, dts[rows])
            out[rows, : blocks.shape[1]] = blocks
    return out


@njit(cache=True)
def segment_plan(plan: Plan, s: int) -> Plan:
    """The plan with segment s's heff, gamma, jumps (its own K_s channels) and block propagator in the
    one-model fields (works inside Numba code; views, no copies).

    Parameters
    ----------
    plan : Plan
    s : int
        Segment number, 0 <= s < S' (0: the model at t = 0).

    Returns
    -------
    Plan
    """
    nb = plan.seg_nb[s]
    return Plan(
        plan.seg_heff[s],
        plan.seg_gamma[s],
        plan.seg_jumps[s, : plan.seg_nk[s]],
        plan.init_w,
        plan.init_states,
        plan.ev_time,
        plan.ev_kind,
        plan.ev_index,
        plan.ev_U,
        plan.meas_P,
        plan.meas_C,
        plan.meas_U,
        plan.meas_fb,
        plan.sel_tr,
        plan.sel_acc,
        plan.n_out,
        plan.rounds,
        plan.n_records,
        plan.seg_order[s],
        plan.seg_starts[s, : nb + 1],
        plan.seg_kind[s, :nb],
        plan.seg_offsets[s, : nb + 1],
        plan.seg_coef[s, : plan.seg_ncoef[s]],
        plan.seg_cond[s, :nb],
        plan.seg_max_block[s],
        plan.target,
        plan.target_kind,
        plan.meas_kind,
        plan.kraus_ops,
        plan.kraus_n,
        plan.meas_hist,
        plan.fbh_on,
        plan.fbh_U,
        plan.mon_watch,
        plan.mon_eta,
        plan.mon_thr,
        plan.mon_tail,
        plan.step_h,
        plan.step_hnorm,
        plan.step_theta,
        plan.step_ptr,
        plan.step_idx,
        plan.step_val,
        plan.seg_heff,
        plan.seg_gamma,
        plan.seg_jumps,
        plan.seg_nk,
        plan.seg_order,
        plan.seg_starts,
        plan.seg_nb,
        plan.seg_kind,
        plan.seg_offsets,
        plan.seg_coef,
        plan.seg_ncoef,
        plan.seg_cond,
        plan.seg_max_block,
        plan.gate_U,
    )


@njit(cache=True, inline="always")
def propagator_of(plan: Plan) -> BlockPropagator:
    """The plan's BlockPropagator (works inside Numba code too).

    Parameters
    ----------
    plan : Plan

    Returns
    -------
    BlockPropagator
        A view of the plan's prop_* arrays (no copy).
    """
    return BlockPropagator(
        plan.prop_order,
        plan.prop_starts,
        plan.prop_kind,
        plan.prop_offsets,
        plan.prop_coef,
        plan.prop_cond,
        plan.prop_max_block,
    )


def _target(model: Model, d: int) -> tuple[np.ndarray, int]:
    """The tracked population: the singlet for two spins (by its own exact formula), else none."""
    if d == 4:
        return np.array([0, 1, -1, 0], complex) / np.sqrt(2.0), 0
    return np.zeros(d, complex), 2


def event_propagators(prop: BlockPropagator, dts: np.ndarray) -> np.ndarray:
    """(E, W) the block matrices of exp(-i H_eff dt) for each interval dt, row-major per block.

    Entries come from applying the propagator to unit vectors, so they are the exact coefficients the
    closed forms give (1 * u + 0 * v = u in floating point).

    Parameters
    ----------
    prop : BlockPropagator
    dts : ndarray of float64, shape (E,)
        The intervals, >= 0 (time unit).

    Returns
    -------
    ndarray of complex128, shape (E, W)
        W = sum of the squared block sizes.
    """
    sizes = np.diff(prop.starts)
    out = np.empty((len(dts), int(np.sum(sizes**2))), complex)
    _event_blocks(prop, np.ascontiguousarray(dts, dtype=float), out)
    return out


@njit(cache=True)
def _event_blocks(prop: BlockPropagator, dts: np.ndarray, out: np.ndarray) -> None:
    d = prop.order.size
    e_j = np.zeros(d, np.complex128)
    col = np.empty(d, np.complex128)
    work = np.empty(prop.max_block, np.complex128)
    for e in range(dts.size):
        if e > 0 and dts[e] == dts[e - 1]:
            out[e] = out[e - 1]
            continue
        off = 0
        for b in range(prop.starts.size - 1):
            s = prop.starts[b]
            n = prop.starts[b + 1] - s
            for j in range(n):
                e_j[prop.order[s + j]] = 1.0
                apply_propagator_work(prop, dts[e], e_j, col, work)
                e_j[prop.order[s + j]] = 0.0
                for i in range(n):
                    out[e, off + i * n + j] = col[prop.order[s + i]]
            off += n * n
