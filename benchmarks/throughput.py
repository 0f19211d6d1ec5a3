"""Throughput of darkspin's ``ensemble.simulate`` against QuTiP 5's ``mcsolve``, and process start-up time.

Workload: the Fig. 3 right protocol (``Protocol.paper()``: from |ud>, tau_z x tau_z measured at
t = 100, 200, 300, 400 -- our choice of times, see the README -- 501 output times on [0, 500]) under
``SpinPair()``, on ``--threads`` Numba threads. darkspin returns the averaged density matrix (4 x 4) at
all 501 times, its standard errors, the post-selected averages and the success statistics.

QuTiP runs the same evolution WITHOUT the measurements (mcsolve has no projective measurements):
H = model.hamiltonian(), c_ops = model.jump_operators(), psi0 = |ud>, tlist = the 501 times, with
``options={'map': 'parallel', 'num_cpus': threads, ...}``, in two output modes:
  states  store_states=True, keep_runs_results=False: the trajectory-averaged density matrix at every
          output time -- the same output as darkspin (the main comparison);
  expect  e_ops=[singlet projector]: one number per time, QuTiP's cheapest mode.
QuTiP runs at its default tolerances (adaptive ODE, jump times to norm_tol = 1e-4), looser than
darkspin's exact propagator and jump times to 1e-13, so the comparison, if anything, favours QuTiP.

Issue 13's side-by-side at ``--big-ntraj``: ``simulate(..., distributions=True)`` and
``run_trajectories(..., keep=("records", "n_jumps", "first_jump"))`` against plain ``simulate``, each
repetition back to back, reported as medians of the paired ratios.

The headline ratio is amortised on both sides: darkspin at ``--big-ntraj`` (2*10^5 runs) against
QuTiP at ``--ntraj`` (default 5,000 runs) with QuTiP's start-up taken out. ``mcsolve`` with
``map='parallel'`` starts its worker pool and sets up its integrator in every call, so each repetition
also times a ``QUTIP_PROBE``-run call, and QuTiP's amortised rate is (ntraj - probe) / (t(ntraj) -
t(probe)); the raw rate, start-up included, is printed beside it. (A baseline of 1,000 runs with
start-up included understated QuTiP and hid a 2x slowdown of darkspin between releases: see
``versions.py`` for the comparison of darkspin with its own releases.)

Protocol of the timing (the machine is shared, so timings are noisy): a warm-up call of each solver
first (Numba load/compile, QuTiP's first-call set-up), then ``--repeat`` alternating repetitions
(darkspin, QuTiP states, QuTiP expect, darkspin at ``--big-ntraj``); medians are reported, and ratios
are ratios of medians. A darkspin run at small ntraj takes milliseconds, so it is called back to back
until at least 0.3 s have passed and its throughput is the mean over those calls (the fixed per-call
cost stays in). The start-up time is that of a fresh ``python -c`` process, from its launch to the end
of a 10-trajectory ``simulate`` (Numba's on-disk cache should make it well under 2 s).

Run from the repository root, in an environment with ``pip install -e ".[test,distributed]"``::

    python benchmarks/throughput.py            # QuTiP at 5,000 runs: up to ~10 min per repetition
    python benchmarks/throughput.py --quick    # QuTiP at 200 runs, 1 repetition: about a minute
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

#: Seconds a small-ntraj darkspin measurement is repeated for, at least (one call takes milliseconds).
MIN_DARKSPIN_SECONDS = 0.3
#: Trajectories of the start-up measurement.
STARTUP_NTRAJ = 10
#: Same seed for every call: every repetition does identical work, so the spread is timing noise only.
SEED = 1
#: Runs of the QuTiP call whose time (worker pool start-up and set-up) is taken out of the amortised rate.
QUTIP_PROBE = 20
QUICK = {"ntraj": 200, "repeat": 1, "big_ntraj": 20_000}
DEFAULTS = {"ntraj": 5_000, "repeat": 3, "big_ntraj": 200_000}

_CHILD = """
import sys, time
t_start = time.perf_counter()
import numba
numba.set_num_threads(int(sys.argv[2]))
from darkspin.trajectories import SpinPair, Protocol
from darkspin.ensemble import simulate
t_import = time.perf_counter()
simulate(SpinPair(), Protocol.paper(), int(sys.argv[3]), seed=1, progress=False)
t_end = time.perf_counter()
print('{"launch": %r, "start": %r, "import": %r, "end": %r}' % (float(sys.argv[1]), t_start, t_import, t_end))
"""


def parse_args(argv=None) -> argparse.Namespace:
    """Command-line options; ValueError for counts below their minimum."""
    ap = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument(
        "--ntraj",
        type=int,
        default=None,
        help=f"trajectories of QuTiP's timed call and of the same-ntraj comparison (default {DEFAULTS['ntraj']}, "
        f"at least {QUTIP_PROBE + 1}; QuTiP runs ~10-100 trajectories/s on 2 busy cores)",
    )
    ap.add_argument(
        "--repeat",
        type=int,
        default=None,
        help=f"alternating repetitions of every timing (default {DEFAULTS['repeat']})",
    )
    ap.add_argument(
        "--big-ntraj",
        type=int,
        default=None,
        help=f"trajectories of darkspin's amortised run (default {DEFAULTS['big_ntraj']})",
    )
    ap.add_argument("--threads", type=int, default=2, help="Numba threads for darkspin and QuTiP num_cpus (default 2)")
    ap.add_argument(
        "--quick",
        action="store_true",
        help=f"small run: ntraj {QUICK['ntraj']}, repeat {QUICK['repeat']}, "
        f"big-ntraj {QUICK['big_ntraj']} (explicit flags still win)",
    )
    ap.add_argument(
        "--qutip-output",
        choices=("both", "states", "expect"),
        default="states",
        help="QuTiP output modes to time (default states, the same output as darkspin; both doubles QuTiP's time)",
    )
    ap.add_argument(
        "--qutip-map",
        choices=("parallel", "serial", "loky"),
        default="parallel",
        help="QuTiP's map option (default parallel, num_cpus = --threads)",
    )
    ap.add_argument("--no-qutip", action="store_true", help="time darkspin only")
    args = ap.parse_args(argv)
    base = QUICK if args.quick else DEFAULTS
    for key, value in base.items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    for name, minimum in (("ntraj", QUTIP_PROBE + 1), ("repeat", 1), ("big_ntraj", 1), ("threads", 1)):
        value = getattr(args, name)
        if value < minimum:
            raise ValueError(f"--{name.replace('_', '-')} must be an integer >= {minimum}, got {value}")
    return args


def set_threads(threads: int) -> None:
    """Make ``threads`` Numba threads available (before numba is imported) and use them."""
    have = os.environ.get("NUMBA_NUM_THREADS")
    if have is None:
        os.environ["NUMBA_NUM_THREADS"] = str(max(threads, os.cpu_count() or 1))
    elif int(have) < threads:
        raise ValueError(f"--threads must be <= NUMBA_NUM_THREADS = {have}, got {threads}")
    import numba

    numba.set_num_threads(threads)


def median(xs):
    return statistics.median(xs)


def fmt_spread(xs, unit="traj/s") -> str:
    """'median unit (min .. max, n=k)'."""
    return f"{median(xs):,.0f} {unit} (min {min(xs):,.0f}, max {max(xs):,.0f}, n={len(xs)})"


class DarkspinTimer:
    """Times ``ensemble.simulate(model, protocol, ntraj, seed, progress=False)``.

    instruments=True: the same schedule with a readout error (eps+ 0.02, eps- 0.1), feedback (flip spin 1
    on record +1) and the rule 'last', so every round draws a record and may apply a unitary.
    """

    def __init__(self, instruments: bool = False, what: str = "simulate"):
        from darkspin.ensemble import simulate
        from darkspin.trajectories import Measurement, Protocol, SpinPair, run_trajectories

        self.what = what
        self.simulate = simulate
        self.run_trajectories = run_trajectories
        self.model = SpinPair()
        paper = Protocol.paper()
        if instruments:
            paper = Protocol(
                paper.initial,
                paper.measure_at,
                paper.times,
                measurement=Measurement("zz", (0.02, 0.1), {1: "flip1"}),
                postselect="last",
            )
        self.protocol = paper

    def run(self, ntraj: int):
        if self.what == "runs":  # per-run arrays, the keep set issue 13 names
            keep = ("records", "n_jumps", "first_jump")
            return self.run_trajectories(self.model, self.protocol, ntraj, SEED, keep=keep)
        dist = self.what == "distributions"
        return self.simulate(self.model, self.protocol, ntraj, SEED, progress=False, distributions=dist)

    def throughput(self, ntraj: int, min_seconds: float = 0.0) -> float:
        """Trajectories per second: calls back to back until ``min_seconds`` have passed (>= 1 call)."""
        calls = 0
        t0 = time.perf_counter()
        while True:
            self.run(ntraj)
            calls += 1
            elapsed = time.perf_counter() - t0
            if elapsed >= min_seconds:
                return calls * ntraj / elapsed


class QutipTimer:
    """Times ``qutip.mcsolve`` on the paper's evolution without measurements."""

    def __init__(self, model, protocol, threads: int, map_kind: str):
        import numpy as np
        import qutip

        from darkspin.trajectories.operators import basis_state, projector

        self.qutip = qutip
        self.version = qutip.__version__
        dims = [[2, 2], [2, 2]]
        self.H = qutip.Qobj(model.hamiltonian(), dims=dims)
        self.c_ops = [qutip.Qobj(np.asarray(L), dims=dims) for L in model.jump_operators()]
        self.psi0 = qutip.Qobj(basis_state("ud").reshape(4, 1), dims=[[2, 2], [1, 1]])
        self.singlet = qutip.Qobj(projector("S"), dims=dims)
        self.tlist = np.asarray(protocol.times)
        self.options = {"map": map_kind, "progress_bar": False, "keep_runs_results": False, "store_final_state": False}
        if map_kind != "serial":
            self.options["num_cpus"] = threads

    def run(self, ntraj: int, mode: str):
        """One mcsolve call; mode 'states' (averaged density matrices) or 'expect' (singlet e_ops)."""
        opts = dict(self.options, store_states=(mode == "states"))
        e_ops = [self.singlet] if mode == "expect" else None
        return self.qutip.mcsolve(
            self.H, self.psi0, self.tlist, self.c_ops, e_ops=e_ops, ntraj=ntraj, options=opts, seeds=SEED
        )

    def throughput(self, ntraj: int, mode: str) -> tuple[float, float, float]:
        """(raw trajectories/s of one call, start-up included; amortised trajectories/s; singlet population
        at the final time).

        The amortised rate takes out the time of a ``QUTIP_PROBE``-run call made just before (its worker
        pool start-up and set-up): (ntraj - probe) / (t(ntraj) - t(probe)).
        """
        t0 = time.perf_counter()
        self.run(QUTIP_PROBE, mode)
        t_probe = time.perf_counter() - t0
        t0 = time.perf_counter()
        res = self.run(ntraj, mode)
        elapsed = time.perf_counter() - t0
        if mode == "expect":
            p_s = float(res.expect[0][-1])
        else:
            p_s = float((res.states[-1] * self.singlet).tr().real)
        amortised = (ntraj - QUTIP_PROBE) / max(elapsed - t_probe, 1e-9)
        return ntraj / elapsed, amortised, p_s


