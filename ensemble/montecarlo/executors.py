"""Where the batches of a run go: this process (Numba threads, OpenMP kept passive) or an executor (any
:class:`concurrent.futures.Executor`, or a Dask client), and how many batches to keep in flight.
"""

from __future__ import annotations

import concurrent.futures as cf
import os
from typing import Any


def _passive_openmp() -> None:
    """Let idle OpenMP threads sleep, unless the user chose a policy.

    Set here, before Numba first starts its thread pool, rather than at import: importing darkspin
    changes no environment variable. Our parallel regions are whole batches, so sleeping costs nothing,
    while spinning threads steal cores from other processes on a shared machine.
    """
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


def as_executor(executor: Any) -> cf.Executor | None:
    """The executor to submit batches to, checked before any work.

    Parameters
    ----------
    executor : None, concurrent.futures.Executor or dask.distributed.Client
        A Client is replaced by its ``get_executor()``.

    Returns
    -------
    concurrent.futures.Executor or None
        None: run in this process.

    Raises
    ------
    ValueError
        For any other value, or a ProcessPoolExecutor with the 'fork' start method (a forked child
        inherits a running OpenMP runtime and aborts).
    """
    if isinstance(executor, cf.ProcessPoolExecutor):
        ctx = getattr(executor, "_mp_context", None)
        if ctx is not None and ctx.get_start_method() == "fork":
            # a forked child inherits a running OpenMP runtime and aborts
            raise ValueError(
                "executor: a ProcessPoolExecutor must use the 'spawn' or 'forkserver' start "
                "method (mp_context=multiprocessing.get_context('spawn')), not 'fork'"
            )
    if executor is None or isinstance(executor, cf.Executor):
        return executor
    get = getattr(executor, "get_executor", None)  # a dask.distributed.Client
    if callable(get):
        ex = get()
        if isinstance(ex, cf.Executor):
            return ex
    raise ValueError(
        "executor must be None, a concurrent.futures.Executor or a dask.distributed.Client, "
        f"got {type(executor).__name__}"
    )


def in_flight(ex: cf.Executor) -> int:
    """Most batches submitted to ``ex`` and not yet finished: two per worker keep every worker busy.

    Parameters
    ----------
    ex : concurrent.futures.Executor
        A pool (its worker count is read) or a Dask ClientExecutor (its workers' threads are counted).

    Returns
    -------
    int
        Twice the number of workers; twice the CPU count when the executor does not say.
    """
    workers = getattr(ex, "_max_workers", None)  # concurrent.futures pools
    if not isinstance(workers, int) or workers < 1:
        workers = None
        nthreads = getattr(getattr(ex, "_client", None), "nthreads", None)  # a Dask ClientExecutor
        if callable(nthreads):
            try:
                workers = sum(nthreads().values()) or None
            except Exception:  # only a sizing hint: fall back to the CPU count
                workers = None
    return 2 * (workers or os.cpu_count() or 1)
