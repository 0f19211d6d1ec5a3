"""Run many trajectories: seeded batches, executors (threads in-process, any Executor, Dask), progress,
adaptive stopping on a target standard error, saving, resuming, and keeping work when interrupted.

The bookkeeping of the batches (seed, missing ranges, the next goal, why a run ended) is in
:mod:`.batches`, where they run in :mod:`.executors`.
"""

from __future__ import annotations

import concurrent.futures as cf
import itertools
import os
import warnings
from collections.abc import Iterable, Iterator
from typing import Any

import numba
import numpy as np
from numpy.typing import ArrayLike

from ...trajectories import interruptible
from ...trajectories.checks import check_count, check_path, plain
from ...trajectories.distributions import DistributionSpec, distribution_spec, no_distributions
from ...trajectories.jump_budget import check_jump_budget
from ...trajectories.plan import Model, check_model, compile_plan
from ...trajectories.protocol import Protocol
from ...trajectories.signatures import canonical
from ...trajectories.sums_kernel import MAX_CALL, SMALL_CALL, chunk_bounds, sums_with_table
from ..results.monte_carlo import MonteCarloResult
from .batches import (
    DEFAULT_MAX_NTRAJ,
    BatchInterrupted,
    _caused_by_interrupt,
    _default_batch_size,
    _missing_ranges,
    _next_goal,
    empty_sums,
    end_condition,
    resolve_seed,
    warn_if_not_reached,
)
from .batches import TargetNotReachedWarning as TargetNotReachedWarning
from .batches import check_options as check_options
from .executors import _passive_openmp, as_executor, in_flight
from .files import check_exact_types, check_save_path, load
from .options import MIN_TARGET_SE, RunOptions, merge_options  # noqa: F401  (MIN_TARGET_SE: re-exported)
from .resume import check_resume
from .sums import EnsembleSums


def run_batch(
    model: Model,
    protocol: Protocol,
    seed: int,
    start: int,
    stop: int,
    threads: int | None = None,
    spec: DistributionSpec | None = None,
) -> EnsembleSums:
    """Sums over trajectories start .. stop - 1 (a pure function of its arguments; runs on any worker).

    threads: Numba threads for this batch (None: all available); spec: the distributions to bin
    (:func:`darkspin.trajectories.distributions.distribution_spec`; None: none). In a main thread the
    kernel runs through :func:`darkspin.trajectories.interruptible.call`: Ctrl-C stops it within a
    second or two and raises :class:`BatchInterrupted` with the runs it finished.

    Parameters
    ----------
    model : SpinPair or LindbladModel
        The model.
    protocol : Protocol
        The protocol.
    seed : int
        The run's seed, in [0, 2**64).
    start, stop : int
        The trajectory indices start .. stop - 1 (0 <= start < stop).
    threads : int, optional
        Numba threads (default: all).
    spec : DistributionSpec, optional
        The histogram binning, for ``distributions=True`` (default: none).

    Returns
    -------
    EnsembleSums
        The exact integer sums of those trajectories; sums of disjoint batches merge into the sums of their
        union, bit for bit.

    Raises
    ------
    ValueError
        For indices or a seed outside their ranges, or a model that does not fit the protocol.

    Examples
    --------
    >>> import darkspin as ds
    >>> sums = ds.run_batch(ds.SpinPair(), ds.Protocol.paper(n_out=11), seed=1, start=0, stop=100)
    >>> sums.ntraj
    100
    """
    _passive_openmp()
    before = numba.get_num_threads()
    # numba.config sets NUMBA_NUM_THREADS at run time, from the environment
    want = before if threads is None else max(1, min(int(threads), numba.config.NUMBA_NUM_THREADS))  # type: ignore[attr-defined]
    plan = canonical(compile_plan(model, protocol))  # one kernel signature for every caller and process
    kspec = canonical(spec if spec is not None else no_distributions(plan.heff.shape[0]))
    total = empty_sums(plan, spec)
    try:
        for a in range(start, stop, MAX_CALL):
            n = min(MAX_CALL, stop - a)
            # waking a thread team costs more than a few hundred trajectories on a busy machine
            numba.set_num_threads(want if n >= SMALL_CALL else 1)
            nchunks = max(1, min(n, 4 * numba.get_num_threads()))
            abort, done = np.zeros(1, np.int64), np.zeros(nchunks, np.int64)
            # table_rows -1: the default table (from Python: a compiled wrapper would re-emit the whole kernel)
            args = (np.uint64(seed), int(a), int(n), int(nchunks), plan, kspec, abort, done, -1)
            try:
                out = interruptible.call(sums_with_table, *args, abort=abort)
            except interruptible.Interrupted as exc:
                part = EnsembleSums.from_kernel(exc.value, int(done.sum()), spec)
                lows = [chunk_bounds(a, n, nchunks, ch)[0] for ch in range(nchunks)]
                spans = [(start, a)] + [(lo, lo + int(k)) for lo, k in zip(lows, done, strict=True)]
                kept = np.array([s for s in spans if s[1] > s[0]], np.int64).reshape(-1, 2)
                raise BatchInterrupted(total.merge(part), kept) from None
            total = total.merge(EnsembleSums.from_kernel(out, n, spec))
    finally:
        numba.set_num_threads(before)
    return total


