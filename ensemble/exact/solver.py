"""Exact solution of the master equation with the protocol's instruments and post-selection rule.

The state is carried as one unnormalised density matrix per state of the post-selection rule's
machine (:class:`darkspin.trajectories.selection.PostSelection`); their sum is the unconditional state and
the sum over accepting states, normalised, is the post-selected one. A round maps branch s through the
instrument's completely positive map of each record r into branch transitions[k, s, r], so any number
of rounds costs one small matrix product per branch and round.

Exactness. (1) Propagation uses exp(L dt) of the time-independent Liouvillian, one per distinct
interval: no step-size error. Short steps use scipy's scaling and squaring; steps many relaxation
times long use the eigenbasis of L (when it is well conditioned), because squaring doubles the error
of the stationary part at every step and would lose accuracy for long times. (2) Everything is done in the smallest
subspace of operator space that contains rho0 and is invariant under L and every record's map (found
once, by Krylov iteration). Directions outside it, such as the dark singlet when starting from a
triplet state at the symmetric point, are then exactly zero forever instead of carrying rounding
errors that a long post-selection would amplify by 1/p per round. (3) Branch masses are kept as
logarithms, so thousands of rounds neither underflow nor lose relative accuracy. (4) A rounding probe
(noise of the size of a rounding error injected before every operation and propagated with the branch)
estimates the relative error of the post-selected state; where it exceeds REL_ERR_MAX the state is
reported as undefined (NaN) and a warning names the round.

Large systems. From d >= STATE_PROPAGATION_DIM (16) the propagators are never formed: exp(L dt) is
applied to the branch states with a Taylor method with a backward-error guarantee on the sparse
Liouvillian (:mod:`.state_propagation`), in the full operator space; the branch bookkeeping below is the
same. Long solves show a progress bar and warn up front when they will take minutes.
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np

from ...trajectories.plan import MAX_RECORD_ROUNDS, Model, check_model
from ...trajectories.protocol import EV_GATE, EV_MEASURE, EV_OPEN, EV_OUTPUT, EV_SWITCH, Protocol
from ..results.master_equation import MasterEquationResult, PostSelectionUndefinedWarning
from .jump_statistics import mean_jumps, no_jump_probability
from .state_propagation import STATE_PROPAGATION_DIM, _StateSolver
from .superoperators import _EPS, _Solver
from .timed import _TimedSolver, _TimedStateSolver

_Engine = _Solver | _StateSolver

#: A round that leaves a post-selected mass below this fraction of the mass before it, or a
#: post-selected state whose estimated relative rounding error exceeds REL_ERR_MAX, leaves rho_post
#: undefined (NaN) from that round: the state would be dominated by rounding error.
P_UNDEFINED = 1e-13
REL_ERR_MAX = 1e-9


class _Branches:
    """Unnormalised reduced states, one per rule state: vec (S, q) of trace 1 (or 0), logm (S,) log mass,
    err (S, q) the rounding probe in the same scale as vec."""

    def __init__(self, S: int, q: int):
        self.vec = np.zeros((S, q), complex)
        self.err = np.zeros((S, q), complex)
        self.logm = np.full(S, -np.inf)


def _logsumexp(logs: np.ndarray) -> float:
    logs = np.asarray(logs, float)
    top = np.max(logs) if logs.size else -np.inf
    if not np.isfinite(top):
        return -np.inf
    return float(top + math.log(np.sum(np.exp(logs - top))))


def solve_master_equation(model: Model, protocol: Protocol) -> MasterEquationResult:
    """Solve d rho/dt = L rho exactly on ``protocol.times`` with the protocol's instruments and rule.

    Units: times in the inverse energy unit of ``model``. Accuracy ~1e-13 (expm of the Liouvillian
    restricted to the reachable subspace). Returns a :class:`MasterEquationResult`; warns with
    :class:`PostSelectionUndefinedWarning`, naming the round, where the post-selected state becomes
    undefined.

    Parameters
    ----------
    model : SpinPair or LindbladModel
        The model (energies and rates in one unit).
    protocol : Protocol
        Initial state, output times, measurement times, instruments and post-selection rule.

    Returns
    -------
    MasterEquationResult
        rho and rho_post (n, d, d) at the output times, p_success and p_cumulative (R,), and the
        probability of every record string.

    Raises
    ------
    ValueError
        For a protocol that is not a Protocol or a model whose dimension is not the protocol's.

    Warns
    -----
    PostSelectionUndefinedWarning
        From the round on which no run can be post-selected any more (rho_post NaN from there).

    Examples
    --------
    >>> import darkspin as ds
    >>> exact = ds.solve_master_equation(ds.SpinPair(), ds.Protocol.paper(n_out=11))
    >>> exact.rho.shape, round(float(exact.population("S").value_post[-1].real), 5)
    ((11, 4, 4), 0.99961)
    """
    return _solve(model, protocol)


def _solve(model: Model, protocol: Protocol, state_path: bool | None = None) -> MasterEquationResult:
    """solve_master_equation; ``state_path`` forces the path (None: d >= STATE_PROPAGATION_DIM)."""
    if not isinstance(protocol, Protocol):
        raise ValueError(f"protocol must be a Protocol, got {type(protocol).__name__}")
    d = check_model(model, protocol)
    if state_path is None:
        state_path = d >= STATE_PROPAGATION_DIM
    sel = protocol.selection
    sv: _Engine
    if state_path:
        sv = _TimedStateSolver(model, protocol) if protocol.is_timed else _StateSolver(model, protocol)
        sv.start_progress(protocol, sel.n_states)
        try:
            return _run(model, protocol, sv)
        finally:
            sv.close()
    return _run(model, protocol, _TimedSolver(model, protocol) if protocol.is_timed else _Solver(model, protocol))


def _run(model: Model, protocol: Protocol, sv: _Engine) -> MasterEquationResult:
    """The event loop of solve_master_equation with either engine."""
    sel = protocol.selection
    acc = np.asarray(sel.accepting)
    S, q = sel.n_states, sv.q
    n, R = protocol.times.size, protocol.rounds
    b = _Branches(S, q)
    b.vec[0] = sv.reduce(protocol.rho0.reshape(-1).astype(complex))
    b.logm[0] = 0.0
    # branch states at each output, mixed into rho and rho_post in one vectorised pass at the end
    out_vec = np.zeros((n, S, q), complex)
    out_logm = np.full((n, S), -np.inf)
    out_defined = np.ones(n, bool)
    p_success = np.full(R, np.nan)
    log_cum = np.full(R, -np.inf)
    defined = True  # the post-selected state is trustworthy
    # can rejected runs be selected again (the rule 'last')?
    sel_refills = (
        bool(np.any(~acc[:, None, None] & acc[np.asarray(sel.transitions)].transpose(1, 0, 2))) if R else False
    )
    steps = 0  # propagation steps since the last round: their rounding enters the probe there
    t = 0.0
    # an open monitored window: its Window and the branches resolved by click level, (S, levels, q)
    win: Any = None
    lv = lerr = np.zeros(0)
    for te, kind, idx in zip(*protocol.events(windows=True), strict=True):
        dt = te - t
        if dt != 0.0:
            if win is None:
                b.vec, b.err = sv.propagate(dt, [b.vec, b.err])
            else:
                lv, lerr = win.propagate(dt, lv), win.propagate(dt, lerr)
                b.vec, b.err = lv.sum(axis=1), lerr.sum(axis=1)
            steps += 1
        t = te
        if kind == EV_OPEN:
            win = sv.windows[idx]  # type: ignore[union-attr]  # monitors need the dense engine
            lv, lerr = win.start(b.vec), win.start(b.err)
            continue
        if kind == EV_SWITCH:
            sv.switch(idx)  # type: ignore[union-attr]  # a timed engine: the protocol has segments
        elif kind == EV_GATE:
            b.vec, b.err = sv.apply_gate(idx, [b.vec, b.err])  # type: ignore[union-attr]
        elif kind == EV_MEASURE:
            live = np.isfinite(b.logm)
            b.err[live] += sv.noise((int(live.sum()), q), (1 + steps) * _EPS * np.linalg.norm(b.vec[live], axis=1))
            steps = 0
            pre = _logsumexp(b.logm[acc])
            split = None
            if win is not None:
                split = _window_records(win, lv, lerr)
                win = None
            b, lost, kept, inflow = _round(sv, b, idx, sel.transitions[idx], acc, split)
            after = _logsumexp(b.logm[acc])
            if not defined and not np.isfinite(inflow):
                continue  # nothing re-entered the selection: p_success NaN, p_cumulative 0 from here
            log_cum[idx] = after
            if np.isfinite(pre) and defined:
                # the smaller of kept and lost carries the relative accuracy; a loss at the rounding
                # level (a repeated round at one instant) is no loss: p = 1 exactly there
                p = math.exp(kept - pre) if kept < lost else 1.0 - math.exp(lost - pre)
                if lost - pre < math.log(4 * _EPS):
                    p = 1.0
                p_success[idx] = min(max(p, 0.0), 1.0)
                if not np.isfinite(inflow):
                    # nothing re-enters the selection: p_cumulative is exactly the product of p_success
                    before = log_cum[idx - 1] if idx > 0 else 0.0
                    log_cum[idx] = before + math.log(p_success[idx]) if p_success[idx] > 0 else -np.inf
            # a selection refilled from rejected runs (the rule 'last') is judged on its own
            refilled = not (np.isfinite(pre) and defined)
            drop = (0.0 if np.isfinite(after) else -np.inf) if refilled else after - pre
            rel = _post_error(sv, b, acc)
            why = None
            if not np.isfinite(after) or drop < math.log(P_UNDEFINED):
                why = f"its probability is {math.exp(after):.3g}"
            elif rel > REL_ERR_MAX:
                why = f"its estimated relative rounding error is {rel:.2g} > {REL_ERR_MAX:g}"
            if why is not None and defined:
                until = "a later round selects runs again" if sel_refills else "the end"
                warnings.warn(
                    f"the post-selected state is undefined from round {idx + 1} (t = {te:g}) on: "
                    f"{why}; rho_post is NaN until {until}",
                    PostSelectionUndefinedWarning,
                    stacklevel=4,
                )
            defined = why is None
        else:
            out_vec[idx], out_logm[idx], out_defined[idx] = b.vec, b.logm, defined
    out = _mix(sv, out_vec, out_logm, normalise=False)
    out_post = _mix(sv, out_vec, np.where(acc, out_logm, -np.inf), normalise=True)
    # every run post-selected (before the first round, say): the same state, bit for bit
    everyone = np.all(acc | ~np.isfinite(out_logm), axis=1)
    out_post[everyone] = out[everyone]
    out_post[~out_defined] = np.nan
    p_cum = np.minimum(np.exp(log_cum), 1.0)  # a probability, whatever the rounding of the masses
    records = _record_probabilities(sv, protocol) if R <= MAX_RECORD_ROUNDS else np.zeros(0)
    for a in (out, out_post, p_success, p_cum, records):
        a.setflags(write=False)
    return MasterEquationResult(
        model, protocol, protocol.times, out, out_post, p_success, p_cum, records, (no_jump_probability, mean_jumps)
    )


def _window_records(win: Any, lv: np.ndarray, lerr: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The records of a monitored window for each branch: (S, 2, q) states and probes (feedback applied
    with each branch's rule state)."""
    S = lv.shape[0]
    v = np.stack([win.records(lv[s : s + 1], s)[:, 0] for s in range(S)])
    e = np.stack([win.records(lerr[s : s + 1], s)[:, 0] for s in range(S)])
    return v, e


