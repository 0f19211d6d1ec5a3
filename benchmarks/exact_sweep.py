"""Exact sweep throughput: the batched solver (solve_many) against point by point and a QuTiP mesolve loop.

Workload: the paper's protocol (|ud>, tau_z x tau_z measured at t = 100, 200, 300, 400, rule 'all', 11
outputs on [0, 500]) on a grid of N SpinPair points around the paper's (lam2 in [0.005, 0.03] times T in
[0, 0.5]; default N = 10 000). Every point counts end to end: building the SpinPair (``replace``), its
Liouvillian, and the whole exact protocol (rho, rho_post, p_success, p_cumulative, record probabilities).

  (a) ``solve_many(models, protocol)`` on all N points; (a') the same grid as ``ds.sweep(model, protocol,
      {"lam2": ..., "T": ...})``, end to end: building the points, the exact solutions and the table
      (fidelity_post, yield, p_success_k, concurrence_post);
  (b) ``solve_master_equation`` in a loop, on the first ``--point-n`` points (per-point cost extrapolated);
  (c) QuTiP 5 ``mesolve`` in a loop on the first ``--qutip-n`` points, with the same measurements: the
      branch states (one per post-selection state: still selected, rejected) are propagated with mesolve
      between measurement times (QuTiP's default tolerances, the outputs as ``tlist``) and the record maps
      are applied by hand at each round; this yields rho and rho_post at the outputs and p_success.

Each repetition runs (a), (b), (c) in turn; medians over ``--repeat`` repetitions are reported, and the
ratios are ratios of medians. Wall-clock times; the machine is shared, so the load average is printed.

Run from the repository root, in an environment with ``pip install -e ".[test]"``::

    python benchmarks/exact_sweep.py              # N = 10 000, 5 repetitions (about a minute)
    python benchmarks/exact_sweep.py --quick      # N = 2 000, 2 repetitions
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import numpy as np

import darkspin as ds
from darkspin.ensemble.exact.batch import _solve_many


def grid(n: int) -> list[tuple[float, float]]:
    side = int(round(np.sqrt(n)))
    lam2 = np.linspace(0.005, 0.03, side)
    T = np.linspace(0.0, 0.5, -(-n // side))
    return [(float(a), float(b)) for a in lam2 for b in T][:n]


def models(points) -> list[ds.SpinPair]:
    base = ds.SpinPair()
    return [base.replace(lam2=a, T=b) for a, b in points]


def run_batch(points, protocol) -> tuple[float, float]:
    t = time.perf_counter()
    _, batched = _solve_many(models(points), protocol)
    return len(points) / (time.perf_counter() - t), float(batched.mean())


def run_sweep(points, protocol) -> float:
    lam2 = sorted({a for a, _ in points})
    T = sorted({b for _, b in points})
    t = time.perf_counter()
    table = ds.sweep(ds.SpinPair(), protocol, {"lam2": lam2, "T": T}, progress=False)
    return len(table) / (time.perf_counter() - t)


def run_point(points, protocol) -> float:
    t = time.perf_counter()
    for m in models(points):
        ds.solve_master_equation(m, protocol)
    return len(points) / (time.perf_counter() - t)


def qutip_point(model, protocol, qutip) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The protocol (tau_z x tau_z, perfect readout, rule 'all', last round before the final output) with
    QuTiP: both branches (selected, rejected) propagated by mesolve from round to round with the outputs in
    ``tlist``, the record maps applied by hand. Returns rho (n, 4, 4), rho_post (n, 4, 4), p_success (R,)."""
    H, c_ops = model.to_qutip()
    P_plus, P_minus = (qutip.Qobj(x, dims=H.dims) for x in protocol.measurements[0].projectors())
    selected, rejected = qutip.Qobj(protocol.rho0, dims=H.dims), None
    rho, rho_post, p_success = [], [], []

    def output(sel, rej):
        s = sel.full()
        rho_post.append(s / np.trace(s).real)
        rho.append(s + (rej.full() if rej is not None else 0.0))

    if protocol.times[0] == 0.0:
        output(selected, rejected)
    t0 = 0.0
    for k, t1 in enumerate([*protocol.measure_at, protocol.times[-1]]):
        tlist = [t0, *protocol.times[(protocol.times > t0) & (protocol.times <= t1)]]
        if tlist[-1] != t1:
            tlist.append(t1)
        sel_states = qutip.mesolve(H, selected, tlist, c_ops).states
        rej_states = qutip.mesolve(H, rejected, tlist, c_ops).states if rejected is not None else None
        last = k == protocol.rounds
        for j, t in enumerate(tlist[1:], 1):
            if t in protocol.times and (t < t1 or last):  # an output at a round's time comes after it
                output(sel_states[j], rej_states[j] if rej_states else None)
        selected = sel_states[-1]
        rejected = rej_states[-1] if rej_states else None
        if not last:  # round k: record -1 keeps the selection, +1 rejects it for good
            kept = P_minus * selected * P_minus
            p_success.append(kept.tr().real / selected.tr().real)
            lost = P_plus * selected * P_plus
            rejected = lost if rejected is None else lost + P_plus * rejected * P_plus + P_minus * rejected * P_minus
            selected = kept
            if t1 in protocol.times:
                output(selected, rejected)
        t0 = t1
    return np.array(rho), np.array(rho_post), np.array(p_success)


