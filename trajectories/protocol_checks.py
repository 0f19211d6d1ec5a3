"""The checks of a protocol's inputs: time grids (real, finite, non-negative, sorted, at most MAX_TIME),
the instrument of every round, monitored windows (ending by the last output time, holding no other round)
and feedback keyed by a state of the post-selection rule's machine.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from .measurement import Measurement
from .monitor import Monitor

#: Latest output or measurement time, in the model's time unit (1/nu for the presets). The exact
#: solver's propagators lose accuracy from ~1e14, and the kernel's propagators overflow near 1e155.
MAX_TIME = 1e12


def _has_bool(values: Any) -> bool:
    """True if ``values`` (any nesting of sequences and arrays) holds a bool, which numpy would take for 0/1."""
    if isinstance(values, (bool, np.bool_)):
        return True
    if isinstance(values, np.ndarray):
        return values.dtype.kind == "b" or (values.dtype.kind == "O" and any(map(_has_bool, values.flat)))
    if isinstance(values, (list, tuple)):
        return any(map(_has_bool, values))
    return False


def _numeric(name: str, values: Any) -> None:
    """Reject strings, bytes, bools and objects that numpy would silently convert."""
    if isinstance(values, (str, bytes)) or np.asarray(values).dtype.kind not in "iufc" or _has_bool(values):
        raise ValueError(f"{name} must hold real numbers (not booleans or strings), got {_short(values)}")


def _short(values: Any) -> str:
    """A value for an error message: plain Python numbers, at most a few of them."""
    if isinstance(values, np.generic):
        return repr(values.item())
    if isinstance(values, np.ndarray):
        if values.size > 8:
            return f"an array of shape {values.shape}"
        return repr(values.tolist())
    text = repr(values)
    return text if len(text) <= 80 else text[:77] + "..."


def _as_times(name: str, values: ArrayLike, *, strict: bool, max_size: int) -> np.ndarray:
    try:
        raw = np.asarray(values)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a 1-d sequence of real times, got {_short(values)}") from None
    if raw.ndim != 1:
        raise ValueError(f"{name} must be a 1-d sequence of real times, got shape {raw.shape}")
    if raw.size > max_size:
        raise ValueError(f"{name} may hold at most {max_size} times, got {raw.size}")
    _numeric(name, values)
    if raw.dtype.kind == "c":
        raise ValueError(f"{name} must hold real times, got complex numbers")
    try:
        arr = np.array(raw, dtype=float)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a 1-d sequence of real times, got {_short(values)}") from None
    bad = np.flatnonzero(~np.isfinite(arr))
    if bad.size:
        raise ValueError(f"{name} must be finite, got {float(arr[bad[0]])!r} at index {int(bad[0])}")
    if arr.size and arr[0] < 0:
        raise ValueError(f"{name} must be >= 0, got {float(arr[0])!r}")
    if arr.size and arr.max() > MAX_TIME:
        raise ValueError(f"{name} must be <= MAX_TIME = {MAX_TIME:g} (model time unit), got {float(arr.max())!r}")
    d = np.diff(arr)
    if strict and np.any(d <= 0):
        raise ValueError(f"{name} must be strictly increasing")
    if not strict and np.any(d < 0):
        raise ValueError(f"{name} must be sorted (non-decreasing)")
    return arr


def _check_windows(measurements: tuple[Measurement | Monitor, ...], meas: np.ndarray, t_end: float) -> None:
    """Each monitored window ends by the last output time and holds no other round."""
    for k, m in enumerate(measurements):
        if not isinstance(m, Monitor) or m.duration == 0.0:
            continue
        t0, t1 = float(meas[k]), float(meas[k]) + m.duration
        if t1 > t_end:
            raise ValueError(
                f"measurement: the window of round {k + 1} ends at {t1:g}, after the last output time {t_end:g}"
            )
        inside = np.flatnonzero((meas >= t0) & (meas < t1))
        inside = inside[inside != k]
        if inside.size:
            raise ValueError(
                f"measurement: the window of round {k + 1} [{t0:g}, {t1:g}) overlaps round {int(inside[0]) + 1} "
                f"at t = {float(meas[inside[0]]):g}; windows may not overlap other rounds"
            )


def _check_history(measurements: tuple[Measurement | Monitor, ...], n_states: int) -> None:
    """Every (record, state) feedback key names a state of the rule's machine."""
    for m in dict.fromkeys(measurements):
        for _, s in m.history_feedback:
            if s >= n_states:
                raise ValueError(
                    f"feedback: rule state {s} does not exist; the post-selection rule has states 0 .. {n_states - 1}"
                )


def _measurements(value: Any, rounds: int, dim: int) -> tuple[Measurement | Monitor, ...]:
    """One Measurement per round from None, one Measurement, or a sequence of rounds of them."""
    if value is None:
        if dim != 4 and rounds:
            raise ValueError(
                f"measurement: the default tau_z x tau_z acts on two spins (d = 4); give a "
                f"Measurement with a ({dim}, {dim}) observable"
            )
        value = Measurement()
    out: tuple[Measurement | Monitor, ...]
    if isinstance(value, (Measurement, Monitor)):
        out = (value,) * rounds
    elif isinstance(value, (str, bytes, dict)):
        raise ValueError(f"measurement must be a Measurement or a list of them, got {value!r}")
    else:
        try:
            out = tuple(value)
        except TypeError:
            raise ValueError(f"measurement must be a Measurement or a list of them, got {value!r}") from None
        if len(out) != rounds:
            raise ValueError(
                f"measurement must be one Measurement or a list of one per round ({rounds}), got {len(out)}"
            )
        for m in out:
            if not isinstance(m, (Measurement, Monitor)):
                raise ValueError(f"measurement list entries must be Measurement or Monitor objects, got {m!r}")
    for m in out[:1] + tuple(x for x in out[1:] if x is not out[0]):
        if m.dim is not None and m.dim != dim:
            raise ValueError(f"measurement acts on dimension {m.dim}, but the initial state has dimension {dim}")
    return out
