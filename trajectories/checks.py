"""The one check of integer arguments (counts, seeds, indices) that every entry point shares."""

from __future__ import annotations

import numpy as np

_SHOWN_TOP = {2**62: "2**62]", 2**64 - 1: "2**64)"}


def check_count(name: str, value, minimum: int = 1, maximum: int = 2**62) -> int:
    """``value`` as an int if it is an integer (not a bool) in [minimum, maximum], else a ValueError naming
    ``name`` and the range (2**62 and 2**64 - 1 shown as powers of two)."""
    if (
        isinstance(value, (bool, np.bool_))
        or not isinstance(value, (int, np.integer))
        or not minimum <= value <= maximum
    ):
        plain = value.item() if isinstance(value, np.generic) else value
        top = _SHOWN_TOP.get(maximum, f"{maximum}]")
        raise ValueError(f"{name} must be an integer in [{minimum}, {top}, got {plain!r}")
    return int(value)
