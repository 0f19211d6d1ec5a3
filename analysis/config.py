"""Run configuration for the ``darkspin`` command line: a TOML file with [model], [protocol], [run].

Every key is optional; missing keys take the embedded default (``analysis/default.toml``, the paper's
Fig. 3 right run). Unknown keys and bad values raise :class:`ConfigError` (a ValueError) with a one-line
message naming the key as the file spells it, e.g. ``config: unknown key 'model.lamda1' (accepted: nu,
V, ...)``, and printing numbers plainly.

Keys (energies in one unit, the Larmor frequency nu by default; times in its inverse):
    [model]    nu, V, T, lam1, lam2, theta, phi, J_ex, J_DM (see trajectories.SpinPair), or
               bandwidth (in (0, 1e12], != |V|) to compute J_ex, J_DM from Eq. 6-7 instead of giving them.
    [protocol] initial: 'uu', 'ud', 'du', 'dd', 'S', 'T2', a 4-vector or a 4x4 matrix (entries real
               numbers or [re, im] pairs); measure_at: list of times in [0, t_final];
               either t_final > 0 and n_out in [2, 10**6] output times evenly spaced on [0, t_final],
               or times: an explicit list of 2 to 10**6 strictly increasing output times >= 0 (then
               t_final is its last entry). The instrument of every round: observable ('zz', 'xx', 'yy',
               'z1', 'z2' or a matrix), readout_error (a probability or [eps_plus, eps_minus]),
               feedback (a table {"+1" = "flip1", "-1" = ...}, unitaries by name or as matrices; a key
               "+1@s" only when the rule's machine is in state s); or instead a monitored window
               (monitor = {channels, duration, efficiency, dark_rate, threshold}), a Kraus instrument
               (kraus = an .npz file with arrays plus, minus) or a weak one (strength in (0, 1]), see
               analysis.config_instruments;
               rounds: a list of tables, one per measurement time, whose keys override those for that
               round; postselect: 'all', 'last', 'none' or a pattern of '-', '+', '?' per round;
               [[protocol.segments]] (t and [model] keys to change from t on) and [[protocol.gates]]
               (t and gate: a name or a matrix): see :mod:`.config_schedule`.
    [run]      ntraj >= 1; seed in [0, 2**64); batch_size >= 1; target_se > 0; max_ntraj >= ntraj.
Integer keys (n_out, ntraj, seed, batch_size, max_ntraj) also accept integral floats such as 1e5, up to
2**53 (beyond that a float does not hold every integer exactly).

Length: one file format; each key's check and its one-line message sit next to the others.
"""

from __future__ import annotations

import dataclasses
import math
import os
import re
import tomllib
from collections.abc import Iterable
from importlib import resources
from typing import Any

import numpy as np

from ..ensemble.montecarlo.options import RunOptions
from ..trajectories.checks import check_integral, check_real
from ..trajectories.measurement import Measurement
from ..trajectories.model import MAX_PARAM, SpinPair, exchange_from_bandwidth
from ..trajectories.monitor import Monitor
from ..trajectories.protocol import INITIAL_LABELS, Protocol
from .config_instruments import general_instrument
from .config_schedule import parse_gates, parse_segments
from .studies.schedule_axes import ITEM_AXES_TEXT, SCHEDULE_AXES, is_schedule_axis

MODEL_KEYS = tuple(f.name for f in dataclasses.fields(SpinPair)) + ("bandwidth",)
INSTRUMENT_KEYS = ("observable", "readout_error", "feedback", "monitor", "kraus", "strength")
PROTOCOL_KEYS = (
    "initial",
    "measure_at",
    "t_final",
    "n_out",
    "times",
    *INSTRUMENT_KEYS,
    "postselect",
    "rounds",
    "segments",
    "gates",
)
RUN_KEYS = ("ntraj", "seed", "batch_size", "target_se", "max_ntraj")
SECTIONS = {"model": MODEL_KEYS, "protocol": PROTOCOL_KEYS, "run": RUN_KEYS}
#: Most output times a config may ask for (checked before any array is allocated).
MAX_N_OUT = 10**6
_SEED_END = 2**64


