"""The views of one distribution over runs: a :class:`Histogram` with its bin edges, probabilities,
survival function (with Wilson intervals) and CDF, and the :class:`InfidelitySplit` of the post-selected
infidelity into runs that jumped and runs that did not.
"""

from __future__ import annotations

import dataclasses
import warnings
from typing import overload

import numpy as np

from ..statistics.intervals import wilson_interval


@dataclasses.dataclass(frozen=True, eq=False)
class Histogram:
    """Counts of a quantity over runs, with bin edges.

    counts (m,) int64 over the bins [edges[i], edges[i + 1]) (the last one closed), followed by
    ``len(extra)`` named extra bins (e.g. "past the grid", "never"), counted as lying beyond every edge;
    edges (m + 1,); quantity: what is binned and its unit; total: runs counted.

    Attributes
    ----------
    quantity : str
        What is binned, with its unit.
    edges : numpy.ndarray, shape (m + 1,)
        The bin edges.
    counts : numpy.ndarray, shape (m,), int64
        Runs per bin.
    extra : tuple of str
        Names of the extra bins beyond the last edge.
    extra_counts : numpy.ndarray, shape (len(extra),), int64
        Runs in them.

    Examples
    --------
    >>> import darkspin as ds
    >>> protocol = ds.Protocol.paper(n_out=11)
    >>> mc = ds.simulate(ds.SpinPair(), protocol, ntraj=200, seed=1, progress=False, distributions=True)
    >>> h = mc.distributions.first_jump()
    >>> h.total, float(h.survival()[0])
    (200, 1.0)
    """

    quantity: str
    edges: np.ndarray
    counts: np.ndarray
    extra: tuple = ()
    extra_counts: np.ndarray = dataclasses.field(default_factory=lambda: np.zeros(0, np.int64))

    @property
    def total(self) -> int:
        """Number of runs in all bins, the extra bins included."""
        return int(self.counts.sum() + self.extra_counts.sum())

    def probabilities(self) -> np.ndarray:
        """Fraction of the runs in each bin.

        Returns
        -------
        numpy.ndarray
            (m,) float64, counts / :attr:`total` (the extra bins take the rest); NaN without runs.
        """
        with np.errstate(invalid="ignore", divide="ignore"):
            return self.counts / float(self.total) if self.total else np.full(self.counts.shape, np.nan)

    def _beyond(self) -> np.ndarray:
        """Runs at or beyond each edge, (m + 1,) int."""
        return np.concatenate([np.cumsum(self.counts[::-1])[::-1], [0]]) + int(self.extra_counts.sum())

    @overload
    def survival(self, confidence: None = None) -> np.ndarray: ...

    @overload
    def survival(self, confidence: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]: ...

    def survival(self, confidence: float | None = None) -> np.ndarray | tuple[np.ndarray, np.ndarray, np.ndarray]:
        """P(X >= edges[i]) at every edge, (m + 1,): the fraction of runs at or beyond each edge.

        Parameters
        ----------
        confidence : float or None
            Deprecated: use :meth:`survival_interval`. Given, returns (value, low, high) as before.

        Returns
        -------
        numpy.ndarray
            (m + 1,); NaN without runs.
        """
        beyond = self._beyond()
        n = self.total
        value = beyond / float(n) if n else np.full(beyond.shape, np.nan)
        if confidence is None:
            return value
        warnings.warn(
            "Histogram.survival(confidence=...) is deprecated; use survival() for the values and "
            "survival_interval(confidence_level) for (low, high)",
            DeprecationWarning,
            stacklevel=2,
        )
        low, high = self.survival_interval(confidence)
        return value, low, high

    def survival_interval(self, confidence_level: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
        """Wilson intervals of :meth:`survival` at every edge: valid at 0 and 1, never of zero width.

        Measured pointwise coverage of the 95 % first-jump survival intervals against the exact no-jump
        probability: 0.948 on average, 0.936 at the worst of 40 edges, over 1000 runs of 1000 trajectories.

        Parameters
        ----------
        confidence_level : float
            In (0, 1).

        Returns
        -------
        low, high : numpy.ndarray
            (m + 1,) each.

        Raises
        ------
        ValueError
            If ``confidence_level`` is not in (0, 1).
        """
        beyond = self._beyond()
        low, high = wilson_interval(beyond, np.full(beyond.shape, self.total), confidence_level)
        return low, high

    def cdf(self) -> np.ndarray:
        """The empirical CDF P(X < edges[i]) at every edge: 1 - :meth:`survival`.

        Returns
        -------
        numpy.ndarray
            (m + 1,) float64 (NaN without runs).
        """
        return 1.0 - self.survival()

    def mean_bounds(self) -> tuple[float, float]:
        """Bounds on the mean of the binned quantity over the runs in the bins (extra bins excluded).

        Returns
        -------
        low, high : float
            The mean with every run at its bin's lower / upper edge (the unit of the edges); NaN, NaN
            when the bins hold no run.
        """
        n = self.counts.sum()
        if not n:
            return float("nan"), float("nan")
        return float(self.counts @ self.edges[:-1] / n), float(self.counts @ self.edges[1:] / n)


@dataclasses.dataclass(frozen=True)
class InfidelitySplit:
    """The post-selected infidelity at one snapshot, split by whether a run had jumped by then.

    n_post = n_quiet + n_jumped runs post-selected; infidelity = quiet + jumped, where quiet and
    jumped are the sums of 1 - F over the runs that had not / had jumped, divided by n_post (so they
    add up to the post-selected infidelity); NaN without post-selected runs.

    Attributes
    ----------
    time : float
        The snapshot time (model time unit).
    label : str
        The snapshot ("round k" or "t = ...").
    n_post, n_quiet, n_jumped : int
        Post-selected runs; those that had not jumped and those that had.
    quiet, jumped : float
        Their shares of the post-selected infidelity.

    Examples
    --------
    >>> import darkspin as ds
    >>> protocol = ds.Protocol.paper(n_out=11)
    >>> mc = ds.simulate(ds.SpinPair(), protocol, ntraj=200, seed=1, progress=False, distributions=True)
    >>> split = mc.distributions.split("round 4")
    >>> split.n_post == split.n_quiet + split.n_jumped
    True
    """

    time: float
    label: str
    n_post: int
    n_quiet: int
    n_jumped: int
    quiet: float
    jumped: float

    @property
    def infidelity(self) -> float:
        """The post-selected infidelity at the snapshot: quiet + jumped (NaN without post-selected runs)."""
        return self.quiet + self.jumped
