"""The count-distribution tests: at every output time, the histogram of N (the jumps of a channel set
since t = 0) over the runs, all of them and the post-selected ones, against the exact distribution of
:func:`darkspin.count_distribution` (a G-test with sparse cells pooled, :func:`.goodness_of_fit.g_test`).

Every (channel set, all / post-selected, output time) with at least min_count runs and two cells after
pooling is one test of the family; histograms at neighbouring times are strongly correlated, which the
Bonferroni correction of :func:`darkspin.compare` allows for (conservatively). Rows where the exact
post-selected distribution is undefined (no run post-selected) are not tested here: the rho_post tests
already report a NaN against a value.
"""

from __future__ import annotations

import dataclasses
import weakref

import numpy as np

from ..exact.counting import count_distribution, counting_supported
from ..results.master_equation import MasterEquationResult
from ..results.monte_carlo import MonteCarloResult
from .goodness_of_fit import g_test
from .significance import MIN_COUNT, TestFamily

#: exact count distributions already computed for an exact result: (channels, n_max, post) -> (n, n_max + 1)
_EXACT: weakref.WeakKeyDictionary[MasterEquationResult, dict[tuple, np.ndarray]] = weakref.WeakKeyDictionary()


def _exact(result: MasterEquationResult, channels: list[int], n_max: int, post: bool) -> np.ndarray:
    """count_distribution of the result's model and protocol, once per result (compare is called again
    and again with one exact result when many Monte Carlo runs are checked)."""
    known = _EXACT.setdefault(result, {})
    key = (tuple(channels), n_max, post)
    if key not in known:
        known[key] = count_distribution(result.model, result.protocol, channels, n_max, post=post)
    return known[key]


@dataclasses.dataclass(frozen=True)
class CountTests:
    """G-tests of the count histograms (C channel sets, n output times).

    sets (C,): the channel labels of each set; statistic, dof, p_value (C, 2, n): the G statistic, its
    degrees of freedom and p-value over [all runs, post-selected runs] at each output time (NaN where
    nothing was tested).
    """

    sets: tuple[tuple[str, ...], ...]
    statistic: np.ndarray
    dof: np.ndarray
    p_value: np.ndarray

    @property
    def n_tests(self) -> int:
        """Tests with a p-value."""
        return int(np.count_nonzero(np.isfinite(self.p_value)))

    def __str__(self) -> str:
        if not self.n_tests:
            return "count distributions: nothing to test"
        c, post, o = np.unravel_index(np.nanargmin(self.p_value), self.p_value.shape)
        who = "+".join(self.sets[c])
        return (
            f"count distributions: {self.n_tests} G-tests, smallest p = {self.p_value[c, post, o]:.3g} "
            f"({who}, {'post-selected' if post else 'all runs'}, output {o})"
        )


def count_tests(
    mc_result: MonteCarloResult, exact_result: MasterEquationResult, min_count: int = MIN_COUNT
) -> tuple[CountTests | None, TestFamily]:
    """G-tests of a result's count histograms against the exact count distributions.

    Parameters
    ----------
    mc_result : MonteCarloResult
        With distributions (else nothing is tested).
    exact_result : MasterEquationResult
        Of the same model and protocol.
    min_count : int
        Fewest runs behind a histogram for it to be tested.

    Returns
    -------
    tests : CountTests or None
        None without distributions or count histograms, or for a protocol the exact counting statistics
        do not cover yet (segments, gates, monitored windows, feedback on the rule state). The exact
        distributions are computed once per exact result (kept while it lives).
    family : TestFamily
        Its smallest p-value as the one candidate, and the number of tests.
    """
    dist = mc_result.distributions
    if dist is None or not dist.count_sets or not counting_supported(exact_result.protocol):
        return None, TestFamily([], 0, [])
    spec = dist.sums.spec
    C, n = len(dist.count_sets), exact_result.times.size
    stat, dof, p = np.full((C, 2, n), np.nan), np.zeros((C, 2, n), np.int64), np.full((C, 2, n), np.nan)
    for c, row in enumerate(spec.count_sets):
        channels = [int(k) for k in np.flatnonzero(row)]
        for post in (0, 1):
            probs = _exact(exact_result, channels, spec.count_max, bool(post))
            hist = dist.sums.counts[c, post]
            for o in range(n):
                runs = int(hist[o].sum())
                q = np.maximum(probs[o], 0.0)
                if runs < min_count or not np.all(np.isfinite(q)) or q.sum() <= 0:
                    continue
                g = g_test(hist[o], q / q.sum())
                stat[c, post, o], dof[c, post, o], p[c, post, o] = g.statistic, g.dof, g.p_value
    tests = CountTests(dist.count_sets, stat, dof, p)
    candidates: list[tuple[float, dict]] = []
    if tests.n_tests:
        c, post, o = (int(i) for i in np.unravel_index(np.nanargmin(p), p.shape))
        where = {
            "kind": "count_distribution",
            "channels": dist.count_sets[c],
            "post": bool(post),
            "time": float(exact_result.times[o]),
            "statistic": float(stat[c, post, o]),
            "dof": int(dof[c, post, o]),
        }
        candidates.append((float(p[c, post, o]), where))
    return tests, TestFamily(candidates, tests.n_tests, [])