class ConfigError(ValueError):
    """A bad configuration; the message is one line and names the offending key."""

    def __init__(self, message: str) -> None:
        super().__init__(f"config: {plain_numbers(message)}")


_NUMPY_SCALAR = re.compile(r"\bnp\.(?:float|int|uint|complex|bool)\w*\(([^()]*)\)")


def plain_numbers(message: str) -> str:
    """``message`` with numpy scalar reprs such as ``np.float64(1.5)`` written as plain ``1.5``.

    Parameters
    ----------
    message : str

    Returns
    -------
    str
    """
    return _NUMPY_SCALAR.sub(r"\1", str(message))


@dataclasses.dataclass(frozen=True, eq=False)
class RunConfig:
    """A validated run: the model, the protocol, and how many trajectories with which seed.

    initial, measure_at, t_final, n_out: the protocol as written (for summaries); times: the explicit
    output times if the config listed them (else None: n_out evenly spaced on [0, t_final]);
    batch_size, target_se, max_ntraj: passed to ensemble.simulate (None: its defaults);
    bandwidth: the electron bandwidth used for J_ex/J_DM, or None; source: the file, or '<default>'.
    """

    model: SpinPair
    protocol: Protocol
    initial: str | list
    measure_at: tuple[float, ...]
    t_final: float
    n_out: int
    ntraj: int
    seed: int
    batch_size: int | None = None
    target_se: float | None = None
    max_ntraj: int | None = None
    bandwidth: float | None = None
    source: str = "<default>"
    times: tuple[float, ...] | None = None

    @property
    def options(self) -> RunOptions:
        """The run settings of this config as :func:`darkspin.simulate` and :func:`darkspin.sweep` take them.

        Returns
        -------
        RunOptions
            batch_size, target_se and max_ntraj from [run]; the other fields at their defaults.
        """
        return RunOptions(batch_size=self.batch_size, target_se=self.target_se, max_ntraj=self.max_ntraj)

    def protocol_dict(self) -> dict[str, Any]:
        """The protocol as written, JSON-ready.

        Returns
        -------
        dict
            {'initial', 'measure_at', 't_final', 'n_out'}, and 'times' if the config listed them.
        """
        out = {
            "initial": self.initial,
            "measure_at": list(self.measure_at),
            "t_final": self.t_final,
            "n_out": self.n_out,
        }
        if self.times is not None:
            out["times"] = list(self.times)
        return out

    def replace(self, **changes: Any) -> RunConfig:
        """A copy with some run settings changed, validated again.

        Parameters
        ----------
        **changes
            Fields to change (ntraj, seed, batch_size, target_se, max_ntraj, ...).

        Returns
        -------
        RunConfig

        Raises
        ------
        ConfigError
            If a run setting is out of range.
        """
        new = dataclasses.replace(self, **changes)
        run = {k: getattr(new, k) for k in RUN_KEYS if getattr(new, k) is not None}
        _check_run(run)
        checked: dict[str, Any] = {k: run.get(k) for k in RUN_KEYS}
        return dataclasses.replace(new, **checked)


def default_text() -> str:
    """The embedded default configuration.

    Returns
    -------
    str
        The TOML text of ``analysis/default.toml``.
    """
    return resources.files("darkspin.analysis").joinpath("default.toml").read_text(encoding="utf-8")


def _default_data() -> dict[str, Any]:
    return tomllib.loads(default_text())


def load_config(path: str | os.PathLike[str] | None = None, overrides: Iterable[str] = ()) -> RunConfig:
    """Read and validate a TOML config, with overrides applied on top.

    Parameters
    ----------
    path : str, os.PathLike or None
        The file; None: the embedded default.
    overrides : iterable of str
        'section.key=value' (see :func:`apply_overrides`).

    Returns
    -------
    RunConfig

    Raises
    ------
    ConfigError
        For an unreadable file, an unknown key or a bad value (the message names it).
    """
    if path is None:
        return parse_config(apply_overrides({}, overrides), "<default>")
    path = os.fspath(path)
    return parse_config(apply_overrides(_read_toml(path), overrides), path)


def _read_toml(path: str) -> dict[str, Any]:
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
    return data


