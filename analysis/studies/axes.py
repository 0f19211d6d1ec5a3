"""The axes of a sweep: names and value lists checked, and every point's model and protocol built.

An axis is a model field, a protocol field (``PROTOCOL_AXES``) or a field of the instrument applied to
every round (``MEASUREMENT_AXES``); see :func:`darkspin.analysis.studies.sweep`. Every value and every
point is checked here before any work, so an error names the axis, the value and the accepted range.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
from collections.abc import Mapping, Sequence
from typing import Any, cast

import numpy as np

from ...trajectories.checks import check_flag, plain
from ...trajectories.measurement import Measurement
from ...trajectories.model import SpinPair
from ...trajectories.monitor import Monitor
from ...trajectories.plan import Model, check_model
from ...trajectories.protocol import MAX_ROUNDS, Protocol
from .derived import DerivedAxis, DerivedValue, expand, plain_value
from .schedule_axes import ITEM_AXES_TEXT, SCHEDULE_AXES, is_schedule_axis, schedule_of_point

#: Protocol fields that can be swept, then the fields of the measurement applied to every round.
PROTOCOL_AXES = ("initial", "measure_at", "times", "postselect", "rounds", "measurement")
MEASUREMENT_AXES = ("readout_error", "observable", "feedback")
#: Most points a sweep may have (checked before anything is built).
MAX_POINTS = 10**6
#: One point: (index of its value on each axis, its model, its protocol).
Point = tuple[tuple[int, ...], Model, Protocol]


# ---- axes --------------------------------------------------------------------------------------
def _short(value: Any) -> str:
    value = plain_value(value)
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, np.ndarray):
        return repr(value.tolist()) if value.size <= 8 else f"an array of shape {value.shape}"
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _model_fields(model: Model) -> tuple[str, ...]:
    if dataclasses.is_dataclass(model) and not isinstance(model, type):
        return tuple(f.name for f in dataclasses.fields(model))
    return ()


def _axis_text(name: str, value: Any) -> str:
    """How a non-numeric axis value is shown in the table (schedules as space-separated times)."""
    value = plain_value(value)
    if isinstance(value, Measurement):
        return value.describe()
    if isinstance(value, str):
        return value
    if name == "feedback":
        if value is None:
            return "none"
        if isinstance(value, dict):
            return " ".join(f"{int(r):+d}:{u if isinstance(u, str) else 'matrix'}" for r, u in value.items())
    if name == "readout_error" and np.ndim(value) == 1:
        return "/".join(format(float(x), "g") for x in value)
    if name in ("measure_at", "times"):
        return " ".join(format(float(x), "g") for x in np.asarray(value, float).ravel()) or "none"
    if name == "observable":
        return "matrix"
    if name == "initial":
        return "vector" if np.ndim(value) == 1 else "matrix"
    if name == "measurement":
        return "; ".join(m.describe() for m in value)
    return _short(value)


def _axis_column(name: str, values: list) -> np.ndarray:
    """The table column of an axis: float64 for real numbers, int64 for rounds, else text."""
    values = [plain_value(v) for v in values]
    if name == "rounds":
        return np.array([int(v) for v in values], np.int64)
    numeric = all(
        isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, (bool, np.bool_)) for v in values
    )
    if numeric and name not in ("postselect",):
        return np.array([float(v) for v in values], float)
    return np.array([_axis_text(name, v) for v in values], dtype=str)


def _check_spacing(spacing: Any) -> float | None:
    if spacing is None:
        return None
    if (
        isinstance(spacing, (bool, np.bool_))
        or not isinstance(spacing, (int, float, np.integer, np.floating))
        or not math.isfinite(spacing)
        or spacing <= 0
    ):
        raise ValueError(f"spacing must be None or a finite number > 0 (a time), got {plain(spacing)!r}")
    return float(spacing)


def _accepted(model: Model) -> str:
    fields = _model_fields(model)
    model_part = f"model: {', '.join(fields)}" if fields else f"model: none (a {type(model).__name__} has no fields)"
    return (
        f"{model_part}; protocol: {', '.join(PROTOCOL_AXES)}; measurement: {', '.join(MEASUREMENT_AXES)}; "
        f"schedule: {', '.join(SCHEDULE_AXES)}, {ITEM_AXES_TEXT}"
    )


def _check_axes(model: Model, axes: Any) -> tuple[list[str], list[list]]:
    """Axis names and value lists, checked for names, emptiness and conflicts (not yet for values)."""
    if not isinstance(axes, Mapping):
        raise ValueError(f"axes must be a mapping {{name: list of values}}, got {type(axes).__name__}")
    if not axes:
        raise ValueError(f"axes must name at least one parameter ({_accepted(model)})")
    fields = _model_fields(model)
    names, values = [], []
    for name, vals in axes.items():
        if not isinstance(name, str):
            raise ValueError(f"axis names must be strings, got {name!r}")
        if isinstance(vals, DerivedAxis):  # a value that sets several fields
            names.append(name)
            values.append(expand(name, vals, fields + PROTOCOL_AXES + MEASUREMENT_AXES))
            continue
        if name not in fields and name not in PROTOCOL_AXES + MEASUREMENT_AXES and not is_schedule_axis(name):
            hint = ""
            if not fields:
                hint = (
                    f" (a {type(model).__name__} has no named parameters: build one model per point and "
                    "sweep only protocol axes, or use a SpinPair)"
                )
            raise ValueError(f"unknown axis {name!r}{hint}; accepted: {_accepted(model)}")
        if isinstance(vals, (str, bytes, Mapping)) or not isinstance(vals, (Sequence, np.ndarray, range)):
            raise ValueError(f"axis {name!r} must be a list of values, got {_short(vals)}")
        vals = list(vals)
        if not vals:
            raise ValueError(f"axis {name!r} is empty: give at least one value")
        names.append(name)
        values.append(vals)
    for a, vals in enumerate(values):
        if vals and isinstance(vals[0], DerivedValue):
            clash = [f for f in vals[0].fields if f in names and f != names[a]]
            if clash:
                raise ValueError(
                    f"axis {names[a]!r} sets {clash}, which are axes of their own: sweep them in one place"
                )
    if "rounds" in names and "measure_at" in names:
        raise ValueError("axes 'rounds' and 'measure_at' exclude each other (both set the measurement times)")
    both = [a for a in MEASUREMENT_AXES if a in names]
    if "measurement" in names and both:
        raise ValueError(f"axis 'measurement' excludes the measurement fields {both} (it sets the whole instrument)")
    return names, values


def _rounds_schedule(value: Any, protocol: Protocol, spacing: float | None) -> np.ndarray:
    """measure_at for ``rounds = value``: k * spacing (default: the protocol's first time measure_at[0])."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)) or value < 0:
        raise ValueError(f"rounds must be an integer >= 0, got {_short(value)}")
    step = spacing
    if step is None:
        if protocol.rounds == 0 or protocol.measure_at[0] <= 0:
            raise ValueError(
                "rounds: give spacing= (the time between rounds); the protocol's first measurement time "
                f"{'does not exist' if protocol.rounds == 0 else 'is 0'}, so it cannot set the spacing"
            )
        step = float(protocol.measure_at[0])
    top = min(int(math.floor(protocol.t_final / step + 1e-12)), MAX_ROUNDS)
    if value > top:
        raise ValueError(
            f"rounds = {int(value)} with spacing {step:g} measures at up to {int(value) * step:g}, after the final "
            f"time {protocol.t_final:g}; accepted: 0 to {top}"
        )
    return step * np.arange(1, int(value) + 1, dtype=float)


def _new_measurement(m: Measurement | Monitor, changes: dict[str, Any]) -> Measurement:
    if not changes:
        return m  # type: ignore[return-value]  # unchanged, whatever it is
    if not isinstance(m, Measurement) or m.kind != "projective" or m.history_feedback:
        raise ValueError(
            f"sweeping {', '.join(sorted(changes))} needs projective instruments without feedback on the rule "
            f"state; the protocol has {m.describe()}"
        )
    return Measurement(
        changes.get("observable", m.observable),
        changes.get("readout_error", m.readout_error),
        changes["feedback"] if "feedback" in changes else (m.feedback or None),
    )


def _make_point(
    model: Model, protocol: Protocol, changes: dict[str, Any], spacing: float | None
) -> tuple[Model, Protocol]:
    """The (model, protocol) of one point: the base ones with ``changes`` {axis: value} applied."""
    if any(isinstance(v, DerivedValue) for v in changes.values()):
        flat: dict[str, Any] = {}
        for k, v in changes.items():
            flat.update(v.fields if isinstance(v, DerivedValue) else {k: v})
        changes = flat
    fields = _model_fields(model)
    mchanges = {k: v for k, v in changes.items() if k in fields}
    # model fields exist only on a dataclass model (SpinPair)
    point_model = dataclasses.replace(cast(SpinPair, model), **mchanges) if mchanges else model
    pchanges = {k: v for k, v in changes.items() if k not in fields}
    if not pchanges:
        return point_model, protocol
    if "rounds" in pchanges:
        measure_at = _rounds_schedule(pchanges["rounds"], protocol, spacing)
    else:
        measure_at = pchanges.get("measure_at", protocol.measure_at)
    rounds = int(np.size(measure_at))
    if "measurement" in pchanges:
        measurement = pchanges["measurement"]
    else:
        base = list(protocol.measurements)
        if rounds != len(base):
            distinct = list(dict.fromkeys(base))
            if len(distinct) > 1:
                raise ValueError(
                    "the protocol has different instruments in different rounds, so it does not say which "
                    f"instrument {rounds} rounds should use; sweep 'measurement' (one per round) instead"
                )
            base = distinct * rounds if distinct else [Measurement()] * rounds
        mfields = {k: v for k, v in pchanges.items() if k in MEASUREMENT_AXES}
        if mfields:
            one = {m: _new_measurement(m, mfields) for m in dict.fromkeys(base)}
            base = [one[m] for m in base]
        measurement = base[0] if base and all(m is base[0] for m in base) else (base or None)
    segments, gates = schedule_of_point(protocol, pchanges)
    point_protocol = Protocol(
        pchanges.get("initial", protocol.rho0),
        measure_at,
        pchanges.get("times", protocol.times),
        measurement=measurement,
        postselect=pchanges.get("postselect", protocol.postselect),
        segments=segments,
        gates=gates,
    )
    return point_model, point_protocol


def _points(
    model: Model, protocol: Protocol, names: list[str], values: list[list], paired: bool, spacing: float | None
) -> list[Point]:
    """All (index tuple, model, protocol), validated axis by axis and then point by point."""
    # each value alone, so an error names exactly the axis and the value; kept until a point needs it,
    # since a value may only make sense with another axis (a 2-round pattern with rounds = 2)
    alone: dict[tuple[int, int], tuple[str, str]] = {}
    fields = _model_fields(model)
    for a, (name, vals) in enumerate(zip(names, values, strict=True)):
        for j, v in enumerate(vals):
            try:
                m, p = _make_point(model, protocol, {name: v}, spacing)
                check_model(m, p)
            except ValueError as exc:
                alone[(a, j)] = (f"axis {name!r}, value {j + 1} ({_short(v)})", str(exc))
                if len(names) == 1 or name in fields:  # no other axis can make it valid: fail now
                    raise ValueError(": ".join(alone[(a, j)])) from None
    lengths = [len(v) for v in values]
    if paired:
        if len(set(lengths)) > 1:
            shown = ", ".join(f"{n}: {k}" for n, k in zip(names, lengths, strict=True))
            raise ValueError(f"paired=True needs axes of equal length, got {shown}")
        combos = [(j,) * len(names) for j in range(lengths[0])]
    else:
        total = math.prod(lengths)
        if total > MAX_POINTS:
            raise ValueError(f"the grid has {total} points, more than MAX_POINTS = {MAX_POINTS}")
        combos = list(itertools.product(*(range(k) for k in lengths)))
    points = []
    for combo in combos:
        changes = {n: values[a][j] for a, (n, j) in enumerate(zip(names, combo, strict=True))}
        try:
            m, p = _make_point(model, protocol, changes, spacing)
            check_model(m, p)
        except ValueError as exc:
            for a, j in enumerate(combo):
                if alone.get((a, j), ("", None))[1] == str(exc):  # the same failure as the value alone
                    raise ValueError(": ".join(alone[(a, j)])) from None
            shown = ", ".join(f"{n} = {_axis_text(n, v)}" for n, v in changes.items())
            raise ValueError(f"sweep point ({shown}): {exc}") from None
        points.append((combo, m, p))
    return points


def _shown_point(names: list[str], values: list[list], combo: tuple[int, ...]) -> dict[str, str]:
    """{axis: value as text} of one point (stored with its saved files, to check they belong to it)."""
    return {n: _axis_text(n, values[a][j]) for a, (n, j) in enumerate(zip(names, combo, strict=True))}


def check_sweep(
    model: Model,
    protocol: Protocol,
    axes: Mapping[str, Sequence],
    *,
    paired: bool = False,
    spacing: float | None = None,
) -> int:
    """Check a sweep's axes as :func:`~darkspin.analysis.studies.sweep` does, without any work.

    Parameters
    ----------
    model : Model
        The base model.
    protocol : Protocol
        The base protocol.
    axes : mapping of str to sequence
        {axis name: list of values}, as for ``sweep``.
    paired : bool
        Pair the axes element-wise (equal lengths) instead of a grid.
    spacing : float or None
        Time between rounds for a ``rounds`` axis (model time unit); None: the protocol's first
        measurement time.

    Returns
    -------
    int
        The number of points.

    Raises
    ------
    ValueError
        Naming the axis, the value and the accepted range (unknown names, empty lists, a point that
        cannot be built).
    """
    if not isinstance(protocol, Protocol):
        raise ValueError(f"protocol must be a Protocol, got {type(protocol).__name__}")
    check_model(model, protocol)
    names, values = _check_axes(model, axes)
    return len(_points(model, protocol, names, values, check_flag("paired", paired), _check_spacing(spacing)))
