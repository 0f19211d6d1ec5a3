"""Element tests of the density matrices: each independent element of rho and rho_post at each output
time against the exact value, with variances that do not collapse when a rare path was never sampled."""

from __future__ import annotations

import dataclasses

import numpy as np
from numpy.typing import ArrayLike

from ...trajectories.operators import BASIS_LABELS
from ..results.master_equation import MasterEquationResult
from ..results.monte_carlo import MonteCarloResult
from .significance import MIN_COUNT, SE_FLOOR, TestFamily, sigma_from_p


def _upper(d: int) -> np.ndarray:
    """The independent elements (i <= j) of a Hermitian d x d matrix, (d, d) bool."""
    return np.triu(np.ones((d, d), bool))


def _labels(d: int) -> tuple[str, ...]:
    """Basis-state names: uu, ud, du, dd for two spins, else 0 .. d-1."""
    return BASIS_LABELS if d == 4 else tuple(str(i) for i in range(d))


def variance_bound(exact: np.ndarray) -> np.ndarray:
    """Largest per-trajectory variance of each element consistent with the exact state; (..., d, d).

    A trajectory contributes x_ij = psi_i psi_j^* with a_i = |psi_i|^2 in [0, 1] and a_i + a_j <= 1, and
    the exact rho is the mean of x. Populations: Var x_ii = E a_i^2 - p_i^2 <= p_i (1 - p_i) with
    p_i = rho_ii. Coherences: Var x_ij = E a_i a_j - |rho_ij|^2 and a_i a_j <= a_i (1 - a_i), so by
    Jensen Var x_ij <= min(p_i (1 - p_i), p_j (1 - p_j)) - |rho_ij|^2 (>= 0 since |rho_ij|^2 <= p_i p_j).
    NaN where exact is NaN.
    """
    exact = np.asarray(exact)
    p = np.clip(np.real(np.diagonal(exact, axis1=-2, axis2=-1)), 0.0, 1.0)  # (..., d)
    d = p.shape[-1]
    q = p * (1.0 - p)
    v = np.minimum(q[..., :, None], q[..., None, :]) - np.abs(exact) ** 2
    eye = np.eye(d, dtype=bool)
    v = np.where(eye, q[..., :, None] * np.ones(d), v)
    return np.maximum(v, 0.0)


def element_p_values(
    est: ArrayLike, se: ArrayLike, exact: ArrayLike, count: ArrayLike, min_count: int = MIN_COUNT
) -> np.ndarray:
    """Two-sided p-values of |est - exact| for each element, (n, d, d); NaN where not tested.

    est, exact: (n, d, d) complex means; se: (n, d, d) sample standard errors of the complex means;
    count: the contributing trajectories N, broadcasting to (n, 1, 1). With d = |est - exact|, the
    sample variance s^2 = N se^2 and the exact-state bound V of :func:`variance_bound`, each element is
    tested two ways, neither of which collapses when no trajectory took a rare path:

    * exact-state bound: per-run values differ from their mean by at most b = 1 and vary by at most V,
      so by Bernstein's inequality the mean deviates by d with probability <= 2 exp(-z1^2 / 2),
      z1 = d / sqrt((V + b d / 3) / N); p1 is the normal tail of z1 (a little below that bound; the
      d / 3 term is what keeps an excess of rare runs from looking like a many-sigma event).
    * guarded sample variance: runs that were not sampled but move the mean by d add at most b d to the
      variance, so z2 = d / sqrt((s^2 + b d) / N); p2 is the Student t tail with N - 1 degrees of freedom.
      (For a rare outcome of expected count lambda of which none was seen, z2 = sqrt(lambda).)

    z1 is exact-based and wins where trajectories are spread over rare outcomes; z2 wins where every
    run is close to the mean (variance far below V). The element's p-value is 2 min(p1, p2) (Bonferroni
    over the two), capped at 1. Effective standard errors are floored at :data:`SE_FLOOR`. NaN where
    N < min_count or any input is NaN.
    """
    from scipy.special import ndtr, stdtr

    est, exact = np.asarray(est), np.asarray(exact)
    se = np.asarray(se, float)
    count = np.broadcast_to(np.asarray(count, float), est.shape)
    d = np.abs(est - exact)
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        n = np.where(count > 0, count, np.nan)
        s1 = np.maximum(np.sqrt((variance_bound(exact) + d / 3.0) / n), SE_FLOOR)
        s2 = np.maximum(np.sqrt((n * se**2 + d) / n), SE_FLOOR)
        p1 = 2.0 * ndtr(-d / s1)
        p2 = 2.0 * stdtr(np.maximum(n - 1.0, 1.0), -d / s2)
        p = np.minimum(1.0, 2.0 * np.minimum(p1, p2))
    ok = (count >= min_count) & np.isfinite(d) & np.isfinite(se) & np.isfinite(p)
    return np.where(ok, p, np.nan)


