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

The keys and their readers are in :mod:`.config_keys`, the overrides in :mod:`.config_overrides`, the
[model] and [protocol] sections in :mod:`.config_protocol`, study files in :mod:`.config_study`.
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
from collections.abc import Iterable
from importlib import resources
from typing import Any

from ..ensemble.montecarlo.options import RunOptions
from ..trajectories.model import SpinPair
from ..trajectories.protocol import Protocol
from .config_keys import _SEED_END, RUN_KEYS, SECTIONS
from .config_keys import MAX_N_OUT as MAX_N_OUT
from .config_keys import ConfigError as ConfigError
from .config_keys import integer_key as integer_key
from .config_keys import plain_numbers as plain_numbers
from .config_keys import real_key as real_key
from .config_overrides import apply_overrides as apply_overrides
from .config_overrides import parse_override as parse_override
from .config_protocol import _parse_model, _parse_protocol
from .config_schedule import parse_gates, parse_segments


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