def simulate(
    model: Model,
    protocol: Protocol,
    ntraj: int,
    seed: int | None = None,
    *,
    options: RunOptions | None = None,
    executor: Any = None,
    resume: str | os.PathLike[str] | None = None,
    save: str | os.PathLike[str] | None = None,
    distributions: bool = False,
    target_state: str | ArrayLike | None = None,
    distribution_times: ArrayLike | None = None,
    time_edges: ArrayLike | None = None,
    **settings: Any,
) -> MonteCarloResult:
    """Average ``ntraj`` quantum-jump trajectories of ``protocol`` under ``model``.

    Trajectory i draws from its own random stream (seed, i), and the sums are exact integers, so the
    result is bit-identical for any batch_size, thread count, executor or completion order.

    Jump budget, checked before any work: one run is expected to take at most about
    t_final * lambda_max(sum_k L_k^dag L_k) jumps. Above MAX_RUN_JUMPS = 10**9 per run the call is
    refused (ValueError naming t_final and that rate); above WARN_TOTAL_JUMPS = 10**9 for all ntraj runs
    a one-line RuntimeWarning says it will take minutes (:mod:`darkspin.trajectories.jump_budget`).

    ``result.stats["end_condition"]`` says why the run ended: "ntraj", "target_se", "max_ntraj" or
    "interrupted". On KeyboardInterrupt (Ctrl-C; in this process it stops a batch within a second or
    two) the finished trajectories are returned (and saved), with end_condition "interrupted": the
    finished batches and the finished runs of the batch in progress, as index ranges that ``resume``
    completes to the bit-identical result of an uninterrupted run.

    Parameters
    ----------
    model : SpinPair or LindbladModel
        The model (energies and rates in one unit).
    protocol : Protocol
        Initial state, output times, measurements and post-selection rule (times in the model's
        inverse energy unit).
    ntraj : int
        trajectories, an integer in [1, 2**62] (with target_se: the minimum number).
    seed : int or None
        integer in [0, 2**64); None draws one (it is stored in the result).
    options : RunOptions or None
        a :class:`RunOptions` (batch_size, target_se, max_ntraj, target, batch_threads,
        progress); each may also be given as a keyword (``progress=False``, Other Parameters
        below), which overrides the one in ``options``. Any other keyword is a TypeError.
    executor : None, concurrent.futures.Executor or dask.distributed.Client
        None (this process, Numba threads), any concurrent.futures.Executor, or a
        dask.distributed.Client (its get_executor() is used).
    resume : str or os.PathLike, optional
        path (str or os.PathLike) of a saved result to extend: same model, protocol and seed,
        compared bit for bit (seed=None takes the file's); its trajectories are kept and only
        the missing ones are run.
    save : str or os.PathLike, optional
        path (str or os.PathLike) to save the result to, after every batch (so an interrupted
        run keeps its work; files saved mid-run say end_condition "interrupted") and at the end.
        Checked before any work: an existing target must be a regular file in a writable
        folder, and the model exactly a SpinPair, the protocol exactly a Protocol.
    distributions : bool
        True to also bin, per run, the fidelity with ``target_state`` at every round's end
        and at ``distribution_times``, the jump counts per channel, the first-jump and waiting
        times on ``time_edges``, and the jumped / not-jumped split of the post-selected
        infidelity: exact integer histograms in ``result.distributions`` (binning in
        :mod:`darkspin.trajectories.distributions`), saved and resumed with the rest.
    target_state : str, array_like of shape (d,), or None
        the state F = |<target|psi>|^2 refers to: None (the singlet; two spins), a label
        ("S", "T1", "T2", "T3", "uu", "ud", "du", "dd") or a d-vector.
    distribution_times : array_like of float, optional
        output times (each one of protocol.times) to snapshot besides the round ends;
        default the final time.
    time_edges : array_like of float, optional
        the time grid (from 0, increasing) of first-jump and waiting times; default 200 equal
        bins on [0, t_final].

    Other Parameters
    ----------------
    batch_size : int, optional
        trajectories per batch (default: ntraj/10, clipped to [20 000, 2**22]). Batches are
        generated lazily; an executor gets at most two per worker at a time.
    batch_threads : int, optional
        Numba threads per batch (default: all in-process, 1 per batch on an executor).
    progress : bool
        True or False: show a tqdm bar (stderr) with trajectories done and the standard error
        that target_se applies to.
    target_se : float, optional
        keep adding batches until the standard error chosen by ``target`` is below it
        (a number >= MIN_TARGET_SE = 1e-10)... That error is floored at 1/n for n runs
        behind the estimate (:meth:`MonteCarloResult.target_error`): a sample variance that
        has collapsed (no post-selected run has jumped yet) never ends a run, so the target
        needs n > 1 / target_se.
    max_ntraj : int, optional
        ...or until this many trajectories (default max(10**7, ntraj)); stopping there short
        of target_se raises a TargetNotReachedWarning (a RuntimeWarning).
    target : {'final_post', 'max'}
        what target_se applies to: "final_post" (default), the standard error of the protocol's
        figure of merit, the post-selected singlet population at the final output time; or
        "max", the largest singlet standard error, unconditional and post-selected, over all
        output times.

    Returns
    -------
    MonteCarloResult
        The estimates with their standard errors, ``stats`` and, with ``distributions=True``, the
        histograms.

    Raises
    ------
    ValueError
        For any argument outside its range, a resume file of another run, a save path that cannot be
        written or a run over the jump budget, all before any work.
    TypeError
        For an unknown keyword.

    Warns
    -----
    TargetNotReachedWarning
        When ``max_ntraj`` stops a run short of ``target_se``.

    Examples
    --------
    >>> import darkspin as ds
    >>> mc = ds.simulate(ds.SpinPair(), ds.Protocol.paper(n_out=11), ntraj=1_000, seed=1, progress=False)
    >>> mc.ntraj, mc.p_cumulative.shape
    (1000, (4,))
    """
    if not isinstance(protocol, Protocol):
        raise ValueError(f"protocol must be a Protocol, got {type(protocol).__name__}")
    check_model(model, protocol)
    ntraj = check_count("ntraj", ntraj)
    opts = merge_options(options, settings, "simulate")
    opts.check_ntraj(ntraj)
    batch_size, target_se, max_ntraj = opts.batch_size, opts.target_se, opts.max_ntraj
    batch_threads = opts.batch_threads
    target, progress = opts.target, opts.progress
    if not isinstance(distributions, (bool, np.bool_)):
        raise ValueError(f"distributions must be True or False, got {plain(distributions)!r}")
    d = protocol.rho0.shape[0]
    if distributions:
        K = len(model.jump_labels())
        spec = distribution_spec(protocol, d, target_state, distribution_times, time_edges, K)
    elif target_state is not None or distribution_times is not None or time_edges is not None:
        raise ValueError("target_state, distribution_times and time_edges need distributions=True")
    else:
        spec = None
    ex = as_executor(executor)
    seed = None if seed is None and resume is not None else resolve_seed(seed)
    if resume is not None:
        resume = check_path("resume", resume)
    if save is not None:
        check_exact_types(model, protocol, "save")
        save = check_path("save", save)
        check_save_path(save, "save")

    # also checks the model against the protocol, before any work; compiles kernels the first time
    plan = interruptible.detached(compile_plan, model, protocol)
    check_jump_budget(plan, ntraj)
    sums = empty_sums(plan, spec)
    done = np.zeros((0, 2), np.int64)
    if resume is not None:
        prev = load(resume)
        check_resume(prev, model, protocol, seed, sums.dist)
        seed, sums, done = prev.seed, prev.sums, prev.ranges
    assert seed is not None  # drawn by resolve_seed, or taken from the resume file
    cap = (max_ntraj or max(DEFAULT_MAX_NTRAJ, ntraj)) if target_se is not None else ntraj
    bsize = batch_size or _default_batch_size(ntraj)
    threads = batch_threads if batch_threads is not None else (1 if ex is not None else None)
    limit = in_flight(ex) if ex is not None else 1
    settings = {"target": target, "target_se": target_se, "max_ntraj": cap if target_se is not None else None}

    def make(sums: EnsembleSums, ranges: ArrayLike, end: str) -> MonteCarloResult:
        return MonteCarloResult(model, protocol, sums, seed, ranges, end_condition=end, **settings)

    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=ntraj, initial=sums.ntraj, unit="traj", desc="darkspin", dynamic_ncols=True)
    # until the run ends by its own condition, a result (and a file saved from it) is an interrupted one
    result = make(sums, done, "interrupted")
    goal = ntraj
    try:
        while True:
            todo = _missing_ranges(result.ranges, goal, bsize)
            first = next(todo, None)
            if first is None:
                if target_se is None or goal >= cap or result.target_error(target) < target_se:
                    break
                goal = _next_goal(goal, cap, bsize, result.target_error(target), target_se)
                if bar is not None:
                    bar.total = goal
                    bar.refresh()
                continue
            batches = _run_batches(ex, model, protocol, seed, itertools.chain([first], todo), threads, limit, spec)
            for span, part in batches:
                result = make(result.sums.merge(part), np.concatenate([result.ranges, [span]]), "interrupted")
                if save is not None:
                    result.save(save)
                if bar is not None:
                    bar.update(part.ntraj)
                    bar.set_postfix(se=f"{result.target_error(target):.2g}", refresh=False)
    except (KeyboardInterrupt, SystemError) as exc:
        # a Ctrl-C that lands inside a Numba kernel surfaces as a SystemError chained to it
        if not _caused_by_interrupt(exc):
            raise
        if isinstance(exc, BatchInterrupted) and exc.sums.ntraj:
            # the finished runs of the batch in progress: resume fills the gaps bit for bit
            ranges = np.concatenate([result.ranges, exc.ranges])
            result = make(result.sums.merge(exc.sums), ranges, "interrupted")
        if save is not None:
            result.save(save)
        warnings.warn(
            f"interrupted: returning the {result.ntraj} finished trajectories"
            + (f" (saved to {save})" if save is not None else ""),
            RuntimeWarning,
            stacklevel=2,
        )
        return result
    finally:
        if bar is not None:
            bar.close()
    result = make(result.sums, result.ranges, end_condition(result, target, target_se))
    if save is not None:
        result.save(save)
    warn_if_not_reached(result, target, target_se, cap, stacklevel=3)
    return result


