"""Run configuration for the ``darkspin`` command line: a TOML file with [model], [protocol], [run].

Every key is optional; missing keys take the embedded default (``analysis/default.toml``, the paper's
Fig. 3 right run). Unknown keys and bad values raise :class:`ConfigError` (a ValueError) with a one-line
message naming the key, e.g. ``config: unknown key 'model.lamda1' (accepted: nu, V, ...)``.

Keys (energies in one unit, the Larmor frequency nu by default; times in its inverse):
    [model]    nu, V, T, lam1, lam2, theta, phi, J_ex, J_DM (see trajectories.SpinPair), or
               bandwidth (> 0, != |V|) to compute J_ex, J_DM from Eq. 6-7 instead of giving them.
    [protocol] initial: 'uu', 'ud', 'du', 'dd', 'S', 'T2', a 4-vector or a 4x4 matrix (entries real
               numbers or [re, im] pairs); measure_at: list of times in [0, t_final];
               t_final > 0; n_out >= 2 output times evenly spaced on [0, t_final].
    [run]      ntraj >= 1; seed in [0, 2**64); batch_size >= 1; target_se > 0; max_ntraj >= ntraj.
"""

from __future__ import annotations

import dataclasses
import math
import os
import tomllib
from importlib import resources

import numpy as np

from ..ensemble.simulation import check_options, resolve_seed
from ..trajectories.model import SpinPair, exchange_from_bandwidth
from ..trajectories.protocol import INITIAL_LABELS, Protocol

MODEL_KEYS = tuple(f.name for f in dataclasses.fields(SpinPair)) + ("bandwidth",)
PROTOCOL_KEYS = ("initial", "measure_at", "t_final", "n_out")
RUN_KEYS = ("ntraj", "seed", "batch_size", "target_se", "max_ntraj")
SECTIONS = {"model": MODEL_KEYS, "protocol": PROTOCOL_KEYS, "run": RUN_KEYS}


class ConfigError(ValueError):
    """A bad configuration; the message is one line and names the offending key."""

    def __init__(self, message: str):
        super().__init__(f"config: {message}")


@dataclasses.dataclass(frozen=True, eq=False)
class RunConfig:
    """A validated run: the model, the protocol, and how many trajectories with which seed.

    initial, measure_at, t_final, n_out: the protocol as written (for summaries);
    batch_size, target_se, max_ntraj: passed to ensemble.simulate (None: its defaults);
    bandwidth: the electron bandwidth used for J_ex/J_DM, or None; source: the file, or '<default>'.
    """

    model: SpinPair
    protocol: Protocol
    initial: object
    measure_at: tuple
    t_final: float
    n_out: int
    ntraj: int
    seed: int
    batch_size: int | None = None
    target_se: float | None = None
    max_ntraj: int | None = None
    bandwidth: float | None = None
    source: str = "<default>"

    def protocol_dict(self) -> dict:
        """JSON-ready {'initial', 'measure_at', 't_final', 'n_out'}."""
        return {"initial": self.initial, "measure_at": list(self.measure_at),
                "t_final": self.t_final, "n_out": self.n_out}

    def replace(self, **changes) -> "RunConfig":
        """A copy with some run settings changed (ntraj, seed, ...), validated again."""
        new = dataclasses.replace(self, **changes)
        run = {k: getattr(new, k) for k in RUN_KEYS if getattr(new, k) is not None}
        _check_run(run)
        return new


def default_text() -> str:
    """The embedded default configuration (TOML text)."""
    return resources.files("darkspin.analysis").joinpath("default.toml").read_text(encoding="utf-8")


def _default_data() -> dict:
    return tomllib.loads(default_text())


def load_config(path=None) -> RunConfig:
    """Read and validate a TOML config (None: the embedded default). Raises ConfigError."""
    if path is None:
        return parse_config({}, "<default>")
    path = os.fspath(path)
    try:
        with open(path, "rb") as fh:
            data = tomllib.load(fh)
    except FileNotFoundError:
        raise ConfigError(f"cannot read {path!r}: no such file") from None
    except IsADirectoryError:
        raise ConfigError(f"cannot read {path!r}: it is a directory") from None
    except OSError as exc:
        raise ConfigError(f"cannot read {path!r}: {exc.strerror or exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path!r} is not valid TOML: {exc}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path!r} is not valid TOML: not UTF-8 text") from None
    return parse_config(data, path)


