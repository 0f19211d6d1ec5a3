"""Exact, mergeable ensemble sums and the estimates (means, standard errors) they give.

The kernel returns int64 sums in units of 2^-FRAC_BITS. Here they are kept as two int64 words,
value = hi + lo 2^-FRAC_BITS with 0 <= lo < 2^FRAC_BITS, so totals never overflow (hi holds up to
~9e18 trajectories) and merging is exact: associative and commutative, hence bit-identical
whatever the batch split, thread count, executor or completion order.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from ..trajectories.kernel import FRAC_BITS, I_POP, N_ACC, N_IM, N_RE, PAIRS

_MASK = np.int64(2**FRAC_BITS - 1)
_UNIT = 2.0 ** -FRAC_BITS
#: Off-diagonal PAIRS (i < j), in the order of the imaginary-part block.
_OFF = np.array([k for k, (i, j) in enumerate(PAIRS) if i < j])


@dataclasses.dataclass(frozen=True, eq=False)
class EnsembleSums:
    """Streaming sums over a set of trajectories.

    hi, lo:    (n, 2, N_ACC) int64, [:, 0] over all trajectories, [:, 1] over the post-selected ones
    n_post:    (n,) int64, trajectories post-selected (all outcomes -1 so far) at each output time
    n_success: (rounds,) int64, trajectories with outcome -1 in every round up to and including k
    ntraj:     number of trajectories summed
    n_jumps:   total number of quantum jumps
    """

    hi: np.ndarray
    lo: np.ndarray
    n_post: np.ndarray
    n_success: np.ndarray
    ntraj: int
    n_jumps: int

    @classmethod
    def empty(cls, n_out: int, rounds: int) -> "EnsembleSums":
        z = np.zeros((n_out, 2, N_ACC), np.int64)
        return cls(z, z.copy(), np.zeros(n_out, np.int64), np.zeros(rounds, np.int64), 0, 0)

    @classmethod
    def from_kernel(cls, acc, n_post, n_success, ntraj, n_jumps) -> "EnsembleSums":
        acc = np.asarray(acc, np.int64)
        # arithmetic shift floors, so negative sums split correctly too
        return cls(acc >> FRAC_BITS, acc & _MASK, np.asarray(n_post, np.int64),
                   np.asarray(n_success, np.int64), int(ntraj), int(n_jumps))

    def merge(self, other: "EnsembleSums") -> "EnsembleSums":
        """Exact sum of two disjoint sets of trajectories (associative, commutative)."""
        if self.hi.shape != other.hi.shape or self.n_success.shape != other.n_success.shape:
            raise ValueError("cannot merge sums of different output grids or round counts")
        lo = self.lo + other.lo
        hi = self.hi + other.hi + (lo >> FRAC_BITS)
        return EnsembleSums(hi, lo & _MASK, self.n_post + other.n_post, self.n_success + other.n_success,
                            self.ntraj + other.ntraj, self.n_jumps + other.n_jumps)

    __add__ = merge

    def identical(self, other: "EnsembleSums") -> bool:
        """Bit-for-bit equality of every sum and count."""
        return (np.array_equal(self.hi, other.hi) and np.array_equal(self.lo, other.lo)
                and np.array_equal(self.n_post, other.n_post)
                and np.array_equal(self.n_success, other.n_success)
                and self.ntraj == other.ntraj and self.n_jumps == other.n_jumps)

    def values(self) -> np.ndarray:
        """The sums as floats, (n, 2, N_ACC)."""
        return self.hi.astype(float) + self.lo.astype(float) * _UNIT

    def estimates(self):
        """Means and standard errors: (rho, rho_se, rho_post, rho_post_se, pop, pop_se, pop_post, pop_post_se).

        rho*: (n, 4, 4) complex means; *_se: (n, 4, 4) real standard errors of the complex means,
        se^2 = (mean |x|^2 - |mean x|^2)/(N - 1); pop*: (n,) singlet population and its standard error.
        Entries are NaN where fewer than 2 (se) or 0 (mean) trajectories contribute.
        """
        v = self.values()
        counts = np.stack([np.full(v.shape[0], self.ntraj), self.n_post], axis=1).astype(float)  # (n, 2)
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = v / counts[..., None]
            dof = np.where(counts > 1, counts - 1, np.nan)
            re = mean[..., :N_RE]
            im = np.zeros_like(re)
            im[..., _OFF] = mean[..., N_RE:N_RE + N_IM]
            sq = mean[..., N_RE + N_IM:I_POP]
            var = np.maximum(sq - re**2 - im**2, 0.0) / dof[..., None]
            pop = mean[..., I_POP]
            pop_se = np.sqrt(np.maximum(mean[..., I_POP + 1] - pop**2, 0.0) / dof)
        rho = np.zeros(v.shape[:2] + (4, 4), complex)
        se = np.zeros(v.shape[:2] + (4, 4))
        i, j = PAIRS[:, 0], PAIRS[:, 1]
        rho[..., i, j] = re + 1j * im
        rho[..., j, i] = re - 1j * im
        se[..., i, j] = se[..., j, i] = np.sqrt(var)
        return (rho[:, 0], se[:, 0], rho[:, 1], se[:, 1], pop[:, 0], pop_se[:, 0], pop[:, 1], pop_se[:, 1])
