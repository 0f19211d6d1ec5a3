"""The ``[[protocol.segments]]`` and ``[[protocol.gates]]`` tables of a run config (issue 21).

    [[protocol.segments]]        # from t on, the [model] with these keys changed
    t = 250.0
    lam1 = 0.006
    lam2 = 0.006

    [[protocol.gates]]           # at t, a unitary: 'flip1', 'flip2', a rotation 'rx1(pi/2)', 'ry12(0.3)',
    t = 150.0                    # ... (docs/time_dependence.md), or a 4x4 matrix (rows of numbers or
    gate = "rx12(pi/2)"          # [re, im] pairs)

Each segment's keys are SpinPair fields (nu, V, T, lam1, lam2, theta, phi, J_ex, J_DM) overriding the
[model] section; ``bandwidth`` is not accepted there (give J_ex and J_DM). The protocol itself checks
the times (in [0, t_final], segments strictly increasing, gates non-decreasing) and the gates.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from ..trajectories.model import SpinPair

SEGMENT_KEYS = ("t", *(f.name for f in dataclasses.fields(SpinPair)))
GATE_KEYS = ("t", "gate")


def _tables(key: str, value: Any) -> list[dict]:
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        raise ValueError(f"{key} must be a list of tables ([[{key}]]), got {value!r}"[:200])
    return value


def _time(key: str, table: dict) -> Any:
    if "t" not in table:
        raise ValueError(f"{key} needs a time t")
    t = table["t"]
    if isinstance(t, bool) or not isinstance(t, (int, float)):
        raise ValueError(f"{key}.t must be a number (a time), got {t!r}")
    return float(t)


def parse_segments(value: Any, model: SpinPair) -> list[tuple[float, SpinPair]]:
    """The segments of ``[[protocol.segments]]``: the [model] with each table's keys changed from time t.

    Parameters
    ----------
    value : list of dict
        The TOML tables.
    model : SpinPair
        The [model] section's model.

    Returns
    -------
    list of (float, SpinPair)

    Raises
    ------
    ValueError
        Naming the table and key ('protocol.segments[1].lam1'), for an unknown key or a bad value.
    """
    out = []
    for i, table in enumerate(_tables("protocol.segments", value)):
        key = f"protocol.segments[{i}]"
        for k in table:
            if k not in SEGMENT_KEYS:
                raise ValueError(f"unknown key '{key}.{k}' (accepted: {', '.join(SEGMENT_KEYS)})")
        changes = {k: v for k, v in table.items() if k != "t"}
        for k, v in changes.items():
            if isinstance(v, bool) or not isinstance(v, (int, float)):
                raise ValueError(f"{key}.{k} must be a real number, got {v!r}")
        try:
            seg = model.replace(**{k: float(v) for k, v in changes.items()})
        except ValueError as exc:
            raise ValueError(f"{key}: {exc}") from None
        out.append((_time(key, table), seg))
    return out


def _matrix(key: str, value: Any) -> np.ndarray:
    rows = value if isinstance(value, list) and all(isinstance(r, list) for r in value) else None
    if not rows:
        raise ValueError(f"{key}.gate must be a name or a matrix (a list of rows), got {value!r}"[:200])
    try:
        return np.array([[complex(x[0], x[1]) if isinstance(x, list) else complex(x) for x in r] for r in rows])
    except (TypeError, ValueError, IndexError):
        raise ValueError(f"{key}.gate entries must be numbers or [re, im] pairs") from None


def parse_gates(value: Any) -> list[tuple[float, Any]]:
    """The gates of ``[[protocol.gates]]``: (t, name or matrix) pairs, checked by the protocol.

    Parameters
    ----------
    value : list of dict
        The TOML tables.

    Returns
    -------
    list of (float, str or ndarray)

    Raises
    ------
    ValueError
        Naming the table and key, for an unknown or missing key or a malformed matrix.
    """
    out = []
    for i, table in enumerate(_tables("protocol.gates", value)):
        key = f"protocol.gates[{i}]"
        for k in table:
            if k not in GATE_KEYS:
                raise ValueError(f"unknown key '{key}.{k}' (accepted: {', '.join(GATE_KEYS)})")
        if "gate" not in table:
            raise ValueError(f"{key} needs a gate (a name such as 'rx1(pi/2)' or a matrix)")
        g = table["gate"]
        out.append((_time(key, table), g if isinstance(g, str) else _matrix(key, g)))
    return out
