"""Calibration of ensemble.statistics.comparison and of the singlet interval: false-alarm rates over many independent
correct runs, and power against small model errors.

1. False alarms. For each case, ``--replicas`` independent correct runs (trajectory index ranges
   [r n, (r + 1) n) of one seed, which are independent samples) are compared with the exact solution;
   reported: the fraction called inconsistent at the family-wise threshold (default 3 sigma, the
   default of compare; target <= 1 %) with its 95 % Clopper-Pearson upper bound, the largest
   family-wise sigma, quantiles of the largest single-test z, and the coverage of the post-selected
   singlet interval (ensemble.statistics.intervals.mean_interval, 95 %) at each round's end, with its
   smallest width (target: > 0).
   Cases (ntraj per run):
     rare     SpinPair(lam2 = 0.8 * 0.0126), rounds at 100..400, 201 outputs, 2e4: elements so rare
              that no trajectory samples them (the old 1/N floor flagged ~1 run in 6 to 13)
     default  the default `darkspin run`: SpinPair(), Protocol.paper(501 outputs), 1e5
     small    SpinPair(lam1 = lam2 = 0.2), rounds at 2, 4, 6, 17 outputs, 2e3
     eight    SpinPair(), 8 rounds every 50, 91 outputs, 2e4: post-selected singlet 0.99997 at the end
     feedback SpinPair(lam2 = 0.009, T = 0.3), readout error 0.05, flip spin 1 on record +1, rule 'last',
              51 outputs, 2e4
   Every run carries distributions (issue 13), so compare also tests the mean jumps per channel and the
   first-jump survival, and (issue 22) the count distribution of every channel set at every output time
   (G-tests against darkspin.count_distribution); the jump tests' and the count tests' own family-wise
   rates are reported too.
2. Power (``--power``): at ``--power-ntraj`` trajectories (default 1e5) per case, runs of a wrong model
   are compared with the exact solution of the right one: lam2 * 1.05, each jump channel's rate * 1.05,
   each channel dropped. Required to be flagged: lam2 * 1.05, lowering[0] * 1.05, raising[0] dropped
   (at the symmetric point the dephasing channel is invisible from |ud>: every run stays in one S_z
   sector, where the collective tau_z1 + tau_z2 only multiplies the state by a constant).

Measured (seed 20250101, 200 runs per case, threshold 3 sigma, 2 shared cores; with distributions, so
the jump tests are in the family):
  case      ntraj   tests/run  inconsistent  largest family-wise sigma  jump tests alone (alarms, largest)
  rare      2e4     2001       0 of 200      1.29                       0 of 200, 2.75
  default   1e5     5001       0 of 200      1.96                       0 of 200, 2.79
  small     2e3     162        0 of 200      2.38                       1 of 200, 3.53
  eight     2e4     897        0 of 200      0.72                       1 of 200, 3.00
  feedback  2e4     581        0 of 200      1.54                       1 of 200, 3.16
  singlet interval coverage per round: rare 0.945 0.940 0.945 0.980; default 0.960 0.970 0.960 0.990;
  small 0.945 0.945 0.985; eight 0.955 ... 1 (as before the distributions: the sums are unchanged).
  (with the old 1/N-floor statistic at 5 sigma: 23 of 300 rare runs flagged.)
  With the count-distribution G-tests added (issue 22; seed 20250101, 200 runs, load ~12 on 2 cores):
  rare 3601 tests/run (1600 count tests), 0 of 200 inconsistent (largest 2.45 sigma), count tests alone
  0 of 200 (largest 2.73); small 288 tests/run (126 count tests), 2 of 200 = 1.0 % inconsistent
  (largest 3.25 sigma), both through the count tests (p ~ 5e-6, a cell 4 standard errors off); the
  400,000 runs of those 200 replicas pooled lie within 2.65 standard errors of the exact distribution
  in every cell, so no bias.
  small again with --seed 7 and 400 runs: 0 of 400 inconsistent (largest 2.70 sigma; count tests alone
  0 of 400, largest 2.97). Over the 600 small runs: 2 alarms = 0.33 % (95 % upper bound ~1.0 %).
  Power at 1e5 (family-wise sigma; rare / default / small): lam2 * 1.05: 14.0 / 15.7 / 8.4; lowering
  rate * 1.05: 20.9 / 21.9 / 22.5; raising rate * 1.05: 9.4 / 9.3 / 5.7 (the mean-jumps test; 4.9 / 5.9 /
  5.7 without it); lowering or raising dropped: > 37 everywhere; dephasing rate * 1.05: 15.0 / 14.5 / 9.1
  and dephasing dropped: > 37 everywhere, both through the mean number of dephasing jumps (before the
  jump tests the rate error was not flagged at all and the dropped channel only off the symmetric point).

Usage: python benchmarks/calibration.py [--cases rare,default,small,eight] [--replicas 200]
       [--threshold 3] [--seed S] [--power] [--power-ntraj 100000]
Exit status 1 if a false-alarm rate exceeds 1 %, an interval has zero width, or a required power case
is not flagged.
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np
import scipy.stats

from darkspin.ensemble import MonteCarloResult, compare, run_batch, solve_master_equation
from darkspin.ensemble.statistics.significance import sigma_from_p
from darkspin.trajectories import Measurement, Protocol, SpinPair
from darkspin.trajectories.distributions import distribution_spec

CASES = {
    "rare": (
        SpinPair(lam2=0.8 * 0.0126),
        Protocol("ud", (100.0, 200.0, 300.0, 400.0), np.linspace(0, 500, 201)),
        20_000,
    ),
    "default": (SpinPair(), Protocol.paper(n_out=501), 100_000),
    "small": (SpinPair(lam1=0.2, lam2=0.2), Protocol("ud", (2.0, 4.0, 6.0), np.linspace(0.0, 8.0, 17)), 2_000),
    "eight": (SpinPair(), Protocol("ud", tuple(50.0 * k for k in range(1, 9)), np.linspace(0, 450, 91)), 20_000),
    "feedback": (
        SpinPair(lam2=0.009, T=0.3),
        Protocol(
            "ud",
            (100.0, 200.0, 300.0, 400.0),
            np.linspace(0, 500, 51),
            measurement=Measurement("zz", readout_error=0.05, feedback={+1: "flip1"}),
            postselect="last",
        ),
        20_000,
    ),
}
TARGET_RATE = 0.01
REQUIRED = ("lam2 * 1.05", "lowering[0] rate * 1.05", "raising[0] dropped")


def channel_scaled(model: SpinPair, channel: str, factor: float) -> SpinPair:
    """``model`` with the rate of one jump channel multiplied by ``factor`` (0 drops it); the exact
    solution of ``model`` is then the wrong reference for it."""

    class Scaled(SpinPair):
        def jump_operators(self):
            jumps = super().jump_operators().copy()
            jumps[super().jump_labels().index(channel)] *= np.sqrt(factor)
            return jumps

    return Scaled(**model.as_dict())


def false_alarms(name: str, replicas: int, seed: int, threshold: float, ntraj: int | None) -> bool:
    model, protocol, n = CASES[name]
    n = ntraj or n
    exact = solve_master_equation(model, protocol)
    s_exact = exact.postselection()["singlet_post"]
    t0 = time.perf_counter()
    sigma, max_z, covered, widths, jump_sigma = [], [], [], [], []
    n_tests = 0
    spec = distribution_spec(protocol, 4, channels=len(model.jump_labels()))
    count_sigma = []
    for r in range(replicas):
        sums = run_batch(model, protocol, seed, r * n, (r + 1) * n, spec=spec)
        mc = MonteCarloResult(model, protocol, sums, seed)
        c = compare(mc, exact, threshold=threshold)
        sigma.append(c.sigma)
        max_z.append(c.max_z)
        # the jump tests alone (mean jumps per channel, first-jump survival), Bonferroni over their K + 1
        jp = np.concatenate([c.jumps.mean_jumps_p, [c.jumps.survival_p]])
        jump_sigma.append(sigma_from_p(min(1.0, jp.size * float(np.nanmin(jp)))))
        # the count-distribution G-tests alone, Bonferroni over their number
        cp = c.counts.p_value if c.counts is not None else np.full(1, np.nan)
        n_count = int(np.count_nonzero(np.isfinite(cp)))
        count_sigma.append(sigma_from_p(min(1.0, n_count * float(np.nanmin(cp)))) if n_count else 0.0)
        n_tests = c.n_tests
        table = mc.postselection()
        lo, hi = table["singlet_post_low"], table["singlet_post_high"]
        covered.append((lo <= s_exact) & (s_exact <= hi))
        widths.append(hi - lo)
    dt = time.perf_counter() - t0
    sigma, max_z, covered, widths = map(np.array, (sigma, max_z, covered, widths))
    alarms = int(np.sum(sigma > threshold))
    upper = scipy.stats.beta.ppf(0.95, alarms + 1, replicas - alarms)  # one-sided 95 % Clopper-Pearson
    print(
        f"[{name}] {replicas} independent runs of {n} trajectories, {protocol.times.size} outputs, "
        f"{protocol.rounds} rounds; {dt:.0f} s ({replicas * n / dt:.0f} trajectories/s)"
    )
    print(f"  tests counted per run: {n_tests}")
    print(
        f"  inconsistent at {threshold:g} sigma (family-wise): {alarms} of {replicas} = {alarms / replicas:.2%} "
        f"(95 % upper bound {upper:.2%}); largest family-wise sigma {np.nanmax(sigma):.2f}"
    )
    jump_alarms = int(np.sum(np.array(jump_sigma) > threshold))
    print(
        f"  jump tests alone (mean jumps per channel, first-jump survival) inconsistent at {threshold:g} sigma: "
        f"{jump_alarms} of {replicas}; largest {np.nanmax(jump_sigma):.2f} sigma"
    )
    count_alarms = int(np.sum(np.array(count_sigma) > threshold))
    print(
        f"  count-distribution G-tests alone ({n_count} per run) inconsistent at {threshold:g} sigma: "
        f"{count_alarms} of {replicas}; largest {np.nanmax(count_sigma):.2f} sigma"
    )
    q = np.quantile(max_z, [0.5, 0.9, 0.99, 1.0])
    print(f"  largest single-test z per run: median {q[0]:.2f}, 90 % {q[1]:.2f}, 99 % {q[2]:.2f}, max {q[3]:.2f}")
    print(
        "  singlet_post 95 % interval coverage per round: "
        + ", ".join(f"{v:.3f}" for v in covered.mean(axis=0))
        + f"; exact {np.round(s_exact, 5).tolist()}"
    )
    print(f"  smallest interval width: {np.nanmin(widths):.3g}")
    ok = alarms / replicas <= TARGET_RATE and count_alarms / replicas <= TARGET_RATE and np.nanmin(widths) > 0
    print(f"  target rate <= {TARGET_RATE:.0%} and width > 0: {'PASS' if ok else 'FAIL'}")
    return ok


def power(name: str, ntraj: int, seed: int, threshold: float) -> bool:
    model, protocol, _ = CASES[name]
    exact = solve_master_equation(model, protocol)
    variants = {"correct": model, "lam2 * 1.05": model.replace(lam2=1.05 * model.lam2)}
    for ch in model.jump_labels():
        variants[f"{ch} rate * 1.05"] = channel_scaled(model, ch, 1.05)
        variants[f"{ch} dropped"] = channel_scaled(model, ch, 0.0)
    print(f"[{name}] power at {ntraj} trajectories (seed {seed}), threshold {threshold:g} sigma")
    ok = True
    spec = distribution_spec(protocol, 4, channels=len(model.jump_labels()))
    for label, m in variants.items():
        mc = MonteCarloResult(model, protocol, run_batch(m, protocol, seed, 0, ntraj, spec=spec), seed)
        c = compare(mc, exact, threshold=threshold)
        w = c.worst
        where = (
            f"{w['kind']}[{w['element']}] t = {w['time']:g}"
            if w.get("kind") in ("rho", "rho_post")
            else f"round {w.get('round')}"
            if w.get("kind") == "p_success"
            else f"mean jumps in {w.get('channel')}"
            if w.get("kind") == "mean_jumps"
            else w.get("kind", "")
        )
        print(f"  {label:26s} {c.verdict:30s} (largest single z {c.max_z:.1f}; {where})")
        if label == "correct":
            ok &= c.consistent
        elif label in REQUIRED:
            ok &= not c.consistent
    print(f"  correct run consistent, required errors flagged: {'PASS' if ok else 'FAIL'}")
    return ok


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--cases", default="rare,default,small,eight,feedback", help="comma-separated subset of " + ",".join(CASES)
    )
    ap.add_argument("--replicas", type=int, default=200, help="independent runs per case (default 200)")
    ap.add_argument("--ntraj", type=int, default=None, help="trajectories per run (default: per case)")
    ap.add_argument("--threshold", type=float, default=3.0, help="family-wise threshold in sigma (default 3)")
    ap.add_argument("--seed", type=int, default=20250101, help="seed of all runs")
    ap.add_argument("--power", action="store_true", help="also run the power checks")
    ap.add_argument("--power-only", action="store_true", help="only the power checks")
    ap.add_argument("--power-ntraj", type=int, default=100_000, help="trajectories per power run (default 1e5)")
    args = ap.parse_args(argv)
    names = [c for c in args.cases.split(",") if c]
    unknown = [c for c in names if c not in CASES]
    if unknown or args.replicas < 1 or (args.ntraj is not None and args.ntraj < 1) or args.power_ntraj < 1:
        ap.error(f"--cases must be among {list(CASES)}, --replicas, --ntraj and --power-ntraj >= 1")
    ok = True
    if not args.power_only:
        for name in names:
            ok &= false_alarms(name, args.replicas, args.seed, args.threshold, args.ntraj)
    if args.power or args.power_only:
        for name in names:
            if name not in ("eight", "feedback"):
                ok &= power(name, args.power_ntraj, args.seed, args.threshold)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
