"""The electron bath of the STM model (docs/physics.md): the phase-space factor of a transition of energy
omega at bias V and temperature T, and the exchange couplings J_ex, J_DM from the electron bandwidth
(Eq. 6-7). Energies in one unit (the Larmor frequency nu in the presets), hbar = k_B = 1.
"""

from __future__ import annotations

import functools
import math
from typing import Any

import numpy as np

#: The bath's channel sectors, each with its spin operator and the sign of its energy transfer.
SECTORS = ("lowering", "raising", "dephasing")
_SECTOR_OPS = {"lowering": ("-", 1), "raising": ("+", -1), "dephasing": ("z", 0)}
_SECTOR_KAPPA = {"lowering": 0.5, "raising": 0.5, "dephasing": 0.25}


#: Largest magnitude accepted for any parameter (energies in units of nu: far beyond physics).
MAX_PARAM = 1e12


def phase_space(omega: float, V: float, T: float) -> float:
    """Electron phase space F(omega) = g(omega + V) + g(omega - V), g(x) = x / (1 - exp(-x/T)).

    omega: energy released to the electrons; V: bias; T: temperature (T = 0 gives g(x) = max(x, 0)).
    Each within +-MAX_PARAM (T >= 0), else ValueError naming it.

    Parameters
    ----------
    omega, V, T : float
        Energy released, bias and temperature, in one energy unit.

    Returns
    -------
    float
        A rate per unit coupling, in the same unit as omega (finite).

    Raises
    ------
    ValueError
        Naming the parameter, if one is not a finite real within +-MAX_PARAM or T < 0.

    Examples
    --------
    >>> import darkspin as ds
    >>> ds.phase_space(omega=0.0, V=1.25, T=0.0)  # at T = 0: the bias window, max(0, V - |omega|) ...
    1.25
    """

    omega = _check_bounded("omega", omega)
    V = abs(_check_bounded("V", V))
    T = _check_bounded("T", T)
    if T < 0:
        raise ValueError(f"T must be >= 0, got {T!r}")
    return _phase_space(omega, V, T)


@functools.lru_cache(maxsize=4096)
def _phase_space(omega: float, V: float, T: float) -> float:
    """:func:`phase_space` for validated floats (V >= 0, T >= 0)."""

    def g(x: float) -> float:
        if T == 0.0:
            return max(x, 0.0)
        y = x / T
        if y == 0.0:
            return T
        if y > 0.0:
            return x / -math.expm1(-y)
        # y < 0: multiply through by e^y so nothing overflows
        return x * math.exp(y) / math.expm1(y)

    return g(omega + V) + g(omega - V)


@functools.lru_cache(maxsize=4096)
def _sector_rates(nu: float, V: float, T: float) -> tuple[float, float]:
    """(max, sum) over sectors of kappa_s F_s, the rates per unit coupling (one lookup per SpinPair built)."""
    rates = [_SECTOR_KAPPA[s] * _phase_space(_SECTOR_OPS[s][1] * nu, V, T) for s in SECTORS]
    return max(rates), sum(rates)


def exchange_from_bandwidth(
    lam1: float, lam2: float, V: float, bandwidth: float, theta: float = 0.0, phi: float = 0.0
) -> tuple[float, float]:
    """Bath-induced (J_ex, J_DM) of Eq. 6-7 for an electron bandwidth Lambda.

    J_ex = sqrt(lam1 lam2)/(4 pi) Delta cos(theta/2) cos(phi), J_DM the same with sin(phi), and
    Delta = Lambda ln(16 Lambda^2/|Lambda^2 - V^2|) - V ln|(Lambda + V)/(Lambda - V)|.
    All energies in one unit. Requires 0 < Lambda <= MAX_PARAM, Lambda != |V|, lam1, lam2 in
    [0, MAX_PARAM], |V| <= MAX_PARAM, theta and phi finite.

    Parameters
    ----------
    lam1, lam2 : float
        Dimensionless tunnelling couplings.
    V : float
        Bias (energy unit).
    bandwidth : float
        Electron bandwidth Lambda (energy unit).
    theta, phi : float
        Spin-orbit angles (radians).

    Returns
    -------
    J_ex, J_DM : float
        Finite couplings (energy unit).

    Raises
    ------
    ValueError
        Naming the parameter, for a value outside the ranges above.

    Examples
    --------
    >>> import darkspin as ds
    >>> J_ex, J_DM = ds.exchange_from_bandwidth(lam1=0.0126, lam2=0.0126, V=1.25, bandwidth=100.0)
    >>> J_DM
    0.0
    """
    for name, value in (("theta", theta), ("phi", phi)):
        _check_finite(name, value)
    V = abs(_check_bounded("V", V))
    for name, value in (("lam1", lam1), ("lam2", lam2)):
        if _check_bounded(name, value) < 0:
            raise ValueError(f"{name} must be >= 0, got {float(value)!r}")
    lam = _check_finite("bandwidth", bandwidth)
    if not 0 < lam <= MAX_PARAM:
        raise ValueError(f"bandwidth must be > 0 and <= {MAX_PARAM:g}, got {lam!r}")
    if lam == V:
        raise ValueError("bandwidth must differ from |V| (Delta diverges at Lambda = |V|)")
    # logarithms of each factor: Lambda^2 neither overflows nor underflows for any accepted Lambda
    log_gap = math.log(abs(lam - V))
    delta = lam * (math.log(16.0) + 2.0 * math.log(lam) - log_gap - math.log(lam + V))
    if V > 0:
        delta -= V * (math.log(lam + V) - log_gap)
    pref = math.sqrt(float(lam1) * float(lam2)) / (4 * math.pi) * delta * math.cos(theta / 2)
    J_ex, J_DM = pref * math.cos(phi) + 0.0, pref * math.sin(phi) + 0.0  # + 0.0: no -0.0
    if not (math.isfinite(J_ex) and math.isfinite(J_DM)):  # cannot happen within the bounds; stay loud
        raise ValueError(f"bandwidth = {lam!r} gives non-finite couplings J_ex = {J_ex!r}, J_DM = {J_DM!r}")
    return J_ex, J_DM


def _check_finite(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise ValueError(f"{name} must be a real number, got {value!r}")
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value!r}")
    return value


def _check_bounded(name: str, value: Any) -> float:
    """A finite real within +-MAX_PARAM, as a Python float (so messages print plain numbers)."""
    value = _check_finite(name, value)
    if abs(value) > MAX_PARAM:
        raise ValueError(f"{name} must lie within +-{MAX_PARAM:g}, got {value!r}")
    return value
