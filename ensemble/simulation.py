"""Run many trajectories: seeded batches, executors (threads in-process, any Executor, Dask), progress,
adaptive stopping on a target standard error, saving, resuming, and keeping work when interrupted."""

from __future__ import annotations

import concurrent.futures as cf
import math
import os
import secrets
import warnings

import numba
import numpy as np

from ..trajectories.kernel import MAX_CALL, ensemble_sums
from ..trajectories.plan import compile_plan
from ..trajectories.model import SpinPair
from ..trajectories.protocol import Protocol
from ..trajectories.rng import SEED_MAX

from .result import MonteCarloResult, load
from .sums import EnsembleSums

#: Default cap on trajectories when running to a target standard error.
DEFAULT_MAX_NTRAJ = 10**7
#: Kernel calls with fewer trajectories than this run on one thread (identical sums either way).
SMALL_CALL = 512


def check_count(name: str, value, minimum: int = 1) -> int:
    """An integer >= minimum, or ValueError naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def resolve_seed(seed) -> int:
    """The seed as an int in [0, 2**64); None draws a fresh one (recorded in the result)."""
    if seed is None:
        return secrets.randbits(64)
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise ValueError(f"seed must be an integer in [0, 2**64) or None, got {seed!r}")
    if not 0 <= int(seed) <= SEED_MAX:
        raise ValueError(f"seed must be an integer in [0, 2**64) or None, got {seed!r}")
    return int(seed)


def check_options(ntraj, batch_size=None, target_se=None, max_ntraj=None, batch_threads=None):
    """Validate simulate's run options (before any work); returns them normalised, in the same order."""
    ntraj = check_count("ntraj", ntraj)
    if batch_size is not None:
        batch_size = check_count("batch_size", batch_size)
    if target_se is not None:
        if isinstance(target_se, bool) or not isinstance(target_se, (int, float, np.floating)) \
                or not math.isfinite(target_se) or target_se <= 0:
            raise ValueError(f"target_se must be a finite number > 0, got {target_se!r}")
        target_se = float(target_se)
    if max_ntraj is not None:
        max_ntraj = check_count("max_ntraj", max_ntraj)
        if max_ntraj < ntraj:
            raise ValueError(f"max_ntraj must be >= ntraj = {ntraj}, got {max_ntraj}")
    if batch_threads is not None:
        batch_threads = check_count("batch_threads", batch_threads)
    return ntraj, batch_size, target_se, max_ntraj, batch_threads


def _passive_openmp() -> None:
    """Let idle OpenMP threads sleep, unless the user chose a policy.

    Set here, before Numba first starts its thread pool, rather than at import: importing darkspin
    changes no environment variable. Our parallel regions are whole batches, so sleeping costs nothing,
    while spinning threads steal cores from other processes on a shared machine.
    """
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


def run_batch(model: SpinPair, protocol: Protocol, seed: int, start: int, stop: int,
              threads: int | None = None) -> EnsembleSums:
    """Sums over trajectories start .. stop - 1 (a pure function of its arguments; runs on any worker).

    threads: Numba threads for this batch (None: all available).
    """
    _passive_openmp()
    before = numba.get_num_threads()
    want = before if threads is None else max(1, min(int(threads), numba.config.NUMBA_NUM_THREADS))
    plan = compile_plan(model, protocol)
    total = EnsembleSums.empty(plan.n_out, plan.rounds, plan.n_records)
    try:
        for a in range(start, stop, MAX_CALL):
            n = min(MAX_CALL, stop - a)
            # waking a thread team costs more than a few hundred trajectories on a busy machine
            numba.set_num_threads(want if n >= SMALL_CALL else 1)
            nchunks = max(1, min(n, 4 * numba.get_num_threads()))
            out = ensemble_sums(np.uint64(seed), a, n, nchunks, plan)
            total = total.merge(EnsembleSums.from_kernel(*out, n))
    finally:
        numba.set_num_threads(before)
    return total


