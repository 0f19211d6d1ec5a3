"""Many simulations at once: the batches of every point share one executor.

:func:`simulate_points` is :func:`.simulation.simulate` for N (model, protocol, seed) points with the same
options: each point's result is bit-identical to ``simulate`` of that point alone (the sums are exact
integers, so neither the batch split nor the completion order matters), its file is saved after every
batch and resumed as ``simulate`` resumes, and a point with target_se gets more batches, one goal at a
time, once all of its batches so far have finished (the same goals as ``simulate``). The executor sees
at most ``in_flight`` batches, drawn lowest point first, so early points finish first and a Ctrl-C keeps
what finished.
"""

from __future__ import annotations

import concurrent.futures as cf
import dataclasses
import os
from collections.abc import Callable, Iterator, Sequence

import numpy as np

from ...trajectories.checks import check_path
from ...trajectories.plan import Model, compile_plan
from ...trajectories.protocol import Protocol
from ..results.monte_carlo import MonteCarloResult
from . import simulation
from .atomic import naming_file
from .batches import (
    DEFAULT_MAX_NTRAJ,
    _caused_by_interrupt,
    _default_batch_size,
    _missing_ranges,
    _next_goal,
    empty_sums,
    end_condition,
    warn_if_not_reached,
)
from .executors import in_flight
from .files import check_save_path, load
from .options import RunOptions
from .resume import check_resume
from .sums import EnsembleSums


@dataclasses.dataclass
class _Point:
    """One point's run: its result so far, its current goal and the batches of that goal not yet sent."""

    index: int
    model: Model
    protocol: Protocol
    seed: int
    save: str | None
    result: MonteCarloResult
    goal: int
    todo: Iterator[tuple[int, int]]
    running: int = 0
    finished: bool = False
    started: bool = False