def _nan_mismatch(est: np.ndarray, se: np.ndarray, exact: np.ndarray, count: np.ndarray) -> np.ndarray:
    """(n, d, d) bool: one side is NaN while the other has a value (count >= 1 trajectories)."""
    has = np.broadcast_to(np.asarray(count) >= 1, est.shape)
    bad_mc = ~np.isfinite(est) | (np.broadcast_to(np.asarray(count) >= 2, est.shape) & ~np.isfinite(se))
    return has & (bad_mc | ~np.isfinite(exact)) & _upper(est.shape[-1])


@dataclasses.dataclass(frozen=True)
class DensityTests:
    """Element tests of rho and rho_post (see :func:`element_p_values`).

    p (kind -> (n, d, d)): p-values of the independent elements (i <= j; NaN elsewhere and where not
    tested); z (kind -> (n, d, d)): normal-equivalent z of every element (inf where one side is NaN and
    the other has a value); family: candidates (the smallest p-value of each kind), counted tests and
    NaN mismatches; n_tested: elements tested, trivial ones included.
    """

    p: dict[str, np.ndarray]
    z: dict[str, np.ndarray]
    family: TestFamily
    n_tested: int


def density_tests(mc_result: MonteCarloResult, exact_result: MasterEquationResult, min_count: int) -> DensityTests:
    """Test every element of rho (N = ntraj) and rho_post (N = n_post) at every output time.

    Parameters
    ----------
    mc_result : MonteCarloResult
    exact_result : MasterEquationResult
        On the same output times (checked by :func:`darkspin.ensemble.statistics.comparison.compare`).
    min_count : int
        Fewest contributing trajectories for an element to be tested.

    Returns
    -------
    DensityTests
        Elements identical in every run and equal to the exact value within SE_FLOOR are tested but
        not counted: they cannot give a small p-value.
    """
    n = mc_result.times.size
    ntraj = int(mc_result.ntraj)
    names = _labels(np.shape(exact_result.rho)[-1])
    times = np.asarray(mc_result.times)
    kinds = {
        "rho": (
            np.asarray(mc_result.rho),
            np.asarray(mc_result.rho_se),
            np.asarray(exact_result.rho),
            np.full((n, 1, 1), ntraj),
        ),
        "rho_post": (
            np.asarray(mc_result.rho_post),
            np.asarray(mc_result.rho_post_se),
            np.asarray(exact_result.rho_post),
            np.asarray(mc_result.n_post)[:, None, None],
        ),
    }
    p_el, z_el, counted, mismatch = {}, {}, {}, []
    for kind, (est, se, ex, count) in kinds.items():
        p = element_p_values(est, se, ex, count, min_count)
        bad = _nan_mismatch(est, se, ex, count) if ntraj > 0 else np.zeros(est.shape, bool)
        z = np.asarray(sigma_from_p(p), float)
        z = np.where(bad | bad.swapaxes(-1, -2), np.inf, z)
        p_el[kind], z_el[kind] = np.where(_upper(est.shape[-1]), p, np.nan), z
        # identical in every run and equal to the exact value: a structural zero (a coherence between S_z
        # sectors) or an exactly known element; it cannot give a small p-value, so it is not counted
        with np.errstate(invalid="ignore"):
            trivial = (se == 0) & (np.abs(est - ex) <= SE_FLOOR)
        counted[kind] = int(np.count_nonzero(~np.isnan(p_el[kind]) & ~trivial))
        for t, i, j in zip(*np.nonzero(bad), strict=True):
            side = "Monte Carlo" if not np.isfinite(est[t, i, j]) or not np.isfinite(se[t, i, j]) else "exact"
            mismatch.append(
                f"{side} {kind}[{names[i]},{names[j]}] is NaN at t = {times[t]:.6g} "
                f"where the other side has a value ({int(np.ravel(count)[t if np.size(count) > 1 else 0])}"
                f" trajectories)"
            )
    candidates = []  # (p, description)
    for kind in kinds:
        p = p_el[kind]
        if np.any(~np.isnan(p)):
            flat = int(np.nanargmin(p))
            t, i, j = np.unravel_index(flat, p.shape)
            est, _, ex, count = kinds[kind]
            candidates.append(
                (
                    float(p[t, i, j]),
                    {
                        "kind": kind,
                        "time": float(times[t]),
                        "time_index": int(t),
                        "element": f"{names[i]},{names[j]}",
                        "index": (int(i), int(j)),
                        "deviation": float(abs(est[t, i, j] - ex[t, i, j])),
                        "count": int(np.broadcast_to(count, (n, 1, 1))[t, 0, 0]),
                    },
                )
            )
    n_tested = int(sum(np.count_nonzero(~np.isnan(p)) for p in p_el.values()))
    return DensityTests(p_el, z_el, TestFamily(candidates, sum(counted.values()), mismatch), n_tested)
