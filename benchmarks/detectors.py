"""Throughput of the general detectors (issue 22) on the paper's protocol, against the projective instrument.

Cases, all ``simulate(SpinPair(), protocol, ntraj, seed=1, progress=False)`` with the rounds at t = 100,
200, 300, 400 and 501 outputs on [0, 500] (``Protocol.paper()``):
  projective  the ideal tau_z x tau_z projector (today's instrument)
  monitor     a monitored window on the dephasing channel instead: ``Monitor(["dephasing[0]"], 50,
              efficiency=0.9, dark_rate=1e-3)`` (record +1 from one click)
  kraus       a Kraus instrument that reproduces the projector: ``Measurement.weak("zz", 1.0)``
Each case is warmed up (Numba compile or cache load), then timed ``--repeat`` times in rotating order
(load from other processes falls on all cases alike); medians, and each case's ratio to the projective
one. Targets: monitor >= 0.5, kraus >= 0.8 of the projective throughput. Exit status 1 if one is missed
(with ``--gate``).

Usage: python benchmarks/detectors.py [--ntraj 100000] [--repeat 5] [--threads 2] [--quick] [--gate]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

import numba

import darkspin as ds

TARGETS = {"monitor": 0.5, "kraus": 0.8}


def protocols() -> dict[str, ds.Protocol]:
    paper = ds.Protocol.paper()
    window = ds.Monitor(["dephasing[0]"], 50.0, efficiency=0.9, dark_rate=1e-3)
    return {
        "projective": paper,
        "monitor": ds.Protocol("ud", paper.measure_at, paper.times, measurement=window),
        "kraus": ds.Protocol("ud", paper.measure_at, paper.times, measurement=ds.Measurement.weak("zz", 1.0)),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--ntraj", type=int, default=100_000)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--quick", action="store_true", help="ntraj 20 000, 3 repetitions")
    ap.add_argument("--gate", action="store_true", help="exit status 1 if a target is missed")
    args = ap.parse_args(argv)
    if args.quick:
        args.ntraj, args.repeat = 20_000, 3
    numba.set_num_threads(args.threads)
    model = ds.SpinPair()
    cases = protocols()
    for p in cases.values():  # warm-up: compile or load the cache
        ds.simulate(model, p, 2_000, seed=1, progress=False)
    times: dict[str, list[float]] = {k: [] for k in cases}
    names = list(cases)
    for rep in range(args.repeat):
        for name in names[rep % len(names) :] + names[: rep % len(names)]:
            t0 = time.perf_counter()
            ds.simulate(model, cases[name], args.ntraj, seed=1, progress=False)
            times[name].append(time.perf_counter() - t0)
    rate = {k: args.ntraj / statistics.median(v) for k, v in times.items()}
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(
        f"paper protocol, {args.ntraj} trajectories, {args.threads} threads, {args.repeat} repetitions, load {load:.1f}"
    )
    ok = True
    for k in names:
        ratio = rate[k] / rate["projective"]
        target = TARGETS.get(k)
        mark = "" if target is None else (f"  target >= {target:g}: " + ("met" if ratio >= target else "MISSED"))
        ok &= target is None or ratio >= target
        print(f"  {k:<11} {rate[k]:>10.0f} traj/s   ratio {ratio:.2f}{mark}")
    return 0 if ok or not args.gate else 1


if __name__ == "__main__":
    sys.exit(main())
