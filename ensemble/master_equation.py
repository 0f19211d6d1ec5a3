"""Exact solution of the master equation with the protocol's instruments and post-selection rule, and
its steady states.

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
"""

from __future__ import annotations

import dataclasses
import functools
import math
import warnings

import numpy as np
import scipy.linalg

from ..trajectories.operators import singlet_population
from ..trajectories.plan import MAX_RECORD_ROUNDS, Model, check_model, instrument_tables
from ..trajectories.protocol import Protocol
from .protocol_result import ProtocolResult

#: A round that leaves a post-selected mass below this fraction of the mass before it, or a
#: post-selected state whose estimated relative rounding error exceeds REL_ERR_MAX, leaves rho_post
#: undefined (NaN) from that round: the state would be dominated by rounding error.
P_UNDEFINED = 1e-13
REL_ERR_MAX = 1e-9

#: Weight (relative to the norm of the operator producing it) below which a Krylov direction counts as
#: rounding, not structure: rounding leaves ~1e-16, a physical coupling of relative size 1e-13 is kept.
SUBSPACE_TOL = 1e-13
_EPS = np.finfo(float).eps

#: Steps with |Lr dt|_1 above this use the eigenbasis of Lr: scaling and squaring doubles the error of
#: the stationary part at every squaring, so it loses ~1 digit per 3 decades of dt (5e-10 at 1e6).
EXPM_NORM_MAX = 50.0
#: Largest condition number of Lr's eigenbasis accepted for that (error ~ cond * 1e-16).
EIG_COND_MAX = 1e5


class PostSelectionUndefinedWarning(RuntimeWarning):
    """The post-selected state can no longer be trusted: rho_post is NaN from the named round on."""


@dataclasses.dataclass(frozen=True, eq=False)
class MasterEquationResult(ProtocolResult):
    """Exact protocol solution (n output times, R rounds).

    times (n,); rho (n, d, d): unconditional state (the instruments applied, records averaged over);
    rho_post (n, d, d): the state of the runs post-selected by the protocol's rule, normalised (NaN
    where undefined); p_success (R,): probability that a run post-selected before round k is still
    post-selected after it (for the rule 'all': the conditional success probability of round k);
    p_cumulative (R,): probability that a run is post-selected after round k;
    record_probabilities (2**R,): probability of each record string, index sum_k 2**k [r_k = +1]
    (empty when R > 16).
    """

    model: Model
    protocol: Protocol
    times: np.ndarray
    rho: np.ndarray
    rho_post: np.ndarray
    p_success: np.ndarray
    p_cumulative: np.ndarray
    record_probabilities: np.ndarray = dataclasses.field(default_factory=lambda: np.zeros(0))

    @property
    def stats(self) -> dict:
        """How the result was obtained (the same key as for Monte Carlo results)."""
        return {"end_condition": "exact"}

    @functools.cached_property
    def p_no_jump(self) -> np.ndarray:
        """P(a run has not jumped by t) at each output time, (n,) (computed on first use)."""
        from .jump_statistics import no_jump_probability  # it builds on this module

        return no_jump_probability(self.model, self.protocol)

    def no_jump_probability(self, times) -> np.ndarray:
        """P(a run has not jumped by t) at any non-decreasing times >= 0, (m,)."""
        from .jump_statistics import no_jump_probability

        return no_jump_probability(self.model, self.protocol, times)

    @functools.cached_property
    def mean_jumps(self) -> np.ndarray:
        """Mean number of jumps per run in each channel by each output time, (n, K) (computed on first use)."""
        from .jump_statistics import mean_jumps

        return mean_jumps(self.model, self.protocol)


def _superop(K: np.ndarray) -> np.ndarray:
    """Superoperator of rho -> K rho K^dag on row-major vec(rho): kron(K, conj(K))."""
    return np.kron(K, K.conj())


