"""Distributions over runs: the kernel's integer histograms as mergeable sums, and their views for users
(histograms with bin edges, survival functions and CDFs, the jumped / not-jumped split of the
post-selected infidelity, mean jumps per channel).

The binning is documented in :mod:`darkspin.trajectories.distributions`. Every count is an exact
integer and the split's fidelity sums are fixed-point (2^-40) integers, so merging is exact and the
result is bit-identical for any batch split, thread count or resume.

The mergeable sums are :class:`.distribution_sums.DistributionSums`, one histogram's view is
:class:`.histogram.Histogram`; both are importable from here too.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ...trajectories.counting import channel_mask
from ...trajectories.protocol import Protocol
from ...trajectories.sums_kernel import FRAC_BITS
from ..statistics.intervals import wilson_interval
from .distribution_sums import DistributionSums as DistributionSums
from .histogram import Histogram as Histogram
from .histogram import InfidelitySplit as InfidelitySplit

_UNIT = 2.0**-FRAC_BITS


class Distributions:
    """Distributions over the runs of a Monte Carlo result (``result.distributions``).

    snapshot_times (S,), snapshot_labels (S,): where fidelities were binned ("round k" at the end of
    round k, "t = ..." at an output time); target (d,) the state F is taken with; labels: channel names.

    Parameters
    ----------
    sums : DistributionSums
        The histogram counts.
    protocol : Protocol
        The protocol of the run (snapshot times and labels).
    labels : sequence of str
        The jump channels' names.
    ntraj : int
        The runs counted.

    Examples
    --------
    >>> import darkspin as ds
    >>> protocol = ds.Protocol.paper(n_out=11)
    >>> mc = ds.simulate(ds.SpinPair(), protocol, ntraj=200, seed=1, progress=False, distributions=True)
    >>> mc.distributions.snapshot_labels[:2]
    ('round 1', 'round 2')
    """

    def __init__(self, sums: DistributionSums, protocol: Protocol, labels: Sequence[str], ntraj: int) -> None:
        self.sums, self.labels, self.ntraj = sums, tuple(labels), int(ntraj)
        spec = sums.spec
        self.target = spec.target
        at = np.array(
            [
                protocol.record_times[i] if kind == 0 else protocol.times[i]
                for kind, i in zip(spec.snap_kind, spec.snap_index, strict=True)
            ]
        )
        self.snapshot_times = at
        self.snapshot_labels = tuple(
            f"round {i + 1}" if kind == 0 else f"t = {protocol.times[i]:g}"
            for kind, i in zip(spec.snap_kind, spec.snap_index, strict=True)
        )
        self.times = protocol.times

    def _snapshot(self, snapshot: object) -> int:
        S = len(self.snapshot_labels)
        if isinstance(snapshot, str):
            if snapshot not in self.snapshot_labels:
                raise ValueError(f"snapshot must be one of {self.snapshot_labels} or an index, got {snapshot!r}")
            return self.snapshot_labels.index(snapshot)
        if isinstance(snapshot, bool) or not isinstance(snapshot, (int, np.integer)) or not -S <= snapshot < S:
            raise ValueError(f"snapshot must be an index in [-{S}, {S}) or a label, got {snapshot!r}")
        return int(snapshot) % S

    def fidelity(self, snapshot: int | str = -1, post: bool = True) -> Histogram:
        """Histogram of the infidelity 1 - F over the runs at a snapshot.

        Parameters
        ----------
        snapshot : int or str
            An index into :attr:`snapshot_labels` (default -1, the last) or a label such as "round 2".
        post : bool
            Only the runs post-selected at that snapshot (default) or all runs.

        Returns
        -------
        Histogram
            Over the infidelity bins of the spec (edges in [0, 1], dimensionless).

        Raises
        ------
        ValueError
            Naming ``snapshot`` (an unknown label or an index out of range) or ``post`` (not a bool).
        """
        s, p = self._snapshot(snapshot), self._post(post)
        return Histogram("infidelity 1 - F", self.sums.spec.fid_edges, self.sums.fidelity[s, p])

    def split(self, snapshot: int | str = -1) -> InfidelitySplit:
        """The post-selected infidelity at a snapshot, split into runs that had jumped and runs that had not.

        Parameters
        ----------
        snapshot : int or str
            An index into :attr:`snapshot_labels` (default -1, the last) or a label.

        Returns
        -------
        InfidelitySplit
            The counts of both kinds of run and their shares of the infidelity (NaN without post-selected
            runs).

        Raises
        ------
        ValueError
            Naming ``snapshot``, for an unknown label or an index out of range.
        """
        s = self._snapshot(snapshot)
        n = self.sums.split_n[s]
        f = self.sums.split_hi[s].astype(float) + self.sums.split_lo[s].astype(float) * _UNIT
        n_post = int(n.sum())
        with np.errstate(invalid="ignore", divide="ignore"):
            parts = (n - f) / float(n_post) if n_post else np.full(2, np.nan)
        return InfidelitySplit(
            float(self.snapshot_times[s]),
            self.snapshot_labels[s],
            n_post,
            int(n[0]),
            int(n[1]),
            float(parts[0]),
            float(parts[1]),
        )

    @staticmethod
    def _post(post: object) -> int:
        """0 (all runs) or 1 (post-selected runs) from a True / False flag, else ValueError naming it."""
        if not isinstance(post, (bool, np.bool_)):
            raise ValueError(f"post must be True or False, got {post!r}")
        return int(post)

    def _channel(self, channel: object) -> int:
        K = len(self.labels)
        if isinstance(channel, str):
            if channel not in self.labels:
                raise ValueError(f"channel must be one of {self.labels} or an index, got {channel!r}")
            return self.labels.index(channel)
        if isinstance(channel, bool) or not isinstance(channel, (int, np.integer)) or not 0 <= channel < K:
            raise ValueError(f"channel must be an index in [0, {K}) or a label, got {channel!r}")
        return int(channel)

    def jump_counts(self, channel: int | str, post: bool = False) -> Histogram:
        """Histogram of the number of jumps per run in one channel over the whole run.

        Parameters
        ----------
        channel : int or str
            The channel, by index in [0, K) or by label (``model.jump_labels()``).
        post : bool
            Only the runs post-selected at the final time.

        Returns
        -------
        Histogram
            Bins 0 .. jump_max (unit width); the extra bin counts the runs with more than jump_max jumps.

        Raises
        ------
        ValueError
            Naming ``channel`` (unknown label or index out of range) or ``post`` (not a bool).
        """
        k = self._channel(channel)
        row = self.sums.jump_counts[self._post(post), k]
        jm = self.sums.spec.jump_max
        return Histogram(
            "jumps per run",
            np.arange(jm + 2, dtype=float),
            row[: jm + 1],
            (f"more than {jm}",),
            row[jm + 1 :],
        )

    def first_jump(self, post: bool = False, channel: int | str | None = None) -> Histogram:
        """Histogram of the time of each run's first jump on the time grid.

        With ``post``, of the runs post-selected at the final time. Extra bins: past the grid, and never
        jumped (by the final output time, where runs stop).

        Parameters
        ----------
        post : bool
            Only the runs post-selected at the final time.
        channel : int, str or None
            Only the runs whose first jump was in this channel (index or label); the last extra bin
            then counts the runs that never jumped or jumped first in another channel. Its counts over
            the grid estimate :func:`darkspin.first_jump_density` of that channel times the bin width.

        Returns
        -------
        Histogram
            Over the time grid of the spec (model time unit).

        Raises
        ------
        ValueError
            Naming ``post`` or ``channel``; also for a channel of a result saved without the first jump by
            channel.
        """
        p = self._post(post)
        row = self.sums.first_jump[p]
        T = self.sums.spec.time_edges.size - 1
        if channel is None:
            return Histogram(
                "time of the first jump", self.sums.spec.time_edges, row[:T], ("past the grid", "never"), row[T:]
            )
        k = self._channel(channel)
        if self.sums.first_jump_channel.shape[1] != len(self.labels):
            raise ValueError("channel: this result was saved without the first jump by channel (darkspin < 0.4)")
        mine = self.sums.first_jump_channel[p, k]
        rest = np.array([int(row.sum() - mine.sum())], np.int64)
        return Histogram(
            f"time of the first jump, in channel {self.labels[k]}",
            self.sums.spec.time_edges,
            mine[:T],
            ("past the grid", "never or another channel first"),
            np.concatenate([mine[T:], rest]),
        )

    @property
    def count_sets(self) -> tuple[tuple[str, ...], ...]:
        """The channel sets whose counts are histogrammed (:meth:`count_histograms`), by label."""
        return tuple(
            tuple(lab for lab, m in zip(self.labels, row, strict=True) if m) for row in self.sums.spec.count_sets
        )

    def _count_set(self, channels: object) -> int:
        mask = channel_mask(channels, self.labels)
        for c, row in enumerate(self.sums.spec.count_sets):
            if np.array_equal(row != 0, mask):
                return c
        raise ValueError(f"channels must be one of the histogrammed sets {list(self.count_sets)}, got {channels!r}")

    def count_histograms(self, channels: object = None, post: bool = False) -> np.ndarray:
        """Runs with N = 0, 1, ..., n_max - 1 and N >= n_max jumps of ``channels`` by each output time.

        Parameters
        ----------
        channels : None, int, str, or a sequence of them
            One of :attr:`count_sets` (None: all channels).
        post : bool
            Only the runs post-selected at each output time.

        Returns
        -------
        numpy.ndarray
            (n, n_max + 1) int64, n output times; n_max = spec.count_max.

        Raises
        ------
        ValueError
            Naming ``channels`` or ``post``.
        """
        p = self._post(post)
        return self.sums.counts[self._count_set(channels), p]

    def count_distribution(self, channels: object = None, post: bool = False) -> np.ndarray:
        """The fraction of the runs in each cell of :meth:`count_histograms`.

        The Monte Carlo estimate of :func:`darkspin.count_distribution`.

        Parameters
        ----------
        channels : None, int, str, or a sequence of them
            One of :attr:`count_sets` (None: all channels).
        post : bool
            Only the runs post-selected at each output time.

        Returns
        -------
        numpy.ndarray
            (n, n_max + 1) float64, each row summing to 1; NaN at output times without runs.

        Raises
        ------
        ValueError
            Naming ``channels`` or ``post``.
        """
        h = self.count_histograms(channels, post)
        n = h.sum(axis=1, keepdims=True)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(n > 0, h / np.maximum(n, 1), np.nan)

    def count_distribution_interval(
        self, channels: object = None, post: bool = False, confidence_level: float = 0.95
    ) -> tuple[np.ndarray, np.ndarray]:
        """Wilson intervals of :meth:`count_distribution`, cell by cell.

        Parameters
        ----------
        channels : None, int, str, or a sequence of them
        post : bool
        confidence_level : float
            In (0, 1).

        Returns
        -------
        low, high : numpy.ndarray
            (n, n_max + 1) each.
        """
        h = self.count_histograms(channels, post)
        n = np.broadcast_to(h.sum(axis=1, keepdims=True), h.shape)
        low, high = wilson_interval(h, n, confidence_level)
        return np.asarray(low), np.asarray(high)

    def waiting_times(self) -> Histogram:
        """Histogram of the waiting times between successive jumps of a run (all runs).

        Returns
        -------
        Histogram
            Over the time grid of the spec (model time unit); the extra bin counts waits past the grid.
        """
        T = self.sums.spec.time_edges.size - 1
        w = self.sums.waiting
        return Histogram("waiting time between jumps", self.sums.spec.time_edges, w[:T], ("past the grid",), w[T:])

    @property
    def mean_jumps(self) -> np.ndarray:
        """Mean number of jumps per run in each channel by each output time, (n, K)."""
        return self.sums.count_sums / float(self.ntraj) if self.ntraj else np.full(self.sums.count_sums.shape, np.nan)

    @property
    def mean_jumps_se(self) -> np.ndarray:
        """Standard error of :attr:`mean_jumps`, (n, K) (NaN with fewer than 2 runs)."""
        n = float(self.ntraj)
        if self.ntraj < 2:
            return np.full(self.sums.count_sums.shape, np.nan)
        m = self.sums.count_sums / n
        var = np.maximum(self.sums.count_squares / n - m * m, 0.0) * n / (n - 1)
        return np.sqrt(var / n)

    def __repr__(self) -> str:
        return (
            f"Distributions(snapshots={list(self.snapshot_labels)}, channels={list(self.labels)}, ntraj={self.ntraj})"
        )
