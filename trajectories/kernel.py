"""Numba kernels: one quantum-jump trajectory of the protocol, and streaming ensemble sums over many.

Between events a pure state evolves under H_eff = H - (i/2) sum_k L_k^dag L_k with the exact
closed-form propagator. A jump happens when ||psi||^2 falls to a uniform r: its time is the root of
log||psi(t)||^2 = log r, found by Newton's method safeguarded by bisection (relative residual
< 1e-13), so there is no time step. The channel is drawn with weights ||L_k psi||^2. At a
measurement time tau_z x tau_z is measured with Born-rule probabilities and the state projected.

Ensemble sums are exact integers: each trajectory's |psi><psi| is rounded to a multiple of
2^-FRAC_BITS and summed in int64, so sums are bit-identical under any split or order of trajectories.
Standard errors come from the matching sums of |psi_i psi_j|^2 (sums of squares).
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
from numba import get_num_threads, njit, prange

from .model import SpinPair
from .propagator import block_propagator, check_block_structure
from .protocol import Protocol
from .rng import seed_state, uniform

#: Fixed-point resolution of the ensemble sums: contributions are rounded to multiples of 2^-40 (9e-13).
FRAC_BITS = 40
_SCALE = float(2**FRAC_BITS)
_INV_SQRT2 = 1.0 / math.sqrt(2.0)
#: Trajectories per kernel call: keeps every int64 sum below 2^62 (each contribution is <= 1).
MAX_CALL = 2**22

#: Upper-triangle index pairs of a 4 x 4 matrix, diagonal included (10 of them).
PAIRS = np.array([(i, j) for i in range(4) for j in range(i, 4)], dtype=np.int64)
#: Layout of one accumulator row: Re over PAIRS (10), Im over the 6 off-diagonal PAIRS, |.|^2 over
#: PAIRS (10), then the singlet population |<S|psi>|^2 and its square (for its exact standard error).
N_RE, N_IM, N_SQ = 10, 6, 10
I_POP = N_RE + N_IM + N_SQ
N_ACC = I_POP + 2

#: Relative residual |  ||psi(t_jump)||^2 / r - 1 | at which the jump-time search stops.
ROOT_TOL = 1e-13
_MAX_ROOT_ITER = 200


@dataclasses.dataclass(frozen=True)
class Packed:
    """Model and protocol as the arrays the kernels take."""

    heff: np.ndarray        # (4, 4) complex
    gamma: np.ndarray       # (4, 4) complex, sum_k L_k^dag L_k
    jumps: np.ndarray       # (K, 4, 4) complex
    init_w: np.ndarray      # (m,) cumulative weights of the initial mixture
    init_states: np.ndarray  # (m, 4) complex
    ev_time: np.ndarray     # (E,) float
    ev_kind: np.ndarray     # (E,) int64: 0 measurement, 1 output
    ev_index: np.ndarray    # (E,) int64: round or output index
    ev_U: np.ndarray        # (E, 6) block propagator over the interval ending at each event
    n_out: int
    rounds: int


def pack(model: SpinPair, protocol: Protocol) -> Packed:
    """Precompute what the kernels need (a few microseconds of numpy work)."""
    jumps = np.ascontiguousarray(model.jump_operators())
    heff = np.ascontiguousarray(model.effective_hamiltonian())
    check_block_structure(heff)
    gamma = np.einsum("kji,kjl->il", jumps.conj(), jumps) if len(jumps) else np.zeros((4, 4), complex)
    w, v = np.linalg.eigh(protocol.rho0)
    keep = w > 1e-14
    w, v = w[keep], v[:, keep]
    cum = np.cumsum(w / w.sum())
    cum[-1] = 1.0
    t, kind, idx = protocol.events()
    prev = np.concatenate([[0.0], t[:-1]])
    U = np.array([block_propagator(heff, float(dt)) for dt in t - prev], dtype=complex).reshape(-1, 6)
    return Packed(heff, np.ascontiguousarray(gamma), jumps, cum, np.ascontiguousarray(v.T),
                  t, kind, idx, U, protocol.times.size, protocol.rounds)


@njit(cache=True, inline="always")
def _norm2(v):
    return (v[0].real ** 2 + v[0].imag ** 2 + v[1].real ** 2 + v[1].imag ** 2
            + v[2].real ** 2 + v[2].imag ** 2 + v[3].real ** 2 + v[3].imag ** 2)


@njit(cache=True)
def _evolve(heff, tau, psi, out):
    u0, b00, b01, b10, b11, u3 = block_propagator(heff, tau)
    out[0] = u0 * psi[0]
    out[1] = b00 * psi[1] + b01 * psi[2]
    out[2] = b10 * psi[1] + b11 * psi[2]
    out[3] = u3 * psi[3]


@njit(cache=True, inline="always")
def _apply_block(U, e, psi, out):
    out[0] = U[e, 0] * psi[0]
    out[1] = U[e, 1] * psi[1] + U[e, 2] * psi[2]
    out[2] = U[e, 3] * psi[1] + U[e, 4] * psi[2]
    out[3] = U[e, 5] * psi[3]


@njit(cache=True)
def _expect(A, v):
    s = 0.0
    for i in range(4):
        for j in range(4):
            s += (np.conj(v[i]) * A[i, j] * v[j]).real
    return s


@njit(cache=True)
def _jump_time(heff, gamma, psi, r, span, phi):
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
        _evolve(heff, tau, psi, phi)
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


@njit(cache=True)
def trajectory(rng, heff, gamma, jumps, init_w, init_states, ev_time, ev_kind, ev_index, ev_U,
               out_states, out_post, outcomes, jump_t, jump_k, jump_resid):
    """Run one trajectory of the protocol; returns the number of jumps.

    rng: (4,) uint64 stream state. Writes out_states (n, 4) complex (normalised state at each output
    time), out_post (n,) bool (all outcomes so far -1), outcomes (rounds,) int8 (+1/-1). The first
    len(jump_t) jumps are logged in jump_t (time), jump_k (channel) and jump_resid (root residual).
    """
    psi = np.empty(4, np.complex128)
    phi = np.empty(4, np.complex128)
    m = init_w.size
    c = 0
    if m > 1:
        u = uniform(rng)
        while c < m - 1 and u >= init_w[c]:
            c += 1
    for i in range(4):
        psi[i] = init_states[c, i]
    nk = jumps.shape[0]
    weights = np.empty(max(nk, 1))
    r = 1.0 - uniform(rng)  # in (0, 1]
    t = 0.0
    post = True
    njump = 0
    for e in range(ev_time.size):
        # every event leaves t at its own time, so the precomputed interval propagator applies
        te = ev_time[e]
        _apply_block(ev_U, e, psi, phi)
        n2 = _norm2(phi)
        while n2 < r:
            tau, resid = _jump_time(heff, gamma, psi, r, te - t, phi)
            t = t + tau
            total = 0.0
            for k in range(nk):
                wk = 0.0
                for i in range(4):
                    s = 0j
                    for j in range(4):
                        s += jumps[k, i, j] * phi[j]
                    wk += s.real ** 2 + s.imag ** 2
                weights[k] = wk
                total += wk
            if total > 0.0:
                u = uniform(rng) * total
                k = 0
                while k < nk - 1 and u >= weights[k]:
                    u -= weights[k]
                    k += 1
                nrm = 1.0 / math.sqrt(weights[k])
                for i in range(4):
                    s = 0j
                    for j in range(4):
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
                for i in range(4):
                    psi[i] = phi[i] * nrm
            r = 1.0 - uniform(rng)
            _evolve(heff, te - t, psi, phi)
            n2 = _norm2(phi)
        for i in range(4):
            psi[i] = phi[i]
        t = te
        idx = ev_index[e]
        if ev_kind[e] == 0:
            nm = psi[1].real ** 2 + psi[1].imag ** 2 + psi[2].real ** 2 + psi[2].imag ** 2
            pm = nm / n2
            # nm > 0 guards the rounding case pm -> 1 with an empty +1 branch, and vice versa
            if nm > 0.0 and (uniform(rng) < pm or nm == n2):
                outcomes[idx] = -1
                psi[0] = 0j
                psi[3] = 0j
            else:
                outcomes[idx] = 1
                psi[1] = 0j
                psi[2] = 0j
                post = False
            nrm = 1.0 / math.sqrt(_norm2(psi))
            for i in range(4):
                psi[i] *= nrm
            r = 1.0 - uniform(rng)
        else:
            nrm = 1.0 / math.sqrt(n2)
            for i in range(4):
                out_states[idx, i] = psi[i] * nrm
            out_post[idx] = post
    return njump


@njit(cache=True, inline="always")
def chunk_bounds(start, ntraj, nchunks, ch):
    """Trajectory index range [lo, hi) of chunk ``ch`` when ``ntraj`` from ``start`` are split in ``nchunks``."""
    return start + (ntraj * ch) // nchunks, start + (ntraj * (ch + 1)) // nchunks


@njit(cache=True, inline="always")
def trajectory_buffers(n_out, rounds):
    """Scratch for :func:`trajectory`: (rng (4,) uint64, states (n_out, 4), post (n_out,), outcomes)."""
    return (np.empty(4, np.uint64), np.empty((n_out, 4), np.complex128), np.empty(n_out, np.bool_),
            np.empty(max(rounds, 1), np.int8))


@njit(cache=True, inline="always")
def _q(x):
    return np.int64(np.rint(x * _SCALE))


@njit(cache=True)
def _accumulate(acc, states, start, stop):
    """Add the fixed-point |psi><psi| terms of ``states[start:stop]`` ((n, 4)) into ``acc`` (n, N_ACC) int64."""
    for o in range(start, stop):
        sing = (states[o, 1] - states[o, 2]) * _INV_SQRT2
        ps = sing.real ** 2 + sing.imag ** 2
        acc[o, I_POP] += _q(ps)
        acc[o, I_POP + 1] += _q(ps * ps)
        # trajectories live in one S_z sector most of the time: skip the exact zeros
        p = 0
        q = 0
        for i in range(4):
            si = states[o, i]
            if si == 0:
                p += 4 - i
                q += 3 - i
                continue
            a2 = si.real ** 2 + si.imag ** 2
            acc[o, p] += _q(a2)
            acc[o, N_RE + N_IM + p] += _q(a2 * a2)
            p += 1
            for j in range(i + 1, 4):
                sj = states[o, j]
                if sj != 0:
                    x = si * np.conj(sj)
                    acc[o, p] += _q(x.real)
                    acc[o, N_RE + q] += _q(x.imag)
                    acc[o, N_RE + N_IM + p] += _q(a2 * (sj.real ** 2 + sj.imag ** 2))
                p += 1
                q += 1


@njit(cache=True, parallel=True)
def ensemble_sums(seed, start, ntraj, nchunks, heff, gamma, jumps, init_w, init_states,
                  ev_time, ev_kind, ev_index, ev_U, n_out, rounds):
    """Streaming sums over trajectories start .. start + ntraj - 1 (ntraj <= MAX_CALL).

    Returns (acc (n_out, 2, N_ACC) int64 for [all, post-selected], n_post (n_out,) int64,
    n_success (rounds,) int64, n_jumps int64). Chunks run in parallel, each with its own sums;
    integer sums make the result independent of ``nchunks`` and of the thread count.
    """
    acc = np.zeros((nchunks, n_out, 2, N_ACC), np.int64)
    npost = np.zeros((nchunks, n_out), np.int64)
    nsucc = np.zeros((nchunks, max(rounds, 1)), np.int64)
    njumps = np.zeros(nchunks, np.int64)
    for ch in prange(nchunks):
        lo, hi = chunk_bounds(start, ntraj, nchunks, ch)
        rng, states, post, outcomes = trajectory_buffers(n_out, rounds)
        no_log = np.empty(0, np.float64)
        no_k = np.empty(0, np.int64)
        a_post = np.zeros((n_out, N_ACC), np.int64)
        a_rest = np.zeros((n_out, N_ACC), np.int64)
        for traj in range(lo, hi):
            seed_state(rng, seed, traj)
            njumps[ch] += trajectory(rng, heff, gamma, jumps, init_w, init_states, ev_time, ev_kind,
                                     ev_index, ev_U, states, post, outcomes, no_log, no_k, no_log)
            # post-selected outputs form a prefix of the grid; each output is summed once, and
            # "all" = post + rest exactly because the sums are integers
            npost_t = 0
            while npost_t < n_out and post[npost_t]:
                npost[ch, npost_t] += 1
                npost_t += 1
            _accumulate(a_post, states, 0, npost_t)
            _accumulate(a_rest, states, npost_t, n_out)
            k = 0
            while k < rounds and outcomes[k] == -1:
                nsucc[ch, k] += 1
                k += 1
        acc[ch, :, 0, :] = a_post + a_rest
        acc[ch, :, 1, :] = a_post
    return acc.sum(axis=0), npost.sum(axis=0), nsucc.sum(axis=0)[:rounds], njumps.sum()
