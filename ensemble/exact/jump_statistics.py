"""Exact jump statistics of a protocol: the probability that a run has not jumped by time t, and the mean
number of jumps per channel by each output time.

No jump by t. Runs that have not jumped carry the unnormalised state A rho0 A^dag, A = exp(-i H_eff t),
between rounds; a round applies the sum of its record maps (a measurement neither causes nor prevents
a jump, and the sum over records preserves the trace). P(no jump by t) is the trace of that state.

Mean jumps. A run jumps in channel k at rate tr(L_k rho L_k^dag) averaged over runs, i.e. in the
unconditional state rho(t) (the instruments applied, records averaged over). The mean count is its time
integral, evaluated exactly with the augmented generator [[L, 0], [c, 0]] (Van Loan): exp of it over a
step gives both exp(L dt) and the integral of c exp(L s) over the step.
"""

from __future__ import annotations

import numpy as np
import scipy.linalg
from numpy.typing import ArrayLike
from scipy.sparse.linalg import LinearOperator, aslinearoperator

from ...trajectories.measurement import Measurement
from ...trajectories.plan import Model, check_model
from ...trajectories.protocol import Protocol
from ...trajectories.protocol_checks import _as_times
from .state_propagation import STATE_PROPAGATION_DIM, TaylorExponential, _StateSolver
from .superoperators import _Solver, record_superops
from .timed_jumps import timed_mean_jumps, timed_no_jump_probability


def _check_instruments(protocol: Protocol) -> None:
    """Jump statistics average a round over its records: not defined here for feedback that depends on
    the rule state or on a monitored window's record (their average depends on more than the state)."""
    for m in protocol.measurements:
        if m.history_feedback or (m.kind == "monitor" and m.feedback):
            raise ValueError(
                "protocol: jump statistics are not available for feedback on the rule state or on a monitored "
                "window's record"
            )


def no_jump_probability(model: Model, protocol: Protocol, times: ArrayLike | None = None) -> np.ndarray:
    """P(a run has not jumped by t) for each t in ``times`` (non-decreasing, >= 0; default protocol.times).

    Exact (matrix exponentials of H_eff); the protocol's rounds are applied on the way. Returns (m,).

    Parameters
    ----------
    model : SpinPair or LindbladModel
        The model.
    protocol : Protocol
        The protocol; its measurements act on the no-jump state too.
    times : array_like of float, optional
        Times in [0, t_final] (model time unit) to evaluate at; default the protocol's output times.

    Returns
    -------
    numpy.ndarray, shape (n,)
        The probability that a run has not jumped by each time (the first-jump survival), float64.

    Raises
    ------
    ValueError
        For a protocol that is not a Protocol, a model that does not fit it, or times outside
        [0, t_final].

    Examples
    --------
    >>> import darkspin as ds
    >>> p = ds.no_jump_probability(ds.SpinPair(), ds.Protocol.paper(n_out=11))
    >>> float(p[0]), bool((p[1:] <= p[:-1]).all())
    (1.0, True)
    """
    if not isinstance(protocol, Protocol):
        raise ValueError(f"protocol must be a Protocol, got {type(protocol).__name__}")
    check_model(model, protocol)
    _check_instruments(protocol)
    t_query = protocol.times if times is None else _as_times("times", times, strict=False, max_size=10**7)
    if protocol.is_timed:
        return timed_no_jump_probability(model, protocol, t_query)
    heff = np.asarray(model.effective_hamiltonian(), complex)
    rho = np.array(protocol.rho0, complex)
    out = np.empty(t_query.size)
    cache: dict[float, np.ndarray] = {}
    t = 0.0
    for te, kind, idx in zip(*protocol.events(t_query), strict=True):
        if te != t:
            A = cache.get(te - t)
            if A is None:
                A = cache[te - t] = scipy.linalg.expm(-1j * heff * (te - t))
            rho = A @ rho @ A.conj().T
            t = te
        if kind == 0:
            m = protocol.measurements[idx]
            if isinstance(m, Measurement):  # a window without feedback leaves rho alone
                rho = m.record_maps(rho).sum(axis=0)
        else:
            out[idx] = min(max(np.trace(rho).real, 0.0), 1.0)
    return out


