"""The multi-start search of a schedule: the objective and its gradient in the stick-breaking box
(analytic for the named objectives, forward differences for a callable), the best schedule evaluated
anywhere, and one L-BFGS-B or SLSQP run from a starting point.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Sequence
from typing import cast

import numpy as np

from ...ensemble.exact.batch import solve_many
from ...ensemble.exact.time_gradient import TimeGradient
from ...ensemble.results.master_equation import MasterEquationResult, PostSelectionUndefinedWarning
from ...trajectories.plan import Model
from ...trajectories.protocol import Protocol
from .per_time import PerUnitTime, initial_fidelity
from .schedule_inputs import Objective, _objective_name, _with_times
from .stick_breaking import stick_jacobian, stick_times

#: Forward-difference step in the unit box (times move by FD_STEP * t_max).
FD_STEP = 1e-6

#: What the optimisers see for an undefined (NaN or infinite) objective: far below any fidelity or
#: yield. The returned Schedule reports such a schedule's objective as -inf.
UNDEFINED_PENALTY = -1e6

#: Iteration cap per start and optimiser.
MAX_ITER = 200


class _Search:
    """Evaluates schedules (with a cache and a count) and remembers the best one seen."""

    #: Analytic gradients for the named objectives (False: forward differences, as for a callable).
    analytic_gradient = True

    def __init__(
        self,
        model: Model,
        protocol: Protocol,
        t_max: float,
        objective: Objective,
        min_yield: float | None,
        target: np.ndarray,
    ) -> None:
        self.model, self.protocol, self.t_max = model, protocol, t_max
        self.objective, self.min_yield = objective, min_yield
        self.target = target
        self.evaluations = 0
        self.gradients = 0
        self._gradients: dict[int, TimeGradient] = {}
        self._last_gradient: tuple[bytes, np.ndarray, np.ndarray] | None = None
        self._cache: dict[bytes, tuple[float, float, float]] = {}
        self.best: tuple[float, np.ndarray, float, float] | None = None  # (objective, times, fidelity, yield)
        # the protocol of a schedule; the adjoint gradient knows measurement times without segments or gates
        self.build = _with_times
        if protocol.is_timed:
            self.analytic_gradient = False

    def times(self, w: np.ndarray) -> np.ndarray:
        return stick_times(w, self.t_max)

    def _score(self, result: MasterEquationResult, times: np.ndarray) -> tuple[float, float, float]:
        """(objective, fidelity, yield) of one exact result at ``times`` (R,); objective -inf where undefined.

        A callable objective's non-finite value raises ValueError: silently scoring it -inf would hide
        a broken objective behind the starting schedule.
        """
        v = self.target
        fidelity = float(np.vdot(v, result.rho_post[-1] @ v).real)
        yld = float(result.p_cumulative[-1]) if result.p_cumulative.size else 1.0
        if self.objective == "fidelity":
            value = fidelity
        elif self.objective == "yield":
            value = yld
        elif self.objective == "fidelity_at_yield":
            value = fidelity  # the constraint is handled by the optimiser and by _remember
        elif isinstance(self.objective, PerUnitTime):  # NaN (zero duration) scores -inf below
            f0 = initial_fidelity(self.protocol, self.target)
            value = self.objective.value(fidelity, yld, f0, self.objective.duration(result.protocol))
        else:
            # not one of the OBJECTIVES names, so a callable (checked before the search)
            value = float(cast(Callable[[MasterEquationResult], float], self.objective)(result))
            if not math.isfinite(value):
                name = _objective_name(self.objective)
                schedule = ", ".join(f"{t:.17g}" for t in times)
                raise ValueError(
                    f"objective {name!r} must return a finite number, got {value!r} for the schedule "
                    f"measure_at=[{schedule}]: return a finite score (e.g. a low one) for schedules to avoid"
                )
        if not math.isfinite(value):
            value = -math.inf
        return value, fidelity, yld

    def evaluate_many(self, ws: Sequence[np.ndarray]) -> list[tuple[float, float, float]]:
        """(objective, fidelity, yield) for each point w of the unit box (cached)."""
        return self.evaluate_times([self.times(w) for w in ws])

    def evaluate_times(self, keys: Sequence[np.ndarray]) -> list[tuple[float, float, float]]:
        """(objective, fidelity, yield) for each schedule (R,) of times (cached)."""
        todo = [t for t in keys if t.tobytes() not in self._cache]
        todo = list({t.tobytes(): t for t in todo}.values())
        if todo:
            protocols = [self.build(self.protocol, t) for t in todo]
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", PostSelectionUndefinedWarning)
                # many schedules at once; each result is independent of the others in the batch
                results = solve_many([self.model] * len(protocols), protocols)
            self.evaluations += len(protocols)
            for t, res in zip(todo, results, strict=True):
                score = self._score(res, t)
                self._cache[t.tobytes()] = score
                self._remember(t, *score)
        return [self._cache[t.tobytes()] for t in keys]

    def _remember(self, times: np.ndarray, value: float, fidelity: float, yld: float) -> None:
        if self.objective == "fidelity_at_yield":
            assert self.min_yield is not None  # required with this objective (checked)
            if not yld >= self.min_yield:
                return  # never return a schedule that misses the constraint
        if self.best is None or value > self.best[0]:
            self.best = (value, np.array(times), fidelity, yld)

    # ---- what the optimisers minimise (finite everywhere) ----
    def loss(self, w: np.ndarray) -> float:
        value = self.evaluate_many([w])[0][0]
        return -value if math.isfinite(value) else -UNDEFINED_PENALTY

    def loss_and_grad(self, w: np.ndarray) -> tuple[float, np.ndarray]:
        """Loss and its gradient in w: analytic for the named objectives, else forward differences."""
        w = np.asarray(w, float)
        if self.analytic_gradient and isinstance(self.objective, str):
            value = self.evaluate_many([w])[0][0]
            if not math.isfinite(value):
                return -UNDEFINED_PENALTY, np.zeros(w.size)  # flat: every neighbour is penalised alike
            d_fidelity, d_yield = self._time_gradient(w)
            return -value, -(d_yield if self.objective == "yield" else d_fidelity)
        if self.analytic_gradient and isinstance(self.objective, PerUnitTime):
            value, fidelity, yld = self.evaluate_many([w])[0]
            times = self.times(w)
            if not math.isfinite(value):
                return -UNDEFINED_PENALTY, np.zeros(w.size)
            d_fidelity, d_yield = self._time_gradient(w)
            d_duration = stick_jacobian(w, times, self.t_max)[-1]  # the duration moves with the last time
            f0 = initial_fidelity(self.protocol, self.target)
            duration = self.objective.duration(_with_times(self.protocol, times))
            grad = self.objective.gradient(fidelity, yld, f0, duration, d_fidelity, d_yield, d_duration)
            return -value, -grad
        steps = np.where(w + FD_STEP <= 1.0, FD_STEP, -FD_STEP)
        points = [w] + [w + steps[i] * np.eye(w.size)[i] for i in range(w.size)]
        values = [v for v, _, _ in self.evaluate_many(points)]
        losses = np.array([-v if math.isfinite(v) else -UNDEFINED_PENALTY for v in values])
        return float(losses[0]), (losses[1:] - losses[0]) / steps

    def constraint_and_grad(self, w: np.ndarray) -> tuple[float, np.ndarray]:
        """yield - min_yield (>= 0 when met) and its gradient in w."""
        assert self.min_yield is not None  # only called for fidelity_at_yield, which requires it
        w = np.asarray(w, float)
        if self.analytic_gradient:
            return self.evaluate_many([w])[0][2] - self.min_yield, self._time_gradient(w)[1]
        steps = np.where(w + FD_STEP <= 1.0, FD_STEP, -FD_STEP)
        points = [w] + [w + steps[i] * np.eye(w.size)[i] for i in range(w.size)]
        y = np.array([s[2] for s in self.evaluate_many(points)]) - self.min_yield
        return float(y[0]), (y[1:] - y[0]) / steps

    def _time_gradient(self, w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Gradients (R,) in w of the fidelity and the yield: adjoint in the times, then the chain rule."""
        times = self.times(w)
        key = times.tobytes()
        if self._last_gradient is None or self._last_gradient[0] != key:
            R = times.size
            grad = self._gradients.get(R)
            if grad is None:
                # the reachable subspace does not depend on the times: build it once per number of rounds
                start = self.t_max * np.arange(1, R + 1) / (R + 1)
                grad = self._gradients[R] = TimeGradient(self.model, _with_times(self.protocol, start), self.target)
            _, _, d_fidelity, d_yield = grad(times)
            self.gradients += 1
            chain = stick_jacobian(w, times, self.t_max)
            self._last_gradient = (key, chain.T @ d_fidelity, chain.T @ d_yield)
        return self._last_gradient[1], self._last_gradient[2]


def _run_start(search: _Search, w0: np.ndarray) -> None:
    """One local search from w0 (the search object records the best point)."""
    import scipy.optimize

    bounds = [(0.0, 1.0)] * w0.size
    if search.objective == "fidelity_at_yield":
        min_yield = search.min_yield
        assert min_yield is not None  # required with this objective (checked)
        scipy.optimize.minimize(
            search.loss,
            w0,
            jac=lambda w: search.loss_and_grad(w)[1],
            method="SLSQP",
            bounds=bounds,
            constraints=[
                {
                    "type": "ineq",
                    "fun": lambda w: search.evaluate_many([w])[0][2] - min_yield,
                    "jac": lambda w: search.constraint_and_grad(w)[1],
                }
            ],
            options={"maxiter": MAX_ITER, "ftol": 1e-12},
        )
    else:
        scipy.optimize.minimize(
            search.loss_and_grad,
            w0,
            jac=True,
            method="L-BFGS-B",
            bounds=bounds,
            options={"maxiter": MAX_ITER, "ftol": 1e-14, "gtol": 1e-10},
        )
