"""Wall time of a 64-point Monte Carlo ``ds.sweep`` on 1 and on 2 worker processes.

The sweep puts the batches of every point on the executor at once (at most two per worker in flight), so
a second worker should nearly halve the time: target speed-up >= 1.7. Each executor is a
``ProcessPoolExecutor(n, mp_context=spawn)``, warmed up first with a small sweep (worker start, imports,
Numba's cache), then timed --repeat times (median). The two tables must be bit-identical, and are
asserted so.

Run from the repository root, in an environment with ``pip install -e ".[test]"``::

    python benchmarks/sweep_parallel.py                  # 64 points x 20 000 trajectories
    python benchmarks/sweep_parallel.py --ntraj 4000     # quick check
"""

from __future__ import annotations

import argparse
import concurrent.futures as cf
import multiprocessing
import os
import statistics
import sys
import time

import numpy as np

import darkspin as ds

TARGET_SPEEDUP = 1.7


def sweep(executor: cf.Executor, ntraj: int, points: int, seed: int) -> ds.SweepTable:
    """The benchmark's sweep: lam2 x readout_error on the paper's protocol with 3 output times."""
    side = int(round(points**0.5))
    axes = {"lam2": list(np.linspace(0.008, 0.016, side)), "readout_error": list(np.linspace(0.0, 0.1, points // side))}
    protocol = ds.Protocol("ud", [100.0, 200.0, 300.0, 400.0], np.linspace(0.0, 500.0, 3))
    return ds.sweep(ds.SpinPair(), protocol, axes, ntraj=ntraj, seed=seed, executor=executor, progress=False)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--ntraj", type=int, default=20_000, help="trajectories per point (default 20 000)")
    ap.add_argument("--points", type=int, default=64, help="points of the sweep (default 64, a square grid)")
    ap.add_argument("--repeat", type=int, default=1, help="timed runs per executor (default 1)")
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args(argv)
    for name in ("ntraj", "points", "repeat"):
        if getattr(args, name) < 1:
            ap.error(f"--{name} must be >= 1, got {getattr(args, name)}")
    print(f"load average before: {os.getloadavg()[0]:.2f} (2 workers need a free second core)")
    spawn = multiprocessing.get_context("spawn")
    medians, tables = {}, {}
    for workers in (1, 2):
        with cf.ProcessPoolExecutor(workers, mp_context=spawn) as ex:
            sweep(ex, 200, 4 * workers, args.seed)  # warm up every worker
            times = []
            for _ in range(args.repeat):
                t0 = time.perf_counter()
                tables[workers] = sweep(ex, args.ntraj, args.points, args.seed)
                times.append(time.perf_counter() - t0)
        medians[workers] = statistics.median(times)
        print(f"{workers} worker(s): {medians[workers]:.2f} s (runs: {', '.join(f'{t:.2f}' for t in times)})")
    one, two = tables[1], tables[2]
    assert one.names == two.names
    for name in one.names:
        assert one[name].tobytes() == two[name].tobytes(), f"column {name} differs between 1 and 2 workers"
    print(f"bit-identical tables: yes ({len(one)} points, {int(one['mc_ntraj'].sum())} trajectories)")
    speedup = medians[1] / medians[2]
    ok = speedup >= TARGET_SPEEDUP
    print(f"speed-up 2 vs 1 worker: {speedup:.2f} (target >= {TARGET_SPEEDUP}): {'PASS' if ok else 'FAIL'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
