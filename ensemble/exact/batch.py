"""Many exact solutions at once: the protocol of :func:`solve_master_equation` for N points in one pass.

Points (a model and a protocol each) with the same structure (dimension, output times, rounds, rule-machine
size, order of measurement and output events, and reachable coordinates, see below) form a group. For a
group the Liouvillians are stacked, restricted to the coordinates they can reach, and diagonalised by one
batched ``np.linalg.eig``; every point's branches (one unnormalised reduced state per rule state) are then
propagated with batched products: exp(L dt) = V exp(lambda dt) V^-1 for any dt, at no further
decomposition. The semantics are those of :func:`solve_master_equation`, line by line: the instruments'
record maps, one branch per post-selection state, p_success and p_cumulative (including the rule 'last',
whose selection refills), record_probabilities for R <= 16, and a measurement at an output time applied
before that output.

Reachable coordinates. The point solver works in the smallest subspace that contains rho0 and is invariant
under L and every record map. Here each point keeps the coordinates of vec(rho) that rho0 reaches through the
exact non-zero pattern of its L and record maps (a graph closure, no rounding): for the STM pair with the
tau_z x tau_z instrument these are the 6 of the 16 entries of rho that hold populations and the ud/du
coherence. Coordinates outside are exactly zero, as in the point solver. Which coordinates a point keeps
depends on that point alone, so a point's result does not depend on the other points it is solved with.

Falling back. A point is handed to :func:`solve_master_equation` (which warns where it would) when the batch
could not reproduce it to 1e-12: its eigendecomposition failed or is ill-conditioned (near an exceptional
point: cond(V) > COND_MAX), its post-selected mass falls near the point solver's undefined threshold, or
the rounding probe estimates a relative error above PROBE_ERR_MAX. The probe is the point solver's: noise
of the size of each operation's rounding error (eps cond(V) for a propagation, plus the eigenvalues'
first-order errors times dt in the modes that have not decayed), injected where it arises and carried with
the branches. Models with d > 8 are solved point by point (one d^2 x d^2 decomposition dominates either way).

Length: the batched propagation mirrors the point solver step by step (records, rule states, the rounding
probe, the fall-back tests); kept in one file so the two can be read side by side.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ...trajectories.measurement import Measurement
from ...trajectories.model import SpinPair, liouvillians
from ...trajectories.plan import MAX_RECORD_ROUNDS, Model, check_model
from ...trajectories.protocol import Protocol
from ..results.master_equation import MasterEquationResult
from .jump_statistics import mean_jumps, no_jump_probability
from .solver import P_UNDEFINED, solve_master_equation

_EPS = np.finfo(float).eps

#: Largest model dimension solved in batches (d^2 = 64 coordinates).
MAX_BATCH_DIM = 8
#: Largest condition number (Frobenius norms) of a point's eigenbasis for the batch; beyond it the point
#: is solved point by point.
COND_MAX = 1e4
#: Largest backward error of a point's eigendecomposition, relative to |L|_F, accepted for the batch.
BACKWARD_MAX = 1e3 * _EPS
#: Largest relative error of a post-selected state, as estimated by the rounding probe, accepted for the
#: batch. The point solver errs by about as much, and the probe is an estimate (a factor of a few either
#: way): their difference stays well below 1e-12.
PROBE_ERR_MAX = 2e-13
_PROBE_LOG: list | None = None
#: Array elements per chunk of points (bounds the memory of the stacked matrices, ~16 bytes each).
CHUNK_ELEMENTS = 1 << 22


def solve_many(models: Sequence[Model], protocols: Protocol | Sequence[Protocol]) -> list[MasterEquationResult]:
    """Solve the master equation with the protocol's instruments and rule for many points at once.

    models: a sequence of N >= 1 models (SpinPair, LindbladModel, or anything solve_master_equation takes);
    protocols: one :class:`Protocol` for every point, or a sequence of N protocols (point n is
    (models[n], protocols[n])). Points may differ in the model and in the protocol (initial state, times,
    instruments, rule); points of different structure are solved in separate groups.

    Returns N :class:`MasterEquationResult` s in the order of the points, each equal to
    ``solve_master_equation(models[n], protocols[n])`` to 1e-12 (absolute, elementwise) on rho (n_out, d, d),
    rho_post (n_out, d, d), p_success (R,), p_cumulative (R,) and record_probabilities (2**R,; empty for
    R > 16). Times are in the inverse energy unit of the models. Points the batch cannot reproduce to that
    accuracy (see the module docstring) are solved by solve_master_equation itself, with its warnings.

    Cost: ~65 microseconds per point for the STM pair and the paper's protocol (one 6 x 6 eigendecomposition
    each), against ~3 ms for solve_master_equation. ValueError, before any work, for an empty sequence,
    a protocols sequence of another length, a non-Protocol, a non-model, or a model whose dimension is not
    its protocol's; the message names the parameter and the point.

    Parameters
    ----------
    models : sequence of SpinPair or LindbladModel
        N >= 1 models.
    protocols : Protocol or sequence of Protocol
        One protocol for every point, or N protocols.

    Returns
    -------
    list of MasterEquationResult
        N results, in the order of the points.

    Raises
    ------
    ValueError
        As described above, before any work.

    Examples
    --------
    >>> import darkspin as ds
    >>> models = [ds.SpinPair(lam2=lam2) for lam2 in (0.0126, 0.011)]
    >>> results = ds.solve_many(models, ds.Protocol.paper(n_out=11))
    >>> [round(float(r.p_cumulative[-1]), 4) for r in results]
    [0.5002, 0.4908]
    """
    results, _ = _solve_many(models, protocols)
    return results


def _solve_many(
    models: Sequence[Model], protocols: Protocol | Sequence[Protocol]
) -> tuple[list[MasterEquationResult], np.ndarray]:
    """solve_many, and (N,) bool: which points the batch solved (False: solve_master_equation did)."""
    models, protocols = _check_points(models, protocols)
    N = len(models)
    results: list = [None] * N
    batched = np.zeros(N, bool)
    # distinct protocol objects, and the structure groups they fall into
    seen: dict[int, int] = {}
    plist: list[Protocol] = []
    pindex = np.empty(N, np.int64)
    for i, p in enumerate(protocols):
        j = seen.get(id(p))
        if j is None:
            j = seen[id(p)] = len(plist)
            plist.append(p)
        pindex[i] = j
    keys: dict[tuple, list[int]] = {}
    for j, p in enumerate(plist):
        # monitored windows, feedback on the rule state, segments and gates: solve_master_equation solves those
        plain = not p.has_monitor and not any(m.history_feedback for m in p.measurements) and not p.is_timed
        if p.rho0.shape[0] <= MAX_BATCH_DIM and plain:
            keys.setdefault(_structure(p), []).append(j)
    for js in keys.values():
        points = np.flatnonzero(np.isin(pindex, js))
        d = plist[js[0]].rho0.shape[0]
        block = max(1, CHUNK_ELEMENTS // d**4)
        for a in range(0, points.size, block):
            _solve_group(models, plist, pindex, points[a : a + block], results, batched)
    for i in range(N):
        if results[i] is None:
            results[i] = solve_master_equation(models[i], protocols[i])
    return results, batched


def _check_points(
    models: Sequence[Model], protocols: Protocol | Sequence[Protocol]
) -> tuple[list[Model], list[Protocol]]:
    if isinstance(models, (str, bytes)) or not hasattr(models, "__iter__") or hasattr(models, "liouvillian"):
        raise ValueError(f"models must be a sequence of models, got {type(models).__name__}")
    models = list(models)
    N = len(models)
    if N == 0:
        raise ValueError("models must hold at least one model, got an empty sequence")
    if isinstance(protocols, Protocol):
        protocols = [protocols] * N
    else:
        if isinstance(protocols, (str, bytes)) or not hasattr(protocols, "__iter__"):
            raise ValueError(f"protocols must be a Protocol or a sequence of them, got {type(protocols).__name__}")
        protocols = list(protocols)
        if len(protocols) != N:
            raise ValueError(f"protocols must be one Protocol or one per model ({N}), got {len(protocols)}")
        for i, p in enumerate(protocols):
            if not isinstance(p, Protocol):
                raise ValueError(f"protocols[{i}] must be a Protocol, got {type(p).__name__}")
    for i, (m, p) in enumerate(zip(models, protocols, strict=True)):
        if type(m) is SpinPair:
            d = 4
        else:
            try:
                d = check_model(m)
            except ValueError as exc:
                raise ValueError(f"models[{i}]: {exc}") from None
        if d != p.rho0.shape[0]:
            raise ValueError(
                f"models[{i}] has dimension {d} but the initial state of protocols[{i}] has dimension {p.rho0.shape[0]}"
            )
    return models, protocols


def _structure(p: Protocol) -> tuple:
    """What points solved together must share: d, outputs, rounds, rule states and the order of events."""
    _, kind, idx = p.events()
    return (p.rho0.shape[0], p.times.size, p.rounds, p.selection.n_states, kind.tobytes(), idx.tobytes())


def _measurement_superops(m: Measurement) -> np.ndarray:
    """(2, d^2, d^2): the record maps of one instrument, as :func:`record_superops` builds them."""
    return m.superoperators()


def _closure(pattern: np.ndarray, start: np.ndarray) -> np.ndarray:
    """Coordinates reachable from ``start`` (D,) bool along pattern (D, D) bool (j -> i where [i, j])."""
    reach = start.copy()
    A = pattern.astype(np.uint8)
    while True:
        new = reach | ((A @ reach.astype(np.uint8)) > 0)
        if np.array_equal(new, reach):
            return reach
        reach = new


def _group_liouvillians(models: list) -> np.ndarray:
    """(N, D, D) complex for the models of one group (SpinPairs in one batch)."""
    pairs = [i for i, m in enumerate(models) if type(m) is SpinPair]
    if len(pairs) == len(models):
        return liouvillians(models)
    others = [i for i, m in enumerate(models) if type(m) is not SpinPair]
    first = np.asarray(models[others[0]].liouvillian(), complex)
    out = np.empty((len(models),) + first.shape, complex)
    out[others[0]] = first
    for i in others[1:]:
        out[i] = models[i].liouvillian()
    if pairs:
        out[pairs] = liouvillians([models[i] for i in pairs])
    return out


class _Group:
    """The per-protocol tables of a group of points: instruments, rule, times, initial states."""

    def __init__(self, plist: list[Protocol], used: np.ndarray):
        p0 = plist[used[0]]
        self.used = used
        self.d = d = p0.rho0.shape[0]
        self.R, self.S, self.n_out = p0.rounds, p0.selection.n_states, p0.times.size
        _, self.kind, self.eidx = p0.events()
        index: dict = {}
        maps: list[np.ndarray] = []
        rows, times, rho0, trans, acc = [], [], [], [], []
        for j in used:
            p = plist[j]
            row = []
            for m in p.measurements:
                k = index.get(m)
                if k is None:
                    k = index[m] = len(maps)
                    maps.append(_measurement_superops(m))
                row.append(k)
            rows.append(row or [0])
            times.append(p.events()[0])
            rho0.append(p.rho0.reshape(-1))
            trans.append(p.selection.transitions if self.R else np.zeros((1, self.S, 2), np.int64))
            acc.append(p.selection.accepting)
        self.maps = np.stack(maps) if maps else np.zeros((1, 2, d * d, d * d), complex)
        self.rows, self.times, self.rho0 = np.array(rows), np.array(times), np.array(rho0)
        self.trans, self.acc = np.array(trans), np.array(acc)
        # non-zero pattern of the maps each protocol uses
        self.map_pattern = np.array([np.any(self.maps[np.unique(r)] != 0, axis=(0, 1)) for r in self.rows])
        if not self.R:
            self.map_pattern[:] = False


def _solve_group(
    models: Sequence[Model],
    plist: list[Protocol],
    pindex: np.ndarray,
    points: np.ndarray,
    results: list,
    batched: np.ndarray,
) -> None:
    """Solve ``points`` (one structure) in batches; leaves results[i] None where a point falls back."""
    used, local = np.unique(pindex[points], return_inverse=True)
    g = _Group(plist, used)
    Ls = _group_liouvillians([models[i] for i in points])
    N, D = len(points), g.d * g.d
    # reachable coordinates: closure of rho0's support under the non-zero patterns of L and the maps
    keys = np.concatenate(
        [np.packbits((Ls != 0).reshape(N, -1), axis=1), local.astype(np.int64).view(np.uint8).reshape(N, 8)], axis=1
    )
    ukeys, first, kinv = np.unique(keys, axis=0, return_index=True, return_inverse=True)
    masks = np.array([_closure((Ls[n] != 0) | g.map_pattern[local[n]], g.rho0[local[n]] != 0) for n in first]).reshape(
        len(ukeys), D
    )
    umasks, minv = np.unique(masks, axis=0, return_inverse=True)
    minv = minv.reshape(-1)[kinv.reshape(-1)]
    for j, mask in enumerate(umasks):
        members = np.flatnonzero(minv == j)
        coords = np.flatnonzero(mask)
        q = coords.size
        chunk = max(16, CHUNK_ELEMENTS // (q * q * 8 + 1))
        for a in range(0, members.size, chunk):
            sub = members[a : a + chunk]
            _solve_chunk(
                models, plist, g, points[sub], local[sub], Ls[np.ix_(sub, coords, coords)], coords, results, batched
            )


def _eig_stack(A: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """np.linalg.eig and the inverse eigenbasis of a stack (N, q, q); NaN where LAPACK fails."""
    N, q, _ = A.shape
    try:
        lam, V = np.linalg.eig(A)
        return lam, V, np.linalg.inv(V)
    except np.linalg.LinAlgError:
        pass
    # one bad matrix fails the whole stack: redo them one by one
    lam = np.full((N, q), np.nan, complex)
    V = np.tile(np.eye(q, dtype=complex), (N, 1, 1))
    Vinv = np.full((N, q, q), np.nan, complex)
    for n in range(N):
        try:
            lam[n], V[n] = np.linalg.eig(A[n])
            Vinv[n] = np.linalg.inv(V[n])
        except np.linalg.LinAlgError:
            V[n] = np.eye(q)
    return lam, V, Vinv


def _residuals(A: np.ndarray, lam: np.ndarray, V: np.ndarray) -> np.ndarray:
    """|A v_j - lam_j v_j| per eigenpair, (N, q) (inf where not finite)."""
    res = _norm(np.swapaxes(A @ V - V * lam[:, None, :], 1, 2))
    return np.where(np.isfinite(res), res, np.inf)


def _eig(Lr: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Eigendecomposition of a stack (N, q, q): lam (N, q), V, Vinv (N, q, q), residuals (N, q).

    LAPACK balances first; for a matrix with couplings many orders of magnitude apart (a rate of 1e-20
    next to ones of 1e-2) the balanced eigenvectors can be wrong at 1e-6. Those (found by their residuals)
    are decomposed again after a fixed unitary change of basis, which leaves nothing to balance.
    """
    N, q, _ = Lr.shape
    lam, V, Vinv = _eig_stack(Lr)
    res = _residuals(Lr, lam, V)
    limit = BACKWARD_MAX * _norm(Lr.reshape(N, -1))
    bad = np.flatnonzero(~(res.max(axis=1) <= limit))
    if bad.size:
        U = np.linalg.qr(np.random.default_rng(q).standard_normal((q, q, 2)).view(complex)[..., 0])[0]
        lam2, W, Winv = _eig_stack(U.conj().T @ Lr[bad] @ U)
        V2, Vinv2 = U @ W, Winv @ U.conj().T
        res2 = _residuals(Lr[bad], lam2, V2)
        better = res2.max(axis=1) < res[bad].max(axis=1)
        j = bad[better]
        lam[j], V[j], Vinv[j], res[j] = lam2[better], V2[better], Vinv2[better], res2[better]
    return lam, V, Vinv, res


