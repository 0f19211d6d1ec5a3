"""Study files for ``darkspin sweep``: a run config plus a [sweep] section naming the axes and options."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterable

import numpy as np

from .config import RunConfig, _read_toml, parse_config
from .config_keys import (
    INSTRUMENT_KEYS,
    MODEL_KEYS,
    ConfigError,
    real_key,
)
from .config_overrides import apply_overrides
from .config_protocol import _complex, _parse_feedback, _parse_initial, _parse_matrix
from .studies.schedule_axes import ITEM_AXES_TEXT, SCHEDULE_AXES, is_schedule_axis

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
