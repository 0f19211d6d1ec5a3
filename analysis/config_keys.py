"""The keys of a run config and how one key is read: the sections and their key names, :class:`ConfigError`
(one line naming the key) and the readers of one real or integer key.
"""

from __future__ import annotations

import dataclasses
import math
import re

from ..trajectories.checks import check_integral, check_real
from ..trajectories.model import SpinPair

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