def _norm(x: np.ndarray) -> np.ndarray:
    """Euclidean norm over the last axis of a complex array."""
    return np.sqrt(np.einsum("...i,...i->...", x.real, x.real) + np.einsum("...i,...i->...", x.imag, x.imag))


class _Propagators:
    """exp(Lr dt) = V exp(lam dt) V^-1 for the dt vectors (N,) a chunk needs, transposed for row vectors,
    with the relative error the probe assigns to each step (0 where dt = 0: no step is taken)."""

    def __init__(self, lam: np.ndarray, V: np.ndarray, Vinv: np.ndarray, cond: np.ndarray, dlam: np.ndarray):
        self.lam, self.V, self.Vinv, self.cond, self.dlam = lam, V, Vinv, cond, dlam
        self.cache: dict[bytes, tuple[np.ndarray, np.ndarray]] = {}
        self.eye = np.eye(lam.shape[1], dtype=complex)

    def __call__(self, dt: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(UT (N, q, q), the probe's relative error of the step (N,)) for dt (N,) (cached)."""
        key = dt.tobytes()
        hit = self.cache.get(key)
        if hit is None:
            e = np.exp(self.lam * dt[:, None])
            UT = self._matrices(e, dt, slice(None))
            # rounding ~eps cond(V), and the eigenvalues' errors times dt in the modes not yet decayed
            slow = np.max(self.dlam * np.abs(dt)[:, None] * np.abs(e), axis=1)
            step = np.where(dt == 0.0, 0.0, _EPS * self.cond + slow)
            hit = self.cache[key] = (UT, step)
        return hit

    def direct(self, dt: np.ndarray, rows: slice) -> np.ndarray:
        """UT for the points ``rows`` only (not cached)."""
        return self._matrices(np.exp(self.lam[rows] * dt[:, None]), dt, rows)

    def _matrices(self, e: np.ndarray, dt: np.ndarray, rows: slice) -> np.ndarray:
        UT = np.swapaxes((self.V[rows] * e[:, None, :]) @ self.Vinv[rows], 1, 2)
        still = dt == 0.0
        if still.any():
            UT[still] = self.eye  # the point solver takes no step there
        return UT


def _solve_chunk(
    models: Sequence[Model],
    plist: list[Protocol],
    g: _Group,
    points: np.ndarray,
    local: np.ndarray,
    Lr: np.ndarray,
    coords: np.ndarray,
    results: list,
    batched: np.ndarray,
) -> None:
    """Solve one chunk of points sharing a structure and coordinates; Lr (N, q, q) their reduced Liouvillians."""
    N, q = Lr.shape[0], coords.size
    R, S, n_out, d = g.R, g.S, g.n_out, g.d
    kind, eidx = g.kind, g.eidx
    E = kind.size
    maps_T = np.swapaxes(g.maps[:, :, coords[:, None], coords[None, :]], -1, -2)  # (M, 2, q, q), for rows
    diag = np.flatnonzero(np.isin(coords, np.arange(d) * (d + 1)))  # the coordinates on rho's diagonal
    times = g.times[local]
    acc = g.acc[local]
    trans = g.trans[local]
    mapidx = g.rows[local]
    v0 = g.rho0[local][:, coords]

    lam, V, Vinv, res = _eig(Lr)
    norm_L = _norm(Lr.reshape(N, -1))
    cond = _norm(V.reshape(N, -1)) * _norm(Vinv.reshape(N, -1))
    ok = np.isfinite(cond) & (cond <= COND_MAX) & (res.max(axis=1) <= BACKWARD_MAX * norm_L)
    # first-order eigenvalue errors |y_j^H r_j| <= |row j of V^-1| |r_j|, at least the decomposition's rounding
    dlam = _norm(Vinv) * np.maximum(res, _EPS * norm_L[:, None])
    # as the point solver: decay rates within rounding of 0 are exactly 0, none is positive
    tiny = 64 * _EPS * norm_L[:, None]
    re = np.minimum(lam.real, 0.0)
    re = np.where(np.abs(re) <= tiny, 0.0, re)
    lam = np.where(np.abs(lam) <= tiny, 0.0, re + 1j * lam.imag)
    prop = _Propagators(lam, V, Vinv, cond, dlam)

    # X[:, 0]: the branches (one unnormalised reduced state per rule state); X[:, 1]: the rounding probe,
    # pushed along fixed pseudo-random directions, the same for every point, so that whether a point falls
    # back depends on that point alone
    X = np.zeros((N, 2, S, q), complex)
    X[:, 0, 0] = v0
    directions = np.random.default_rng(20211).standard_normal((E + R + 1, S, q, 2)).view(complex)[..., 0]
    directions /= _norm(directions)[..., None]
    live = np.zeros((N, S), bool)
    live[:, 0] = True
    accf = acc.astype(float)
    out = np.empty((N, 2, n_out, q), complex)  # unconditional and post-selected reduced states
    everyone = np.empty((N, n_out), bool)
    p_success = np.full((N, R), np.nan)
    cum = np.empty((N, R))
    rel_err = np.zeros(N)  # the probe's largest relative error of an output or a post-selected state
    prev_cum = np.ones(N)
    t_prev = np.zeros(N)
    with np.errstate(invalid="ignore", divide="ignore"):
        for e in range(E):
            t = times[:, e]
            dt = t - t_prev
            t_prev = t
            if np.any(dt != 0.0):
                UT, step = prop(dt)
                X = X @ UT[:, None]
                X[:, 1] += (step[:, None] * _norm(X[:, 0]))[..., None] * directions[e]
            k = int(eidx[e])
            if kind[e] == 1:
                # [sum of all branches, sum of the accepting ones] for the state and the probe
                Y = np.stack([np.ones_like(accf), accf], axis=1)[:, None] @ X  # (N, 2, 2, q)
                pm = Y[:, 0, 1, diag].real.sum(axis=1)
                every = np.all(acc | ~live, axis=1)
                out[:, 0, k] = Y[:, 0, 0]
                out[:, 1, k] = Y[:, 0, 1] / pm[:, None]
                everyone[:, k] = every
                ok &= every | (pm > 0)
                rel = _norm(Y[:, 1]) / _norm(Y[:, 0])  # (N, 2)
                rel_err = np.maximum(rel_err, np.maximum(rel[:, 0], np.where(every, 0.0, rel[:, 1])))
                continue
            # round k: every branch through both records' maps (probe: plus the rounding of the map)
            MkT = maps_T[mapidx[:, k]]  # (N, 2 records, q, q)
            nv = _norm(X[:, 0])  # (N, S)
            mass_s = X[:, 0][..., diag].real.sum(axis=-1)
            X[:, 1] += (_EPS * nv)[..., None] * directions[E + k]
            Y = X[:, :, None] @ MkT[:, None]  # (N, 2, 2 records, S, q)
            mass = Y[:, 0][..., diag].real.sum(axis=-1)  # (N, 2, S)
            # a branch at the rounding level of its input is no branch at all (as in the point solver)
            inc = live[:, None] & (mass > 4 * _EPS * nv[:, None]) & np.any(Y[:, 0] != 0, axis=-1)
            mass = np.where(inc, mass, 0.0)
            tgt = np.swapaxes(trans[:, k], 1, 2)  # (N, 2 records, S): the next rule state
            acc_t = np.take_along_axis(acc, tgt.reshape(N, -1), axis=1).reshape(N, 2, S)
            src = acc[:, None]
            pre = np.sum(np.where(acc, mass_s, 0.0), axis=1)
            kept = np.sum(np.where(src & acc_t, mass, 0.0), axis=(1, 2))
            lost = np.sum(np.where(src & ~acc_t, mass, 0.0), axis=(1, 2))
            inflow = np.sum(np.where(~src & acc_t, mass, 0.0), axis=(1, 2))
            refill = np.any(inc & ~src & acc_t, axis=(1, 2))
            p = np.where(kept < lost, kept / pre, 1.0 - lost / pre)
            p = np.clip(np.where(lost < 4 * _EPS * pre, 1.0, p), 0.0, 1.0)
            after = kept + inflow
            p_success[:, k] = p
            cum[:, k] = prev_cum = np.where(refill, after, prev_cum * p)
            # the point solver calls the selection undefined below P_UNDEFINED: leave those points to it
            ok &= (pre > 0) & (after > 0) & (after >= P_UNDEFINED * pre)
            # move the pieces along the rule: W[n, (r, s), s2] = 1 where (r, s) goes to s2
            W = (inc[..., None] & (tgt[..., None] == np.arange(S))).reshape(N, 2 * S, S)
            live = W.any(axis=1)
            X = np.swapaxes(W, 1, 2).astype(float)[:, None] @ Y.reshape(N, 2, 2 * S, q)
            post = np.einsum("ns,nsq->nq", accf, X[:, 1])
            rel_err = np.maximum(rel_err, _norm(post) / after)
        if _PROBE_LOG is not None:  # (point, probe, cond) per point, for calibrating PROBE_ERR_MAX by hand
            _PROBE_LOG.extend(zip(points.tolist(), rel_err.tolist(), cond.tolist(), strict=True))
        ok &= rel_err <= PROBE_ERR_MAX
    if not ok.any():
        return
    sel = np.flatnonzero(ok)
    states = _unreduce(out if sel.size == N else out[sel], coords, d)  # (n, 2, n_out, d, d)
    rho, rho_post = states[:, 0], states[:, 1]
    every = everyone[sel]
    rho_post[every] = rho[every]  # every run post-selected: the same state, bit for bit
    p_cum = np.minimum(cum[sel], 1.0)
    records = _records(v0, times, g, prop, maps_T, mapidx, diag)[sel]
    ps = p_success[sel]
    for a in (states, ps, p_cum, records):
        a.setflags(write=False)
    for j, n in enumerate(sel.tolist()):
        i = points[n]
        p = plist[g.used[local[n]]]
        results[i] = MasterEquationResult(
            models[i], p, p.times, rho[j], rho_post[j], ps[j], p_cum[j], records[j], (no_jump_probability, mean_jumps)
        )
        batched[i] = True


def _unreduce(vec: np.ndarray, coords: np.ndarray, d: int) -> np.ndarray:
    """Reduced vectors (..., q) -> Hermitian matrices (rho + rho^dag)/2, (..., d, d), zeros outside the
    coordinates: one real product with a fixed (2q, 2d^2) matrix (real and imaginary parts as pairs)."""
    D, q = d * d, coords.size
    P = np.zeros((q, 2, D, 2))
    transposed = (coords % d) * d + coords // d  # coordinate (i, j) -> (j, i)
    a = np.arange(q)
    P[a, 0, coords, 0] += 0.5
    P[a, 0, transposed, 0] += 0.5
    P[a, 1, coords, 1] += 0.5
    P[a, 1, transposed, 1] -= 0.5
    flat = np.ascontiguousarray(vec).reshape(-1, q).view(float)
    return (flat @ P.reshape(2 * q, 2 * D)).view(complex).reshape(vec.shape[:-1] + (d, d))


def _records(
    v0: np.ndarray,
    times: np.ndarray,
    g: _Group,
    prop: _Propagators,
    maps_T: np.ndarray,
    mapidx: np.ndarray,
    diag: np.ndarray,
) -> np.ndarray:
    """Probability of every record string, (N, 2**R), index sum_k 2**k [r_k = +1]; (N, 0) for R > 16.

    One unnormalised reduced state per record prefix, as the point solver's _record_probabilities.
    """
    N, q = v0.shape
    R = g.R
    if R > MAX_RECORD_ROUNDS:
        return np.zeros((N, 0))
    measured = g.kind == 0
    meas_t = times[:, measured][:, np.argsort(g.eidx[measured], kind="stable")]
    out = np.empty((N, 1 << R))
    step = max(1, CHUNK_ELEMENTS // ((1 << R) * q))
    for a in range(0, N, step):
        b = slice(a, a + step)
        vec = v0[b, None, :]
        t = np.zeros(vec.shape[0])
        for k in range(R):
            tm = meas_t[b, k]
            if np.any(tm != t):
                vec = vec @ (prop(tm - t)[0] if step >= N else prop.direct(tm - t, b))
            t = tm
            MkT = maps_T[mapidx[b, k]]
            # codes 0 .. 2**k - 1 so far; record +1 in round k adds 2**k
            vec = np.concatenate([vec @ MkT[:, 1], vec @ MkT[:, 0]], axis=1)
        out[b] = np.clip(vec[..., diag].real.sum(axis=-1), 0.0, 1.0)
    return out
