"""Command-line overrides of a config: ``--set section.key=value``, each value read as one TOML value."""

from __future__ import annotations

import tomllib
from collections.abc import Iterable
from typing import Any

from .config_keys import (
    SECTIONS,
    ConfigError,
)


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