def _as_executor(executor):
    if isinstance(executor, cf.ProcessPoolExecutor):
        ctx = getattr(executor, "_mp_context", None)
        if ctx is not None and ctx.get_start_method() == "fork":
            # a forked child inherits a running OpenMP runtime and aborts
            raise ValueError("executor: a ProcessPoolExecutor must use the 'spawn' or 'forkserver' start "
                             "method (mp_context=multiprocessing.get_context('spawn')), not 'fork'")
    if executor is None or isinstance(executor, cf.Executor):
        return executor
    get = getattr(executor, "get_executor", None)  # a dask.distributed.Client
    if callable(get):
        ex = get()
        if isinstance(ex, cf.Executor):
            return ex
    raise ValueError("executor must be None, a concurrent.futures.Executor or a dask.distributed.Client, "
                     f"got {type(executor).__name__}")


def _missing_ranges(done: np.ndarray, total: int, batch_size: int) -> list[tuple[int, int]]:
    """Batches covering [0, total) minus the ranges already done."""
    out, pos = [], 0
    for a, b in list(map(tuple, done)) + [(total, total)]:
        a = min(a, total)
        while pos < a:
            out.append((pos, min(pos + batch_size, a)))
            pos = out[-1][1]
        pos = max(pos, b)
    return out


