"""The bookkeeping of a run's batches: its seed and options checked, empty sums to start from, the
trajectory ranges still missing, the next goal of a run to a target standard error, and why it ended.
"""

from __future__ import annotations

import itertools
import math
import secrets
import warnings
from collections.abc import Iterator
from typing import Any

import numpy as np

from ...trajectories.checks import check_count, plain
from ...trajectories.distributions import DistributionSpec
from ...trajectories.rng import SEED_MAX
from ...trajectories.sums_kernel import MAX_CALL
from ..results.monte_carlo import MonteCarloResult
from .distribution_sums import DistributionSums
from .options import RunOptions
from .sums import EnsembleSums

#: Default cap on trajectories when running to a target standard error.
DEFAULT_MAX_NTRAJ = 10**7


class TargetNotReachedWarning(RuntimeWarning):
    """A run with target_se stopped at max_ntraj before its standard error reached the target."""


class BatchInterrupted(KeyboardInterrupt):
    """Ctrl-C stopped a batch: ``sums`` of the runs it finished, which are the runs ``ranges`` (k, 2)."""

    def __init__(self, sums: EnsembleSums, ranges: np.ndarray) -> None:
        super().__init__()
        self.sums = sums
        self.ranges = ranges

    def __reduce__(self) -> tuple[type, tuple[EnsembleSums, np.ndarray]]:
        # a process pool's worker hands it back pickled
        return (type(self), (self.sums, self.ranges))


def resolve_seed(seed: int | None) -> int:
    """The seed of a run.

    Parameters
    ----------
    seed : int or None
        An integer in [0, 2**64); None draws a fresh one (recorded in the result).

    Returns
    -------
    int
        The seed, in [0, 2**64).

    Raises
    ------
    ValueError
        Naming ``seed``, for anything else (booleans included).
    """
    if seed is None:
        return secrets.randbits(64)
    if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, (int, np.integer)) or not 0 <= seed <= SEED_MAX:
        raise ValueError(f"seed must be an integer in [0, 2**64) or None, got {plain(seed)!r}")
    return int(seed)


def check_options(
    ntraj: int,
    batch_size: int | None = None,
    target_se: float | None = None,
    max_ntraj: int | None = None,
    batch_threads: int | None = None,
) -> tuple[int, int | None, float | None, int | None, int | None]:
    """Validate simulate's run options (before any work); returns them normalised, in the same order.

    Parameters
    ----------
    ntraj, batch_size, target_se, max_ntraj, batch_threads
        As for :class:`RunOptions`; ntraj an integer in [1, 2**62], max_ntraj >= ntraj.

    Returns
    -------
    tuple
        (ntraj, batch_size, target_se, max_ntraj, batch_threads).

    Raises
    ------
    ValueError
        Naming the first option that is out of range.
    """
    ntraj = check_count("ntraj", ntraj)
    options = RunOptions(batch_size=batch_size, target_se=target_se, max_ntraj=max_ntraj, batch_threads=batch_threads)
    options.check_ntraj(ntraj)
    return ntraj, options.batch_size, options.target_se, options.max_ntraj, options.batch_threads


def empty_sums(plan: Any, spec: DistributionSpec | None) -> EnsembleSums:
    """Sums of no runs for a compiled plan.

    Parameters
    ----------
    plan : Plan
        The compiled plan (its output times, rounds, records, dimension and channels size the sums).
    spec : DistributionSpec or None
        The distributions' binning; empty distributions are carried when it is on.

    Returns
    -------
    EnsembleSums
        All counts and sums zero.
    """
    dist = DistributionSums.empty(spec, plan.n_out, plan.jumps.shape[0]) if spec is not None and spec.on else None
    return EnsembleSums.empty(plan.n_out, plan.rounds, plan.n_records, plan.heff.shape[0], dist)


def _missing_ranges(done: np.ndarray, total: int, batch_size: int) -> Iterator[tuple[int, int]]:
    """Batches (start, stop) covering [0, total) minus the ranges already done, generated lazily."""
    pos = 0
    for a, b in itertools.chain(((int(a), int(b)) for a, b in done), [(total, total)]):
        a = min(a, total)
        while pos < a:
            stop = min(pos + batch_size, a)
            yield pos, stop
            pos = stop
        pos = max(pos, b)


def _default_batch_size(ntraj: int) -> int:
    return int(min(max(ntraj // 10, 20_000), MAX_CALL))


def _next_goal(goal: int, cap: int, step: int, error: float, target_se: float) -> int:
    """Trajectories to aim for next: what the current standard error says is needed (+5%), at least
    one batch more, at most cap; doubling while the standard error is undefined (inf)."""
    want = goal * (error / target_se) ** 2 * 1.05 if math.isfinite(error) else 2.0 * goal
    return int(min(cap, max(goal + step, math.ceil(min(want, cap)))))


def end_condition(result: MonteCarloResult, target: str, target_se: float | None) -> str:
    """Why a run whose batches all finished ended.

    Parameters
    ----------
    result : MonteCarloResult
        The finished run.
    target : str
        The quantity whose standard error was targeted.
    target_se : float or None
        The target; None for a run of a fixed ntraj.

    Returns
    -------
    str
        "ntraj" (no target), "target_se" (reached) or "max_ntraj" (stopped at the cap short of it).
    """
    if target_se is None:
        return "ntraj"
    return "target_se" if result.target_error(target) < target_se else "max_ntraj"


def warn_if_not_reached(
    result: MonteCarloResult, target: str, target_se: float | None, cap: int, stacklevel: int
) -> None:
    """Warn (TargetNotReachedWarning) if ``result`` ended at max_ntraj = ``cap`` short of target_se.

    Parameters
    ----------
    result : MonteCarloResult
        The finished run.
    target : str
        The quantity whose standard error was targeted.
    target_se : float or None
        The target standard error.
    cap : int
        max_ntraj, named in the message.
    stacklevel : int
        Passed to :func:`warnings.warn`, so the warning points at the user's call.
    """
    if result.stats["end_condition"] != "max_ntraj":
        return
    error = result.target_error(target)
    shown = "undefined" if not math.isfinite(error) else f"{error:.3g}"
    sample = result._target_errors(target)[0]
    if sample < error:  # the floor decided: say so, the sample SE alone would look fine
        shown += f" (the floor 1/n for n runs; the sample standard error {sample:.3g} has collapsed)"
    warnings.warn(
        f"stopped at max_ntraj = {cap} trajectories: the standard error of {target} is {shown}, "
        f"not below target_se = {target_se:g}",
        TargetNotReachedWarning,
        stacklevel=stacklevel,
    )


def _caused_by_interrupt(exc: BaseException) -> bool:
    seen = set()
    link: BaseException | None = exc
    while link is not None and id(link) not in seen:
        if isinstance(link, KeyboardInterrupt):
            return True
        seen.add(id(link))
        link = link.__cause__ or link.__context__
    return False
