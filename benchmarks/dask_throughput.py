"""Throughput of ensemble.simulate: in-process Numba threads vs a Dask LocalCluster on the same machine.

(a) threaded: executor=None, Numba with --threads threads (default 2), simulate's default batches;
(b) dask:     LocalCluster(n_workers=--workers, threads_per_worker=1) via its Client, batch_threads=1,
              batch_size = ntraj / 20.
Each is warmed up first (Numba compile or cache load, cluster start, worker imports), then timed
--repeat times; medians and the throughput ratio dask/threaded (target >= 0.8) are printed, and the
two routes are checked to give bit-identical sums.

Run from the repository root, in an environment with ``pip install -e ".[test,distributed]"``::

    python benchmarks/dask_throughput.py                 # 10**6 trajectories
    python benchmarks/dask_throughput.py --ntraj 200000  # quick check
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

import numba

from darkspin.ensemble import simulate
from darkspin.trajectories import Protocol, SpinPair

TARGET_RATIO = 0.8


def timed(repeat: int, run) -> tuple[list[float], object]:
    """Wall-clock seconds of ``repeat`` calls of run(), and the last result."""
    times, result = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = run()
        times.append(time.perf_counter() - t0)
    return times, result


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--ntraj", type=int, default=10**6, help="trajectories per timed run (default 10**6)")
    ap.add_argument("--repeat", type=int, default=3, help="timed runs of each route (default 3)")
    ap.add_argument("--threads", type=int, default=2, help="Numba threads of the in-process run")
    ap.add_argument("--workers", type=int, default=2, help="Dask worker processes (1 thread each)")
    ap.add_argument("--batches", type=int, default=20, help="Dask batches per run (default 20)")
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args(argv)
    for name in ("ntraj", "repeat", "threads", "workers", "batches"):
        if getattr(args, name) < 1:
            ap.error(f"--{name} must be >= 1, got {getattr(args, name)}")
    try:
        from dask.distributed import Client, LocalCluster
    except ImportError:
        ap.error("dask[distributed] is not installed")

    model, protocol = SpinPair(), Protocol.paper()
    n = args.ntraj
    batch = max(1, -(-n // args.batches))

    numba.set_num_threads(min(args.threads, numba.config.NUMBA_NUM_THREADS))
    simulate(model, protocol, max(2000, n // 20), seed=0, progress=False)  # warm-up
    t_thr, r_thr = timed(args.repeat, lambda: simulate(model, protocol, n, seed=args.seed, progress=False))

    t0 = time.perf_counter()
    with (
        LocalCluster(n_workers=args.workers, threads_per_worker=1, processes=True, dashboard_address=None) as cluster,
        Client(cluster) as client,
    ):
        start = time.perf_counter() - t0
        # warm-up: one small batch per worker slot, so each worker imports and loads the kernels
        warm = 2 * args.workers
        simulate(
            model, protocol, warm * 1000, seed=0, batch_size=1000, executor=client, batch_threads=1, progress=False
        )
        t_dask, r_dask = timed(
            args.repeat,
            lambda: simulate(
                model, protocol, n, seed=args.seed, batch_size=batch, executor=client, batch_threads=1, progress=False
            ),
        )

    med_thr, med_dask = statistics.median(t_thr), statistics.median(t_dask)
    ratio = med_thr / med_dask  # throughput ratio dask / threaded
    same = r_thr.sums.identical(r_dask.sums)
    print(f"paper protocol, ntraj = {n}, {args.repeat} timed runs each, {os.cpu_count()} CPUs")
    print(
        f"threaded  numba {numba.get_num_threads()} threads: median {med_thr:.2f} s "
        f"({n / med_thr:.3g} traj/s)  runs {', '.join(f'{t:.2f}' for t in t_thr)}"
    )
    print(
        f"dask      {args.workers} workers x 1 thread, batch {batch}: median {med_dask:.2f} s "
        f"({n / med_dask:.3g} traj/s)  runs {', '.join(f'{t:.2f}' for t in t_dask)}  "
        f"(cluster start {start:.1f} s, excluded)"
    )
    print(
        f"ratio     dask/threaded throughput {ratio:.2f} (target >= {TARGET_RATIO}): "
        f"{'OK' if ratio >= TARGET_RATIO else 'BELOW TARGET'}"
    )
    print(f"sums      bit-identical between the two routes: {same}")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
