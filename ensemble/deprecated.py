"""Older spellings of the post-selection table, kept for one minor version with a DeprecationWarning."""

from __future__ import annotations

import warnings

from .results.master_equation import MasterEquationResult
from .results.monte_carlo import MonteCarloResult
from .results.postselection import PostSelectionTable
from .statistics.intervals import CONFIDENCE


def postselection_table(
    result: MonteCarloResult | MasterEquationResult, confidence: float = CONFIDENCE
) -> PostSelectionTable:
    """Deprecated: use ``result.postselection(confidence)``.

    Parameters
    ----------
    result : MonteCarloResult or MasterEquationResult
    confidence : float
        Confidence level in (0, 1) of a Monte Carlo table's intervals.

    Returns
    -------
    PostSelectionTable

    Raises
    ------
    ValueError
        If ``result`` is neither kind of result, or ``confidence`` is not in (0, 1).
    """
    warnings.warn(
        "postselection_table(result) is deprecated; use result.postselection()", DeprecationWarning, stacklevel=2
    )
    if isinstance(result, MasterEquationResult):
        return result.postselection()
    if not isinstance(result, MonteCarloResult):
        raise ValueError(f"result must be a MonteCarloResult or a MasterEquationResult, got {type(result).__name__}")
    return result.postselection(confidence)


def exact_table(exact_result: MasterEquationResult) -> PostSelectionTable:
    """Deprecated: use ``exact_result.postselection()``.

    Parameters
    ----------
    exact_result : MasterEquationResult

    Returns
    -------
    PostSelectionTable

    Raises
    ------
    ValueError
        If ``exact_result`` is not a MasterEquationResult.
    """
    warnings.warn("exact_table(exact) is deprecated; use exact.postselection()", DeprecationWarning, stacklevel=2)
    if not isinstance(exact_result, MasterEquationResult):
        raise ValueError(f"exact_result must be a MasterEquationResult, got {type(exact_result).__name__}")
    return exact_result.postselection()