def _round(
    sv: _Engine,
    b: _Branches,
    k: int,
    trans: np.ndarray,
    acc: np.ndarray,
    split: tuple[np.ndarray, np.ndarray] | None = None,
) -> tuple[_Branches, float, float, float]:
    """Apply round k's record maps to every branch and move them along the rule; returns the new
    branches and the logs of the mass that left the accepting states, of the mass that stayed, and of
    the mass that entered them from rejected states. ``split``: a monitored window's records per branch
    (states, probes), each (S, 2, q), instead of the maps."""
    S, q = b.vec.shape
    contrib: list[list[tuple[np.ndarray, np.ndarray, float]]] = [[] for _ in range(S)]
    lost: list[float] = []
    kept: list[float] = []
    inflow: list[float] = []
    for s in range(S):
        if not np.isfinite(b.logm[s]):
            continue
        scale = _EPS * np.linalg.norm(b.vec[s])
        for r in range(2):
            v = sv.apply_map(k, r, b.vec[s], s) if split is None else split[0][s, r]
            mass = float(sv.trace(v))
            # a PSD branch has |v| <= mass; mass at the rounding level of the input is no branch at all
            # (dividing rounding noise by it would overflow)
            if mass <= 4 * _EPS * np.linalg.norm(b.vec[s]) or not np.any(v):
                continue
            if split is None:
                e = sv.apply_map(k, r, b.err[s] + sv.noise((q,), scale), s)
            else:
                e = split[1][s, r] + sv.noise((q,), scale)
            target = int(trans[s, r])
            contrib[target].append((v / mass, e / mass, b.logm[s] + math.log(mass)))
            if acc[s]:
                (kept if acc[target] else lost).append(b.logm[s] + math.log(mass))
            elif acc[target]:
                inflow.append(b.logm[s] + math.log(mass))
    new = _Branches(S, q)
    for s2, parts in enumerate(contrib):
        if not parts:
            continue
        logs = np.array([p[2] for p in parts])
        top = logs.max()
        w = np.exp(logs - top)
        v = sum(wi * p[0] for wi, p in zip(w, parts, strict=True))
        e = sum(wi * p[1] for wi, p in zip(w, parts, strict=True))
        tot = float(np.sum(w))
        new.vec[s2], new.err[s2], new.logm[s2] = v / tot, e / tot, top + math.log(tot)
    return new, _logsumexp(np.array(lost)), _logsumexp(np.array(kept)), _logsumexp(np.array(inflow))


