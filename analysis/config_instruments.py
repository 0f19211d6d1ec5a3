"""The [protocol] keys of the general instruments (issue 22) in a run configuration.

    monitor  = { channels = ["dephasing[0]"], duration = 50.0, efficiency = 0.9, dark_rate = 1e-4,
                 threshold = 1 }
               a monitored window (:class:`darkspin.Monitor`) instead of a projective round; channels by
               label or index, the other keys optional (defaults: efficiency 1, dark_rate 0, threshold 1);
    kraus    = "instrument.npz"
               a Kraus instrument from a NumPy .npz file holding arrays ``plus`` (J+, d, d) and ``minus``
               (J-, d, d) (the operators of records +1 and -1; the path is relative to the current folder),
               or an inline table {"+1" = [matrix, ...], "-1" = [matrix, ...]};
    strength = 0.5
               a weak measurement of the observable with strength in (0, 1] (:meth:`darkspin.Measurement.weak`).
    feedback keys "+1@s" / "-1@s" apply only when the post-selection rule's machine is in state s before
    the round (with the rule 'all', "+1@0" flips on the first +1 only).

Each excludes observable / readout_error where they make no sense; every message is one line and names
the key.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from ..trajectories.measurement import Measurement
from ..trajectories.monitor import Monitor

#: The keys of a monitor table.
MONITOR_KEYS = ("channels", "duration", "efficiency", "dark_rate", "threshold")


def parse_monitor(key: str, value: object, feedback: dict[Any, Any] | None) -> Monitor:
    """A Monitor from a config table.

    Parameters
    ----------
    key : str
        The key as the file spells it (for messages).
    value : object
        The table.
    feedback : dict, optional
        The round's feedback, already parsed.

    Returns
    -------
    Monitor

    Raises
    ------
    ValueError
        Naming the key, for a table with unknown or missing keys or values out of range.
    """
    if not isinstance(value, dict):
        raise ValueError(f"{key} must be a table {{channels = [...], duration = ...}}, got {value!r}")
    unknown = sorted(set(value) - set(MONITOR_KEYS))
    if unknown:
        raise ValueError(f"unknown key '{key}.{unknown[0]}' (accepted: {', '.join(MONITOR_KEYS)})")
    for need in ("channels", "duration"):
        if need not in value:
            raise ValueError(f"{key}.{need} is required")
    chans = value["channels"]
    if not isinstance(chans, list):
        chans = [chans]
    args = {k: value[k] for k in ("efficiency", "dark_rate", "threshold") if k in value}
    try:
        return Monitor(chans, value["duration"], feedback=feedback, **args)
    except ValueError as exc:
        raise ValueError(f"{key}.{exc}") from None


def parse_kraus(key: str, value: object, parse_matrix: Any) -> dict[int, list[np.ndarray]]:
    """Kraus operators per record from a file name or an inline table.

    Parameters
    ----------
    key : str
        The key as the file spells it.
    value : object
        A path to an .npz file with arrays ``plus`` and ``minus``, or a table {"+1" = [...], "-1" = [...]}.
    parse_matrix : callable
        The config's matrix parser (key, value) -> ndarray.

    Returns
    -------
    dict of int to list of ndarray
        ``{+1: [...], -1: [...]}`` (completeness is checked by Measurement).

    Raises
    ------
    ValueError
        Naming the key, for a missing or unreadable file or a malformed table.
    """
    if isinstance(value, str):
        if not os.path.isfile(value):
            raise ValueError(f"{key}: no file {value!r}")
        try:
            with np.load(value, allow_pickle=False) as data:
                if "plus" not in data or "minus" not in data:
                    raise ValueError(f"{key}: file {value!r} must hold arrays 'plus' and 'minus'")
                plus, minus = np.asarray(data["plus"]), np.asarray(data["minus"])
        except (OSError, ValueError) as exc:
            raise ValueError(f"{key}: cannot read {value!r} ({exc})") from None
        out = {}
        for r, arr in ((1, plus), (-1, minus)):
            if arr.ndim == 2:
                arr = arr[None]
            if arr.ndim != 3:
                raise ValueError(
                    f"{key}: array {'plus' if r == 1 else 'minus'} must have shape (J, d, d), got {arr.shape}"
                )
            out[r] = list(arr)
        return out
    if isinstance(value, dict):
        out = {}
        for record, ops in value.items():
            rec = {"+1": 1, "1": 1, "+": 1, "-1": -1, "-": -1}.get(str(record).strip())
            if rec is None or not isinstance(ops, list):
                raise ValueError(f'{key} must be a table {{"+1" = [matrix, ...], "-1" = [matrix, ...]}}, got {value!r}')
            out[rec] = [parse_matrix(f"{key}.{record}[{j}]", M) for j, M in enumerate(ops)]
        return out
    raise ValueError(f"{key} must be a file name or a table of matrices per record, got {value!r}")


def general_instrument(
    where: str, spec: dict[str, Any], feedback: Any, parse_matrix: Any
) -> Measurement | Monitor | None:
    """The instrument of the keys monitor, kraus or strength, if one is given (else None).

    Parameters
    ----------
    where : str
        'protocol' or 'protocol.rounds[k]' (for messages).
    spec : dict
        The round's keys.
    feedback : dict, optional
        The round's feedback, already parsed.
    parse_matrix : callable
        The config's matrix parser.

    Returns
    -------
    Measurement or Monitor or None

    Raises
    ------
    ValueError
        Naming the key, for conflicting keys or bad values.
    """
    given = [k for k in ("monitor", "kraus", "strength") if spec.get(k) is not None]
    if not given:
        return None
    if len(given) > 1:
        raise ValueError(f"{where}.{given[0]} and {where}.{given[1]} exclude each other")
    kind = given[0]
    plain = spec.get("observable", "zz") == "zz" and spec.get("readout_error", 0.0) in (0, 0.0)
    if kind != "strength" and not plain:
        raise ValueError(f"{where}.{kind} excludes {where}.observable and {where}.readout_error")
    try:
        if kind == "monitor":
            return parse_monitor(f"{where}.monitor", spec["monitor"], feedback)
        if kind == "kraus":
            return Measurement(kraus=parse_kraus(f"{where}.kraus", spec["kraus"], parse_matrix), feedback=feedback)
        if spec.get("readout_error", 0.0) not in (0, 0.0):
            raise ValueError(f"{where}.strength excludes {where}.readout_error")
        obs = spec.get("observable", "zz")
        if not isinstance(obs, str):
            obs = parse_matrix(f"{where}.observable", obs)
        return Measurement.weak(obs, spec["strength"], feedback)
    except ValueError as exc:
        text = str(exc)
        raise ValueError(text if text.startswith(where) else f"{where}.{text}") from None