def simulate_points(
    models: Sequence[Model],
    protocols: Sequence[Protocol],
    seeds: Sequence[int],
    ntraj: int,
    *,
    options: RunOptions,
    executor: cf.Executor | None,
    saves: Sequence[str | None],
    on_finish: Callable[[MonteCarloResult], None] | None = None,
) -> tuple[list[MonteCarloResult | None], bool]:
    """Trajectories of N points, all their batches on one executor.

    Parameters
    ----------
    models, protocols : sequence of Model, sequence of Protocol
        The N points (checked by the caller).
    seeds : sequence of int
        Each point's seed, in [0, 2**64).
    ntraj : int
        Trajectories per point (with target_se: the minimum).
    options : RunOptions
        As for ``simulate`` (its ``progress`` is ignored: see ``on_finish``).
    executor : concurrent.futures.Executor or None
        None runs the batches here, one after another.
    saves : sequence of str or None
        Each point's file: saved after every batch and at the end; an existing one is resumed (a finished
        result is returned as it is, an interrupted one runs its missing ranges).
    on_finish : callable or None
        Called with each point's result as the point finishes, in the order they finish.

    Returns
    -------
    results : list of MonteCarloResult or None
        Per point; None for a point that had no trajectory when interrupted.
    interrupted : bool
        True if Ctrl-C stopped the run (the unfinished points' results end "interrupted").

    Raises
    ------
    ValueError
        For a save file of another run (model, protocol or seed differ).
    OSError
        If a file cannot be written, naming it.
    """
    ex = executor
    target, target_se, max_ntraj = options.target, options.target_se, options.max_ntraj
    cap = (max_ntraj or max(DEFAULT_MAX_NTRAJ, ntraj)) if target_se is not None else ntraj
    bsize = options.batch_size or _default_batch_size(ntraj)
    threads = options.batch_threads if options.batch_threads is not None else (1 if ex is not None else None)
    stored_cap = cap if target_se is not None else None
    results: list[MonteCarloResult | None] = [None] * len(models)

    def make(m: Model, p: Protocol, seed: int, sums: EnsembleSums, ranges: np.ndarray, end: str) -> MonteCarloResult:
        return MonteCarloResult(
            m,
            p,
            sums,
            seed,
            ranges,
            end_condition=end,
            target=target,
            target_se=target_se,
            max_ntraj=stored_cap,
        )

    def finish(pt: _Point) -> None:
        pt.finished = True
        pt.result = make(
            pt.model,
            pt.protocol,
            pt.seed,
            pt.result.sums,
            pt.result.ranges,
            end_condition(pt.result, target, target_se),
        )
        if pt.save is not None:
            with naming_file(pt.save):
                pt.result.save(pt.save)
        warn_if_not_reached(pt.result, target, target_se, cap, stacklevel=5)
        results[pt.index] = pt.result
        if on_finish is not None:
            on_finish(pt.result)

    # ---- every point's state, before any batch ----
    points: list[_Point] = []
    for i, (m, p, s, path) in enumerate(zip(models, protocols, seeds, saves, strict=True)):
        if path is not None:
            path = check_save_path(check_path("save", path), "save")
        prev = load(path) if path is not None and os.path.exists(path) else None
        if prev is not None:
            check_resume(prev, m, p, s)
        if prev is not None and prev.stats["end_condition"] != "interrupted":
            pt = _Point(i, m, p, int(s), path, prev, ntraj, iter(()), finished=True)
            results[i] = prev
            if on_finish is not None:
                on_finish(prev)
        else:
            sums = prev.sums if prev is not None else empty_sums(compile_plan(m, p), None)
            ranges = prev.ranges if prev is not None else np.zeros((0, 2), np.int64)
            result = make(m, p, int(s), sums, ranges, "interrupted")
            todo = _missing_ranges(result.ranges, ntraj, bsize)
            pt = _Point(i, m, p, int(s), path, result, ntraj, todo, started=prev is not None)
        points.append(pt)

    def next_batch() -> tuple[_Point, tuple[int, int]] | None:
        """The lowest point's next batch; a point whose goal is done gets its next goal or finishes."""
        for pt in points:
            while not pt.finished:
                span = next(pt.todo, None)
                if span is not None:
                    return pt, span
                if pt.running:
                    break  # its goal is reached only when its batches are back
                if target_se is None or pt.goal >= cap or pt.result.target_error(target) < target_se:
                    finish(pt)
                    break
                pt.goal = _next_goal(pt.goal, cap, bsize, pt.result.target_error(target), target_se)
                pt.todo = _missing_ranges(pt.result.ranges, pt.goal, bsize)
        return None

    def merge(pt: _Point, span: tuple[int, int], part: EnsembleSums) -> None:
        pt.running -= 1
        pt.started = True
        ranges = np.concatenate([pt.result.ranges, [span]])
        pt.result = make(pt.model, pt.protocol, pt.seed, pt.result.sums.merge(part), ranges, "interrupted")
        if pt.save is not None:
            with naming_file(pt.save):
                pt.result.save(pt.save)

    pending: dict[cf.Future[EnsembleSums], tuple[_Point, tuple[int, int]]] = {}
    limit = in_flight(ex) if ex is not None else 1
    try:
        while True:
            while len(pending) < limit:
                task = next_batch()
                if task is None:
                    break
                pt, (a, b) = task
                pt.running += 1
                if ex is None:
                    merge(pt, (a, b), simulation.run_batch(pt.model, pt.protocol, pt.seed, a, b, threads, None))
                else:
                    fut = ex.submit(simulation.run_batch, pt.model, pt.protocol, pt.seed, a, b, threads, None)
                    pending[fut] = (pt, (a, b))
            if not pending:
                if next_batch() is None:
                    break
                continue
            finished, _ = cf.wait(pending, return_when=cf.FIRST_COMPLETED)
            # keep every finished batch before raising a failed one's error (e.g. a KeyboardInterrupt)
            for fut in sorted(finished, key=lambda f: f.exception() is not None):
                pt, span = pending.pop(fut)
                merge(pt, span, fut.result())
    except (KeyboardInterrupt, SystemError) as exc:
        # a Ctrl-C that lands inside a Numba kernel surfaces as a SystemError chained to it
        if not _caused_by_interrupt(exc):
            raise
        for pt in points:
            if not pt.finished and (pt.started or pt.result.ntraj):
                results[pt.index] = pt.result
        return results, True
    finally:
        for fut in pending:
            fut.cancel()
    return results, False
