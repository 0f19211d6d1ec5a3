"""The inputs of :func:`~darkspin.analysis.studies.schedule.optimize_schedule`: the named objectives, the
limits on rounds and starts, every check made before any solve, and the protocol rebuilt with new
measurement or gate times.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable
from typing import Any, cast

import numpy as np
from numpy.typing import ArrayLike

from ...ensemble.results.master_equation import MasterEquationResult
from ...trajectories.measurement import Measurement
from ...trajectories.monitor import Monitor
from ...trajectories.operators import target_vector
from ...trajectories.plan import Model, check_model
from ...trajectories.protocol import MAX_TIME, Protocol

#: Named objectives.
OBJECTIVES = ("fidelity", "yield", "fidelity_at_yield")

#: Most rounds a schedule may be optimised for (an evaluation and a gradient each cost O(R)).
MAX_SCHEDULE_ROUNDS = 100

#: Most starting points.
MAX_STARTS = 1000

#: What optimize_schedule maximises: a name in OBJECTIVES or f(MasterEquationResult) -> float.
Objective = str | Callable[[MasterEquationResult], float]


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
