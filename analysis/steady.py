"""The one-parameter family of steady states at the symmetric point (Fig. 3 left) and its entanglement.

At lam1 = lam2, theta = phi = 0 the stationary states are rho(p) = p d + (1 - p) rho_tr, p in [0, 1],
with d the dark singlet and rho_tr the triplet steady state (docs/physics.md, Eq. 10-11). Measures are in
bits / ebits (logarithms base 2), as in :mod:`analysis.measures`.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike
from scipy.optimize import brentq

from ..ensemble.exact.steady import steady_states
from ..trajectories.model import SpinPair
from .measures import concurrence, entanglement_of_formation, log_negativity, mutual_information, partial_transpose

__all__ = ["steady_family", "family_states", "family_measures", "critical_weight", "critical_weight_closed_form"]


def _check_symmetric(model: object) -> SpinPair:
    if not isinstance(model, SpinPair):
        raise ValueError(f"model must be a SpinPair, got {type(model).__name__}")
    if not model.is_symmetric_point:
        raise ValueError(
            "model must be at the symmetric point (lam1 == lam2, theta == phi == 0): elsewhere the singlet"
            f" decays and the steady state is unique; got lam1={model.lam1}, lam2={model.lam2},"
            f" theta={model.theta}, phi={model.phi}"
        )
    return model


def steady_family(model: SpinPair) -> tuple[np.ndarray, np.ndarray]:
    """The end points (rho_tr, d) of the steady-state segment at the symmetric point.

    Taken from ``ensemble.steady_states`` (ordered by increasing singlet population).

    Parameters
    ----------
    model : SpinPair
        The model, at the symmetric point (lam1 == lam2, theta == phi == 0).

    Returns
    -------
    rho_tr : numpy.ndarray, shape (4, 4), complex
        The triplet steady state (no singlet weight).
    d : numpy.ndarray, shape (4, 4), complex
        The dark singlet projector.

    Raises
    ------
    ValueError
        If model is not a SpinPair at the symmetric point, or if its Liouvillian kernel is not
        two-dimensional there (e.g. lam1 = lam2 = 0, where every diagonal state is stationary).
    """
    _check_symmetric(model)
    states = steady_states(model)
    if len(states) != 2:
        raise ValueError(
            f"model: the Liouvillian kernel is {len(states)}-dimensional, not 2 (no coupling"
            " lam1 = lam2 = 0?), so the steady states are not a one-parameter family"
        )
    return states[0], states[1]


def _check_p(p: ArrayLike) -> np.ndarray:
    arr = np.asarray(p)
    if arr.dtype == np.bool_ or not np.issubdtype(arr.dtype, np.number) or np.iscomplexobj(arr):
        raise ValueError(f"p must be real weights, got dtype {arr.dtype}")
    arr = arr.astype(float)
    if not np.isfinite(arr).all() or (arr < 0).any() or (arr > 1).any():
        raise ValueError("p must lie in [0, 1]")
    return arr


def family_states(model: SpinPair, p: ArrayLike) -> np.ndarray:
    """rho(p) = p d + (1 - p) rho_tr for dark-state weights p.

    Parameters
    ----------
    model : SpinPair
        The model, at the symmetric point.
    p : array_like, shape (...)
        Dark-state weights in [0, 1], dimensionless.

    Returns
    -------
    numpy.ndarray, shape (..., 4, 4), complex
        The states rho(p).

    Raises
    ------
    ValueError
        If p is not real or outside [0, 1], or as :func:`steady_family`.
    """
    rho_tr, d = steady_family(model)
    w = _check_p(p)[..., None, None]
    return w * d + (1 - w) * rho_tr


def family_measures(model: SpinPair, p: ArrayLike) -> dict[str, np.ndarray]:
    """Entanglement and correlation of rho(p) = p d + (1 - p) rho_tr (Fig. 3 left).

    Parameters
    ----------
    model : SpinPair
        The model, at the symmetric point.
    p : array_like, shape (...)
        Dark-state weights in [0, 1], dimensionless.

    Returns
    -------
    dict of str to numpy.ndarray
        {'p', 'mutual_information' (bits), 'log_negativity' (ebits), 'entanglement_of_formation'
        (ebits), 'concurrence'}, each a float array of the shape of p.

    Raises
    ------
    ValueError
        If p is not real or outside [0, 1], or as :func:`steady_family`.
    """
    w = _check_p(p)
    rho = family_states(model, w)
    return {
        "p": w,
        "mutual_information": np.asarray(mutual_information(rho), dtype=float),
        "log_negativity": np.asarray(log_negativity(rho), dtype=float),
        "entanglement_of_formation": np.asarray(entanglement_of_formation(rho), dtype=float),
        "concurrence": np.asarray(concurrence(rho), dtype=float),
    }


def critical_weight(model: SpinPair, xtol: float = 1e-12) -> float:
    """Smallest dark-state weight p_c at which rho(p) = p d + (1 - p) rho_tr is entangled.

    Computed from the states: the root in [0, 1] of the lowest eigenvalue of the partial transpose
    of rho(p) (Peres-Horodecki, necessary and sufficient for two qubits), by brentq to ``xtol``. That
    eigenvalue is concave in p (minimum of affine functions), so it has at most one sign change from
    + to - on [0, 1].

    Parameters
    ----------
    model : SpinPair
        The model, at the symmetric point.
    xtol : float
        Absolute tolerance of the root in p, in (0, 1e-3).

    Returns
    -------
    float
        p_c, dimensionless, in [0, 1]; 0.0 if rho_tr is itself entangled.

    Raises
    ------
    ValueError
        If xtol is out of range, or as :func:`steady_family`.
    RuntimeError
        If the dark-state end point is not entangled (cannot happen for the singlet).
    """
    if not (isinstance(xtol, (int, float)) and 0 < xtol < 1e-3):
        raise ValueError(f"xtol must be in (0, 1e-3), got {xtol!r}")
    rho_tr, d = steady_family(model)

    def lowest(p: float) -> float:
        return float(np.linalg.eigvalsh(partial_transpose(p * d + (1 - p) * rho_tr))[0])

    f0, f1 = lowest(0.0), lowest(1.0)
    if f0 <= 0.0:
        return 0.0
    if f1 >= 0.0:  # cannot happen for the singlet (lowest eigenvalue -1/2), kept for safety
        raise RuntimeError(f"the dark-state end point is not entangled (lowest PT eigenvalue {f1})")
    return float(brentq(lowest, 0.0, 1.0, xtol=xtol, rtol=4 * np.finfo(float).eps))


def critical_weight_closed_form(model: SpinPair) -> float:
    """p_c = (1 - nu~^2) / (2 (1 - nu~^2 / 3)), nu~ = nu / V (paper, after Eq. 11; docs/physics.md check 4).

    Valid at the symmetric point, T = 0 and V > nu (the triplet then relaxes to populations
    r^2 : r : 1 with r = (V - nu)/(V + nu)).

    Parameters
    ----------
    model : SpinPair
        The model, at the symmetric point with T = 0 and V > nu.

    Returns
    -------
    float
        p_c, dimensionless.

    Raises
    ------
    ValueError
        If model is not a SpinPair at the symmetric point, T != 0, or V <= nu.
    """
    _check_symmetric(model)
    if model.T != 0.0:
        raise ValueError(f"T must be 0 for the closed form (it assumes exp(-(V - nu)/T) -> 0), got {model.T}")
    if not model.V > model.nu:
        raise ValueError(
            f"V must exceed nu for the closed form (triplet populations r^2 : r : 1, r > 0),"
            f" got V={model.V}, nu={model.nu}"
        )
    x2 = (model.nu / model.V) ** 2
    return (1 - x2) / (2 * (1 - x2 / 3))
