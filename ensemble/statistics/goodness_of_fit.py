"""Goodness of fit of sampled record strings to their exact probabilities (a G-test with pooling).

The trajectory kernel counts how many runs produced each record string; the exact solver gives each
string's probability. A G-test (likelihood ratio) compares them; all cells whose expected count is below
MIN_EXPECTED are pooled into one cell (grown to MIN_EXPECTED) so that the chi-square approximation holds.
A count in a cell of exactly zero probability is impossible and gives p = 0.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
from numpy.typing import ArrayLike
from scipy.special import gammaincc, xlogy

#: Smallest expected count of a cell after pooling (the usual rule for chi-square approximations).
MIN_EXPECTED = 5.0


@dataclasses.dataclass(frozen=True)
class GoodnessOfFit:
    """G statistic, degrees of freedom, p-value, and the number of cells after pooling.

    p_value is NaN when there is nothing to test (fewer than two cells after pooling, or no runs).

    Attributes
    ----------
    statistic : float
        The G statistic, 2 sum O ln(O / E).
    dof : int
        Degrees of freedom (cells after pooling - 1).
    p_value : float
        The chi-square tail probability of the statistic.
    cells : int
        Cells after pooling.
    impossible : int
        Counts in cells of probability 0 (any makes p_value 0).

    Examples
    --------
    >>> import darkspin as ds
    >>> ds.g_test([50, 50], [0.5, 0.5]).statistic
    0.0
    """

    statistic: float
    dof: int
    p_value: float
    cells: int
    impossible: int

    def __str__(self) -> str:
        if math.isnan(self.p_value):
            return "record counts: nothing to test"
        extra = f", {self.impossible} runs with impossible records" if self.impossible else ""
        return f"record counts: G = {self.statistic:.3g}, {self.dof} dof, p = {self.p_value:.3g}{extra}"


def g_test(counts: ArrayLike, probabilities: ArrayLike) -> GoodnessOfFit:
    """G-test of integer ``counts`` (m,) against ``probabilities`` (m,) (summing to 1 within 1e-9).

    Every cell with expected count N p < MIN_EXPECTED is merged into one pooled cell, which takes the
    next smallest cells too until it reaches MIN_EXPECTED (or every cell is merged), so that the
    chi-square approximation holds for every cell. Returns a :class:`GoodnessOfFit`.

    Parameters
    ----------
    counts : array_like of int, shape (m,)
        Observed counts per cell, non-negative integers.
    probabilities : array_like of float, shape (m,)
        The cells' probabilities under the hypothesis, finite, >= 0, summing to 1.

    Returns
    -------
    GoodnessOfFit
        The G statistic, its degrees of freedom, the chi-square p-value and the cells after pooling
        (cells expected to hold few counts are pooled).

    Raises
    ------
    ValueError
        For counts and probabilities of different shapes, negative or non-integral counts, or
        probabilities that are not a distribution.

    Examples
    --------
    >>> import darkspin as ds
    >>> fit = ds.g_test([48, 52], [0.5, 0.5])
    >>> fit.dof, round(fit.p_value, 3)
    (1, 0.689)
    """
    counts = np.asarray(counts)
    probs = np.asarray(probabilities, float)
    if counts.shape != probs.shape or counts.ndim != 1:
        raise ValueError(
            f"counts and probabilities must be 1-d arrays of one length, got shapes {counts.shape} and {probs.shape}"
        )
    if counts.size and (counts.dtype.kind not in "iu" or np.any(counts < 0)):
        raise ValueError("counts must be non-negative integers")
    if np.any(~np.isfinite(probs)) or np.any(probs < 0) or abs(probs.sum() - 1.0) > 1e-9:
        raise ValueError(f"probabilities must be finite, >= 0 and sum to 1, got sum {float(probs.sum())}")
    n = int(counts.sum())
    impossible = int(counts[probs == 0].sum())
    if n == 0:
        return GoodnessOfFit(math.nan, 0, math.nan, 0, 0)
    if impossible:
        return GoodnessOfFit(math.inf, 0, 0.0, int(np.count_nonzero(probs)), impossible)
    keep = probs > 0
    c, p = counts[keep].astype(float), probs[keep] / probs[keep].sum()
    order = np.argsort(p, kind="stable")
    c, p = c[order], p[order]
    expected = n * p
    # pool every cell expected below MIN_EXPECTED into one (smallest first), then grow that cell with
    # the next smallest until it reaches MIN_EXPECTED itself: every remaining cell is then >= it
    k = int(np.searchsorted(expected, MIN_EXPECTED))  # cells [0, k) are small
    if k > 0:
        cum = np.cumsum(expected)
        k = max(k, int(np.searchsorted(cum, MIN_EXPECTED)) + 1)
        k = min(k, c.size)
        c = np.concatenate([[c[:k].sum()], c[k:]])
        expected = np.concatenate([[expected[:k].sum()], expected[k:]])
    cells = int(c.size)
    if cells < 2:
        return GoodnessOfFit(0.0, 0, math.nan, cells, 0)
    G = 2.0 * float(np.sum(xlogy(c, c) - xlogy(c, expected)))
    G = max(G, 0.0)
    dof = cells - 1
    return GoodnessOfFit(G, dof, float(gammaincc(dof / 2.0, G / 2.0)), cells, 0)
