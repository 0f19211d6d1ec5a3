"""The distributions of an ensemble as mergeable sums: the kernel's integer histograms and the fixed-point
(2^-40) fidelity sums of the jumped / not-jumped split, merged exactly, so the result is bit-identical for
any batch split, thread count or resume. The binning is documented in
:mod:`darkspin.trajectories.distributions`.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from ...trajectories.distributions import DistributionSpec
from ...trajectories.sums_kernel import FRAC_BITS

_MASK = np.int64(2**FRAC_BITS - 1)


@dataclasses.dataclass(frozen=True, eq=False)
class DistributionSums:
    """Histogram counts of a set of runs (S snapshots, B infidelity bins, K channels, T time bins, n outputs).

    spec: the binning; fidelity (S, 2, B) [all, post-selected]; split_n (S, 2) post-selected runs that
    had not [0] / had [1] jumped by the snapshot; split_hi, split_lo (S, 2) their summed fidelities,
    hi + lo 2^-40; jump_counts (2, K, jump_max + 2) [all, post-selected at the final time], the last
    bin counting more than jump_max; first_jump (2, T + 2): bins of the grid, then past its end, then
    never; waiting (T + 1,): waiting times between successive jumps, the last bin past the grid;
    count_sums, count_squares (n, K): sums of the per-run jump counts by each output time and of their
    squares; counts (C, 2, n, count_max + 1): [all, post-selected at that output] histograms of N, the
    jumps of each channel set of spec.count_sets by each output time (the last cell N >= count_max);
    first_jump_channel (2, K, T + 1): first_jump's bins split by the channel of the first jump (bin T:
    past the grid).

    Attributes
    ----------
    spec : DistributionSpec
        The binning.
    fidelity : numpy.ndarray, shape (S, 2, B), int64
        Infidelity histograms of all and of post-selected runs at each snapshot.
    split_n : numpy.ndarray, shape (S, 2), int64
        Post-selected runs that had not / had jumped by each snapshot.
    split_hi, split_lo : numpy.ndarray, shape (S, 2), int64
        Their summed fidelities in two integer words.
    jump_counts : numpy.ndarray, shape (2, K, jump_max + 2), int64
        Jumps per run and channel, all and post-selected.
    first_jump : numpy.ndarray, shape (2, T + 2), int64
        First-jump times on the time grid.
    waiting : numpy.ndarray, shape (T + 1,), int64
        Waiting times between successive jumps.
    count_sums, count_squares : numpy.ndarray, shape (n, K), int64
        Sums of the per-run jump counts by each output time, and of their squares.
    counts : numpy.ndarray, shape (C, 2, n, count_max + 1), int64
        Histograms of the jump count N of each channel set, all and post-selected, by each output time.
    first_jump_channel : numpy.ndarray, shape (2, K, T + 1), int64
        First-jump times split by the channel of the first jump.

    Examples
    --------
    >>> import darkspin as ds
    >>> protocol = ds.Protocol.paper(n_out=11)
    >>> mc = ds.simulate(ds.SpinPair(), protocol, ntraj=200, seed=1, progress=False, distributions=True)
    >>> int(mc.sums.dist.jump_counts[0, 0].sum())  # every run counted once per channel
    200
    """

    spec: DistributionSpec
    fidelity: np.ndarray
    split_n: np.ndarray
    split_hi: np.ndarray
    split_lo: np.ndarray
    jump_counts: np.ndarray
    first_jump: np.ndarray
    waiting: np.ndarray
    count_sums: np.ndarray
    count_squares: np.ndarray
    counts: np.ndarray
    first_jump_channel: np.ndarray

    _COUNTS = (
        "fidelity",
        "split_n",
        "jump_counts",
        "first_jump",
        "waiting",
        "count_sums",
        "count_squares",
        "counts",
        "first_jump_channel",
    )

    @classmethod
    def from_kernel(cls, spec: DistributionSpec, dist: tuple) -> DistributionSums:
        """From the ``dist`` tuple of :func:`darkspin.trajectories.sums_kernel.sums_with_table`.

        Parameters
        ----------
        spec : DistributionSpec
            The binning the kernel used.
        dist : tuple of ndarray
            The kernel's twelve integer arrays minus the split's high and low words, in its order:
            fidelity (S, 2, B), split_n (S, 2), split_q (S, 2) fixed-point (2^-40) fidelity sums,
            jump_counts (2, K, jump_max + 2), first_jump (2, T + 2), waiting (T + 1,), count_sums and
            count_squares (n, K), counts (C, 2, n, count_max + 1) binned by change along the outputs,
            first_jump_channel (2, K, T + 1).

        Returns
        -------
        DistributionSums
            The counts as int64, the split sums as high and low words, the count histograms cumulated
            along the outputs.
        """
        fid, split_n, split_q, jc, fj, wait, cs1, cs2, cnt, fjk = (np.asarray(a, np.int64) for a in dist)
        cnt = np.cumsum(cnt, axis=2)  # the kernel bins changes along the outputs
        return cls(spec, fid, split_n, split_q >> FRAC_BITS, split_q & _MASK, jc, fj, wait, cs1, cs2, cnt, fjk)

    @classmethod
    def empty(cls, spec: DistributionSpec, n_out: int, channels: int) -> DistributionSums:
        """Sums of no runs yet: every count zero.

        Parameters
        ----------
        spec : DistributionSpec
            The binning.
        n_out : int
            Number of output times n.
        channels : int
            Number of jump channels K.

        Returns
        -------
        DistributionSums
            All arrays zero, with the shapes listed in the class docstring.
        """
        S, B, T = spec.snap_kind.size, spec.fid_edges.size - 1, spec.time_edges.size - 1
        z = np.zeros
        return cls(
            spec,
            z((S, 2, B), np.int64),
            z((S, 2), np.int64),
            z((S, 2), np.int64),
            z((S, 2), np.int64),
            z((2, channels, spec.jump_max + 2), np.int64),
            z((2, T + 2), np.int64),
            z(T + 1, np.int64),
            z((n_out, channels), np.int64),
            z((n_out, channels), np.int64),
            z((spec.count_sets.shape[0], 2, n_out, spec.count_max + 1), np.int64),
            z((2, channels, T + 1), np.int64),
        )

    def same_binning(self, other: DistributionSums) -> bool:
        """Whether both were binned the same way (snapshots, target, edges, jump and count ranges).

        Parameters
        ----------
        other : DistributionSums

        Returns
        -------
        bool
            True if they can be merged.
        """
        a, b = self.spec, other.spec
        return (
            a.target_kind == b.target_kind
            and a.jump_max == b.jump_max
            and a.count_max == b.count_max
            and all(
                np.asarray(getattr(a, k)).shape == np.asarray(getattr(b, k)).shape
                and np.array_equal(getattr(a, k), getattr(b, k))
                for k in ("snap_kind", "snap_index", "target", "fid_edges", "time_edges", "count_sets")
            )
            and all(getattr(self, k).shape == getattr(other, k).shape for k in self._COUNTS)
        )

    def merge(self, other: DistributionSums) -> DistributionSums:
        """Exact sum of two disjoint sets of runs binned the same way.

        Parameters
        ----------
        other : DistributionSums
            The sums of other runs.

        Returns
        -------
        DistributionSums
            Counts added as integers, the split's fixed-point sums carried from the low to the high word.

        Raises
        ------
        ValueError
            If the two were binned differently (see :meth:`same_binning`).
        """
        if not self.same_binning(other):
            raise ValueError("cannot merge distributions binned differently (snapshots, target, edges)")
        lo = self.split_lo + other.split_lo
        return DistributionSums(
            self.spec,
            **{k: getattr(self, k) + getattr(other, k) for k in self._COUNTS},
            split_hi=self.split_hi + other.split_hi + (lo >> FRAC_BITS),
            split_lo=lo & _MASK,
        )

    def identical(self, other: DistributionSums) -> bool:
        """Bit-for-bit equality of binning and counts.

        Parameters
        ----------
        other : DistributionSums

        Returns
        -------
        bool
            True if the binning and every count and sum are identical.
        """
        return (
            self.same_binning(other)
            and all(np.array_equal(getattr(self, k), getattr(other, k)) for k in self._COUNTS)
            and np.array_equal(self.split_hi, other.split_hi)
            and np.array_equal(self.split_lo, other.split_lo)
        )
