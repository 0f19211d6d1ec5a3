"""Exact solution of the master equation with the protocol's measurements, and its steady states.

Propagation uses the exact propagator exp(L dt) of the time-independent Liouvillian (scipy's
scaling-and-squaring expm), one per distinct interval, so there is no step-size error.
"""

from __future__ import annotations

import dataclasses
import warnings

import numpy as np
import scipy.linalg

from ..trajectories.model import SpinPair
from ..trajectories.operators import P_MINUS, P_PLUS, singlet_population
from ..trajectories.protocol import Protocol

#: A round whose post-selection probability falls below this leaves rho_post undefined (NaN): the
#: conditioned state would be dominated by rounding error (~1e-16 per matrix element).
P_UNDEFINED = 1e-13


class PostSelectionUndefinedWarning(RuntimeWarning):
    """Post-selection probability underflowed: rho_post is NaN from that round on."""


@dataclasses.dataclass(frozen=True, eq=False)
class MasterEquationResult:
    """Exact protocol solution.

    times (n,); rho (n, 4, 4): unconditional state, measurements applied non-selectively;
    rho_post (n, 4, 4): state conditioned on outcome -1 in every round so far, normalised (NaN where
    undefined); p_success (rounds,): conditional success probability of each round;
    p_cumulative (rounds,): probability that all rounds up to k succeeded.
    """

    model: SpinPair
    protocol: Protocol
    times: np.ndarray
    rho: np.ndarray
    rho_post: np.ndarray
    p_success: np.ndarray
    p_cumulative: np.ndarray


def _nonselective(rho: np.ndarray) -> np.ndarray:
    return P_PLUS @ rho @ P_PLUS + P_MINUS @ rho @ P_MINUS


def solve_master_equation(model: SpinPair, protocol: Protocol) -> MasterEquationResult:
    """Solve d rho/dt = L rho exactly on ``protocol.times`` with the tau_z x tau_z measurements.

    Units: times in the inverse energy unit of ``model``. Accuracy ~1e-13 (expm of a 16 x 16 matrix).
    Returns a :class:`MasterEquationResult`.
    """
    if not isinstance(model, SpinPair):
        raise ValueError(f"model must be a SpinPair, got {type(model).__name__}")
    if not isinstance(protocol, Protocol):
        raise ValueError(f"protocol must be a Protocol, got {type(protocol).__name__}")
    L = model.liouvillian()
    cache: dict[float, np.ndarray] = {}

    def propagate(rho: np.ndarray, dt: float) -> np.ndarray:
        if dt == 0.0:
            return rho
        U = cache.get(dt)
        if U is None:
            U = cache[dt] = scipy.linalg.expm(L * dt)
        return (U @ rho.reshape(16)).reshape(4, 4)

    n, rounds = protocol.times.size, protocol.rounds
    out = np.empty((n, 4, 4), complex)
    out_post = np.empty((n, 4, 4), complex)
    p_success = np.full(rounds, np.nan)
    rho = np.array(protocol.rho0, dtype=complex)
    post = rho.copy()  # normalised conditional state; None once undefined
    t = 0.0
    for te, kind, idx in zip(*protocol.events()):
        rho = propagate(rho, te - t)
        if post is not None:
            post = propagate(post, te - t)
        t = te
        if kind == 0:
            rho = _nonselective(rho)
            if post is None:
                continue
            outside = post[[0, 3], :]
            # already inside the -1 subspace (a repeated round): certain, not 1 - rounding
            p = 1.0 if not np.any(outside) and not np.any(post[:, [0, 3]]) else float(np.trace(P_MINUS @ post).real)
            p_success[idx] = min(max(p, 0.0), 1.0)
            if p < P_UNDEFINED:
                warnings.warn(f"post-selection probability of round {idx} (t = {te}) is {p:.3g} < {P_UNDEFINED}:"
                              " rho_post is undefined (NaN) from this round on",
                              PostSelectionUndefinedWarning, stacklevel=2)
                post = None
                continue
            post = P_MINUS @ post @ P_MINUS / p
        else:
            out[idx] = rho
            out_post[idx] = np.nan if post is None else post
    # cumulative probability stays defined (it is ~0) even where the conditioned state is not
    p_cum = np.cumprod(np.nan_to_num(p_success, nan=0.0))
    for a in (out, out_post, p_success, p_cum):
        a.setflags(write=False)
    return MasterEquationResult(model, protocol, protocol.times, out, out_post, p_success, p_cum)


def _kernel_hermitian_basis(L: np.ndarray, tol: float) -> np.ndarray:
    """Hilbert-Schmidt-orthonormal Hermitian basis (k, 4, 4) of the kernel of L."""
    _, s, vh = np.linalg.svd(L)
    null = vh[s <= tol * max(s[0], 1e-300)].conj()
    mats = [v.reshape(4, 4) for v in null]
    herm = [0.5 * (m + m.conj().T) for m in mats] + [0.5j * (m - m.conj().T) for m in mats]
    vecs = np.array([np.concatenate([h.real.ravel(), h.imag.ravel()]) for h in herm])
    u, sv, w = np.linalg.svd(vecs, full_matrices=False)
    w = w[sv > 1e-8 * sv[0]]
    return np.array([(x[:16] + 1j * x[16:]).reshape(4, 4) for x in w])


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


def steady_states(model: SpinPair, tol: float = 1e-10) -> np.ndarray:
    """A basis of the Liouvillian's kernel, shape (k, 4, 4).

    k = 1: the unique steady state. k = 2 (e.g. the symmetric point): the two extreme steady states,
    i.e. the end points of the segment of stationary density matrices (there: the triplet state rho_tr and
    the dark state d, in order of increasing singlet population). k > 2 (e.g. no coupling): a
    Hilbert-Schmidt-orthonormal Hermitian basis of the kernel, not all of which are states.
    ``tol`` is the relative singular-value threshold that defines the kernel.
    """
    basis = _kernel_hermitian_basis(model.liouvillian(), tol)
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
        ends.sort(key=lambda r: singlet_population(r))
        return np.array(ends)
    return basis
