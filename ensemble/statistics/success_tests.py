"""Tests of the per-round success counts: exact binomial p-values against the exact success probabilities."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
from numpy.typing import ArrayLike

from ..results.master_equation import MasterEquationResult
from ..results.monte_carlo import MonteCarloResult
from .significance import TestFamily, sigma_from_p


def success_p_values(successes: ArrayLike, attempts: ArrayLike, p: ArrayLike) -> np.ndarray:
    """Exact two-sided binomial p-values of the success counts per round, shape (rounds,).

    successes k of n attempts with exact conditional success probability p:
    min(1, 2 min(P(X <= k), P(X >= k))) for X ~ Binomial(n, p), exact in the tails (no normal
    approximation, so one rare failure where 0.02 were expected is not a 6-sigma event). For p = 0 or
    1 an impossible count gives 0. NaN where n = 0 or p is NaN (nothing to test).
    """
    from scipy.special import bdtr, bdtrc

    k = np.asarray(successes, float)
    n = np.asarray(attempts, float)
    p = np.asarray(p, float)
    ok = (n > 0) & np.isfinite(p)
    pp = np.where(ok, np.clip(p, 0.0, 1.0), 0.5)
    nn = np.where(ok, n, 1.0).astype(np.int64)
    kk = np.where(ok, k, 0.0)
    below = bdtr(kk, nn, pp)  # P(X <= k)
    above = np.where(kk >= 1, bdtrc(np.maximum(kk - 1.0, 0.0), nn, pp), 1.0)  # P(X >= k)
    out = np.minimum(1.0, 2.0 * np.minimum(below, above))
    return np.where(ok, out, np.nan)


def success_z(successes: ArrayLike, attempts: ArrayLike, p: ArrayLike) -> np.ndarray:
    """Signed normal-equivalent z of the success counts per round, shape (rounds,).

    sign(k - n p) times :func:`sigma_from_p` of the exact binomial p-value of :func:`success_p_values`:
    0 where the count is as expected, +-inf for an impossible count (p = 0 or 1), NaN where n = 0 or p
    is NaN.
    """
    k = np.asarray(successes, float)
    n = np.asarray(attempts, float)
    z = np.asarray(sigma_from_p(success_p_values(successes, attempts, p)), float)
    with np.errstate(invalid="ignore"):
        sign = np.sign(k - n * np.asarray(p, float))
    return np.where(np.isnan(z), np.nan, np.where(z == 0, 0.0, sign * z))


@dataclasses.dataclass(frozen=True)
class SuccessTests:
    """Per-round success counts against the exact conditional probabilities (R,): successes, attempts,
    p_exact, p (exact binomial p-values), z (signed normal-equivalent; inf where the exact value is NaN
    but runs were attempted), and the family's share of the verdict."""

    successes: np.ndarray
    attempts: np.ndarray
    p_exact: np.ndarray
    p: np.ndarray
    z: np.ndarray
    family: TestFamily


def success_tests(mc_result: MonteCarloResult, exact_result: MasterEquationResult) -> SuccessTests:
    """Test every round's success count: attempts are the runs post-selected after the previous round
    (ntraj for the first), successes those still post-selected after this one.

    Parameters
    ----------
    mc_result : MonteCarloResult
    exact_result : MasterEquationResult
        With the same rounds.

    Returns
    -------
    SuccessTests
    """
    ntraj = int(mc_result.ntraj)
    mismatch = []
    # of the runs post-selected before round k (all runs for k = 0), those still post-selected after it
    succ = np.asarray(mc_result.n_kept, np.int64)
    attempts = np.concatenate([[ntraj], np.asarray(mc_result.n_success, np.int64)])[: succ.size]
    p_exact = np.asarray(exact_result.p_success, float)
    p_succ = success_p_values(succ, attempts, p_exact)
    zs = success_z(succ, attempts, p_exact)
    for r in np.flatnonzero((attempts > 0) & np.isnan(p_exact)):
        mismatch.append(f"exact p_success of round {r + 1} is NaN where the Monte Carlo has {attempts[r]} attempts")
        zs[r] = math.inf
    candidates: list[tuple[float, dict]] = []  # (p, description)
    if np.any(~np.isnan(p_succ)):
        k = int(np.nanargmin(p_succ))
        candidates.append(
            (
                float(p_succ[k]),
                {
                    "kind": "p_success",
                    "round": k + 1,
                    "successes": int(succ[k]),
                    "attempts": int(attempts[k]),
                    "expected": float(attempts[k] * p_exact[k]),
                },
            )
        )
    family = TestFamily(candidates, int(np.count_nonzero(~np.isnan(p_succ))), mismatch)
    return SuccessTests(succ, attempts, p_exact, p_succ, zs, family)