def record_superops(protocol: Protocol) -> tuple[np.ndarray, np.ndarray]:
    """The superoperators of the instruments' record maps: (maps (I, 2, d^2, d^2) complex, one per
    distinct instrument and record, which (R,) int64 the instrument of each round).

    Record r maps rho -> U_r (sum_m P(r | m) P_m rho P_m) U_r^dag (see Measurement.record_maps).
    """
    P, C, U, _ = instrument_tables(protocol)
    d = protocol.rho0.shape[0]
    distinct = list(dict.fromkeys(protocol.measurements))
    which = np.array([distinct.index(m) for m in protocol.measurements], np.int64)
    maps = np.zeros((len(distinct), 2, d * d, d * d), complex)
    for i, m in enumerate(distinct):
        k = protocol.measurements.index(m)
        for r in range(2):
            for j in range(2):
                if C[k, r, j] != 0.0:
                    maps[i, r] += C[k, r, j] * _superop(U[k, r] @ P[k, j])
    return maps, which


def reachable_subspace(L: np.ndarray, maps, v0: np.ndarray, tol: float = SUBSPACE_TOL) -> np.ndarray:
    """Orthonormal basis (D, q) of the smallest subspace containing v0 and invariant under L and ``maps``.

    L: (D, D); maps: iterable of (D, D); v0: (D,). A new direction counts only if its weight exceeds
    ``tol`` times the norm of the operator that produced it: applying an operator of norm |A| to a unit
    vector leaves rounding errors of ~1e-16 |A|, while a structural zero (the dark singlet at the
    symmetric point) stays at that level forever.
    """
    ops = [op for op in (L, *maps)]
    scale = [max(np.linalg.norm(op, 2), 1e-300) for op in ops]
    Q = (v0 / np.linalg.norm(v0))[:, None]
    frontier = Q
    while frontier.shape[1] and Q.shape[1] < v0.size:
        cand = np.concatenate([op @ frontier / a for op, a in zip(ops, scale, strict=True)], axis=1)
        cand = cand - Q @ (Q.conj().T @ cand)
        cand = cand - Q @ (Q.conj().T @ cand)  # twice is enough (Kahan-Parlett)
        u, sv, _ = np.linalg.svd(cand, full_matrices=False)
        new = u[:, sv > tol][:, : v0.size - Q.shape[1]]
        # small singular values amplify the rounding left along Q: orthogonalise the new basis again
        for _ in range(2):
            new = new - Q @ (Q.conj().T @ new)
            new = np.linalg.qr(new)[0]
        Q = np.concatenate([Q, new], axis=1)
        frontier = new
    return Q


class _Branches:
    """Unnormalised reduced states, one per rule state: vec (S, q) of trace 1 (or 0), logm (S,) log mass,
    err (S, q) the rounding probe in the same scale as vec."""

    def __init__(self, S: int, q: int):
        self.vec = np.zeros((S, q), complex)
        self.err = np.zeros((S, q), complex)
        self.logm = np.full(S, -np.inf)


