"""The [model] and [protocol] sections of a run config: the model (or its bandwidth), the initial state,
the output times and the instrument of every round, each bad value a :class:`ConfigError` naming its key.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..trajectories.measurement import Measurement
from ..trajectories.model import MAX_PARAM, SpinPair, exchange_from_bandwidth
from ..trajectories.monitor import Monitor
from ..trajectories.protocol import INITIAL_LABELS, Protocol
from .config_instruments import general_instrument
from .config_keys import (
    INSTRUMENT_KEYS,
    MAX_N_OUT,
    MODEL_KEYS,
    ConfigError,
    integer_key,
    real_key,
)


def _parse_model(defaults: dict[str, Any], given: dict[str, Any]) -> tuple[SpinPair, float | None]:
    # SpinPair and exchange_from_bandwidth validate; their messages start with the field name
    params = {k: given.get(k, defaults[k]) for k in MODEL_KEYS if k != "bandwidth"}
    bandwidth = None
    if "bandwidth" in given:
        for k in ("J_ex", "J_DM"):
            if k in given:
                raise ConfigError(
                    f"model.bandwidth and model.{k} exclude each other (bandwidth computes J_ex and J_DM)"
                )
        bandwidth = real_key("model.bandwidth", given["bandwidth"])
        try:
            for k in ("lam1", "lam2", "V", "theta", "phi"):  # checked here so errors name the key
                SpinPair(**{k: params[k]})
            params["J_ex"], params["J_DM"] = exchange_from_bandwidth(
                params["lam1"], params["lam2"], params["V"], bandwidth, params["theta"], params["phi"]
            )
        except ValueError as exc:
            raise ConfigError(f"model.{exc}") from None
        for k in ("J_ex", "J_DM"):
            if abs(params[k]) > MAX_PARAM:
                raise ConfigError(f"model.bandwidth = {bandwidth!r} gives {k} = {params[k]!r}, outside +-{MAX_PARAM:g}")
    try:
        return SpinPair(**params), bandwidth
    except ValueError as exc:  # messages start with the field name
        raise ConfigError(f"model.{exc}") from None


def _complex(key: str, value: object) -> complex:
    if isinstance(value, list):
        if len(value) != 2:
            raise ConfigError(f"{key} entries must be real numbers or [re, im] pairs, got {value!r}")
        return complex(real_key(key, value[0]), real_key(key, value[1]))
    return complex(real_key(key, value))


def _parse_initial(value: object, key: str = "protocol.initial") -> tuple[str | np.ndarray, str | list]:
    if isinstance(value, str):
        if value not in INITIAL_LABELS:
            raise ConfigError(
                f"{key} must be one of {', '.join(INITIAL_LABELS)}, a 4-vector or a 4x4 matrix, got {value!r}"
            )
        return value, value
    if isinstance(value, list) and len(value) == 4:
        if all(isinstance(row, list) and len(row) == 4 for row in value):
            arr = np.array([[_complex(key, x) for x in row] for row in value])
        else:
            arr = np.array([_complex(key, x) for x in value])
        return arr, value
    raise ConfigError(f"{key} must be one of {', '.join(INITIAL_LABELS)}, a 4-vector or a 4x4 matrix, got {value!r}")


def _parse_times(value: object) -> tuple[float, ...]:
    key = "protocol.times"
    if not isinstance(value, list):
        raise ConfigError(f"{key} must be a list of output times, got {value!r}")
    if not 2 <= len(value) <= MAX_N_OUT:
        raise ConfigError(f"{key} must list 2 to {MAX_N_OUT} output times, got {len(value)}")
    times = tuple(real_key(key, t) for t in value)
    if times[0] < 0:
        raise ConfigError(f"{key} must be >= 0, got {times[0]!r} first")
    for k in range(1, len(times)):
        if times[k] <= times[k - 1]:
            raise ConfigError(
                f"{key} must be strictly increasing, got {times[k - 1]!r} then {times[k]!r} (entries {k} and {k + 1})"
            )
    return times


def _parse_protocol(
    proto: dict[str, Any],
) -> tuple[Protocol, str | list, tuple[float, ...], tuple[float, ...] | None]:
    initial, initial_raw = _parse_initial(proto["initial"])
    meas = proto["measure_at"]
    if not isinstance(meas, list):
        raise ConfigError(f"protocol.measure_at must be a list of times, got {meas!r}")
    measure_at = tuple(real_key("protocol.measure_at", t) for t in meas)
    if "times" in proto:
        times = _parse_times(proto["times"])
        grid, last = np.array(times), "the last of protocol.times"
        t_final = times[-1]
    else:
        times = None
        t_final = real_key("protocol.t_final", proto["t_final"], 0.0, low_open=True)
        n_out = integer_key("protocol.n_out", proto["n_out"], 2, MAX_N_OUT)  # before linspace allocates
        grid, last = np.linspace(0.0, t_final, n_out), "protocol.t_final"
    for t in measure_at:
        if not 0 <= t <= t_final:
            raise ConfigError(f"protocol.measure_at must lie in [0, {last}] = [0, {t_final!r}], got {t!r}")
    if any(b < a for a, b in zip(measure_at, measure_at[1:], strict=False)):
        raise ConfigError(f"protocol.measure_at must be sorted (non-decreasing), got {list(measure_at)!r}")
    measurement = _parse_instruments(proto, len(measure_at))
    postselect = proto.get("postselect", "all")
    if not isinstance(postselect, str):
        raise ConfigError(
            f"protocol.postselect must be 'all', 'last', 'none' or a pattern of '-', '+', '?', got {postselect!r}"
        )
    try:
        protocol = Protocol(initial, measure_at, grid, measurement=measurement, postselect=postselect)
    except ValueError as exc:
        # the config spells the instrument's operator 'observable'
        raise ConfigError(
            f"protocol.{exc}".replace("protocol.measurement acts on", "protocol.observable acts on")
        ) from None
    return protocol, initial_raw, measure_at, times


def _parse_matrix(key: str, value: object) -> np.ndarray:
    """A square matrix from a list of rows of real numbers or [re, im] pairs."""
    if not (isinstance(value, list) and value and all(isinstance(r, list) and len(r) == len(value) for r in value)):
        raise ConfigError(f"{key} must be a name or a square matrix (a list of rows), got {value!r}")
    return np.array([[_complex(key, x) for x in row] for row in value])


def _parse_measurement(where: str, spec: dict[str, Any]) -> Measurement | Monitor:
    """One instrument from the keys observable, readout_error, feedback, and monitor, kraus or strength
    (:mod:`.config_instruments`; messages name ``where``.key)."""
    try:
        general = general_instrument(
            where, spec, _parse_feedback(f"{where}.feedback", spec.get("feedback")), _parse_matrix
        )
    except ConfigError:
        raise
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    if general is not None:
        return general
    obs = spec.get("observable", "zz")
    if not isinstance(obs, str):
        obs = _parse_matrix(f"{where}.observable", obs)
    err = spec.get("readout_error", 0.0)
    if isinstance(err, list):
        if len(err) != 2:
            raise ConfigError(
                f"{where}.readout_error must be a probability or a pair [eps_plus, eps_minus], got {err!r}"
            )
        err = (real_key(f"{where}.readout_error", err[0]), real_key(f"{where}.readout_error", err[1]))
    else:
        err = real_key(f"{where}.readout_error", err)
    feedback = _parse_feedback(f"{where}.feedback", spec.get("feedback"))
    try:
        return Measurement(obs, err, feedback)
    except ValueError as exc:
        raise ConfigError(f"{where}.{exc}") from None


def _parse_feedback(key: str, fb: object) -> dict[Any, str | np.ndarray] | None:
    """{record: unitary name or matrix} from a table {"+1" = "flip1", ...} (None stays None); a key
    "+1@s" gives (record, rule state s)."""
    if fb is None:
        return None
    if not isinstance(fb, dict):
        raise ConfigError(f'{key} must be a table {{"+1" = "flip1", ...}}, got {fb!r}')
    feedback: dict[Any, str | np.ndarray] = {}
    for record, U in fb.items():
        rec, _, state = str(record).strip().partition("@")
        r = {"+1": 1, "1": 1, "+": 1, "-1": -1, "-": -1}.get(rec.strip())
        if r is None or (state and not state.strip().isdigit()):
            raise ConfigError(
                f'{key} keys must be records "+1" or "-1", or "+1@s" with a rule state s >= 0, got {record!r}'
            )
        k: Any = (r, int(state)) if state else r
        feedback[k] = U if isinstance(U, str) else _parse_matrix(f"{key}.{record}", U)
    return feedback


def _parse_instruments(proto: dict[str, Any], rounds: int) -> Measurement | Monitor | list[Measurement | Monitor]:
    """One Measurement for every round from the [protocol] keys, or a list from protocol.rounds (each
    entry's keys override the section's)."""
    base = {k: proto[k] for k in INSTRUMENT_KEYS if k in proto}
    per = proto.get("rounds")
    if per is None:
        return _parse_measurement("protocol", base)
    if not isinstance(per, list) or not all(isinstance(x, dict) for x in per):
        raise ConfigError(f"protocol.rounds must be a list of tables, one per round, got {per!r}")
    if len(per) != rounds:
        raise ConfigError(f"protocol.rounds must have one entry per measurement time ({rounds}), got {len(per)}")
    out: list[Measurement | Monitor] = []
    for k, entry in enumerate(per):
        for key in entry:
            if key not in INSTRUMENT_KEYS:
                raise ConfigError(f"unknown key 'protocol.rounds[{k}].{key}' (accepted: {', '.join(INSTRUMENT_KEYS)})")
        out.append(_parse_measurement(f"protocol.rounds[{k}]", {**base, **entry}))
    return out