def startup_time(threads: int, ntraj: int = STARTUP_NTRAJ) -> dict:
    """Launch a fresh interpreter that imports darkspin and simulates ``ntraj`` trajectories.

    Returns seconds: 'total' (launch to end of simulate; from the child's first line if perf_counter is
    not a system-wide clock), 'interpreter' (launch to first line), 'import', 'simulate', and
    'wall' (launch to exit, seen by this process).
    """
    system_clock = "CLOCK_MONOTONIC" in time.get_clock_info("perf_counter").implementation
    env = dict(os.environ)
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env["PYTHONPATH"] = root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    t_launch = time.perf_counter()
    out = subprocess.run(
        [sys.executable, "-c", _CHILD, repr(t_launch), str(threads), str(ntraj)],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    wall = time.perf_counter() - t_launch
    if out.returncode != 0:
        raise RuntimeError(f"start-up child failed:\n{out.stderr}")
    t = json.loads(out.stdout.strip().splitlines()[-1])
    origin = t["launch"] if system_clock else t["start"]
    return {
        "total": t["end"] - origin,
        "interpreter": t["start"] - t["launch"] if system_clock else float("nan"),
        "import": t["import"] - t["start"],
        "simulate": t["end"] - t["import"],
        "wall": wall,
    }


def main(argv=None) -> dict:
    """Run the benchmark, print per-repetition lines and a summary; return the medians as a dict."""
    args = parse_args(argv)
    set_threads(args.threads)
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    if root not in sys.path:  # run as a script from a checkout without installing
        sys.path.insert(0, root)
    import numba

    print(
        f"darkspin throughput benchmark: paper protocol, SpinPair() (Fig. 3 right), "
        f"{numba.get_num_threads()} Numba threads, ntraj {args.ntraj}, big ntraj {args.big_ntraj}, "
        f"{args.repeat} repetition(s); load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores",
        flush=True,
    )

    t0 = time.perf_counter()
    ds = DarkspinTimer()
    ds.run(STARTUP_NTRAJ)
    warm = time.perf_counter() - t0
    ds_inst = DarkspinTimer(instruments=True)
    ds_inst.run(STARTUP_NTRAJ)
    ds_dist = DarkspinTimer(what="distributions")
    ds_dist.run(STARTUP_NTRAJ)
    ds_runs = DarkspinTimer(what="runs")
    ds_runs.run(STARTUP_NTRAJ)
    print(
        f"darkspin warm-up (import + Numba cache load or compile + {STARTUP_NTRAJ} traj): {warm:.2f} s; "
        f"threading layer {numba.threading_layer()}, OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY', 'unset')}",
        flush=True,
    )

    modes = [] if args.no_qutip else (["states", "expect"] if args.qutip_output == "both" else [args.qutip_output])
    qt = None
    if modes:
        try:
            qt = QutipTimer(ds.model, ds.protocol, args.threads, args.qutip_map)
        except ImportError:
            print("QuTiP not installed (pip install 'qutip>=5'): timing darkspin only", flush=True)
            modes = []
    if qt is not None:
        t0 = time.perf_counter()
        for mode in modes:
            qt.run(min(4, args.ntraj), mode)
        print(
            f"QuTiP {qt.version} warm-up ({', '.join(modes)}; map={args.qutip_map}): {time.perf_counter() - t0:.2f} s",
            flush=True,
        )

    small, big, starts, inst, dist, runs = [], [], [], [], [], []
    qrate = {m: [] for m in modes}
    qamort = {m: [] for m in modes}
    qpop = {m: [] for m in modes}
    for rep in range(args.repeat):
        line = [f"rep {rep + 1}/{args.repeat}:"]
        small.append(ds.throughput(args.ntraj, MIN_DARKSPIN_SECONDS))
        line.append(f"darkspin@{args.ntraj} {small[-1]:,.0f}")
        inst.append(ds_inst.throughput(args.ntraj, MIN_DARKSPIN_SECONDS))
        line.append(f"darkspin-instruments@{args.ntraj} {inst[-1]:,.0f}")
        for mode in modes:
            rate, amortised, p_s = qt.throughput(args.ntraj, mode)
            qrate[mode].append(rate)
            qamort[mode].append(amortised)
            qpop[mode].append(p_s)
            line.append(f"qutip-{mode}@{args.ntraj} {rate:,.2f} (amortised {amortised:,.2f})")
        big.append(ds.throughput(args.big_ntraj))
        line.append(f"darkspin@{args.big_ntraj} {big[-1]:,.0f}")
        dist.append(ds_dist.throughput(args.big_ntraj))
        line.append(f"with distributions {dist[-1]:,.0f}")
        runs.append(ds_runs.throughput(args.big_ntraj))
        line.append(f"run_trajectories {runs[-1]:,.0f}  [traj/s]")
        print("  ".join(line), flush=True)
        s = startup_time(args.threads)
        starts.append(s)
        print(
            f"         start-up {s['total']:.2f} s to end of simulate({STARTUP_NTRAJ}) (interpreter "
            f"{s['interpreter']:.2f}, imports {s['import']:.2f}, simulate {s['simulate']:.2f}; "
            f"process exit at {s['wall']:.2f} s)",
            flush=True,
        )

    summary = {
        "threads": args.threads,
        "ntraj": args.ntraj,
        "big_ntraj": args.big_ntraj,
        "darkspin_small": median(small),
        "darkspin_big": median(big),
        "darkspin_instruments": median(inst),
        "darkspin_distributions": median(dist),
        "run_trajectories": median(runs),
        "ratio_distributions": median([a / b for a, b in zip(dist, big, strict=True)]),
        "ratio_run_trajectories": median([a / b for a, b in zip(runs, big, strict=True)]),
        "startup_total": median([s["total"] for s in starts]),
        "warmup": warm,
    }
    for mode in modes:
        summary[f"qutip_{mode}"] = median(qrate[mode])
        summary[f"qutip_{mode}_amortised"] = median(qamort[mode])
        summary[f"ratio_{mode}_amortised"] = median(big) / median(qamort[mode])
        summary[f"ratio_{mode}"] = median(small) / median(qrate[mode])
        summary[f"ratio_{mode}_big"] = median(big) / median(qrate[mode])
        summary[f"ratio_{mode}_instruments"] = median(inst) / median(qrate[mode])

    bar = "=" * 78
    print(bar)
    print(f"SUMMARY (medians of {args.repeat}; {args.threads} threads; QuTiP map={args.qutip_map}, no measurements)")
    print(f"  darkspin, ntraj={args.ntraj:<9} {fmt_spread(small)}")
    print(f"  darkspin, ntraj={args.big_ntraj:<9} {fmt_spread(big)}")
    print(f"  darkspin with readout error, feedback and rule 'last', ntraj={args.ntraj}: {fmt_spread(inst)}")
    print(f"  darkspin with distributions=True, ntraj={args.big_ntraj}: {fmt_spread(dist)}")
    print(f"  run_trajectories keep=(records, n_jumps, first_jump), ntraj={args.big_ntraj}: {fmt_spread(runs)}")
    print(
        f"  RATIO with / without distributions (median of paired repetitions): {summary['ratio_distributions']:.0%}"
        f" (issue 13 asks >= 70 %); run_trajectories / simulate: {summary['ratio_run_trajectories']:.0%} (>= 50 %)"
    )
    for mode in modes:
        what = "averaged density matrices" if mode == "states" else "singlet e_ops"
        print(
            f"  QuTiP {qt.version} mcsolve, ntraj={args.ntraj}, {what}: "
            f"{median(qrate[mode]):,.2f} traj/s start-up included (min {min(qrate[mode]):,.2f}, "
            f"max {max(qrate[mode]):,.2f}), amortised {median(qamort[mode]):,.2f} traj/s; "
            f"singlet(t=500) = {median(qpop[mode]):.3f} (exact without measurements 0.5)"
        )
    for mode in modes:
        what = "states" if mode == "states" else "e_ops"
        print(
            f"  RATIO amortised, darkspin@{args.big_ntraj} / QuTiP {what}@{args.ntraj} without its start-up: "
            f"{summary[f'ratio_{mode}_amortised']:,.0f}x" + ("   <- the headline ratio" if mode == "states" else "")
        )
        print(f"  RATIO same ntraj ({args.ntraj}), darkspin / QuTiP {what}: {summary[f'ratio_{mode}']:,.0f}x")
        print(
            f"  RATIO same ntraj, darkspin with instruments / QuTiP {what}: "
            f"{summary[f'ratio_{mode}_instruments']:,.0f}x"
        )
        print(
            f"  RATIO darkspin@{args.big_ntraj} / QuTiP {what}@{args.ntraj} start-up included: "
            f"{summary[f'ratio_{mode}_big']:,.0f}x"
        )
    st = summary["startup_total"]
    print(
        f"  start-up of a fresh process to end of simulate({STARTUP_NTRAJ}): {st:.2f} s "
        f"({'meets' if st < 2.0 else 'MISSES'} the < 2 s target)"
    )
    print(f"  load average now {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores (timings on a shared machine)")
    print(bar)
    return summary


if __name__ == "__main__":
    main()
