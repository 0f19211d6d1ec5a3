"""Exact jump statistics (:mod:`.jump_statistics`) of a protocol with segments and gates.

Channels are counted by position across segments, as the trajectory kernel counts them: channel k is
the k-th jump operator of the segment in force (K = the most channels of any segment; a segment with
fewer has no rate in the others). Dense superoperators in the full operator space (d^2 <= 225; larger
models are refused).
"""

from __future__ import annotations

import numpy as np
import scipy.linalg

from ...trajectories.plan import Model
from ...trajectories.protocol import EV_GATE, EV_MEASURE, EV_OUTPUT, EV_SWITCH, Protocol
from .state_propagation import STATE_PROPAGATION_DIM
from .superoperators import record_superops

_LARGEST = STATE_PROPAGATION_DIM - 1


def _check(protocol: Protocol, d: int, name: str) -> None:
    if d > _LARGEST:
        raise ValueError(f"{name} with segments or gates needs d <= {_LARGEST}, got d = {d}")


def _segment_jumps(model: Model, protocol: Protocol, d: int) -> list[np.ndarray]:
    return [
        np.asarray(m.jump_operators(), complex).reshape(-1, d, d) for m in (model, *(m for _, m in protocol.segments))
    ]


def timed_no_jump_probability(model: Model, protocol: Protocol, t_query: np.ndarray) -> np.ndarray:
    """P(no jump by t) for each t in t_query (sorted) under the protocol's segments, gates and rounds.

    Parameters
    ----------
    model : SpinPair or LindbladModel
    protocol : Protocol
    t_query : ndarray of float64, shape (m,)

    Returns
    -------
    ndarray of float64, shape (m,)
    """
    heffs = [np.asarray(m.effective_hamiltonian(), complex) for m in (model, *(m for _, m in protocol.segments))]
    rho = np.array(protocol.rho0, complex)
    out = np.empty(t_query.size)
    seg, t = 0, 0.0
    for te, kind, idx in zip(*protocol.events(t_query), strict=True):
        if te != t:
            A = scipy.linalg.expm(-1j * heffs[seg] * (te - t))
            rho = A @ rho @ A.conj().T
            t = te
        if kind == EV_SWITCH:
            seg = idx
        elif kind == EV_GATE:
            U = protocol.gate_unitaries[idx]
            rho = U @ rho @ U.conj().T
        elif kind == EV_MEASURE:
            rho = protocol.measurements[idx].record_maps(rho).sum(axis=0)
        else:
            out[idx] = min(max(np.trace(rho).real, 0.0), 1.0)
    return out


def timed_mean_jumps(model: Model, protocol: Protocol) -> np.ndarray:
    """Mean number of jumps per run in each channel by each output time, (n, K), K the most channels
    of any segment (Van Loan's augmented generator, one per segment).

    Parameters
    ----------
    model : SpinPair or LindbladModel
    protocol : Protocol

    Returns
    -------
    ndarray of float64, shape (n, K)

    Raises
    ------
    ValueError
        For d > 15.
    """
    d = protocol.rho0.shape[0]
    _check(protocol, d, "mean_jumps")
    models = [model, *(m for _, m in protocol.segments)]
    jumps = _segment_jumps(model, protocol, d)
    K = max(j.shape[0] for j in jumps)
    n = protocol.times.size
    if K == 0:
        return np.zeros((n, 0))
    D = d * d
    augs = []
    for m, J in zip(models, jumps, strict=True):
        aug = np.zeros((D + K, D + K), complex)
        aug[:D, :D] = np.asarray(m.liouvillian(), complex)
        if J.shape[0]:
            G = np.einsum("kji,kjl->kil", J.conj(), J)
            aug[D : D + J.shape[0], :D] = np.swapaxes(G, 1, 2).reshape(-1, D)
        augs.append(aug)
    maps, which = record_superops(protocol)
    total = maps[:, 0] + maps[:, 1]
    x = protocol.rho0.reshape(-1).astype(complex)
    counts = np.zeros(K, complex)
    out = np.empty((n, K))
    seg, t = 0, 0.0
    for te, kind, idx in zip(*protocol.events(), strict=True):
        if te != t:
            E = scipy.linalg.expm(augs[seg] * (te - t))
            counts = counts + E[D:, :D] @ x
            x = E[:D, :D] @ x
            t = te
        if kind == EV_SWITCH:
            seg = idx
        elif kind == EV_GATE:
            U = protocol.gate_unitaries[idx]
            x = (U @ x.reshape(d, d) @ U.conj().T).reshape(-1)
        elif kind == EV_MEASURE:
            x = total[which[idx]] @ x
        elif kind == EV_OUTPUT:
            out[idx] = np.maximum(counts.real, 0.0)
    return out
