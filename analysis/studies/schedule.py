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

The checks of the inputs are in :mod:`.schedule_inputs`, the objective, its gradient and the multi-start
search in :mod:`.schedule_search`.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
from numpy.typing import ArrayLike

from ...trajectories.plan import Model
from ...trajectories.protocol import Protocol
from .flatness import FLAT_STEP, FLAT_TOL, describe_flat, flat_directions
from .schedule_inputs import MAX_SCHEDULE_ROUNDS as MAX_SCHEDULE_ROUNDS
from .schedule_inputs import MAX_STARTS as MAX_STARTS
from .schedule_inputs import OBJECTIVES as OBJECTIVES
from .schedule_inputs import Objective as Objective
from .schedule_inputs import _check_inputs, _objective_name, _with_gate_times, _with_times
from .schedule_search import FD_STEP as FD_STEP
from .schedule_search import MAX_ITER as MAX_ITER
from .schedule_search import UNDEFINED_PENALTY as UNDEFINED_PENALTY
from .schedule_search import _run_start, _Search
from .stick_breaking import stick_weights


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