def _default_batch_size(ntraj: int) -> int:
    return int(min(max(ntraj // 10, 20_000), MAX_CALL))


def simulate(model: SpinPair, protocol: Protocol, ntraj: int, seed: int | None = None, *,
             batch_size: int | None = None, executor=None, progress: bool = True,
             target_se: float | None = None, max_ntraj: int | None = None, resume=None,
             save=None, batch_threads: int | None = None) -> MonteCarloResult:
    """Average ``ntraj`` quantum-jump trajectories of ``protocol`` under ``model``.

    Trajectory i draws from its own random stream (seed, i), and the sums are exact integers, so the
    result is bit-identical for any batch_size, thread count, executor or completion order.

    ntraj:       trajectories (with target_se: the minimum number).
    seed:        integer in [0, 2**64); None draws one (it is stored in the result).
    batch_size:  trajectories per batch (default: ntraj/10, clipped to [20 000, 2**22]).
    executor:    None (this process, Numba threads), any concurrent.futures.Executor, or a
                 dask.distributed.Client (its get_executor() is used).
    progress:    show a tqdm bar with trajectories done and the largest singlet standard error.
    target_se:   keep adding batches until the largest standard error of the singlet population
                 (unconditional and post-selected, over all output times) is below it...
    max_ntraj:   ...or until this many trajectories (default 10**7).
    resume:      path of a saved result to extend: same model, protocol and seed (seed=None takes the
                 file's); its trajectories are kept and only the missing ones are run.
    save:        path to save the result to, after every batch (so an interrupted run keeps its work).
    batch_threads: Numba threads per batch (default: all in-process, 1 per batch on an executor).

    On KeyboardInterrupt the finished batches are returned (and saved), with ``result.interrupted``.
    """
    if not isinstance(model, SpinPair):
        raise ValueError(f"model must be a SpinPair, got {type(model).__name__}")
    if not isinstance(protocol, Protocol):
        raise ValueError(f"protocol must be a Protocol, got {type(protocol).__name__}")
    ntraj, batch_size, target_se, max_ntraj, batch_threads = check_options(
        ntraj, batch_size, target_se, max_ntraj, batch_threads)
    ex = _as_executor(executor)
    seed = None if seed is None and resume is not None else resolve_seed(seed)

    n_out, rounds = protocol.times.size, protocol.rounds
    sums = EnsembleSums.empty(n_out, rounds, compile_plan(model, protocol).n_records)
    done = np.zeros((0, 2), np.int64)
    if resume is not None:
        prev = load(resume)
        _check_resume(prev, model, protocol, seed)
        seed, sums, done = prev.seed, prev.sums, prev.ranges
    if save is not None:
        _check_writable(save)
    cap = (max_ntraj or max(DEFAULT_MAX_NTRAJ, ntraj)) if target_se is not None else ntraj
    bsize = batch_size or _default_batch_size(ntraj)
    threads = batch_threads if batch_threads is not None else (1 if ex is not None else None)

    bar = None
    if progress:
        from tqdm.auto import tqdm
        bar = tqdm(total=ntraj, initial=sums.ntraj, unit="traj", desc="darkspin", dynamic_ncols=True)
    result = MonteCarloResult(model, protocol, sums, seed, done)
    goal = ntraj
    try:
        while True:
            todo = _missing_ranges(result.ranges, goal, bsize)
            if not todo:
                if target_se is None or goal >= cap or result.max_singlet_se() < target_se:
                    break
                # grow the goal by what the current standard error says is needed (at least a batch)
                ratio = (result.max_singlet_se() / target_se) ** 2
                goal = int(min(cap, max(goal + bsize, math.ceil(goal * ratio * 1.05))))
                if bar is not None:
                    bar.total = goal
                    bar.refresh()
                continue
            for part in _run_batches(ex, model, protocol, seed, todo, threads):
                result = MonteCarloResult(model, protocol, result.sums.merge(part[1]), seed,
                                          np.concatenate([result.ranges, [part[0]]]))
                if save is not None:
                    result.save(save)
                if bar is not None:
                    bar.update(part[1].ntraj)
                    bar.set_postfix(se=f"{result.max_singlet_se():.2g}", refresh=False)
    except (KeyboardInterrupt, SystemError) as exc:
        # a Ctrl-C that lands inside a Numba kernel surfaces as a SystemError chained to it
        if not _caused_by_interrupt(exc):
            raise
        result.interrupted = True
        if save is not None:
            result.save(save)
        warnings.warn(f"interrupted: returning the {result.ntraj} trajectories of the finished batches"
                      + (f" (saved to {save})" if save is not None else ""), RuntimeWarning, stacklevel=2)
    finally:
        if bar is not None:
            bar.close()
    return result


def _caused_by_interrupt(exc: BaseException) -> bool:
    seen = set()
    while exc is not None and id(exc) not in seen:
        if isinstance(exc, KeyboardInterrupt):
            return True
        seen.add(id(exc))
        exc = exc.__cause__ or exc.__context__
    return False


def _run_batches(ex, model, protocol, seed, todo, threads):
    """Yield (range, sums) per batch as they finish."""
    if ex is None:
        for a, b in todo:
            yield (a, b), run_batch(model, protocol, seed, a, b, threads)
        return
    futures = {ex.submit(run_batch, model, protocol, seed, a, b, threads): (a, b) for a, b in todo}
    try:
        for fut in cf.as_completed(futures):
            yield futures[fut], fut.result()
    finally:
        for fut in futures:
            fut.cancel()


def _check_resume(prev: MonteCarloResult, model: SpinPair, protocol: Protocol, seed) -> None:
    diffs = [f"{k}: file {getattr(prev.model, k)!r} vs {getattr(model, k)!r}"
             for k in model.as_dict() if getattr(prev.model, k) != getattr(model, k)]
    if diffs:
        raise ValueError("resume file was made with other model parameters (" + "; ".join(diffs) + ")")
    for name in ("rho0", "measure_at", "times"):
        a, b = getattr(prev.protocol, name), getattr(protocol, name)
        if a.shape != b.shape or not np.array_equal(a, b):
            raise ValueError(f"resume file was made with another protocol ({name} differs)")
    if prev.protocol.measurements != protocol.measurements:
        raise ValueError("resume file was made with other measurement instruments")
    if prev.protocol.selection != protocol.selection:
        raise ValueError(f"resume file was made with the post-selection rule {prev.protocol.postselect!r}, "
                         f"not {protocol.postselect!r}")
    if seed is not None and seed != prev.seed:
        raise ValueError(f"resume file was made with seed {prev.seed}, not {seed}")


def _check_writable(path) -> None:
    folder = os.path.dirname(os.path.abspath(os.fspath(path))) or "."
    if not os.path.isdir(folder):
        raise ValueError(f"save path {os.fspath(path)!r}: folder {folder!r} does not exist")
    if not os.access(folder, os.W_OK):
        raise ValueError(f"save path {os.fspath(path)!r}: folder {folder!r} is not writable")
