"""Exact, mergeable ensemble sums and the estimates (means, standard errors) they give.

The kernel returns int64 sums in units of 2^-FRAC_BITS. Here they are kept as two int64 words,
value = hi + lo 2^-FRAC_BITS with 0 <= lo < 2^FRAC_BITS, so totals never overflow (hi holds up to
~9e18 trajectories) and merging is exact: associative and commutative, hence bit-identical
whatever the batch split, thread count, executor or completion order.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np

from ...trajectories.distributions import DistributionSpec
from ...trajectories.plan import MAX_RECORD_ROUNDS
from ...trajectories.protocol import Protocol
from ...trajectories.sums_kernel import FRAC_BITS, acc_layout, pairs
from .distributions import Distributions, DistributionSums

_MASK = np.int64(2**FRAC_BITS - 1)
_UNIT = 2.0**-FRAC_BITS


def dimension_of(n_acc: int) -> int:
    """The state dimension d whose accumulator rows have n_acc sums (see sums_kernel.acc_layout)."""
    for d in range(1, 65):
        if acc_layout(d)[4] == n_acc:
            return d
    raise ValueError(f"no state dimension has {n_acc} sums per output")


@dataclasses.dataclass(frozen=True, eq=False)
class EnsembleSums:
    """Streaming sums over a set of trajectories.

    hi, lo:    (n, 2, N_ACC) int64, [:, 0] over all trajectories, [:, 1] over the post-selected ones
    n_post:    (n,) int64, trajectories post-selected (by the protocol's rule) at each output time
    n_success: (rounds,) int64, trajectories post-selected after round k
    ntraj:     number of trajectories summed
    n_jumps:   total number of quantum jumps
    n_kept:    (rounds,) int64, trajectories post-selected both before and after round k (for the
               rule 'all' equal to n_success)
    record_counts: (2**rounds,) int64 trajectories per record string, index sum_k 2**k [r_k = +1]
               (empty when rounds > 16)
    dist:      the histograms of ``simulate(..., distributions=True)`` (a DistributionSums), or None

    Attributes
    ----------
    hi, lo : numpy.ndarray, shape (n, 2, N_ACC), int64
        The summed states in two integer words, over all and over post-selected runs.
    n_post : numpy.ndarray, shape (n,), int64
        Runs post-selected at each output time.
    n_success, n_kept : numpy.ndarray, shape (R,), int64
        Runs post-selected after round k; and before and after it.
    ntraj, n_jumps : int
        Runs summed; their jumps.
    record_counts : numpy.ndarray, shape (2**R,), int64
        Runs per record string.
    dist : DistributionSums or None
        The histograms.

    Examples
    --------
    >>> import darkspin as ds
    >>> protocol = ds.Protocol.paper(n_out=11)
    >>> a = ds.run_batch(ds.SpinPair(), protocol, seed=1, start=0, stop=100)
    >>> b = ds.run_batch(ds.SpinPair(), protocol, seed=1, start=100, stop=200)
    >>> ab = ds.run_batch(ds.SpinPair(), protocol, seed=1, start=0, stop=200)
    >>> merged = a.merge(b)
    >>> merged.ntraj, bool((merged.hi == ab.hi).all() and (merged.lo == ab.lo).all())
    (200, True)
    """

    hi: np.ndarray
    lo: np.ndarray
    n_post: np.ndarray
    n_success: np.ndarray
    ntraj: int
    n_jumps: int
    n_kept: np.ndarray
    record_counts: np.ndarray
    dist: DistributionSums | None = None

    @classmethod
    def empty(
        cls, n_out: int, rounds: int, n_records: int | None = None, dim: int = 4, dist: DistributionSums | None = None
    ) -> EnsembleSums:
        """The sums over no trajectories: every sum and count zero, the start of a streaming run.

        Parameters
        ----------
        n_out : int
            Number n of output times.
        rounds : int
            Number R of measurement rounds.
        n_records : int, optional
            Length of ``record_counts``; default 2**rounds (0 beyond MAX_RECORD_ROUNDS = 16 rounds).
        dim : int
            State dimension d (4 for a spin pair); the sums have N_ACC = d**2 + d(d + 1)/2 + 2 columns.
        dist : DistributionSums, optional
            Empty distribution sums to carry (None: no distributions).

        Returns
        -------
        EnsembleSums
            hi and lo zeros of shape (n_out, 2, N_ACC), n_post (n_out,), n_success and n_kept (rounds,),
            record_counts (n_records,), ntraj = n_jumps = 0.

        Examples
        --------
        >>> import darkspin as ds
        >>> none = ds.EnsembleSums.empty(11, 4)
        >>> none.hi.shape, none.record_counts.shape, none.ntraj
        ((11, 2, 28), (16,), 0)
        """
        if n_records is None:
            n_records = 2**rounds if rounds <= MAX_RECORD_ROUNDS else 0
        z = np.zeros((n_out, 2, acc_layout(dim)[4]), np.int64)
        return cls(
            z,
            z.copy(),
            np.zeros(n_out, np.int64),
            np.zeros(rounds, np.int64),
            0,
            0,
            np.zeros(rounds, np.int64),
            np.zeros(n_records, np.int64),
            dist,
        )

    @classmethod
    def from_kernel(cls, out: tuple, ntraj: int, spec: DistributionSpec | None = None) -> EnsembleSums:
        """The sums the kernel returned, split into two exact int64 words.

        Parameters
        ----------
        out : tuple
            What :func:`darkspin.trajectories.sums_kernel.sums_with_table` returns: (acc (n, 2, N_ACC) int64
            in units of 2**-FRAC_BITS, n_post (n,), n_success (R,), n_kept (R,), record_counts (2**R,),
            n_jumps, the distribution arrays).
        ntraj : int
            Number of trajectories the kernel summed.
        spec : DistributionSpec, optional
            The distribution spec the kernel was given (None, or ``spec.on`` False: no distributions).

        Returns
        -------
        EnsembleSums
            The same sums as hi + lo 2**-FRAC_BITS (0 <= lo < 2**FRAC_BITS), with the counts and, if
            binned, the distribution sums.
        """
        acc, n_post, n_success, n_kept, record_counts, n_jumps, dist = out
        acc = np.asarray(acc, np.int64)
        # arithmetic shift floors, so negative sums split correctly too
        return cls(
            acc >> FRAC_BITS,
            acc & _MASK,
            np.asarray(n_post, np.int64),
            np.asarray(n_success, np.int64),
            int(ntraj),
            int(n_jumps),
            np.asarray(n_kept, np.int64),
            np.asarray(record_counts, np.int64),
            DistributionSums.from_kernel(spec, dist) if spec is not None and spec.on else None,
        )

    _COUNTS = ("n_post", "n_success", "n_kept", "record_counts")

    def merge(self, other: EnsembleSums) -> EnsembleSums:
        """Exact sum of two disjoint sets of trajectories (associative, commutative; also ``a + b``).

        Parameters
        ----------
        other : EnsembleSums
            Sums over other trajectories of the same model and protocol (same output grid and rounds).

        Returns
        -------
        EnsembleSums
            The sums over both sets: bit-identical whatever the split and the order of merging.

        Raises
        ------
        ValueError
            If the two have different output grids, round counts or record tables, or only one carries
            distributions.

        Examples
        --------
        >>> import darkspin as ds
        >>> protocol = ds.Protocol.paper(n_out=11)
        >>> a = ds.run_batch(ds.SpinPair(), protocol, seed=1, start=0, stop=100)
        >>> b = ds.run_batch(ds.SpinPair(), protocol, seed=1, start=100, stop=200)
        >>> a.merge(b).identical(b + a), a.merge(b).ntraj
        (True, 200)
        """
        if self.hi.shape != other.hi.shape or any(
            getattr(self, k).shape != getattr(other, k).shape for k in self._COUNTS[:3]
        ):
            raise ValueError("cannot merge sums of different output grids or round counts")
        lo = self.lo + other.lo
        hi = self.hi + other.hi + (lo >> FRAC_BITS)
        counts = {k: getattr(self, k) + getattr(other, k) for k in self._COUNTS[:3]}
        a, b = self.record_counts, other.record_counts
        if a.shape == b.shape:
            counts["record_counts"] = a + b
        elif a.size == 0 or b.size == 0:
            # a file from before record strings were counted: the merged table is unknown
            counts["record_counts"] = np.zeros(0, np.int64)
        else:
            raise ValueError("cannot merge record tables of different sizes")
        if (self.dist is None) != (other.dist is None):
            raise ValueError("cannot merge sums with distributions and sums without them")
        return EnsembleSums(
            hi,
            lo & _MASK,
            counts["n_post"],
            counts["n_success"],
            self.ntraj + other.ntraj,
            self.n_jumps + other.n_jumps,
            counts["n_kept"],
            counts["record_counts"],
            None if self.dist is None or other.dist is None else self.dist.merge(other.dist),
        )

    __add__ = merge

    def identical(self, other: EnsembleSums) -> bool:
        """Bit-for-bit equality of every sum and count.

        Parameters
        ----------
        other : EnsembleSums
            The sums to compare with.

        Returns
        -------
        bool
            True if every sum, count and distribution sum is equal (no tolerance).

        Examples
        --------
        >>> import darkspin as ds
        >>> protocol = ds.Protocol.paper(n_out=11)
        >>> a = ds.run_batch(ds.SpinPair(), protocol, seed=1, start=0, stop=100)
        >>> again = ds.run_batch(ds.SpinPair(), protocol, seed=1, start=0, stop=100)
        >>> a.identical(again), a.identical(ds.EnsembleSums.empty(11, 4))
        (True, False)
        """
        return (
            np.array_equal(self.hi, other.hi)
            and np.array_equal(self.lo, other.lo)
            and all(np.array_equal(getattr(self, k), getattr(other, k)) for k in self._COUNTS)
            and self.ntraj == other.ntraj
            and self.n_jumps == other.n_jumps
            and (self.dist is None) == (other.dist is None)
            and (self.dist is None or (other.dist is not None and self.dist.identical(other.dist)))
        )

    @property
    def dim(self) -> int:
        """The state dimension d of the summed trajectories (int; 4 for a spin pair)."""
        return dimension_of(self.hi.shape[-1])

    def values(self) -> np.ndarray:
        """The sums as floats, hi + lo 2**-FRAC_BITS.

        Returns
        -------
        numpy.ndarray, shape (n, 2, N_ACC), float64
            [:, 0] over all trajectories, [:, 1] over the post-selected ones (exact to float rounding).
        """
        return self.hi.astype(float) + self.lo.astype(float) * _UNIT

    def distributions(self, protocol: Protocol, labels: Sequence[str]) -> Distributions | None:
        """The estimates of the binned distributions (None if the run binned none).

        Parameters
        ----------
        protocol : Protocol
            The protocol that was run.
        labels : sequence of str
            The model's jump channel names, (K,).

        Returns
        -------
        Distributions or None
            The per-run distributions, or None if the run binned none.
        """
        return None if self.dist is None else Distributions(self.dist, protocol, labels, self.ntraj)

    def estimates(self) -> tuple[np.ndarray, ...]:
        """Means and standard errors of the state and the target population, unconditional and post-selected.

        Returns
        -------
        tuple of numpy.ndarray
            (rho, rho_se, rho_post, rho_post_se, pop, pop_se, pop_post, pop_post_se). rho*: (n, d, d)
            complex means; *_se: (n, d, d) real standard errors of the complex means,
            se^2 = (mean |x|^2 - |mean x|^2)/(N - 1); pop*: (n,) the target population (the singlet
            for the STM pair) and its standard error. Entries are NaN where fewer than 2 (se) or 0
            (mean) trajectories contribute.

        Examples
        --------
        >>> import darkspin as ds
        >>> sums = ds.run_batch(ds.SpinPair(), ds.Protocol.paper(n_out=11), seed=1, start=0, stop=200)
        >>> rho, rho_se, rho_post, rho_post_se, pop, pop_se, pop_post, pop_post_se = sums.estimates()
        >>> rho.shape, pop.shape, round(float(pop_post[-1]), 3)
        ((11, 4, 4), (11,), 1.0)
        """
        v = self.values()
        d = self.dim
        n_re, n_im, _, i_pop, _ = acc_layout(d)
        pr = pairs(d)
        off = np.flatnonzero(pr[:, 0] < pr[:, 1])
        counts = np.stack([np.full(v.shape[0], self.ntraj), self.n_post], axis=1).astype(float)  # (n, 2)
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = v / counts[..., None]
            dof = np.where(counts > 1, counts - 1, np.nan)
            re = mean[..., :n_re]
            im = np.zeros_like(re)
            im[..., off] = mean[..., n_re : n_re + n_im]
            sq = mean[..., n_re + n_im : i_pop]
            var = np.maximum(sq - re**2 - im**2, 0.0) / dof[..., None]
            pop = mean[..., i_pop]
            pop_se = np.sqrt(np.maximum(mean[..., i_pop + 1] - pop**2, 0.0) / dof)
        rho = np.zeros(v.shape[:2] + (d, d), complex)
        se = np.zeros(v.shape[:2] + (d, d))
        i, j = pr[:, 0], pr[:, 1]
        rho[..., i, j] = re + 1j * im
        rho[..., j, i] = re - 1j * im
        se[..., i, j] = se[..., j, i] = np.sqrt(var)
        return (rho[:, 0], se[:, 0], rho[:, 1], se[:, 1], pop[:, 0], pop_se[:, 0], pop[:, 1], pop_se[:, 1])