class _Solver:
    """The exact solver's reduced representation of one (model, protocol)."""

    def __init__(self, model, protocol: Protocol):
        d = protocol.rho0.shape[0]
        self.d = d
        self.L = np.asarray(model.liouvillian(), complex)
        maps, which = record_superops(protocol)
        self.Q = reachable_subspace(self.L, maps.reshape(-1, d * d, d * d), protocol.rho0.reshape(-1).astype(complex))
        Qh = self.Q.conj().T
        self.Lr = Qh @ self.L @ self.Q
        # reduced record maps of each round, (R, 2, q, q), shared between rounds with one instrument
        self.maps_r = np.einsum("ab,krbc,cd->krad", Qh, maps, self.Q)[which]
        # trace functional in reduced coordinates
        self.tr = self.Q.reshape(d, d, -1)[np.arange(d), np.arange(d)].sum(axis=0)
        self._cache: dict[float, np.ndarray] = {}
        self._eig = None
        self._warned_long = False
        self._noise = np.random.default_rng(20211)

    def propagator(self, dt: float) -> np.ndarray:
        """exp(Lr dt), (q, q): scaling and squaring for short steps, the eigenbasis for long ones."""
        U = self._cache.get(dt)
        if U is None:
            U = self._cache[dt] = self._exp(dt)
        return U

    def _exp(self, dt: float) -> np.ndarray:
        A = self.Lr * dt
        if np.linalg.norm(A, 1) <= EXPM_NORM_MAX:
            return scipy.linalg.expm(A)
        if self._eig is None:
            lam, V = _eig_checked(self.Lr)
            cond = np.linalg.cond(V) if np.all(np.isfinite(V)) else np.inf
            # decay rates are <= 0; those within rounding of 0 (the stationary states, undamped
            # coherences) are exactly 0, else exp(lam dt) would drift by eps |L| dt
            tiny = 64 * _EPS * np.linalg.norm(self.Lr, 2)
            re = np.minimum(lam.real, 0.0)
            re[np.abs(re) <= tiny] = 0.0
            lam = np.where(np.abs(lam) <= tiny, 0.0, re + 1j * lam.imag)
            self._eig = (lam, V, np.linalg.inv(V)) if cond <= EIG_COND_MAX else False
        if self._eig is False:
            # nearly defective: no well-conditioned eigenbasis; squaring is all there is
            if not self._warned_long:
                warnings.warn(
                    f"a step of length {dt:g} is {np.linalg.norm(A, 1):.3g} relaxation times long and the "
                    "Liouvillian is nearly defective: the exact solution may lose accuracy there",
                    RuntimeWarning,
                    stacklevel=4,
                )
                self._warned_long = True
            return scipy.linalg.expm(A)
        lam, V, Vinv = self._eig
        # modes that decayed below the smallest double are exactly zero; the kernel stays exactly one
        return (V * np.exp(lam * dt)) @ Vinv

    def noise(self, shape, scale) -> np.ndarray:
        """Random vectors of norm ``scale`` (per row): the size of one rounding error."""
        z = self._noise.standard_normal(shape + (2,)).view(complex)[..., 0]
        n = np.linalg.norm(z, axis=-1, keepdims=True)
        return z / np.where(n > 0, n, 1.0) * np.asarray(scale)[..., None]

    def state(self, vec: np.ndarray) -> np.ndarray:
        return (self.Q @ vec).reshape(self.d, self.d)

    def trace(self, vec: np.ndarray) -> np.ndarray:
        return (vec @ self.tr).real


#: Largest eigenpair residual |A v - lam v|, relative to |A|_F, accepted from np.linalg.eig.
EIG_RESIDUAL_MAX = 1e3 * _EPS


