"""Instant unitary gates of a protocol, and their names.

A gate is a (d, d) unitary array or, for two spins (d = 4), a name:

- ``"flip1"``, ``"flip2"``: tau_x on spin 1 or spin 2 (the feedback names of :mod:`.measurement`);
- ``"r<axis><spins>(<angle>)"``: the rotation exp(-i angle sigma_axis / 2) about ``axis`` in x, y, z on
  spin ``1``, spin ``2`` or both (``12``, the same rotation on each spin), by ``angle`` in radians: a
  number (``"rx1(1.5708)"``) or a multiple of pi (``"ry12(pi/2)"``, ``"rz2(-3pi/4)"``, ``"rx1(0.5*pi)"``);
- the pair ``(name, angle)`` with name ``"r<axis><spins>"`` and a real angle, the same rotation (the form
  sweeps vary: ``("rx1", 1.2)``).

Rotations differ from the flips by a global phase only: ``rx1(pi)`` = -i ``flip1``.
"""

from __future__ import annotations

import math
import re
from typing import Any

import numpy as np

from .instrument_operators import NAMED_FEEDBACK, check_unitary
from .operators import SINGLE

_ROTATION = re.compile(r"^r([xyz])(1|2|12)$")
_CALL = re.compile(r"^(r[xyz](?:1|2|12))\((.+)\)$")
_PI = re.compile(r"^([+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?)?\s*\*?\s*pi\s*(?:/\s*(\d+(?:\.\d*)?))?$")
#: The documented gate names (besides rotations "r<axis><spins>(<angle>)").
GATE_NAMES = tuple(NAMED_FEEDBACK)


def _angle(name: str, text: str) -> float:
    """An angle in radians from a number or a multiple of pi ('pi/2', '-3pi/4', '0.5*pi')."""
    s = text.strip().replace(" ", "")
    try:
        value = float(s)
    except ValueError:
        sign = -1.0 if s.startswith("-") else 1.0
        m = _PI.match(s.lstrip("+-")) if s[:1] in "+-" else _PI.match(s)
        if m is None:
            raise ValueError(f"{name}: angle {text!r} must be a number or a multiple of pi such as 'pi/2'") from None
        coef = float(m.group(1)) if m.group(1) else 1.0
        den = float(m.group(2)) if m.group(2) else 1.0
        if den == 0.0:
            raise ValueError(f"{name}: angle {text!r} divides by zero") from None
        value = sign * coef * math.pi / den
    if not math.isfinite(value):
        raise ValueError(f"{name}: angle must be finite, got {text!r}")
    return value


def rotation(axis: str, spins: str, angle: float) -> np.ndarray:
    """The two-spin rotation exp(-i angle sigma_axis / 2) on spin 1, spin 2 or both.

    Parameters
    ----------
    axis : str
        'x', 'y' or 'z'.
    spins : str
        '1', '2' or '12' (both spins, the same rotation on each).
    angle : float
        Radians.

    Returns
    -------
    ndarray of complex128, shape (4, 4)
    """
    half = 0.5 * float(angle)
    r = math.cos(half) * SINGLE["1"] - 1j * math.sin(half) * SINGLE[axis]
    one = SINGLE["1"]
    return np.kron(r if "1" in spins else one, r if "2" in spins else one)


def gate_unitary(name: str, value: Any, dim: int) -> np.ndarray:
    """The unitary of one gate given as a name, a (name, angle) pair or an array (see the module docstring).

    Parameters
    ----------
    name : str
        How error messages name the gate, e.g. 'gates[1]'.
    value : str, tuple of (str, float), or array_like of shape (d, d)
    dim : int
        The protocol's dimension d; names need d = 4.

    Returns
    -------
    ndarray of complex128, shape (d, d)
        Unitary within 1e-10.

    Raises
    ------
    ValueError
        Naming ``name``, for an unknown name, a bad angle, a wrong shape or a matrix that is not unitary.

    Examples
    --------
    >>> import numpy as np
    >>> import darkspin as ds
    >>> U = ds.gate_unitary("gates[0]", "rx1(pi)", 4)
    >>> bool(np.allclose(U, -1j * ds.gate_unitary("gates[1]", "flip1", 4)))  # rx1(pi) = -i flip1
    True
    >>> ds.gate_unitary("gates[2]", ("ry12", np.pi / 2), 4).shape
    (4, 4)
    """
    if isinstance(value, tuple) and len(value) == 2 and isinstance(value[0], str):
        label, angle = value
        m = _ROTATION.match(label)
        if m is None:
            raise ValueError(f"{name}: a (name, angle) gate needs a rotation name 'r<x|y|z><1|2|12>', got {label!r}")
        if isinstance(angle, (bool, np.bool_)) or not isinstance(angle, (int, float, np.integer, np.floating)):
            raise ValueError(f"{name}: the angle of {label!r} must be a real number (radians), got {angle!r}")
        if not math.isfinite(float(angle)):
            raise ValueError(f"{name}: the angle of {label!r} must be finite, got {angle!r}")
        if dim != 4:
            raise ValueError(f"{name}: {label!r} is a two-spin rotation (d = 4); this protocol has d = {dim}")
        return rotation(m.group(1), m.group(2), float(angle))
    if isinstance(value, str):
        call = _CALL.match(value.replace(" ", ""))
        if call is not None:
            if dim != 4:
                raise ValueError(f"{name}: {value!r} is a two-spin rotation (d = 4); this protocol has d = {dim}")
            m = _ROTATION.match(call.group(1))
            assert m is not None
            return rotation(m.group(1), m.group(2), _angle(name, call.group(2)))
        if value not in NAMED_FEEDBACK:
            raise ValueError(
                f"{name} must be 'flip1', 'flip2', a rotation 'r<x|y|z><1|2|12>(<angle>)' or a unitary (d, d) "
                f"array, got {value!r}"
            )
    return check_unitary(name, value, dim)


def rotation_name(value: Any) -> str | None:
    """The rotation name 'r<axis><spins>' of a gate given as a rotation, else None.

    Parameters
    ----------
    value : Any
        A gate as given to the protocol.

    Returns
    -------
    str or None
    """
    if isinstance(value, tuple) and len(value) == 2 and isinstance(value[0], str) and _ROTATION.match(value[0]):
        return value[0]
    if isinstance(value, str):
        call = _CALL.match(value.replace(" ", ""))
        if call is not None:
            return call.group(1)
    return None
