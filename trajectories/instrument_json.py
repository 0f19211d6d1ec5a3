"""The general instruments as plain JSON text, for saving a protocol that holds Kraus instruments, monitored
windows or feedback on the rule state (a projective instrument without such feedback is saved as arrays,
as always). Floats are written with ``repr`` and read back bit for bit.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np

from .instrument_operators import RECORDS
from .measurement import Measurement
from .monitor import Monitor

#: Most characters of the text (a file member's bound).
MAX_JSON_CHARS = 1 << 22


def _matrix(a: np.ndarray) -> list[list[list[float]]]:
    return [np.real(a).tolist(), np.imag(a).tolist()]


def _unmatrix(x: Any) -> np.ndarray:
    return np.array(x[0], float) + 1j * np.array(x[1], float)


def _feedback(m: Measurement | Monitor) -> list[list[Any]]:
    out: list[list[Any]] = [[r, None, _matrix(U)] for r, U in sorted(m.feedback.items())]
    out += [[r, s, _matrix(U)] for (r, s), U in sorted(m.history_feedback.items())]
    return out


def needs_json(measurements: tuple[Measurement | Monitor, ...]) -> bool:
    """True if some round is not a projective Measurement without feedback on the rule state.

    Parameters
    ----------
    measurements : tuple of Measurement or Monitor

    Returns
    -------
    bool
    """
    return any(m.kind != "projective" or m.history_feedback for m in measurements)


def instruments_to_json(measurements: tuple[Measurement | Monitor, ...]) -> str:
    """The rounds' instruments as JSON text.

    Parameters
    ----------
    measurements : tuple of Measurement or Monitor
        One per round.

    Returns
    -------
    str
        ``{"instruments": [spec, ...], "rounds": [index, ...]}`` with one spec per distinct instrument.
    """
    distinct = list(dict.fromkeys(measurements))
    specs: list[dict[str, Any]] = []
    for m in distinct:
        spec: dict[str, Any] = {"kind": m.kind, "feedback": _feedback(m)}
        if isinstance(m, Monitor):
            spec.update(
                channels=list(m.channels),
                duration=m.duration,
                efficiency=m.efficiency,
                dark_rate=m.dark_rate,
                threshold=m.threshold,
            )
        elif m.kraus is not None:
            spec["kraus"] = [[_matrix(M) for M in ops] for ops in m.kraus]
        else:
            spec.update(observable=_matrix(m.observable), readout_error=list(m.readout_error))
        specs.append(spec)
    rounds = [distinct.index(m) for m in measurements]
    return json.dumps({"instruments": specs, "rounds": rounds}, allow_nan=False)


def instruments_from_json(text: str) -> list[Measurement | Monitor]:
    """Inverse of :func:`instruments_to_json`.

    Parameters
    ----------
    text : str

    Returns
    -------
    list of Measurement or Monitor
        One per round.

    Raises
    ------
    ValueError
        For text that does not describe instruments, or instruments outside their ranges.
    """
    try:
        data = json.loads(text)
        built: list[Measurement | Monitor] = []
        for spec in data["instruments"]:
            fb: dict[Any, np.ndarray] = {}
            for r, s, U in spec["feedback"]:
                fb[int(r) if s is None else (int(r), int(s))] = _unmatrix(U)
            if spec["kind"] == "monitor":
                built.append(
                    Monitor(
                        [c if isinstance(c, str) else int(c) for c in spec["channels"]],
                        spec["duration"],
                        spec["efficiency"],
                        spec["dark_rate"],
                        spec["threshold"],
                        fb or None,
                    )
                )
            elif spec["kind"] == "kraus":
                kr = {rec: [_unmatrix(M) for M in ops] for rec, ops in zip(RECORDS, spec["kraus"], strict=True)}
                built.append(Measurement(kraus=kr, feedback=fb or None))
            else:
                eps = spec["readout_error"]
                built.append(Measurement(_unmatrix(spec["observable"]), (eps[0], eps[1]), fb or None))
        return [built[int(i)] for i in data["rounds"]]
    except (KeyError, TypeError, IndexError, json.JSONDecodeError) as exc:
        raise ValueError(f"instruments: not a valid description ({type(exc).__name__}: {exc})") from None
