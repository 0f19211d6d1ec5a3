"""The exact solver's general instruments: the count-resolved generator of a monitored window, and the record
maps of feedback that depends on the post-selection rule's state.

Count-resolved generator. During round k's window the state is resolved by the number of clicks seen so
far, levels l = 0 .. n with n the threshold and the top level saturating (n or more clicks). With the
watched channels' jump superoperator J = sum_{k watched} L_k (.) L_k^dag, efficiency eta and dark rate r,

    d rho_l / dt = (L - eta J - r) rho_l + (eta J + r) rho_{l-1}     (l < n; rho_{-1} = 0)
    d rho_n / dt = L rho_n + (eta J + r) rho_{n-1}

so the levels add up to the ordinary state (sum_l d rho_l/dt = L sum_l rho_l): an undetected jump keeps
the level, a detected one or a dark click raises it. At the window's end record +1 is level n and record
-1 the sum of the others, each followed by its feedback. The propagator exp(G dt) of the block generator
is exact (scipy's expm; no sampling, no time step).
"""

from __future__ import annotations

import numpy as np
import scipy.linalg

from ...trajectories.monitor import Monitor
from ...trajectories.plan import Model
from ...trajectories.protocol import Protocol


def _superop(K: np.ndarray) -> np.ndarray:
    return np.kron(K, K.conj())


def watched_superop(model: Model, monitor: Monitor) -> np.ndarray:
    """J = sum over the watched channels of kron(L_k, conj(L_k)), (d^2, d^2), on row-major vec(rho).

    Parameters
    ----------
    model : SpinPair or LindbladModel
    monitor : Monitor

    Returns
    -------
    ndarray of complex128, shape (d^2, d^2)

    Raises
    ------
    ValueError
        Naming 'channels', for a channel the model does not have.
    """
    jumps = np.asarray(model.jump_operators(), complex)
    d = jumps.shape[-1] if jumps.size else np.shape(model.hamiltonian())[0]
    mask = monitor.watched(list(model.jump_labels()))
    J = np.zeros((d * d, d * d), complex)
    for k in np.flatnonzero(mask):
        J += _superop(jumps[k])
    return J


def extra_superops(model: Model, protocol: Protocol) -> list[np.ndarray]:
    """The superoperators besides L and the rounds' record maps that the reduced space must be invariant
    under: the watched jumps of monitors, their feedback, and every rule state's variant of history
    feedback. Empty for a protocol without monitors or history feedback (the space is then unchanged).

    Parameters
    ----------
    model : SpinPair or LindbladModel
    protocol : Protocol

    Returns
    -------
    list of ndarray of complex128, shape (d^2, d^2)
    """
    d = protocol.rho0.shape[0]
    S = protocol.selection.n_states
    out: list[np.ndarray] = []
    for m in dict.fromkeys(protocol.measurements):
        if isinstance(m, Monitor):
            out.append(watched_superop(model, m))
            for s in [None, *range(S)] if m.history_feedback else [None]:
                U, on = m.unitaries(s, d)
                out.extend(_superop(U[r]) for r in range(2) if on[r])
        elif m.history_feedback:
            for s in range(S):
                out.extend(m.superoperators(s))
    return out


class Window:
    """One monitored instrument's count-resolved propagation in a reduced space with basis Q (D, q).

    Parameters
    ----------
    Lr : ndarray, shape (q, q)
        The reduced Liouvillian.
    Q : ndarray, shape (D, q)
        The orthonormal basis of the reduced space (invariant under J and the feedback).
    J : ndarray, shape (D, D)
        The watched channels' jump superoperator.
    monitor : Monitor
    n_states : int
        Number S of rule states (for history feedback).
    """

    def __init__(self, Lr: np.ndarray, Q: np.ndarray, J: np.ndarray, monitor: Monitor, n_states: int) -> None:
        q = Lr.shape[0]
        n = monitor.threshold
        Qh = Q.conj().T
        Jr = Qh @ J @ Q
        up = monitor.efficiency * Jr + monitor.dark_rate * np.eye(q)
        G = np.zeros((n + 1, q, n + 1, q), complex)
        for lev in range(n + 1):
            G[lev, :, lev, :] = Lr if lev == n else Lr - up
            if lev < n:
                G[lev + 1, :, lev, :] = up
        self.G = G.reshape((n + 1) * q, (n + 1) * q)
        self.levels, self.q = n + 1, q
        d = int(round(np.sqrt(Q.shape[0])))
        self._fb: dict[int | None, list[np.ndarray | None]] = {}
        for s in [None, *range(n_states)] if monitor.history_feedback else [None]:
            U, on = monitor.unitaries(s, d)
            self._fb[s] = [Qh @ _superop(U[r]) @ Q if on[r] else None for r in range(2)]
        self._cache: dict[float, np.ndarray] = {}

    def start(self, vecs: np.ndarray) -> np.ndarray:
        """Level stacks (m, levels, q) with everything on level 0, for states (m, q)."""
        out = np.zeros((vecs.shape[0], self.levels, self.q), complex)
        out[:, 0] = vecs
        return out

    def propagate(self, dt: float, stacks: np.ndarray) -> np.ndarray:
        """exp(G dt) applied to level stacks (m, levels, q)."""
        E = self._cache.get(dt)
        if E is None:
            E = self._cache[dt] = scipy.linalg.expm(self.G * dt)
        m = stacks.shape[0]
        return (stacks.reshape(m, -1) @ E.T).reshape(stacks.shape)

    def records(self, stacks: np.ndarray, state: int | None = None) -> np.ndarray:
        """The unnormalised states of record +1 and -1 (feedback applied), (2, m, q), from stacks (m, levels, q).

        state: the rule machine's state before the round (for history feedback; None: the plain keys).
        """
        parts = [stacks[:, -1], stacks[:, :-1].sum(axis=1)]
        fb = self._fb.get(state, self._fb[None])
        return np.stack([p if F is None else p @ F.T for p, F in zip(parts, fb, strict=True)])