def parse_config(data: dict, source: str = "<memory>") -> RunConfig:
    """Validate a parsed TOML mapping over the defaults; see the module docstring for the keys."""
    for key, value in data.items():
        if key not in SECTIONS:
            raise ConfigError(f"unknown key {key!r} (accepted: {', '.join(SECTIONS)})")
        if not isinstance(value, dict):
            raise ConfigError(f"{key!r} must be a table ([{key}]), got {value!r}")
        for sub in value:
            if sub not in SECTIONS[key]:
                raise ConfigError(f"unknown key '{key}.{sub}' (accepted: {', '.join(SECTIONS[key])})")
    defaults = _default_data()
    model, bandwidth = _parse_model(defaults["model"], data.get("model", {}))
    proto = {**defaults["protocol"], **data.get("protocol", {})}
    protocol, initial, measure_at, t_final, n_out = _parse_protocol(proto)
    run = {**defaults["run"], **data.get("run", {})}
    _check_run(run)
    return RunConfig(model, protocol, initial, measure_at, t_final, n_out, run["ntraj"], run["seed"],
                     run.get("batch_size"), _float_or_none(run.get("target_se")), run.get("max_ntraj"),
                     bandwidth, source)


def _float_or_none(x):
    return None if x is None else float(x)


def _real(key: str, value) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigError(f"{key} must be a real number, got {value!r}")
    if not math.isfinite(value):
        raise ConfigError(f"{key} must be finite, got {value!r}")
    return float(value)


def _int(key: str, value, minimum: int, maximum: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum \
            or (maximum is not None and value > maximum):
        bound = f"an integer >= {minimum}" if maximum is None else f"an integer in [{minimum}, {maximum}]"
        raise ConfigError(f"{key} must be {bound}, got {value!r}")
    return value


def _parse_model(defaults: dict, given: dict) -> tuple[SpinPair, float | None]:
    # SpinPair and exchange_from_bandwidth validate; their messages start with the field name
    params = {k: given.get(k, defaults[k]) for k in MODEL_KEYS if k != "bandwidth"}
    bandwidth = None
    if "bandwidth" in given:
        for k in ("J_ex", "J_DM"):
            if k in given:
                raise ConfigError(f"model.bandwidth and model.{k} exclude each other "
                                  "(bandwidth computes J_ex and J_DM)")
        bandwidth = given["bandwidth"]
        try:
            params["J_ex"], params["J_DM"] = exchange_from_bandwidth(
                params["lam1"], params["lam2"], params["V"], bandwidth, params["theta"], params["phi"])
        except ValueError as exc:
            raise ConfigError(f"model.{exc}") from None
    try:
        return SpinPair(**params), bandwidth
    except ValueError as exc:  # messages start with the field name
        raise ConfigError(f"model.{exc}") from None


def _complex(key: str, value) -> complex:
    if isinstance(value, list):
        if len(value) != 2:
            raise ConfigError(f"{key} entries must be real numbers or [re, im] pairs, got {value!r}")
        return complex(_real(key, value[0]), _real(key, value[1]))
    return complex(_real(key, value))


def _parse_initial(value):
    key = "protocol.initial"
    if isinstance(value, str):
        if value not in INITIAL_LABELS:
            raise ConfigError(f"{key} must be one of {', '.join(INITIAL_LABELS)}, a 4-vector or a 4x4 "
                              f"matrix, got {value!r}")
        return value, value
    if isinstance(value, list) and len(value) == 4:
        if all(isinstance(row, list) and len(row) == 4 for row in value):
            arr = np.array([[_complex(key, x) for x in row] for row in value])
        else:
            arr = np.array([_complex(key, x) for x in value])
        return arr, value
    raise ConfigError(f"{key} must be one of {', '.join(INITIAL_LABELS)}, a 4-vector or a 4x4 matrix, "
                      f"got {value!r}")


def _parse_protocol(proto: dict):
    initial, initial_raw = _parse_initial(proto["initial"])
    meas = proto["measure_at"]
    if not isinstance(meas, list):
        raise ConfigError(f"protocol.measure_at must be a list of times, got {meas!r}")
    measure_at = tuple(_real("protocol.measure_at", t) for t in meas)
    t_final = _real("protocol.t_final", proto["t_final"])
    if t_final <= 0:
        raise ConfigError(f"protocol.t_final must be > 0, got {t_final!r}")
    n_out = _int("protocol.n_out", proto["n_out"], 2)
    try:
        protocol = Protocol(initial, measure_at, np.linspace(0.0, t_final, n_out))
    except ValueError as exc:
        raise ConfigError(f"protocol.{exc}") from None
    return protocol, initial_raw, measure_at, t_final, n_out


def _check_run(run: dict) -> None:
    try:
        (run["ntraj"], run["batch_size"], run["target_se"], run["max_ntraj"], _) = check_options(
            run["ntraj"], run.get("batch_size"), run.get("target_se"), run.get("max_ntraj"))
        run["seed"] = resolve_seed(run["seed"])
    except ValueError as exc:  # messages start with the option's name
        raise ConfigError(f"run.{exc}") from None
