"""The record-string test: the counts of each string of measurement records against their exact
probabilities (a G-test with sparse cells pooled)."""

from __future__ import annotations

import math

import numpy as np

from ..results.master_equation import MasterEquationResult
from ..results.monte_carlo import MonteCarloResult
from .goodness_of_fit import GoodnessOfFit, g_test
from .significance import TestFamily


def record_tests(
    mc_result: MonteCarloResult, exact_result: MasterEquationResult
) -> tuple[GoodnessOfFit | None, TestFamily]:
    """G-test of the record-string counts (R <= 16 rounds) against their exact probabilities.

    Parameters
    ----------
    mc_result : MonteCarloResult
    exact_result : MasterEquationResult

    Returns
    -------
    records : GoodnessOfFit or None
        None without trajectories or record tables (R > 16), or where the two tables differ in size.
    family : TestFamily
        One test, unless its p-value is NaN.
    """
    ntraj = int(mc_result.ntraj)
    candidates = []
    records = None
    counts, probs = np.asarray(mc_result.record_counts), np.asarray(exact_result.record_probabilities)
    if ntraj > 0 and counts.size and counts.shape == probs.shape:
        records = g_test(counts, probs / probs.sum())
        if not math.isnan(records.p_value):
            candidates.append(
                (
                    records.p_value,
                    {
                        "kind": "records",
                        "statistic": records.statistic,
                        "dof": records.dof,
                        "impossible": records.impossible,
                    },
                )
            )
    return records, TestFamily(candidates, int(records is not None and not math.isnan(records.p_value)), [])
