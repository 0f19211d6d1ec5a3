"""Cost of segments and gates (issue 21): Monte Carlo throughput with and without them, and the exact
solver's cost against the number of segments.

(1) Trajectories/s of ``simulate`` on the paper's model and protocol (``SpinPair()``, ``Protocol.paper(101)``,
``--threads`` Numba threads, ``--ntraj`` runs) against the same protocol with 10 segments (the same model in
every segment, switching at t = 25, 75, ..., 475, between the protocol's other events) and 2 identity gates
(t = 150, 350), so both do the same physics and the difference is the cost of the extra events and of the
segment switches. A warm-up call of each first, then ``--repeat`` alternating repetitions; medians, and
the ratio of the medians. Target: with / without >= 0.70.

(2) Seconds of ``solve_master_equation`` on the paper's protocol with S = 0, 10, 20, 40, 80 segments,
each a SpinPair with its own lam1 (so no propagator is shared between segments), switching at evenly
spaced times between the rounds; medians of ``--repeat`` calls; a least-squares line through the
points, its slope (seconds per segment) and the largest relative deviation from it. Target: linear
(deviation small compared with the growth).

Run from the repository root::

    python benchmarks/segments.py            # 2*10^5 runs, 5 repetitions
    python benchmarks/segments.py --quick    # 4*10^4 runs, 3 repetitions
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import numpy as np


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ntraj", type=int, default=200_000)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--quick", action="store_true", help="ntraj 4*10^4, 3 repetitions")
    args = ap.parse_args()
    if args.quick:
        args.ntraj, args.repeat = 40_000, 3
    import numba

    import darkspin as ds

    numba.set_num_threads(args.threads)
    model = ds.SpinPair()
    plain = ds.Protocol.paper(101)
    timed = ds.Protocol(
        "ud",
        plain.measure_at,
        plain.times,
        segments=[(25.0 + 50.0 * k, model) for k in range(10)],
        gates=[(150.0, np.eye(4)), (350.0, np.eye(4))],
    )
    print(f"load: {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores; {args.threads} threads, {args.ntraj} runs")

    def rate(protocol: ds.Protocol) -> float:
        t0 = time.perf_counter()
        ds.simulate(model, protocol, args.ntraj, 1, progress=False)
        return args.ntraj / (time.perf_counter() - t0)

    ds.simulate(model, plain, 1000, 1, progress=False)
    ds.simulate(model, timed, 1000, 1, progress=False)
    a, b = [], []
    for _ in range(args.repeat):
        a.append(rate(plain))
        b.append(rate(timed))
    ra, rb = statistics.median(a), statistics.median(b)
    print(f"(1) simulate: no segments {ra:,.0f} runs/s; 10 segments + 2 gates {rb:,.0f} runs/s; ratio {rb / ra:.3f}")
    print(f"    target >= 0.70: {'met' if rb / ra >= 0.70 else 'MISSED'}")

    sizes = [0, 10, 20, 40, 80]
    secs = []
    for S in sizes:
        segs = [(5.0 + 490.0 * k / max(S, 1), model.replace(lam1=0.0126 * (1 + 0.01 * (k + 1)))) for k in range(S)]
        p = ds.Protocol("ud", plain.measure_at, plain.times, segments=segs)
        ds.solve_master_equation(model, p)
        runs = []
        for _ in range(args.repeat):
            t0 = time.perf_counter()
            ds.solve_master_equation(model, p)
            runs.append(time.perf_counter() - t0)
        secs.append(statistics.median(runs))
    slope, icept = np.polyfit(sizes, secs, 1)
    fit = slope * np.array(sizes) + icept
    dev = float(np.max(np.abs(np.array(secs) - fit)) / (secs[-1] - secs[0]))
    print(
        "(2) solve_master_equation: "
        + ", ".join(f"S = {s}: {t * 1e3:.1f} ms" for s, t in zip(sizes, secs, strict=True))
    )
    print(f"    slope {slope * 1e3:.3f} ms per segment; largest deviation from the line {dev:.1%} of the growth")


if __name__ == "__main__":
    main()
