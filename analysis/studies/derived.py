"""Sweep axes derived from one value: each value of the axis sets several model or protocol fields.

    ratio = ds.DerivedAxis([0.8, 0.9, 1.0], lambda r: {"lam2": r * 0.0126, "J_ex": exchange(r)})
    table = ds.sweep(model, protocol, {"lam2/lam1": ratio})

The table gets a column for the axis (its values) and one per field it sets that is not itself an
axis (here lam2 and J_ex), so it equals the hand-written paired sweep over those fields.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np


@dataclasses.dataclass(frozen=True, eq=False)
class DerivedAxis:
    """A sweep axis whose every value sets several fields at once (for :func:`darkspin.sweep`).

    Parameters
    ----------
    values : sequence
        The axis values (shown in the axis column), at least one.
    fields : callable
        ``fields(value) -> {field: value}``: the model fields (nu, V, T, lam1, lam2, theta, phi, J_ex,
        J_DM) and protocol or instrument axes (rounds, readout_error, ...) that the value sets; the
        same names for every value.

    Raises
    ------
    ValueError
        If ``values`` is not a non-empty list or ``fields`` is not callable.

    Examples
    --------
    >>> import darkspin as ds
    >>> both = ds.DerivedAxis([0.0063, 0.0126], lambda lam: {"lam1": lam, "lam2": lam})  # both spins' rate
    >>> table = ds.sweep(ds.SpinPair(), ds.Protocol.paper(n_out=11), {"lam": both})
    >>> table["lam2"].tolist(), [round(float(f), 4) for f in table["fidelity_post"]]
    ([0.0063, 0.0126], [0.9945, 0.9996])
    """

    values: Sequence[Any]
    fields: Callable[[Any], Mapping[str, Any]]

    def __post_init__(self) -> None:
        if isinstance(self.values, (str, bytes, Mapping)) or not isinstance(self.values, (Sequence, np.ndarray, range)):
            raise ValueError(f"values must be a list of axis values, got {type(self.values).__name__}")
        if len(self.values) == 0:
            raise ValueError("values is empty: give at least one value")
        if not callable(self.fields):
            raise ValueError(f"fields must be a callable value -> {{field: value}}, got {self.fields!r}")


@dataclasses.dataclass(frozen=True, eq=False)
class DerivedValue:
    """One value of a derived axis with the fields it sets (what the sweep's points are built from)."""

    value: Any
    fields: dict[str, Any]


def expand(axis: str, derived: DerivedAxis, accepted: Sequence[str]) -> list[DerivedValue]:
    """Every value of a derived axis with its fields, checked: a mapping of accepted names, the same
    names for every value.

    Parameters
    ----------
    axis : str
        The axis name (for messages).
    derived : DerivedAxis
        The axis.
    accepted : sequence of str
        The field names a point may set.

    Returns
    -------
    list of DerivedValue

    Raises
    ------
    ValueError
        Naming the axis and the value, for a result that is not such a mapping (or a ValueError of the
        callable itself).
    """
    out = []
    names: list[str] | None = None
    for j, v in enumerate(derived.values):
        try:
            fields = derived.fields(v)
        except ValueError as exc:
            raise ValueError(f"axis {axis!r}, value {j + 1} ({v!r}): {exc}") from None
        if not isinstance(fields, Mapping) or not fields:
            raise ValueError(f"axis {axis!r}: fields({v!r}) must return a non-empty {{field: value}} mapping")
        unknown = [k for k in fields if k not in accepted]
        if unknown:
            raise ValueError(f"axis {axis!r}: fields({v!r}) sets unknown fields {unknown}; accepted: {list(accepted)}")
        if names is None:
            names = list(fields)
        elif list(fields) != names:
            raise ValueError(f"axis {axis!r}: fields({v!r}) sets {list(fields)}, but the first value set {names}")
        out.append(DerivedValue(v, dict(fields)))
    return out


def plain_value(value: Any) -> Any:
    """The axis value itself (a derived axis's value without its fields).

    Parameters
    ----------
    value : Any
        An axis value or a :class:`DerivedValue`.

    Returns
    -------
    Any
    """
    return value.value if isinstance(value, DerivedValue) else value