def _run_batches(
    ex: cf.Executor | None,
    model: Model,
    protocol: Protocol,
    seed: int,
    todo: Iterable[tuple[int, int]],
    threads: int | None,
    limit: int,
    spec: DistributionSpec | None = None,
) -> Iterator[tuple[tuple[int, int], EnsembleSums]]:
    """Yield (range, sums) per batch as they finish, with at most ``limit`` batches in flight."""
    if ex is None:
        for a, b in todo:
            yield (a, b), run_batch(model, protocol, seed, a, b, threads, spec)
        return
    pending: dict[cf.Future[EnsembleSums], tuple[int, int]] = {}

    def submit(n: int) -> None:
        for a, b in itertools.islice(todo, max(n, 0)):
            pending[ex.submit(run_batch, model, protocol, seed, a, b, threads, spec)] = (a, b)

    try:
        submit(limit)
        while pending:
            finished, _ = cf.wait(pending, return_when=cf.FIRST_COMPLETED)
            # keep every finished batch before raising a failed one's error (e.g. a KeyboardInterrupt)
            for fut in sorted(finished, key=lambda f: f.exception() is not None):
                span = pending.pop(fut)
                yield span, fut.result()
            submit(limit - len(pending))
    finally:
        for fut in pending:
            fut.cancel()