def _mix(sv: _Engine, vec: np.ndarray, logm: np.ndarray, normalise: bool) -> np.ndarray:
    """sum_s mass_s state_s for branch states vec (n, S, q) with log masses logm (n, S); (n, d, d).

    normalise: divide by the trace (NaN where every mass is zero); else scale by the true masses.
    """
    top = np.max(logm, axis=1)
    ok = np.isfinite(top)
    w = np.exp(logm - np.where(ok, top, 0.0)[:, None])
    mixed = np.einsum("ns,nsq->nq", w, vec)
    with np.errstate(invalid="ignore", divide="ignore"):
        if normalise:
            mixed = mixed / (mixed @ sv.tr).real[:, None]
        else:
            mixed = mixed * np.exp(np.where(ok, top, -np.inf))[:, None]
    rho = sv.expand(mixed).reshape(-1, sv.d, sv.d)
    rho = 0.5 * (rho + np.conj(np.swapaxes(rho, -1, -2)))
    if normalise:
        rho[~ok] = np.nan
    return rho


def _post_error(sv: _Engine, b: _Branches, acc: np.ndarray) -> float:
    """Estimated relative error of the post-selected state (norm of the probe over norm of the state)."""
    logs = np.where(acc, b.logm, -np.inf)
    top = np.max(logs)
    if not np.isfinite(top):
        return math.inf
    w = np.exp(logs - top)
    return float(np.linalg.norm(w @ b.err) / np.linalg.norm(w @ b.vec))