def _eig_checked(A: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """np.linalg.eig of A (q, q), checked by its residuals; NaN eigenvectors if no accurate one was found.

    LAPACK balances A first, and for some Liouvillians (couplings many orders of magnitude apart, or
    nearly reducible structure) the balanced eigenvectors come back wrong at 1e-8 or worse. Then A is
    decomposed again after a fixed unitary change of basis, which leaves nothing to balance.
    """
    q = A.shape[0]
    limit = EIG_RESIDUAL_MAX * max(np.linalg.norm(A), 1e-300)
    lam, V = np.linalg.eig(A)
    if np.max(np.linalg.norm(A @ V - V * lam, axis=0)) <= limit:
        return lam, V
    U = np.linalg.qr(np.random.default_rng(q).standard_normal((q, q, 2)).view(complex)[..., 0])[0]
    lam, W = np.linalg.eig(U.conj().T @ A @ U)
    V = U @ W
    if np.max(np.linalg.norm(A @ V - V * lam, axis=0)) <= limit:
        return lam, V
    return lam, np.full_like(V, np.nan)


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
    """
    if not isinstance(protocol, Protocol):
        raise ValueError(f"protocol must be a Protocol, got {type(protocol).__name__}")
    check_model(model, protocol)
    sv = _Solver(model, protocol)
    sel = protocol.selection
    acc = np.asarray(sel.accepting)
    S, q = sel.n_states, sv.Q.shape[1]
    n, R = protocol.times.size, protocol.rounds
    b = _Branches(S, q)
    b.vec[0] = sv.Q.conj().T @ protocol.rho0.reshape(-1)
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
    for te, kind, idx in zip(*protocol.events(), strict=True):
        dt = te - t
        if dt != 0.0:
            U = sv.propagator(dt).T
            b.vec = b.vec @ U
            b.err = b.err @ U
            steps += 1
        t = te
        if kind == 0:
            live = np.isfinite(b.logm)
            b.err[live] += sv.noise((int(live.sum()), q), (1 + steps) * _EPS * np.linalg.norm(b.vec[live], axis=1))
            steps = 0
            pre = _logsumexp(b.logm[acc])
            b, lost, kept, inflow = _round(sv, b, idx, sel.transitions[idx], acc)
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
                    stacklevel=2,
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
    return MasterEquationResult(model, protocol, protocol.times, out, out_post, p_success, p_cum, records)


def _round(
    sv: _Solver, b: _Branches, k: int, trans: np.ndarray, acc: np.ndarray
) -> tuple[_Branches, float, float, float]:
    """Apply round k's record maps to every branch and move them along the rule; returns the new
    branches and the logs of the mass that left the accepting states, of the mass that stayed, and of
    the mass that entered them from rejected states."""
    S, q = b.vec.shape
    contrib: list[list[tuple[np.ndarray, np.ndarray, float]]] = [[] for _ in range(S)]
    lost, kept, inflow = [], [], []
    for s in range(S):
        if not np.isfinite(b.logm[s]):
            continue
        scale = _EPS * np.linalg.norm(b.vec[s])
        for r in range(2):
            M = sv.maps_r[k, r]
            v = M @ b.vec[s]
            mass = float(sv.trace(v))
            # a PSD branch has |v| <= mass; mass at the rounding level of the input is no branch at all
            # (dividing rounding noise by it would overflow)
            if mass <= 4 * _EPS * np.linalg.norm(b.vec[s]) or not np.any(v):
                continue
            e = M @ (b.err[s] + sv.noise((q,), scale))
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


def _mix(sv: _Solver, vec: np.ndarray, logm: np.ndarray, normalise: bool) -> np.ndarray:
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
    rho = (mixed @ sv.Q.T).reshape(-1, sv.d, sv.d)
    rho = 0.5 * (rho + np.conj(np.swapaxes(rho, -1, -2)))
    if normalise:
        rho[~ok] = np.nan
    return rho


def _post_error(sv: _Solver, b: _Branches, acc: np.ndarray) -> float:
    """Estimated relative error of the post-selected state (norm of the probe over norm of the state)."""
    logs = np.where(acc, b.logm, -np.inf)
    top = np.max(logs)
    if not np.isfinite(top):
        return math.inf
    w = np.exp(logs - top)
    return float(np.linalg.norm(w @ b.err) / np.linalg.norm(w @ b.vec))


def _record_probabilities(sv: _Solver, protocol: Protocol) -> np.ndarray:
    """Probability of every record string, (2**R,), index sum_k 2**k [r_k = +1]; R <= 16.

    One unnormalised reduced state per record prefix, propagated with the solver's maps.
    """
    vec = (sv.Q.conj().T @ protocol.rho0.reshape(-1))[None]
    t = 0.0
    for k, tm in enumerate(protocol.measure_at):
        if tm != t:
            vec = vec @ sv.propagator(float(tm - t)).T
        t = tm
        # codes 0 .. 2**k - 1 so far; record +1 in round k adds 2**k
        vec = np.concatenate([vec @ sv.maps_r[k, 1].T, vec @ sv.maps_r[k, 0].T])
    p = np.clip(sv.trace(vec), 0.0, 1.0)
    return p


def _kernel_hermitian_basis(L: np.ndarray, tol: float) -> np.ndarray:
    """Hilbert-Schmidt-orthonormal Hermitian basis (k, d, d) of the kernel of L (d^2, d^2)."""
    d = math.isqrt(L.shape[0])
    _, s, vh = np.linalg.svd(L)
    null = vh[s <= tol * max(s[0], 1e-300)].conj()
    mats = [v.reshape(d, d) for v in null]
    herm = [0.5 * (m + m.conj().T) for m in mats] + [0.5j * (m - m.conj().T) for m in mats]
    vecs = np.array([np.concatenate([h.real.ravel(), h.imag.ravel()]) for h in herm])
    u, sv, w = np.linalg.svd(vecs, full_matrices=False)
    w = w[sv > 1e-8 * sv[0]]
    return np.array([(x[: d * d] + 1j * x[d * d :]).reshape(d, d) for x in w])


def _segment_extremes(A: np.ndarray, B: np.ndarray) -> list[np.ndarray]:
    """End points of {A + s B >= 0} for Hermitian A (trace 1) and B (trace 0)."""
    w, v = np.linalg.eigh(A @ A + B @ B)
    U = v[:, w > 1e-10 * w[-1]]  # common support of the family
    a, b = U.conj().T @ A @ U, U.conj().T @ B @ U

    def lmin(s):
        return np.linalg.eigvalsh(a + s * b)[0]

    from scipy.optimize import minimize_scalar  # imported here: it costs ~0.3 s at start-up

    # an interior point: maximise the concave lowest eigenvalue
    scale = 1.0 / max(np.linalg.norm(b, 2), 1e-300)
    s0 = minimize_scalar(lambda s: -lmin(s), bracket=(-scale, scale)).x
    c = a + s0 * b
    cw, cv = np.linalg.eigh(c)
    c_isqrt = cv @ np.diag(1 / np.sqrt(cw)) @ cv.conj().T
    mu = np.linalg.eigvalsh(c_isqrt @ b @ c_isqrt)
    ends = [s0 - 1 / mu[-1], s0 - 1 / mu[0]]
    states = []
    for s in ends:
        rho = A + s * B
        rho = 0.5 * (rho + rho.conj().T)
        states.append(rho / np.trace(rho).real)
    return states


def steady_states(model, tol: float = 1e-10) -> np.ndarray:
    """A basis of the Liouvillian's kernel, shape (k, d, d), for any model (SpinPair, LindbladModel).

    k = 1: the unique steady state. k = 2 (e.g. the symmetric point): the two extreme steady states,
    i.e. the end points of the segment of stationary density matrices (for the STM pair: the triplet
    state rho_tr and the dark state d, in order of increasing singlet population; for other models in
    order of increasing population of the first basis state). k > 2 (e.g. no coupling): a
    Hilbert-Schmidt-orthonormal Hermitian basis of the kernel, not all of which are states.
    ``tol`` is the relative singular-value threshold that defines the kernel.
    """
    check_model(model)
    basis = _kernel_hermitian_basis(np.asarray(model.liouvillian(), complex), tol)
    traces = np.array([np.trace(b).real for b in basis])
    if len(basis) == 1:
        return (basis[0] / traces[0])[None]
    if len(basis) == 2:
        # A: the element with trace 1; B: the traceless combination
        i = int(np.argmax(np.abs(traces)))
        A = basis[i] / traces[i]
        other = basis[1 - i]
        B = other - np.trace(other).real * A
        ends = _segment_extremes(A, B)
        ends.sort(key=lambda r: singlet_population(r) if r.shape == (4, 4) else r[0, 0].real)
        return np.array(ends)
    return basis