def parse_override(text: str) -> tuple[str, str, object]:
    """The parts of a command-line override 'section.key=value'.

    The value is read as a TOML value (``0.01``, ``[100, 200]``, ``"last"``, ``{ "+1" = "flip1" }``); text
    on one line that is not valid TOML is taken as a plain string, so ``protocol.postselect=last`` works
    too. The value must be exactly one TOML value: text after it that TOML would read as more keys
    (``0.01\nmodel.V=2``) is refused, as is a plain string spanning several lines, so nothing given is
    silently dropped.

    Parameters
    ----------
    text : str

    Returns
    -------
    (section, key, value)

    Raises
    ------
    ConfigError
        For a malformed override, a value that is not exactly one TOML value, or an unknown section or key.
    """
    if not isinstance(text, str) or "=" not in text:
        raise ConfigError(f"--set expects section.key=value (e.g. model.lam2=0.01), got {text!r}")
    lhs, rhs = text.split("=", 1)
    parts = lhs.strip().split(".")
    if len(parts) != 2 or not all(parts):
        raise ConfigError(f"--set expects section.key=value (e.g. model.lam2=0.01), got {text!r}")
    section, key = parts
    if section not in SECTIONS:
        raise ConfigError(f"--set {lhs.strip()}: unknown section {section!r} (accepted: {', '.join(SECTIONS)})")
    if key not in SECTIONS[section]:
        raise ConfigError(f"--set: unknown key '{section}.{key}' (accepted: {', '.join(SECTIONS[section])})")
    one_value = (
        f'--set {section}.{key}: the value must be exactly one TOML value (e.g. 0.01, [100, 200], "last"), '
        f"got {rhs.strip()!r}"
    )
    try:
        parsed = tomllib.loads(f"value = {rhs.strip()}")
    except tomllib.TOMLDecodeError:
        if any(c in rhs for c in "\n\r"):  # not a plain word: maybe several settings, never drop them
            raise ConfigError(one_value) from None
        return section, key, rhs.strip()
    if list(parsed) != ["value"]:  # more lines set more keys, which would be dropped
        raise ConfigError(one_value)
    return section, key, parsed["value"]


def apply_overrides(data: dict[str, Any], overrides: Iterable[str] = ()) -> dict[str, Any]:
    """A copy of parsed TOML with overrides set (later ones win; validated later by :func:`parse_config`).

    Parameters
    ----------
    data : dict
        The parsed TOML (sections to tables).
    overrides : iterable of str
        'section.key=value' (see :func:`parse_override`).

    Returns
    -------
    dict

    Raises
    ------
    ConfigError
        For a malformed override, or a section of ``data`` that is not a table.
    """
    out = {k: (dict(v) if isinstance(v, dict) else v) for k, v in data.items()}
    for text in overrides:
        section, key, value = parse_override(text)
        table = out.setdefault(section, {})
        if not isinstance(table, dict):
            raise ConfigError(f"{section!r} must be a table ([{section}]), got {table!r}")
        table[key] = value
    return out


def parse_config(data: dict[str, Any], source: str = "<memory>") -> RunConfig:
    """Validate a parsed TOML mapping over the defaults (the keys: see the module docstring).

    Parameters
    ----------
    data : dict
        The parsed TOML, sections [model], [protocol], [run] (each optional).
    source : str
        Where it came from (RunConfig.source).

    Returns
    -------
    RunConfig

    Raises
    ------
    ConfigError
        For an unknown key or a bad value (the message names it).
    """
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
    given = data.get("protocol", {})
    proto = {**defaults["protocol"], **given}
    if "times" in given:
        for k in ("t_final", "n_out"):
            if k in given:
                raise ConfigError(
                    f"protocol.times and protocol.{k} exclude each other "
                    "(times lists every output time; t_final and n_out space them evenly)"
                )
            proto.pop(k, None)
    protocol, initial, measure_at, times = _parse_protocol(proto)
    if "segments" in proto or "gates" in proto:
        try:
            protocol = dataclasses.replace(
                protocol,
                segments=parse_segments(proto.get("segments", []), model),
                gates=parse_gates(proto.get("gates", [])),
            )
        except ValueError as exc:
            text = str(exc)
            raise ConfigError(
                text if text.startswith("protocol.") or "'protocol." in text else f"protocol.{text}"
            ) from None
    run = {**defaults["run"], **data.get("run", {})}
    _check_run(run)
    return RunConfig(
        model,
        protocol,
        initial,
        measure_at,
        protocol.t_final,
        int(protocol.times.size),
        run["ntraj"],
        run["seed"],
        run.get("batch_size"),
        run.get("target_se"),
        run.get("max_ntraj"),
        bandwidth,
        source,
        times,
    )