def mean_jumps(model: Model, protocol: Protocol) -> np.ndarray:
    """Mean number of jumps per run in each channel by each output time, (n, K) (the time integral of
    tr(L_k rho L_k^dag) over the unconditional state, instruments included).

    From d >= STATE_PROPAGATION_DIM the augmented generator is applied to the state with
    scipy.sparse.linalg.expm_multiply instead of being exponentiated (see :mod:`.state_propagation`).

    Parameters
    ----------
    model : SpinPair or LindbladModel
        The model (rates in its energy unit).
    protocol : Protocol
        The protocol (times in the model's inverse energy unit).

    Returns
    -------
    numpy.ndarray, shape (n, K)
        The mean number of jumps per run in each channel by each output time, float64.

    Raises
    ------
    ValueError
        For a protocol that is not a Protocol or a model that does not fit it.

    Examples
    --------
    >>> import darkspin as ds
    >>> jumps = ds.mean_jumps(ds.SpinPair(), ds.Protocol.paper(n_out=11))
    >>> jumps.shape, bool((jumps >= 0).all())
    ((11, 3), True)
    """
    return _mean_jumps(model, protocol)


def _mean_jumps(model: Model, protocol: Protocol, state_path: bool | None = None) -> np.ndarray:
    """mean_jumps; ``state_path`` forces the path (None: d >= STATE_PROPAGATION_DIM)."""
    if not isinstance(protocol, Protocol):
        raise ValueError(f"protocol must be a Protocol, got {type(protocol).__name__}")
    d = check_model(model, protocol)
    _check_instruments(protocol)
    if protocol.is_timed:
        return timed_mean_jumps(model, protocol)
    jumps = np.asarray(model.jump_operators(), complex).reshape(-1, d, d)
    K = jumps.shape[0]
    n = protocol.times.size
    if K == 0:
        return np.zeros((n, 0))
    if d >= STATE_PROPAGATION_DIM if state_path is None else state_path:
        return _mean_jumps_state(model, protocol, jumps)
    sv = _Solver(model, protocol)
    q = sv.Q.shape[1]
    # rate of channel k on row-major vec(rho): tr(G_k rho) with G_k = L_k^dag L_k
    G = np.einsum("kji,kjl->kil", jumps.conj(), jumps)
    C = np.swapaxes(G, 1, 2).reshape(K, d * d) @ sv.Q
    aug = np.zeros((q + K, q + K), complex)
    aug[:q, :q] = sv.Lr
    aug[q:, :q] = C
    maps, which = record_superops(protocol)
    Qh = sv.Q.conj().T
    total = [Qh @ (maps[i, 0] + maps[i, 1]) @ sv.Q for i in range(maps.shape[0])]
    x = Qh @ protocol.rho0.reshape(-1)
    counts = np.zeros(K, complex)
    out = np.empty((n, K))
    cache: dict[float, np.ndarray] = {}
    t = 0.0
    for te, kind, idx in zip(*protocol.events(), strict=True):
        if te != t:
            E = cache.get(te - t)
            if E is None:
                E = cache[te - t] = scipy.linalg.expm(aug * (te - t))
            counts = counts + E[q:, :q] @ x
            x = E[:q, :q] @ x
            t = te
        if kind == 0:
            x = total[which[idx]] @ x
        else:
            out[idx] = np.maximum(counts.real, 0.0)
    return out


def _mean_jumps_state(model: Model, protocol: Protocol, jumps: np.ndarray) -> np.ndarray:
    """mean_jumps by expm_multiply of the augmented generator [[L, 0], [C, 0]] on [vec(rho); 0]."""
    K, d = jumps.shape[0], jumps.shape[1]
    D = d * d
    sv = _StateSolver(model, protocol)
    L = aslinearoperator(sv.action.op)
    Lh = L.H
    G = np.einsum("kji,kjl->kil", jumps.conj(), jumps)
    C = np.swapaxes(G, 1, 2).reshape(K, D)

    def apply(v: np.ndarray) -> np.ndarray:
        x = v[:D]
        return np.concatenate([L @ x, C @ x])

    def adjoint(v: np.ndarray) -> np.ndarray:
        return np.concatenate([Lh @ v[:D] + C.conj().T @ v[D:], np.zeros((K,) + v.shape[1:], complex)])

    aug = LinearOperator((D + K, D + K), matvec=apply, matmat=apply, rmatvec=adjoint, dtype=complex)
    aug.rmatmat = adjoint
    exp = TaylorExponential(aug, sv.action.trace)
    x = protocol.rho0.reshape(-1).astype(complex)
    counts = np.zeros(K, complex)
    out = np.empty((protocol.times.size, K))
    t = 0.0
    for te, kind, idx in zip(*protocol.events(), strict=True):
        if te != t:
            y = exp(np.concatenate([x, np.zeros(K, complex)]), te - t)
            x, counts = y[:D], counts + y[D:]
            t = te
        if kind == 0:
            x = sv.apply_map(idx, 0, x) + sv.apply_map(idx, 1, x)
        else:
            out[idx] = np.maximum(counts.real, 0.0)
    return out
