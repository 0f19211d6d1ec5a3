"""Schedule design: the measurement times that maximise an exact figure of merit of the protocol.

:func:`optimize_schedule` keeps everything about a protocol (initial state, output times, instrument,
post-selection rule) but its measurement times, and searches the times in [0, t_max] that maximise an
objective computed by the exact master equation (:func:`solve_master_equation`):

- ``"fidelity"``: the post-selected population of the target state (the singlet by default) at the
  protocol's final output time;
- ``"yield"``: the final cumulative post-selection probability ``p_cumulative[-1]``;
- ``"fidelity_at_yield"``: the fidelity subject to yield >= ``min_yield`` (SLSQP with the yield as an
  inequality constraint; only schedules that meet the constraint are ever returned);
- a :class:`~darkspin.PerUnitTime`: fidelity gain, good pairs or yield per unit of protocol time
  (:mod:`.per_time`), with an analytic gradient;
- a callable ``f(MasterEquationResult) -> float``, maximised.

After the search, the best schedule's flat directions (:mod:`.flatness`) are recorded in
``Schedule.flat_directions``: other schedules with the same objective to 1e-9.

Parametrisation. The R times are built from w in the box [0, 1]^R by stick breaking
(:mod:`.stick_breaking`): every w is a non-decreasing schedule in [0, t_max], the box's faces are the
edges of schedule space, where optima often lie and where a sorted-times parametrisation would put a kink.
Gradients of the named objectives are analytic (:class:`darkspin.ensemble.exact.time_gradient.TimeGradient`:
the branches propagated forward, co-states backward, the derivative in t_k the commutator of round k's
map with L), chained through the stick-breaking map; a callable objective gets forward differences
(step FD_STEP in w, backward at w = 1; the solver's ~1e-13 accuracy leaves a gradient error ~1e-7).
Search: L-BFGS-B (SLSQP with the yield as an inequality constraint for ``fidelity_at_yield``) from
``starts`` points: the equally spaced schedule t_max * k / (R + 1), k = 1..R, then sorted uniform
random schedules from ``numpy.random.default_rng(seed)``. The result is the best schedule *evaluated* anywhere in the
search, so it is never worse than the equally spaced one, nor than the protocol's own schedule when
that has the same number of rounds within [0, t_max] (evaluated once, not searched from). For the
named objectives, a schedule whose post-selected state is undefined (NaN) scores -inf (the optimisers
see a large finite penalty, UNDEFINED_PENALTY, instead) and never stops the search. A callable objective
must return a finite number for every schedule: a NaN or infinite value is a broken objective, not a bad
schedule, and raises ValueError naming the callable and the times.

Cost: one exact solve per evaluation (about 1 ms for the paper's protocol at 11 output times, growing
with the number of rounds and output times), plus one adjoint sweep per gradient (no solve; about as
cheap); a start typically takes 10-40 iterations. With ``max_rounds``, every R in 1..max_rounds is
optimised in turn. A callable objective's finite-difference gradient costs R + 1 solves, sent to
:func:`darkspin.ensemble.exact.batch.solve_many` in one batch. For 6 rounds by t = 600 on the paper's
model the analytic gradient needs 160 solves where forward differences needed 1150, at the same optimum.

Length: the parametrisation, the objectives, the gradient and the multi-start search of one optimiser;
most of the length is the documentation of its options.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
import warnings
from collections.abc import Callable, Sequence
from typing import Any, cast

import numpy as np
from numpy.typing import ArrayLike

from ...ensemble.exact.batch import solve_many
from ...ensemble.exact.time_gradient import TimeGradient
from ...ensemble.results.master_equation import MasterEquationResult, PostSelectionUndefinedWarning
from ...trajectories.measurement import Measurement
from ...trajectories.monitor import Monitor
from ...trajectories.operators import target_vector
from ...trajectories.plan import Model, check_model
from ...trajectories.protocol import MAX_TIME, Protocol
from .flatness import FLAT_STEP, FLAT_TOL, describe_flat, flat_directions
from .per_time import PerUnitTime, initial_fidelity
from .stick_breaking import stick_jacobian, stick_times, stick_weights

#: Named objectives.
OBJECTIVES = ("fidelity", "yield", "fidelity_at_yield")
#: Most rounds a schedule may be optimised for (an evaluation and a gradient each cost O(R)).
MAX_SCHEDULE_ROUNDS = 100
#: Most starting points.
MAX_STARTS = 1000
#: Forward-difference step in the unit box (times move by FD_STEP * t_max).
FD_STEP = 1e-6
#: What the optimisers see for an undefined (NaN or infinite) objective: far below any fidelity or
#: yield. The returned Schedule reports such a schedule's objective as -inf.
UNDEFINED_PENALTY = -1e6
#: Iteration cap per start and optimiser.
MAX_ITER = 200


#: What optimize_schedule maximises: a name in OBJECTIVES or f(MasterEquationResult) -> float.
Objective = str | Callable[[MasterEquationResult], float]


@dataclasses.dataclass(frozen=True, eq=False)
class Schedule:
    """An optimised measurement schedule.

    Attributes
    ----------
    measure_at : numpy.ndarray, shape (rounds,)
        The measurement times, non-decreasing, in [0, t_max] (model time unit).
    objective : float
        The objective's value there (-inf if undefined).
    protocol : Protocol
        The input protocol with these times.
    rounds : int
        R, the number of measurements.
    yield_ : float
        Final p_cumulative.
    fidelity : float
        Post-selected target population at the final output time (NaN if undefined).
    evaluations : int
        Exact solves made by the whole search (values only: gradients are counted in ``gradients``).
    objective_name : str
        'fidelity', 'yield', 'fidelity_at_yield' or the callable's name.
    t_max : float
        The upper end of the search interval.
    by_rounds : dict of int to float
        {R: best objective at R rounds} for every R tried.
    gradients : int
        Analytic gradients computed (one forward and one adjoint sweep of the branches each, no solve).
    flat_directions : numpy.ndarray, shape (m, rounds)
        Orthonormal directions in the space of the times along which the objective changes by at most
        FLAT_TOL = 1e-9 (relative) over a step of FLAT_STEP = 1 % of t_max (:mod:`.flatness`): other
        schedules score the same, so the optimum is not unique there. m = 0 for a well-defined optimum;
        ``repr`` names them.

    Examples
    --------
    >>> import numpy as np
    >>> import darkspin as ds
    >>> short = ds.Protocol("ud", [100, 200], np.linspace(0, 300, 3))
    >>> best = ds.optimize_schedule(ds.SpinPair(), short, rounds=2, t_max=300, starts=1)
    >>> best.protocol.rounds, best.measure_at.shape
    (2, (2,))
    """

    measure_at: np.ndarray
    objective: float
    protocol: Protocol
    rounds: int
    yield_: float
    fidelity: float
    evaluations: int
    objective_name: str = "fidelity"
    t_max: float = math.nan
    by_rounds: dict = dataclasses.field(default_factory=dict)
    gradients: int = 0
    flat_directions: np.ndarray = dataclasses.field(default_factory=lambda: np.zeros((0, 0)))

    def __repr__(self) -> str:
        times = ", ".join(f"{t:.6g}" for t in self.measure_at)
        flat = ""
        if len(self.flat_directions):
            flat = (
                f", flat along {describe_flat(self.flat_directions)}: moving there by {100 * FLAT_STEP:g}% of t_max "
                f"changes the objective by < {FLAT_TOL:g} (relative), so other schedules score the same"
            )
        return (
            f"Schedule(rounds={self.rounds}, measure_at=[{times}], objective={self.objective:.10g} "
            f"({self.objective_name}), fidelity={self.fidelity:.10g}, yield_={self.yield_:.10g}, "
            f"evaluations={self.evaluations}, gradients={self.gradients}{flat})"
        )


def _objective_name(objective: Objective) -> str:
    if isinstance(objective, str):
        return objective
    return getattr(objective, "__name__", type(objective).__name__)


def _check_inputs(
    model: Model,
    protocol: Protocol,
    rounds: int | None,
    t_max: float | None,
    objective: Objective,
    min_yield: float | None,
    max_rounds: int | None,
    starts: int,
    seed: int,
    target_state: str | ArrayLike | None,
) -> tuple[list[int], float, np.ndarray, int]:
    """Validate everything before any solve; returns (rounds to try, t_max, target vector (d,), starts)."""
    if not isinstance(protocol, Protocol):
        raise ValueError(f"protocol must be a Protocol, got {type(protocol).__name__}")
    d = check_model(model, protocol)
    if (objective not in OBJECTIVES) if isinstance(objective, str) else not callable(objective):
        raise ValueError(f"objective must be one of {OBJECTIVES} or a callable f(result) -> float, got {objective!r}")
    if objective == "fidelity_at_yield":
        if min_yield is None:
            raise ValueError("min_yield must be given (a number in [0, 1]) for objective 'fidelity_at_yield'")
        if isinstance(min_yield, bool) or not isinstance(min_yield, numbers.Real) or not 0.0 <= min_yield <= 1.0:
            raise ValueError(f"min_yield must be a number in [0, 1], got {min_yield!r}")
    elif min_yield is not None:
        raise ValueError(f"min_yield applies only to objective 'fidelity_at_yield', got objective {objective!r}")

    def integer(name: str, value: Any, low: int, high: int) -> int:
        # numbers.Integral declares no comparisons; its instances compare as ints
        if isinstance(value, bool) or not isinstance(value, numbers.Integral) or not low <= cast(int, value) <= high:
            raise ValueError(f"{name} must be an integer in [{low}, {high}], got {value!r}")
        return int(value)

    if max_rounds is not None:
        if rounds is not None:
            raise ValueError("give rounds (a fixed number) or max_rounds (the best of 1..max_rounds), not both")
        max_rounds = integer("max_rounds", max_rounds, 1, MAX_SCHEDULE_ROUNDS)
        candidates = list(range(1, max_rounds + 1))
    else:
        if rounds is None:
            rounds = protocol.rounds
            if rounds == 0:
                raise ValueError("rounds must be given: the protocol has no measurement rounds to count")
        candidates = [integer("rounds", rounds, 1, MAX_SCHEDULE_ROUNDS)]
    starts = integer("starts", starts, 1, MAX_STARTS)
    integer("seed", seed, 0, 2**64 - 1)
    t_final = protocol.t_final
    if t_max is None:
        t_max = t_final
    if isinstance(t_max, bool) or not isinstance(t_max, numbers.Real) or not math.isfinite(t_max):
        raise ValueError(f"t_max must be a finite number in (0, {min(t_final, MAX_TIME):g}], got {t_max!r}")
    t_max = float(t_max)
    if not 0.0 < t_max <= min(t_final, MAX_TIME):
        raise ValueError(
            f"t_max must lie in (0, min(protocol's final output time, MAX_TIME)] = (0, {min(t_final, MAX_TIME):g}], "
            f"got {t_max:g}"
        )
    # the instrument and the rule must make sense for every candidate number of rounds
    distinct = list(dict.fromkeys(protocol.measurements))
    if len(distinct) > 1 and candidates != [protocol.rounds]:
        raise ValueError(
            f"rounds: the protocol has a different instrument per round ({protocol.rounds} rounds); with another "
            "number of rounds give it one Measurement for every round"
        )
    if protocol.postselect not in ("all", "last", "none") and candidates != [len(protocol.postselect)]:
        raise ValueError(
            f"rounds: the protocol's postselect pattern {protocol.postselect!r} fixes {len(protocol.postselect)} "
            "rounds; use 'all', 'last' or 'none' to vary the number of rounds"
        )
    if not distinct and d != 4:
        raise ValueError(
            f"protocol.measurement: the protocol has no rounds, so no instrument to reuse, and the default "
            f"tau_z x tau_z needs d = 4 (this model has d = {d}); give the protocol a Measurement"
        )
    target = target_vector(target_state, d)
    return candidates, t_max, target, starts


def _with_times(protocol: Protocol, times: np.ndarray) -> Protocol:
    """The protocol with new measurement times (same initial state, outputs, instruments and rule)."""
    distinct = list(dict.fromkeys(protocol.measurements))
    measurement: list[Measurement | Monitor] | Measurement | Monitor | None
    if len(distinct) > 1:
        measurement = list(protocol.measurements)  # same number of rounds (checked)
    else:
        measurement = distinct[0] if distinct else None
    return Protocol(
        protocol.initial,
        times,
        protocol.times,
        measurement=measurement,
        postselect=protocol.postselect,
        segments=protocol.segments,
        gates=protocol.gates,
    )


def _with_gate_times(protocol: Protocol, times: np.ndarray) -> Protocol:
    """The protocol with new gate times (gate k keeps its place in the list; times non-decreasing)."""
    gates = [(float(t), g) for t, (_, g) in zip(times, protocol.gates, strict=True)]
    return Protocol(
        protocol.initial,
        protocol.measure_at,
        protocol.times,
        measurement=list(protocol.measurements) or None,
        postselect=protocol.postselect,
        segments=protocol.segments,
        gates=gates,
    )


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


def optimize_schedule(
    model: Model,
    protocol: Protocol,
    rounds: int | None = None,
    t_max: float | None = None,
    *,
    objective: Objective = "fidelity",
    min_yield: float | None = None,
    max_rounds: int | None = None,
    starts: int = 8,
    seed: int = 0,
    target_state: str | ArrayLike | None = None,
    vary: str = "measure_at",
) -> Schedule:
    """Measurement times in [0, t_max] that maximise ``objective`` of the exact protocol solution.

    Deterministic for a given seed. The method and its cost are in the module docstring and
    docs/schedule.md.

    Parameters
    ----------
    model : Model
        Any model (SpinPair, LindbladModel).
    protocol : Protocol
        The protocol to redesign: its initial state, output times, instrument (one reused for every
        round; a per-round list only if the number of rounds stays the same) and post-selection rule are
        kept; only ``measure_at`` changes.
    rounds : int or None
        Number of measurements, an integer in [1, MAX_SCHEDULE_ROUNDS = 100]; default: the protocol's
        own. Exclusive with ``max_rounds``.
    t_max : float or None
        Latest measurement time, in (0, final output time] (model time unit); default: the protocol's
        final output time.
    objective : str or callable
        'fidelity' (post-selected target population at the final output time), 'yield' (final
        p_cumulative), 'fidelity_at_yield' (fidelity with yield >= min_yield), a
        :class:`~darkspin.PerUnitTime` (a figure of merit per unit of protocol time, with an analytic
        gradient; a schedule of zero duration scores -inf) or a callable f(MasterEquationResult) -> float;
        always maximised. For the named objectives an undefined
        post-selected state (NaN) counts as -inf; a callable must return a finite number.
    min_yield : float or None
        In [0, 1]; required by, and only accepted with, 'fidelity_at_yield'.
    max_rounds : int or None
        Optimise every number of rounds from 1 to max_rounds (<= 100) and keep the best (ties go to
        fewer rounds).
    starts : int
        Local searches per number of rounds, in [1, 1000]: the equally spaced schedule, then sorted
        uniform random ones drawn with ``seed``.
    seed : int
        An integer in [0, 2**64).
    target_state : str, array_like of shape (d,), or None
        The state whose post-selected population is the fidelity: None (the singlet, d = 4), a label
        ('S', 'T1', ..., 'ud') or a d-vector.
    vary : str
        'measure_at' (the measurement times) or 'gate_at': the times of the protocol's G gates instead
        (each gate keeps its place in the list; the measurement times stay; ``rounds`` and
        ``max_rounds`` must be None; the Schedule's ``measure_at`` and ``rounds`` then hold the gate
        times and G). Protocols with segments or gates use forward-difference gradients.

    Returns
    -------
    Schedule
        The best schedule evaluated anywhere in the search; its ``flat_directions`` (and ``repr``) say in
        which directions of the times the objective is flat there (other schedules score the same).

    Raises
    ------
    ValueError
        For any bad input, before any solve (naming the parameter and its range), when no schedule
        tried reaches ``min_yield``, or when a callable objective returns a non-finite value (naming the
        callable and the schedule's times).

    Examples
    --------
    >>> import numpy as np
    >>> import darkspin as ds
    >>> short = ds.Protocol("ud", [100, 200], np.linspace(0, 300, 3))
    >>> best = ds.optimize_schedule(ds.SpinPair(), short, rounds=2, t_max=300, starts=1)
    >>> best.rounds, bool(best.objective >= best.by_rounds[2] - 1e-12)
    (2, True)
    """
    if vary not in ("measure_at", "gate_at"):
        raise ValueError(f"vary must be 'measure_at' or 'gate_at', got {vary!r}")
    gate_mode = vary == "gate_at"
    if gate_mode:
        if not isinstance(protocol, Protocol) or not protocol.gates:
            raise ValueError("vary='gate_at' needs a protocol with gates")
        if rounds is not None or max_rounds is not None:
            raise ValueError("vary='gate_at' optimises the protocol's own gates: rounds and max_rounds must be None")
        rounds = protocol.rounds or 1  # the measurement rounds stay: check the inputs as for them
    candidates, t_max, target, starts = _check_inputs(
        model, protocol, rounds, t_max, objective, min_yield, max_rounds, starts, seed, target_state
    )
    if gate_mode:
        candidates = [len(protocol.gates)]
    rng = np.random.default_rng(seed)
    evaluations = gradients = 0
    best: tuple | None = None  # (objective, R, times, fidelity, yield)
    by_rounds: dict[int, float] = {}
    for R in candidates:
        search = _Search(model, protocol, t_max, objective, min_yield, target)
        own = protocol.measure_at
        if gate_mode:
            search.build, own = _with_gate_times, protocol.gate_at
        if own.size == R and own[-1] <= t_max:
            search.evaluate_times([np.array(own)])  # never return worse than the protocol's own schedule
        schedules = [t_max * np.arange(1, R + 1) / (R + 1)]
        schedules += [t_max * np.sort(rng.uniform(size=R)) for _ in range(starts - 1)]
        for times in schedules:
            search.evaluate_times([times])  # the start itself counts, whatever the optimiser does
            _run_start(search, stick_weights(times, t_max))
        evaluations += search.evaluations
        gradients += search.gradients
        if search.best is None:  # fidelity_at_yield: no schedule evaluated at this R met the constraint
            by_rounds[R] = -math.inf
            continue
        value, times, fidelity, yld = search.best
        by_rounds[R] = value
        if best is None or value > best[0]:
            best = (value, R, times, fidelity, yld)
    if best is None:
        raise ValueError(
            f"min_yield = {min_yield:g} was not reached by any schedule tried (rounds {candidates[0]}.."
            f"{candidates[-1]}, t_max = {t_max:g}): lower min_yield or allow other rounds"
        )
    value, R, times, fidelity, yld = best
    flat_search = _Search(model, protocol, t_max, objective, min_yield, target)
    flat = flat_directions(times, value, lambda ts: [v for v, _, _ in flat_search.evaluate_times(ts)], t_max)
    evaluations += flat_search.evaluations
    times.setflags(write=False)
    return Schedule(
        measure_at=times,
        objective=value,
        protocol=(_with_gate_times if gate_mode else _with_times)(protocol, times),
        rounds=R,
        yield_=yld,
        fidelity=fidelity,
        evaluations=evaluations,
        objective_name=_objective_name(objective),
        t_max=t_max,
        by_rounds=by_rounds,
        gradients=gradients,
        flat_directions=flat,
    )