def real_key(
    key: str,
    value: object,
    low: float = -math.inf,
    high: float = math.inf,
    *,
    low_open: bool = False,
    high_open: bool = False,
) -> float:
    """A real-number key: finite, in an interval (trajectories.checks.check_real).

    Parameters
    ----------
    key : str
        The key as the file spells it (``run.target_se``), named in the message.
    value : object
        The value read from TOML (an int or a float).
    low, high : float
        The accepted interval (default: any finite number).
    low_open, high_open : bool
        Exclude that end.

    Returns
    -------
    float

    Raises
    ------
    ConfigError
        If ``value`` is not a finite real number in the interval.
    """
    try:
        number = check_real(key, value)
        # the range checked on the float, so the message shows 0.0 for a TOML 0
        return check_real(key, number, low, high, low_open=low_open, high_open=high_open)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None


def integer_key(key: str, value: object, minimum: int, maximum: int | None = None, accepted: str | None = None) -> int:
    """An integer key: an int, or an integral float up to 2**53 (``ntraj = 1e5``), in [minimum, maximum].

    Parameters
    ----------
    key : str
        The key as the file spells it, named in the message.
    value : object
        The value read from TOML.
    minimum : int
    maximum : int or None
        Included; None for no upper bound.
    accepted : str or None
        How the message describes the accepted values (see trajectories.checks.check_integral).

    Returns
    -------
    int

    Raises
    ------
    ConfigError
        If ``value`` is not such an integer.
    """
    try:
        return check_integral(key, value, minimum, maximum, accepted)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None


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


def _check_run(run: dict[str, Any]) -> None:
    """Validate and normalise the [run] keys in place (integral floats become ints)."""
    run["ntraj"] = integer_key("run.ntraj", run["ntraj"], 1)
    run["seed"] = integer_key("run.seed", run["seed"], 0, _SEED_END - 1, "an integer in [0, 2**64)")
    for k in ("batch_size", "max_ntraj"):
        if run.get(k) is not None:
            run[k] = integer_key(f"run.{k}", run[k], 1)
    if run.get("target_se") is not None:
        run["target_se"] = real_key("run.target_se", run["target_se"], 0.0, low_open=True)
    if run.get("max_ntraj") is not None and run["max_ntraj"] < run["ntraj"]:
        raise ConfigError(f"run.max_ntraj must be >= run.ntraj = {run['ntraj']}, got {run['max_ntraj']}")
    try:  # the library's own checks, so config and simulate never disagree
        options = RunOptions(run.get("batch_size"), run.get("target_se"), run.get("max_ntraj"))
        options.check_ntraj(run["ntraj"])
    except ValueError as exc:
        raise ConfigError(f"run.{exc}") from None


# ---- studies (darkspin sweep) ------------------------------------------------------------------
#: Keys of [sweep] that are options, not axes.
SWEEP_OPTIONS = ("paired", "zip", "common_random_numbers", "spacing", "target_state")
#: Keys of [sweep] that name axes (see analysis.studies): the model's fields, then the protocol's.
SWEEP_AXES = (
    *(k for k in MODEL_KEYS if k != "bandwidth"),
    "initial",
    "measure_at",
    "times",
    "postselect",
    "rounds",
    *INSTRUMENT_KEYS,
)


@dataclasses.dataclass(frozen=True, eq=False)
class StudyConfig:
    """A validated study: the base run (``run``), the axes {name: list of values} for analysis.studies.sweep, its
    options, and whether the file (or --set) gave run.ntraj explicitly (``ntraj_given``)."""

    run: RunConfig
    axes: dict[str, list]
    paired: bool = False
    common_random_numbers: bool = False
    spacing: float | None = None
    target_state: str | np.ndarray | None = None
    ntraj_given: bool = False


