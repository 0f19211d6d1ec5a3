"""Sweep axes over a protocol's segments and gates (issue 21).

Besides the whole lists (axes ``segments`` and ``gates``, one list of pairs per value), one item can be
varied: ``segment_at[i]`` (the time segment i starts), ``gate_at[i]`` (the time of gate i),
``gate_angle[i]`` (the angle, in radians, of gate i, a rotation such as ``"rx1(pi/2)"``) and
``segment_<field>[i]`` (a field of segment i's SpinPair, e.g. ``segment_lam1[0]``). Model-field axes
(``lam1``) change only the model at t = 0.
"""

from __future__ import annotations

import dataclasses
import re
from typing import Any

from ...trajectories.gates import rotation_name
from ...trajectories.protocol import Protocol

#: The whole-list axes.
SCHEDULE_AXES = ("segments", "gates")
_ITEM = re.compile(r"^(segment_at|gate_at|gate_angle|segment_([A-Za-z_][A-Za-z0-9_]*))\[(\d+)\]$")
#: How the accepted item axes are named in messages.
ITEM_AXES_TEXT = "segment_at[i], gate_at[i], gate_angle[i], segment_<field>[i]"


def is_schedule_axis(name: str) -> bool:
    """Whether ``name`` is a segment or gate axis.

    Parameters
    ----------
    name : str

    Returns
    -------
    bool
    """
    return name in SCHEDULE_AXES or _ITEM.match(name) is not None


def schedule_of_point(protocol: Protocol, changes: dict[str, Any]) -> tuple[list, list]:
    """The segments and gates of one sweep point: the protocol's with the schedule axes in ``changes`` applied.

    Parameters
    ----------
    protocol : Protocol
        The base protocol.
    changes : dict of str to Any
        {axis: value}; axes that are not schedule axes are ignored.

    Returns
    -------
    segments : list of (float, model)
    gates : list of (float, gate)

    Raises
    ------
    ValueError
        Naming the axis, for an item index past the list, an angle of a gate that is not a rotation, or
        a field of a segment model that has none.
    """
    segments = list(changes.get("segments", protocol.segments))
    gates = list(changes.get("gates", protocol.gates))
    for name, value in changes.items():
        m = _ITEM.match(name)
        if m is None:
            continue
        kind, field, i = m.group(1), m.group(2), int(m.group(3))
        items = gates if kind.startswith("gate") else segments
        if i >= len(items):
            what = "gates" if kind.startswith("gate") else "segments"
            raise ValueError(f"axis {name!r}: the protocol has {len(items)} {what}, so there is no item {i}")
        t, item = items[i]
        if kind in ("segment_at", "gate_at"):
            items[i] = (value, item)
        elif kind == "gate_angle":
            label = rotation_name(item)
            if label is None:
                raise ValueError(f"axis {name!r}: gates[{i}] = {item!r} is not a rotation 'r<x|y|z><1|2|12>(<angle>)'")
            items[i] = (t, (label, value))
        else:
            if not (dataclasses.is_dataclass(item) and field in {f.name for f in dataclasses.fields(item)}):
                raise ValueError(f"axis {name!r}: segments[{i}]'s {type(item).__name__} has no field {field!r}")
            items[i] = (t, dataclasses.replace(item, **{field: value}))  # type: ignore[type-var]
    return segments, gates
