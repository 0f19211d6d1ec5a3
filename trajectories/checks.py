"""Number and range checks shared by the library, the config file and the command line.

Every check raises ``ValueError("<name> must be <accepted>, got <value>")`` before any work starts; the
config wraps it as a ``ConfigError`` and the command line as a one-line usage error, so the three
front ends say the same thing in the same words.
"""

from __future__ import annotations

import math
import numbers
import os
from typing import Any

import numpy as np

_SHOWN_TOP = {2**62: "2**62]", 2**64 - 1: "2**64)"}
#: the largest integral float that still holds an integer exactly (``ntraj = 1e5`` in a config)
MAX_FLOAT_INT = 2**53


def plain(value: Any) -> Any:
    """A NumPy scalar as the Python number it holds, so messages never print ``np.float64(...)``.

    Parameters
    ----------
    value : Any
        Any value.

    Returns
    -------
    Any
        ``value.item()`` for a NumPy scalar, else ``value`` itself.
    """
    return value.item() if isinstance(value, np.generic) else value


def check_count(name: str, value: Any, minimum: int = 1, maximum: int = 2**62) -> int:
    """An integer argument (a count, seed or index), checked.

    Parameters
    ----------
    name : str
        The parameter's name, as the error message shows it.
    value : Any
        The value given; an ``int`` or NumPy integer (never a bool).
    minimum, maximum : int
        The accepted range, both ends included (2**62 and 2**64 - 1 are shown as powers of two).

    Returns
    -------
    int
        ``value`` as a Python int.

    Raises
    ------
    ValueError
        Naming ``name`` and the range, if ``value`` is not an integer in [minimum, maximum].
    """
    if (
        isinstance(value, (bool, np.bool_))
        or not isinstance(value, (int, np.integer))
        or not minimum <= value <= maximum
    ):
        top = _SHOWN_TOP.get(maximum, f"{maximum}]")
        raise ValueError(f"{name} must be an integer in [{minimum}, {top}, got {plain(value)!r}")
    return int(value)


def check_integral(name: str, value: Any, minimum: int, maximum: int | None = None, accepted: str | None = None) -> int:
    """An integer written by a person: an int, or an integral float up to 2**53 (``1e5``), in range.

    Parameters
    ----------
    name : str
        The parameter's name in the message (a config key such as ``run.ntraj``, or a flag).
    value : Any
        An int, or a float with an integral value (strings are refused; parse them first).
    minimum : int
        The smallest accepted value.
    maximum : int or None
        The largest accepted value (included); None for no upper bound.
    accepted : str or None
        How the message describes the accepted values; by default ``an integer >= minimum`` or
        ``an integer in [minimum, maximum]``.

    Returns
    -------
    int

    Raises
    ------
    ValueError
        If ``value`` is not such an integer, or is an integral float too large to be exact.
    """
    if accepted is None:
        accepted = f"an integer >= {minimum}" if maximum is None else f"an integer in [{minimum}, {maximum}]"
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        if abs(value) > MAX_FLOAT_INT:
            raise ValueError(
                f"{name} must be {accepted}, got the float {value!r}, too large to hold an "
                "integer exactly: write it out in digits"
            )
        value = int(value)
    if (
        isinstance(value, (bool, np.bool_))
        or not isinstance(value, (int, np.integer))
        or value < minimum
        or (maximum is not None and value > maximum)
    ):
        raise ValueError(f"{name} must be {accepted}, got {plain(value)!r}")
    return int(value)


def check_real(
    name: str,
    value: Any,
    low: float = -math.inf,
    high: float = math.inf,
    *,
    low_open: bool = False,
    high_open: bool = False,
) -> float:
    """A finite real number in an interval, checked.

    Parameters
    ----------
    name : str
        The parameter's name in the message.
    value : Any
        A real number (int, float or NumPy scalar; never a bool or a string).
    low, high : float
        The interval's ends; infinite ends are not shown.
    low_open, high_open : bool
        Exclude that end.

    Returns
    -------
    float

    Raises
    ------
    ValueError
        If ``value`` is not a finite real number in the interval; the message shows the interval.
    """
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise ValueError(f"{name} must be a real number, got {plain(value)!r}")
    number = float(value)
    if not math.isfinite(number):
        raise ValueError(f"{name} must be finite, got {plain(value)!r}")
    below = number <= low if low_open else number < low
    above = number >= high if high_open else number > high
    if below or above:
        raise ValueError(f"{name} must be {interval_text(low, high, low_open, high_open)}, got {plain(value)!r}")
    return number


def interval_text(low: float, high: float, low_open: bool = False, high_open: bool = False) -> str:
    """How a message names an interval: ``> 0``, ``>= 0``, ``in [0, 1]``, ``in (0, 1]``.

    Parameters
    ----------
    low, high : float
        The ends; an infinite end is left out.
    low_open, high_open : bool
        Whether that end is excluded.

    Returns
    -------
    str
    """
    if math.isinf(low) and math.isinf(high):
        return "a finite real number"
    if math.isinf(high):
        return f"{'>' if low_open else '>='} {low:g}"
    if math.isinf(low):
        return f"{'<' if high_open else '<='} {high:g}"
    return f"in {'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}"


def check_probability(name: str, value: Any) -> float:
    """A probability in [0, 1]; see :func:`check_real`.

    Parameters
    ----------
    name : str
    value : Any

    Returns
    -------
    float

    Raises
    ------
    ValueError
    """
    return check_real(name, value, 0.0, 1.0)


def check_flag(name: str, value: Any) -> bool:
    """A yes/no argument: ``True`` or ``False`` (or a NumPy bool), never 0, 1 or a string.

    Parameters
    ----------
    name : str
    value : Any

    Returns
    -------
    bool

    Raises
    ------
    ValueError
    """
    if not isinstance(value, (bool, np.bool_)):
        raise ValueError(f"{name} must be True or False, got {plain(value)!r}")
    return bool(value)


def check_path(name: str, value: object) -> str:
    """A file path given as str or os.PathLike, as a str.

    Parameters
    ----------
    name : str
        The parameter's name in the message.
    value : object
        The value given.

    Returns
    -------
    str

    Raises
    ------
    ValueError
        Naming ``name``, for anything but a non-empty path without NUL characters.
    """
    shown = type(value).__name__
    if isinstance(value, os.PathLike):
        try:
            value = os.fspath(value)
        except TypeError:
            value = None
    if not isinstance(value, str):
        raise ValueError(f"{name} must be a file path (str or os.PathLike giving a str), got {shown}")
    if not value:
        raise ValueError(f"{name} must be a file path, got an empty string")
    if "\x00" in value:
        raise ValueError(f"{name} must be a file path without NUL characters")
    return value
