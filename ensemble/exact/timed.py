"""The exact solver's engines for protocols with segments and gates (piecewise-constant Liouvillians and
instant unitaries).

Both engines of :mod:`.solver` get two more operations: ``switch(s)`` makes segment s's Liouvillian the
one :meth:`propagate` exponentiates (segment 0: the model at t = 0), and ``apply_gate(g, vecs)`` maps
every row vec(rho) to vec(U rho U^dag). The reduced engine works in the smallest subspace containing
rho0 that is invariant under every segment's Liouvillian, every record map and every gate, and keeps one
propagator cache per segment, so the cost grows linearly with the number of segments (one
exponential per distinct (segment, interval)).
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from ...trajectories.plan import Model
from ...trajectories.protocol import Protocol
from .state_propagation import LiouvillianAction, TaylorExponential, _StateSolver
from .superoperators import _Solver, reachable_subspace, record_superops


def _models(model: Model, protocol: Protocol) -> list[Model]:
    return [model, *(m for _, m in protocol.segments)]


def _gate_rows(U: np.ndarray, v: np.ndarray, d: int) -> np.ndarray:
    """vec(U rho U^dag) for each row vec(rho) of v (m, d^2) (row-major vec)."""
    R = v.reshape(-1, d, d)
    return (U @ R @ U.conj().T).reshape(v.shape)


class _TimedSolver(_Solver):
    """:class:`.superoperators._Solver` with one reduced Liouvillian per segment and reduced gates."""

    def __init__(self, model: Model, protocol: Protocol):
        d = protocol.rho0.shape[0]
        self.d = d
        Ls = [np.asarray(m.liouvillian(), complex) for m in _models(model, protocol)]
        gates = [np.kron(U, U.conj()) for U in protocol.gate_unitaries]
        maps, which = record_superops(protocol)
        self.L = Ls[0]
        self.Q = reachable_subspace(
            Ls[0], [*Ls[1:], *maps.reshape(-1, d * d, d * d), *gates], protocol.rho0.reshape(-1).astype(complex)
        )
        Qh = self.Q.conj().T
        self._Lrs = [Qh @ L @ self.Q for L in Ls]
        self._gates_r = [Qh @ G @ self.Q for G in gates]
        self.maps_r = np.einsum("ab,krbc,cd->krad", Qh, maps, self.Q)[which]
        # timed protocols have projective rounds only (Protocol checks): no history maps, no windows
        self.hist: dict[tuple[int, int], np.ndarray] = {}
        self.windows: dict = {}
        self.tr = self.Q.reshape(d, d, -1)[np.arange(d), np.arange(d)].sum(axis=0)
        self._caches: list[dict[float, np.ndarray]] = [{} for _ in Ls]
        self._eigs: list[tuple[np.ndarray, np.ndarray, np.ndarray] | Literal[False] | None] = [None] * len(Ls)
        self._warned_long = False
        self._noise = np.random.default_rng(20211)
        self._segment = 0
        self.Lr, self._cache, self._eig = self._Lrs[0], self._caches[0], None

    def switch(self, s: int) -> None:
        """Make segment s's reduced Liouvillian (and its propagator cache) the current one."""
        self._eigs[self._segment] = self._eig  # what _exp found for the segment being left
        self._segment = s
        self.Lr, self._cache, self._eig = self._Lrs[s], self._caches[s], self._eigs[s]

    def apply_gate(self, g: int, vecs: list[np.ndarray]) -> list[np.ndarray]:
        """Gate g applied to each stack of reduced row vectors (m, q)."""
        G = self._gates_r[g].T
        return [v @ G for v in vecs]


class _TimedStateSolver(_StateSolver):
    """:class:`.state_propagation._StateSolver` with one Liouvillian action per segment and gates."""

    def __init__(self, model: Model, protocol: Protocol) -> None:
        super().__init__(model, protocol)
        d = self.d
        self._actions = [self.action]
        self._exps = [self.exp]
        for _, m in protocol.segments:
            a = LiouvillianAction(
                np.asarray(m.effective_hamiltonian(), complex),
                np.asarray(m.jump_operators(), complex).reshape(-1, d, d),
            )
            self._actions.append(a)
            self._exps.append(TaylorExponential(a.op, a.trace))
        self._gates = np.asarray(protocol.gate_unitaries)

    def switch(self, s: int) -> None:
        """Make segment s's Liouvillian the one :meth:`propagate` applies."""
        self.action, self.exp = self._actions[s], self._exps[s]

    def apply_gate(self, g: int, vecs: list[np.ndarray]) -> list[np.ndarray]:
        """Gate g applied to each stack of row vectors vec(rho) (m, d^2)."""
        return [_gate_rows(self._gates[g], v, self.d) for v in vecs]