def run_qutip(points, protocol, qutip) -> tuple[float, float]:
    """(points/s of the QuTiP loop, its largest deviation from the exact solver on the first 3 points)."""
    t = time.perf_counter()
    for m in models(points):
        qutip_point(m, protocol, qutip)
    rate = len(points) / (time.perf_counter() - t)
    worst = 0.0
    for m in models(points[:3]):  # outside the timing
        rho, rho_post, p_success = qutip_point(m, protocol, qutip)
        ex = ds.solve_master_equation(m, protocol)
        for a, b in ((rho, ex.rho), (rho_post, ex.rho_post), (p_success, ex.p_success)):
            worst = max(worst, float(np.max(np.abs(a - b))))
    return rate, worst


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=10_000, help="points for solve_many (default 10 000)")
    ap.add_argument("--point-n", type=int, default=300, help="points for the point-by-point loop")
    ap.add_argument("--qutip-n", type=int, default=200, help="points for the QuTiP mesolve loop")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--quick", action="store_true", help="N = 2000, 2 repetitions, 100 / 50 loop points")
    ap.add_argument("--no-qutip", action="store_true")
    args = ap.parse_args(argv)
    if args.quick:
        args.n, args.repeat, args.point_n, args.qutip_n = 2000, 2, 100, 50
    protocol = ds.Protocol("ud", [100.0, 200.0, 300.0, 400.0], np.linspace(0.0, 500.0, 11))
    points = grid(args.n)
    qutip = None
    if not args.no_qutip:
        import qutip

        print(f"qutip {qutip.__version__}")
    print(f"darkspin {ds.__version__}, numpy {np.__version__}, load average {os.getloadavg()}")
    # warm up (imports, caches, QuTiP's first-call set-up)
    _solve_many(models(points[:50]), protocol)
    run_point(points[:5], protocol)
    if qutip is not None:
        run_qutip(points[:2], protocol, qutip)
    rates: dict[str, list[float]] = {"batch": [], "sweep": [], "point": [], "qutip": []}
    run_sweep(points[:50], protocol)
    for rep in range(args.repeat):
        rb, fraction = run_batch(points, protocol)
        rates["sweep"].append(run_sweep(points, protocol))
        rp = run_point(points[: args.point_n], protocol)
        rates["batch"].append(rb)
        rates["point"].append(rp)
        line = (
            f"rep {rep + 1}: solve_many {rb:9.0f} points/s ({fraction:.1%} batched), ds.sweep "
            f"{rates['sweep'][-1]:9.0f}, point {rp:7.0f}"
        )
        if qutip is not None:
            rq, worst = run_qutip(points[: args.qutip_n], protocol, qutip)
            rates["qutip"].append(rq)
            line += f", qutip mesolve {rq:6.1f} points/s (max |qutip - exact| {worst:.1e})"
        print(line, flush=True)
    med = {k: statistics.median(v) for k, v in rates.items() if v}
    print(f"\nmedians of {args.repeat} repetitions (N = {args.n}, 11 outputs, 4 rounds), load {os.getloadavg()}:")
    print(f"  (a) solve_many            {med['batch']:10.0f} points/s")
    print(f"  (a') ds.sweep, end to end {med['sweep']:10.0f} points/s (issue 14 asks >= 10 000)")
    ratio = med["batch"] / med["point"]
    print(f"  (b) solve_master_equation {med['point']:10.0f} points/s   -> solve_many is {ratio:.1f}x")
    if "qutip" in med:
        ratio = med["batch"] / med["qutip"]
        print(f"  (c) qutip.mesolve loop    {med['qutip']:10.1f} points/s   -> solve_many is {ratio:.0f}x")
        ratio = med["sweep"] / med["qutip"]
        print(f"      ds.sweep / qutip.mesolve loop: {ratio:.0f}x (issue 14 asks >= 50x)")


if __name__ == "__main__":
    main()
