"""Jump statistics of a run with distributions against their exact values: the mean number of jumps
per channel and the first-jump survival."""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from ...trajectories.segments import channel_labels
from ..exact.jump_statistics import mean_jumps, no_jump_probability
from ..results.master_equation import MasterEquationResult
from ..results.monte_carlo import MonteCarloResult
from .significance import MIN_COUNT, SE_FLOOR, TestFamily


@dataclasses.dataclass(frozen=True)
class JumpTests:
    """The jump statistics of a run with distributions against their exact values.

    mean_jumps_z (K,): per channel, the signed z of the mean number of jumps per run by the final time,
    (mc - exact) / sqrt((s^2 + |mc - exact|) / N) (s^2 the sample variance; the |mc - exact| term is the
    variance unsampled runs could add, counts moving in steps of 1, so a channel no run fired in is
    not a false alarm); mean_jumps_p (K,) its two-sided Student-t p-value; survival_distance: the largest
    |S_mc(t) - S_exact(t)| of the first-jump survival over the time grid (edges past the final output time,
    where runs stop, compare with S_exact(t_final)); survival_p: its
    Dvoretzky-Kiefer-Wolfowitz bound min(1, 2 exp(-2 N D^2)), valid for any distribution.

    Attributes
    ----------
    mean_jumps_z, mean_jumps_p : numpy.ndarray, shape (K,)
        Per channel: the z and the p-value of the mean number of jumps.
    survival_distance, survival_p : float
        The largest survival deviation and its DKW p-value.

    Examples
    --------
    >>> import darkspin as ds
    >>> protocol = ds.Protocol.paper(n_out=11)
    >>> mc = ds.simulate(ds.SpinPair(), protocol, ntraj=500, seed=1, progress=False, distributions=True)
    >>> jumps = ds.compare(mc, ds.solve_master_equation(ds.SpinPair(), protocol)).jumps
    >>> jumps.mean_jumps_z.shape, bool(jumps.survival_p > 0.0027)
    ((3,), True)
    """

    mean_jumps_z: np.ndarray
    mean_jumps_p: np.ndarray
    survival_distance: float
    survival_p: float

    def __str__(self) -> str:
        zs = ", ".join("-" if np.isnan(z) else f"{z:+.2f}" for z in self.mean_jumps_z)
        return (
            f"mean jumps per channel z: {zs or 'none'}; first-jump survival: max deviation "
            f"{self.survival_distance:.3g} (DKW p = {self.survival_p:.3g})"
        )


def jump_tests(mc: MonteCarloResult, exact: MasterEquationResult, min_count: int = MIN_COUNT) -> JumpTests | None:
    """:class:`JumpTests` of a result with distributions (None without, or with fewer than min_count runs)."""
    from scipy.special import stdtr

    dist = mc.distributions
    N = int(mc.ntraj)
    if dist is None or N < min_count:
        return None
    est, se = dist.mean_jumps[-1], dist.mean_jumps_se[-1]
    ex = np.asarray(mean_jumps(exact.model, exact.protocol))[-1]
    dev = est - ex
    with np.errstate(invalid="ignore", divide="ignore"):
        s_eff = np.maximum(np.sqrt(se**2 + np.abs(dev) / N), SE_FLOOR)
        z = dev / s_eff
        p = np.minimum(1.0, 2.0 * stdtr(N - 1.0, -np.abs(z)))
    h = dist.first_jump()
    # runs stop at the final output time: past it a run that has not jumped never will
    t = np.minimum(h.edges, exact.protocol.t_final)
    D = float(np.max(np.abs(h.survival() - no_jump_probability(exact.model, exact.protocol, t))))
    # the survival values are exact at the edges up to ~1e-13: no deviation below that is real
    D = 0.0 if D <= 1e-12 else D
    return JumpTests(z, p, D, float(min(1.0, 2.0 * math.exp(-2.0 * N * D * D))))


def jump_family(mc_result: MonteCarloResult, jumps: JumpTests | None) -> TestFamily:
    """The jump tests' share of the verdict: one test per channel with a finite p-value, and the
    first-jump survival.

    Parameters
    ----------
    mc_result : MonteCarloResult
        Names the channels.
    jumps : JumpTests or None
        From :func:`jump_tests` (None: no tests).

    Returns
    -------
    TestFamily
    """
    candidates: list[tuple[float, dict]] = []
    n_jump_tests = 0
    if jumps is not None:
        for k in np.flatnonzero(np.isfinite(jumps.mean_jumps_p)):
            n_jump_tests += 1
            labels = tuple(channel_labels(mc_result.model, mc_result.protocol.segments))
            candidates.append(
                (float(jumps.mean_jumps_p[k]), {"kind": "mean_jumps", "channel": labels[k] if labels else str(k)})
            )
        n_jump_tests += 1
        candidates.append((jumps.survival_p, {"kind": "first_jump", "distance": jumps.survival_distance}))
    return TestFamily(candidates, n_jump_tests, [])
