"""Coverage of the interval a ``target_se`` run reports when it stops on its target.

At the paper's point (``ds.Protocol.paper(n_out=51)``, default SpinPair) the post-selected singlet
population at the final time is 0.99960880 (exact solver) and ~half the runs are post-selected, few of
which have jumped: the sample standard error of that mean is often ~0. ``target_se`` floors the error it
stops on at 1/n (MonteCarloResult.target_error), so a run ends on ``target_se`` only with enough
post-selected runs behind the estimate. This script runs ``--seeds`` seeds of

    ds.simulate(ds.SpinPair(), proto, ntraj=NTRAJ, seed=s, target_se=TARGET, max_ntraj=MAX_NTRAJ)

and, over the runs that ended on ``target_se``, prints the fraction whose 95% interval for the
post-selected singlet at the final time covers the exact value: the printed interval
(``ds.mean_interval``, half-width >= z^2/n) and, for contrast, the plain normal interval m -+ 1.96 se.
Nominal coverage is 0.95; the mean_interval is conservative by design (it covers what unseen jumped runs
could add).

Usage, from the repository root in an environment with ``pip install -e ".[test,distributed]"``:
    python benchmarks/target_se_coverage.py [--seeds 200] [--target-se 2e-3] [--ntraj 200] [--max-ntraj 100000]
        [--batch-size B]
With the default batch size (>= 20 000) the first check comes after ~20 000 runs, far past the floor;
``--batch-size 200`` checks after every 200 runs, so runs stop as early as the rule allows (the hard case).
"""

from __future__ import annotations

import argparse
import math
import time
import warnings

import numpy as np

import darkspin as ds
from darkspin.ensemble.montecarlo.simulation import TargetNotReachedWarning
from darkspin.trajectories.operators import singlet_population

Z95 = 1.959963984540054


def main() -> None:
    """Run the seeds and print the coverage."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=200)
    ap.add_argument("--target-se", type=float, default=2e-3)
    ap.add_argument("--ntraj", type=int, default=200)
    ap.add_argument("--max-ntraj", type=int, default=100_000)
    ap.add_argument(
        "--batch-size", type=int, default=None, help="default: simulate's (>= 20 000, so the first check is late)"
    )
    args = ap.parse_args()

    model, proto = ds.SpinPair(), ds.Protocol.paper(n_out=51)
    exact = float(singlet_population(ds.solve_master_equation(model, proto).rho_post)[-1])
    ends: dict[str, int] = {}
    covered = covered_normal = stopped = 0
    ntrajs, n_posts, half_widths = [], [], []
    start = time.perf_counter()
    for seed in range(args.seeds):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", TargetNotReachedWarning)
            r = ds.simulate(
                model,
                proto,
                ntraj=args.ntraj,
                seed=seed,
                target_se=args.target_se,
                max_ntraj=args.max_ntraj,
                batch_size=args.batch_size,
                progress=False,
            )
        end = r.stats["end_condition"]
        ends[end] = ends.get(end, 0) + 1
        if end != "target_se":
            continue
        stopped += 1
        s = r.population("S")
        m, se, n = float(s.value_post.real[-1]), float(s.se_post[-1]), int(r.n_post[-1])
        low, high = ds.mean_interval(m, se, n)
        covered += low <= exact <= high
        covered_normal += abs(m - exact) <= Z95 * se
        ntrajs.append(r.ntraj)
        n_posts.append(n)
        half_widths.append(0.5 * (high - low))
    elapsed = time.perf_counter() - start

    print(f"exact post-selected singlet at t = {proto.times[-1]:g}: {exact:.8f}")
    print(
        f"{args.seeds} seeds, ntraj={args.ntraj}, target_se={args.target_se:g}, max_ntraj={args.max_ntraj}, "
        f"batch_size={args.batch_size or 'default'} "
        f"({elapsed:.1f} s); end conditions: {ends}"
    )
    if not stopped:
        print("no run stopped on target_se: nothing to measure")
        return
    lo, hi = ds.wilson_interval(covered, stopped)
    print(
        f"runs stopped on target_se: {stopped}; trajectories median {int(np.median(ntrajs))}, "
        f"post-selected median {int(np.median(n_posts))}; mean_interval half-width median "
        f"{np.median(half_widths):.2e}"
    )
    print(
        f"coverage of the 95% mean_interval (the printed one): {covered}/{stopped} = {covered / stopped:.3f} "
        f"(Wilson 95%: [{lo:.3f}, {hi:.3f}])"
    )
    lo, hi = ds.wilson_interval(covered_normal, stopped)
    shown = covered_normal / stopped if stopped else math.nan
    print(
        f"coverage of the plain normal interval m -+ 1.96 se: {covered_normal}/{stopped} = {shown:.3f} "
        f"(Wilson 95%: [{lo:.3f}, {hi:.3f}])"
    )


if __name__ == "__main__":
    main()