def load_study(path: str | os.PathLike[str], overrides: Iterable[str] = ()) -> StudyConfig:
    """Read a study: a run config plus a [sweep] section naming the axes.

    The [sweep] section gives the axes (lists of values) and the options paired (or its older name zip),
    common_random_numbers (booleans), spacing (a time > 0) and target_state (a label or a vector).

    Parameters
    ----------
    path : str or os.PathLike
        The study file.
    overrides : iterable of str
        'section.key=value', applied to the run config.

    Returns
    -------
    StudyConfig

    Raises
    ------
    ConfigError
        For an unreadable file, a missing [sweep] section, an unknown key or a bad value.
    """
    path = os.fspath(path)
    data = _read_toml(path)
    spec = data.pop("sweep", None)
    if spec is None:
        raise ConfigError(f"{path!r} has no [sweep] section naming the axes (e.g. lam2 = [0.0126, 0.011])")
    if not isinstance(spec, dict):
        raise ConfigError(f"'sweep' must be a table ([sweep]), got {spec!r}")
    data = apply_overrides(data, overrides)
    ntraj_given = isinstance(data.get("run"), dict) and "ntraj" in data["run"]
    run = parse_config(data, path)
    axes, options = {}, {}
    for key, value in spec.items():
        if key in SWEEP_OPTIONS:
            options[key] = value
        elif key in SWEEP_AXES:
            if not isinstance(value, list):
                raise ConfigError(f"sweep.{key} must be a list of values, got {value!r}")
            axes[key] = [_sweep_value(key, j, v) for j, v in enumerate(value)]
        elif is_schedule_axis(key) and key not in SCHEDULE_AXES:  # one segment's or gate's number
            if not isinstance(value, list):
                raise ConfigError(f"sweep.{key} must be a list of values, got {value!r}")
            axes[key] = [real_key(f"sweep.{key}[{j}]", v) for j, v in enumerate(value)]
        elif key == "bandwidth":
            raise ConfigError("sweep.bandwidth cannot be swept: sweep J_ex and J_DM instead")
        else:
            raise ConfigError(
                f"unknown key 'sweep.{key}' (axes: {', '.join(SWEEP_AXES)}, {ITEM_AXES_TEXT}; "
                f"options: {', '.join(SWEEP_OPTIONS)})"
            )
    if "paired" in options and "zip" in options:
        raise ConfigError("give sweep.paired or its older name sweep.zip, not both")
    if "zip" in options:
        options["paired"] = options.pop("zip")
    for flag in ("paired", "common_random_numbers"):
        if not isinstance(options.get(flag, False), bool):
            raise ConfigError(f"sweep.{flag} must be true or false, got {options[flag]!r}")
    spacing = options.get("spacing")
    if spacing is not None:
        spacing = real_key("sweep.spacing", spacing, 0.0, low_open=True)
    target = options.get("target_state")
    if isinstance(target, list):
        target = np.array([_complex("sweep.target_state", x) for x in target])
    elif target is not None and not isinstance(target, str):
        raise ConfigError(f"sweep.target_state must be a label such as 'S' or a vector, got {target!r}")
    return StudyConfig(
        run,
        axes,
        options.get("paired", False),
        options.get("common_random_numbers", False),
        spacing,
        target,
        ntraj_given,
    )


def _sweep_value(key: str, j: int, value: object) -> object:
    """One axis value of [sweep] as analysis.studies.sweep takes it (lists of times, pairs, matrices, tables)."""
    where = f"sweep.{key}[{j}]"
    if key in ("measure_at", "times"):
        if not isinstance(value, list):
            raise ConfigError(f"{where} must be a list of times, got {value!r}")
        return [real_key(where, t) for t in value]
    if key == "readout_error" and isinstance(value, list):
        if len(value) != 2:
            raise ConfigError(f"{where} must be a probability or a pair [eps_plus, eps_minus], got {value!r}")
        return (real_key(where, value[0]), real_key(where, value[1]))
    if key == "observable" and not isinstance(value, str):
        return _parse_matrix(where, value)
    if key == "feedback":
        if isinstance(value, str) and value == "none":
            return None
        return _parse_feedback(where, value)
    if key == "initial":
        return _parse_initial(value, where)[0]
    return value
