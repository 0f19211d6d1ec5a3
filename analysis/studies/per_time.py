"""Figures of merit per unit of protocol time, for :func:`~darkspin.optimize_schedule` and sweep columns.

A run of the protocol takes ``duration = t_last + overhead``: t_last the time of its last measurement
(the post-selected pair is ready then; the final output time if it has no rounds) and ``overhead`` a fixed
time per run (resetting and preparing the pair). Repeating runs back to back, per unit of time:

    'fidelity_gain'  (F - F_0) / duration: the post-selected target population F gained over the
                     initial one F_0 = <t|rho0|t>
    'good_pairs'     yield * F / duration: post-selected pairs per unit time, weighted by their target
                     population (the rate of target pairs delivered)
    'yield'          yield / duration: post-selected pairs per unit time

F is read at the protocol's final output time, as everywhere else: give the protocol an output grid
that ends at its last round when the pair is handed over there. Since t_last moves with the schedule
and the number of rounds, these objectives compare protocols of different lengths.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from ...ensemble.results.master_equation import MasterEquationResult
from ...trajectories.checks import check_real
from ...trajectories.operators import target_vector
from ...trajectories.protocol import Protocol

#: The quantities a PerUnitTime can divide by the duration.
QUANTITIES = ("fidelity_gain", "good_pairs", "yield")


class PerUnitTime:
    """A figure of merit per unit of protocol time (module docstring): an objective of
    :func:`~darkspin.optimize_schedule` (with an analytic gradient) and a sweep column (``per_time=``).

    Parameters
    ----------
    quantity : {'fidelity_gain', 'good_pairs', 'yield'}
        What is divided by the duration.
    overhead : float
        Fixed time per run added to the last measurement time, >= 0 (model time unit).

    Raises
    ------
    ValueError
        For an unknown quantity or an overhead that is negative or not finite.

    Examples
    --------
    >>> import darkspin as ds
    >>> rate = ds.PerUnitTime("good_pairs", overhead=50.0)  # yield x fidelity / (last round + 50)
    >>> table = ds.sweep(ds.SpinPair(), ds.Protocol.paper(n_out=11), {"readout_error": [0.0, 0.1]}, per_time=rate)
    >>> rate.name, [f"{float(x):.3g}" for x in table[rate.name]]
    ('good_pairs_per_time', ['0.00111', '0.000729'])
    """

    def __init__(self, quantity: str = "good_pairs", overhead: float = 0.0) -> None:
        if quantity not in QUANTITIES:
            raise ValueError(f"quantity must be one of {QUANTITIES}, got {quantity!r}")
        overhead = check_real("overhead", overhead, 0.0)
        self.quantity, self.overhead = quantity, float(overhead)
        self.__name__ = self.name

    @property
    def name(self) -> str:
        """The column and objective name, '<quantity>_per_time' (str), e.g. 'good_pairs_per_time'."""
        return f"{self.quantity}_per_time"

    def __repr__(self) -> str:
        return f"PerUnitTime({self.quantity!r}, overhead={self.overhead:g})"

    def duration(self, protocol: Protocol) -> float:
        """Time per run: the last measurement time (the final output time without rounds) + overhead.

        Parameters
        ----------
        protocol : Protocol
            The protocol.

        Returns
        -------
        float
            The duration, in the model's time unit (inverse energy unit).

        Examples
        --------
        >>> import darkspin as ds
        >>> ds.PerUnitTime("good_pairs", overhead=50.0).duration(ds.Protocol.paper(n_out=11))  # last round 400
        450.0
        """
        last = float(protocol.measure_at[-1]) if protocol.rounds else float(protocol.t_final)
        return last + self.overhead

    def value(self, fidelity: float, yield_: float, initial_fidelity: float, duration: float) -> float:
        """The figure of merit from its parts.

        Parameters
        ----------
        fidelity : float
            Post-selected target population at the final output time, in [0, 1].
        yield_ : float
            Final p_cumulative, in [0, 1].
        initial_fidelity : float
            Target population of the initial state, in [0, 1].
        duration : float
            Time per run (model time unit), >= 0.

        Returns
        -------
        float
            The quantity per unit time (inverse model time unit); NaN if the duration is 0 or the
            fidelity undefined.

        Examples
        --------
        >>> import darkspin as ds
        >>> ds.PerUnitTime("good_pairs").value(0.9, 0.5, 0.25, 450.0)  # 0.5 * 0.9 / 450
        0.001
        """
        q = {"fidelity_gain": fidelity - initial_fidelity, "good_pairs": yield_ * fidelity, "yield": yield_}
        return q[self.quantity] / duration if duration > 0 else math.nan

    def gradient(
        self,
        fidelity: float,
        yield_: float,
        initial_fidelity: float,
        duration: float,
        d_fidelity: np.ndarray,
        d_yield: np.ndarray,
        d_duration: np.ndarray,
    ) -> np.ndarray:
        """Gradient of :meth:`value` from those of its parts (any common set of variables).

        Parameters
        ----------
        fidelity, yield_, initial_fidelity, duration : float
            As for :meth:`value` (duration > 0).
        d_fidelity, d_yield, d_duration : ndarray, shape (n,)
            Gradients of the fidelity, the yield and the duration with respect to n variables.

        Returns
        -------
        ndarray, shape (n,)
            The gradient of :meth:`value` with respect to the same n variables.

        Examples
        --------
        >>> import numpy as np
        >>> import darkspin as ds
        >>> rate = ds.PerUnitTime("good_pairs")
        >>> d = rate.gradient(0.9, 0.5, 0.25, 450.0, np.array([1.0, 0.0]), np.array([0.0, 1.0]), np.zeros(2))
        >>> (d * 450).round(6).tolist()  # d(yield * F)/dF = yield, d(yield * F)/dyield = F
        [0.5, 0.9]
        """
        q = self.value(fidelity, yield_, initial_fidelity, duration) * duration
        dq = {
            "fidelity_gain": d_fidelity,
            "good_pairs": yield_ * d_fidelity + fidelity * d_yield,
            "yield": d_yield,
        }[self.quantity]
        return dq / duration - q * d_duration / duration**2

    def __call__(self, result: MasterEquationResult, target_state: str | ArrayLike | None = None) -> float:
        """The figure of merit of one exact result.

        Parameters
        ----------
        result : MasterEquationResult
            The exact solution of a protocol.
        target_state : str, array_like of shape (d,), or None
            The target (None: the singlet, two spins).

        Returns
        -------
        float
            The figure of merit per unit time (inverse model time unit; NaN if undefined).

        Raises
        ------
        ValueError
            If ``target_state`` is not a known label (two spins) or a normalised (d,) vector.

        Examples
        --------
        >>> import darkspin as ds
        >>> exact = ds.solve_master_equation(ds.SpinPair(), ds.Protocol.paper(n_out=11))
        >>> f"{ds.PerUnitTime('good_pairs', overhead=50.0)(exact):.3g}"  # yield x F / 450
        '0.00111'
        """
        t = target_vector(target_state, result.rho.shape[-1])
        fidelity = float(np.vdot(t, result.rho_post[-1] @ t).real)
        yld = float(result.p_cumulative[-1]) if result.p_cumulative.size else 1.0
        return self.value(fidelity, yld, initial_fidelity(result.protocol, t), self.duration(result.protocol))


def initial_fidelity(protocol: Protocol, target: np.ndarray) -> float:
    """<t|rho0|t>, the target population of the protocol's initial state.

    Parameters
    ----------
    protocol : Protocol
        The protocol.
    target : ndarray, shape (d,)
        The normalised target vector.

    Returns
    -------
    float
    """
    return float(np.vdot(target, protocol.rho0 @ target).real)


def check_per_time(per_time: Any) -> list[PerUnitTime]:
    """The ``per_time`` argument of a sweep as a list.

    Parameters
    ----------
    per_time : PerUnitTime, sequence of PerUnitTime, or None
        The figures of merit.

    Returns
    -------
    list of PerUnitTime

    Raises
    ------
    ValueError
        If an element is not a PerUnitTime, or two have one name.
    """
    if per_time is None:
        return []
    items = [per_time] if isinstance(per_time, PerUnitTime) else list(per_time)
    for i, x in enumerate(items):
        if not isinstance(x, PerUnitTime):
            raise ValueError(f"per_time[{i}] must be a PerUnitTime, got {type(x).__name__}")
    names = [x.name for x in items]
    if len(set(names)) < len(names):
        raise ValueError(f"per_time names a quantity twice ({names}): one column each")
    return items


def per_time_columns(
    items: Sequence[PerUnitTime],
    protocols: Sequence[Protocol],
    fidelity: ArrayLike,
    yield_: ArrayLike,
    target: np.ndarray,
) -> dict[str, np.ndarray]:
    """Sweep columns: ``duration`` and each figure of merit, from every point's exact values.

    Parameters
    ----------
    items : sequence of PerUnitTime
        The figures of merit (none: no columns).
    protocols : sequence of Protocol
        Each point's protocol, length n.
    fidelity, yield_ : array_like, shape (n,)
        Each point's exact fidelity_post and yield.
    target : ndarray, shape (d,)
        The sweep's target vector.

    Returns
    -------
    dict of str to ndarray, shape (n,)
        {'duration_<overhead>' or 'duration': time per run, name: value}, empty for no items.
    """
    fid, yld = np.asarray(fidelity, float), np.asarray(yield_, float)
    cols: dict[str, np.ndarray] = {}
    f0 = np.array([initial_fidelity(p, target) for p in protocols])
    for x in items:
        durations = np.array([x.duration(p) for p in protocols])
        key = "duration" if x.overhead == 0 else f"duration_{x.overhead:g}"
        cols.setdefault(key, durations)
        cols[x.name] = np.array(
            [x.value(float(f), float(y), g, t) for f, y, g, t in zip(fid, yld, f0, durations, strict=True)], float
        )
    return cols
