"""The exact post-selected fidelity and yield, and their derivatives with respect to the measurement times.

The exact solver's state is one unnormalised branch per state of the post-selection machine; stacked,
the branches X evolve linearly: X' = L X between rounds (L acting on every branch) and X -> A_k X at
round k, where A_k sends branch s through record r's map M_{k,r} into branch transitions[k, s, r]. So
the branches at the final output time T are

    X(T) = E(T - t_R) A_R E(t_R - t_{R-1}) ... A_1 E(t_1) X(0),   E(dt) = exp(L dt),

and a linear functional J = <c, X(T)> has the derivative

    dJ/dt_k = <lam_k, (A_k L - L A_k) X(t_k^-)>,   lam_k = (E(T - t_R) A_R ... E(t_{k+1} - t_k))^T c,

the commutator because moving t_k lengthens the interval before round k and shortens the one after.
One forward pass stores the branches before every round; one backward pass carries the co-states
lam_k (several functionals at once). The post-selected fidelity F = N / D (N the target population
summed over accepting branches, D their trace) has dF = (dN - F dD) / D; the yield is D (L preserves
the trace, so D at T is the final p_cumulative). The order of the rounds is fixed, so the formula
holds also where rounds coincide or sit at T (the derivative of the smooth extension, one-sided there).

Everything is done in the solver's reachable subspace (:class:`._Solver`), built once per model and
protocol structure: it depends on the instruments and the initial state, not on the times.
"""

from __future__ import annotations

import numpy as np

from ...trajectories.plan import Model
from ...trajectories.protocol import Protocol
from .superoperators import EIG_COND_MAX, _eig_checked, _Solver


class TimeGradient:
    """Post-selected fidelity and yield of a protocol as functions of its measurement times, with gradients.

    Parameters
    ----------
    model : Model
        Any model the exact solver takes.
    protocol : Protocol
        Gives the initial state, the instruments of its R rounds, the post-selection rule and the final
        output time T; its own measurement times are not used.
    target : numpy.ndarray, shape (d,)
        The normalised target state whose post-selected population is the fidelity.
    """

    def __init__(self, model: Model, protocol: Protocol, target: np.ndarray) -> None:
        self.sv = _Solver(model, protocol)
        sel = protocol.selection
        self.rounds = protocol.rounds
        self.t_final = float(protocol.times[-1])
        self.trans = np.asarray(sel.transitions)
        self.acc = np.asarray(sel.accepting)
        d, S = self.sv.d, sel.n_states
        self.x0 = np.zeros((S, self.sv.Q.shape[1]), complex)
        self.x0[0] = self.sv.Q.conj().T @ protocol.rho0.reshape(-1)
        v = np.asarray(target, complex)
        # <v| rho |v> on row-major vec(rho), in reduced coordinates
        self.pop = np.outer(v.conj(), v).reshape(d * d) @ self.sv.Q
        # exp(Lr dt) = V exp(lam dt) V^-1 for every step when the eigenbasis is well conditioned (a
        # gradient needs ~1e-10, not the solver's 1e-13); else the solver's own propagator
        lam, V = _eig_checked(self.sv.Lr)
        ok = bool(np.all(np.isfinite(V))) and np.linalg.cond(V) <= EIG_COND_MAX
        self.eig = (np.minimum(lam.real, 0.0) + 1j * lam.imag, V, np.linalg.inv(V)) if ok else None

    def _step(self, dt: float) -> np.ndarray:
        """exp(Lr dt), (q, q)."""
        if self.eig is None:
            return self.sv.propagator(dt, cache=False)
        lam, V, Vinv = self.eig
        return (V * np.exp(lam * dt)) @ Vinv

    def __call__(self, times: np.ndarray) -> tuple[float, float, np.ndarray, np.ndarray]:
        """Fidelity, yield and their gradients at the measurement times ``times``.

        Parameters
        ----------
        times : numpy.ndarray, shape (R,)
            Non-decreasing measurement times in [0, T] (model time unit).

        Returns
        -------
        fidelity : float
            Post-selected target population at T (NaN where nothing is post-selected).
        yield_ : float
            Final post-selected probability.
        d_fidelity : numpy.ndarray, shape (R,)
            dF/dt_k (per model time unit).
        d_yield : numpy.ndarray, shape (R,)
            dD/dt_k (per model time unit).

        Raises
        ------
        ValueError
            If ``times`` does not hold R sorted times in [0, T].
        """
        times = np.asarray(times, float)
        R = self.rounds
        if (
            times.shape != (R,)
            or np.any(np.diff(times) < 0)
            or (R and not 0.0 <= times[0] <= times[-1] <= self.t_final)
        ):
            raise ValueError(f"times must be {R} sorted times in [0, {self.t_final:g}], got {times!r}")
        sv, acc = self.sv, self.acc
        S = acc.size
        Lr = sv.Lr
        X = self.x0.copy()
        before = np.empty((R,) + X.shape, complex)
        steps = []
        t = 0.0
        for k in range(R):
            E = self._step(float(times[k] - t))
            steps.append(E)
            X = X @ E.T
            before[k] = X
            X = self._round(k, X)
            t = float(times[k])
        E = self._step(self.t_final - t)
        steps.append(E)
        X = X @ E.T
        N = float(np.sum(X[acc] @ self.pop).real)
        D = float(np.sum(X[acc] @ sv.tr).real)
        F = N / D if D > 0 else np.nan
        # co-states of [F, D]: dF = (dN - F dD) / D
        lam = np.zeros((2, S, X.shape[1]), complex)
        if D > 0:
            lam[0, acc] = (self.pop - F * sv.tr) / D
        lam[1, acc] = sv.tr
        grad = np.zeros((2, R))
        for k in range(R - 1, -1, -1):
            lam = lam @ steps[k + 1]
            Xk = before[k]
            mu = self._adjoint_round(k, lam)  # A_k^T lam
            # <lam, A_k L X> - <L^T lam, A_k X>
            term1 = np.einsum("jsq,sq->j", mu, Xk @ Lr.T)
            term2 = np.einsum("jsq,sq->j", self._adjoint_round(k, lam @ Lr), Xk)
            grad[:, k] = (term1 - term2).real
            lam = mu
        return F, D, grad[0], grad[1]

    def _round(self, k: int, X: np.ndarray) -> np.ndarray:
        """A_k X: every branch (S, q) through both records' maps, moved along the rule."""
        out = np.zeros_like(X)
        for s in range(X.shape[0]):
            for r in range(2):
                out[self.trans[k, s, r]] += self.sv.maps_r[k, r] @ X[s]
        return out

    def _adjoint_round(self, k: int, lam: np.ndarray) -> np.ndarray:
        """A_k^T lam for a stack of co-states (J, S, q)."""
        out = np.zeros_like(lam)
        for s in range(lam.shape[1]):
            for r in range(2):
                out[:, s] += lam[:, self.trans[k, s, r]] @ self.sv.maps_r[k, r]
        return out