def _record_probabilities(sv: _Engine, protocol: Protocol) -> np.ndarray:
    """Probability of every record string, (2**R,), index sum_k 2**k [r_k = +1]; R <= 16.

    One unnormalised reduced state per record prefix, propagated with the solver's maps (and with the
    count-resolved generator through monitored windows).
    """
    vec = sv.reduce(protocol.rho0.reshape(-1).astype(complex))[None]
    hist = any(m.history_feedback for m in protocol.measurements)
    states = np.zeros(1, np.int64)  # the rule machine's state of each prefix (feedback on the history)
    tr = protocol.selection.transitions
    windows = getattr(sv, "windows", {})
    t = 0.0
    if protocol.is_timed:
        return _timed_record_probabilities(sv, protocol, vec)
    for k, tm in enumerate(protocol.measure_at):
        if tm != t:
            vec = sv.propagate(float(tm - t), [vec])[0]
        t = tm
        # codes 0 .. 2**k - 1 so far; record +1 in round k adds 2**k
        if k in windows:
            win = windows[k]
            lv = win.start(vec)
            D = float(protocol.record_times[k] - tm)
            if D != 0.0:
                lv = win.propagate(D, lv)
            t = float(protocol.record_times[k])
            parts = np.empty((2,) + vec.shape, complex)
            for st in np.unique(states) if hist else [None]:
                rows = slice(None) if st is None else states == st
                parts[:, rows] = win.records(lv[rows], None if st is None else int(st))
            plus, minus = parts[0], parts[1]
        elif hist:
            plus, minus = np.empty_like(vec), np.empty_like(vec)
            for st in np.unique(states):
                rows = states == st
                plus[rows] = sv.apply_map(k, 0, vec[rows], int(st))
                minus[rows] = sv.apply_map(k, 1, vec[rows], int(st))
        else:
            plus, minus = sv.apply_map(k, 0, vec), sv.apply_map(k, 1, vec)
        vec = np.concatenate([minus, plus])
        if hist:
            states = np.concatenate([tr[k][states, 1], tr[k][states, 0]])
    p = np.clip(sv.trace(vec), 0.0, 1.0)
    return p


def _timed_record_probabilities(sv: _Engine, protocol: Protocol, vec: np.ndarray) -> np.ndarray:
    """:func:`_record_probabilities` through segment switches and gates (projective rounds only)."""
    t = 0.0
    sv.switch(0)  # type: ignore[union-attr]
    for tm, kind, k in zip(*protocol.events(), strict=True):
        if kind == EV_OUTPUT:
            continue
        if tm != t:
            vec = sv.propagate(float(tm - t), [vec])[0]
        t = tm
        if kind == EV_SWITCH:
            sv.switch(k)  # type: ignore[union-attr]
        elif kind == EV_GATE:
            vec = sv.apply_gate(k, [vec])[0]  # type: ignore[union-attr]
        else:
            # codes 0 .. 2**k - 1 so far; record +1 in round k adds 2**k
            vec = np.concatenate([sv.apply_map(k, 1, vec), sv.apply_map(k, 0, vec)])
    return np.clip(sv.trace(vec), 0.0, 1.0)
