"""Throughput of darkspin on general models (issue "models as data") against QuTiP 5 ``mcsolve``, side by side.

Workloads (the same models as tests/ensemble/test_general_models.py):
  transverse  the STM pair at lam = 0.2 plus a transverse field (omega/2)(tau_x1 + tau_x2), omega = 0.15:
              H_eff is one dense 4 x 4 block (the general propagator); from |ud>, tau_z x tau_z measured
              at t = 3 and 6 (darkspin only), 19 outputs on [0, 9];
  chain       three spins (d = 8): Heisenberg chain in a graded field, collective decay and dephasing of
              the middle spin; Z x Z x 1 measured at t = 2 and 4 (darkspin only), 13 outputs on [0, 6];
  paper       the Fig. 3 right protocol on the closed-form block path (SpinPair(), Protocol.paper()),
              for the no-regression check;
  chain32     five spins (d = 32), the chain of exact_scaling.py (Heisenberg chain in a graded field,
              collective and local decay and dephasing, 4 channels; H_eff splits into S_z blocks on the
              eigen path); the parity of spins 1 and 2 measured in 4 rounds (darkspin only), 101 outputs
              on [0, 10];
  cavity      a driven damped cavity truncated at d = 32 (issue 20): H = E (a + a^dag), L = sqrt(kappa) a,
              E = kappa = 1, from |0>, 61 outputs on [0, 30], about 108 jumps per run; H_eff is one
              non-normal 32 x 32 block (the Schur path; jump times by the stepped search of
              trajectories/stepping.py).
Targets (darkspin / mcsolve): transverse >= 200x, chain >= 100x, paper >= 800x, chain32: no regression,
cavity >= 3x.
QuTiP gets the same H and collapse operators (``model.to_qutip()``), the same initial state and output
times, without the measurements (mcsolve has none), ``store_states=True`` (averaged density matrices,
darkspin's output), ``map='parallel'`` with ``--threads`` workers. darkspin runs on ``--threads``
Numba threads. Every repetition times both, alternating; medians are reported and ratios are ratios
of medians. QuTiP's rate is amortised: each repetition times a ``QUTIP_PROBE``-run call (worker pool
start-up and set-up) and a ``--qutip-ntraj``-run call (default 5,000), and the rate is
(ntraj - probe) / (t(ntraj) - t(probe)); the raw rate of the big call is printed beside it.

Run from the repository root, in an environment with ``pip install -e ".[test,distributed]"``::

    python benchmarks/models_throughput.py             # ntraj 1000, QuTiP 5,000, 3 repetitions (~15 min)
    python benchmarks/models_throughput.py --quick     # ntraj 200, QuTiP 500, 1 repetition
    python benchmarks/models_throughput.py --only cavity,chain32
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

import numpy as np

SEED = 1
MIN_SECONDS = 0.5
#: Runs of the QuTiP call whose time (worker pool start-up, set-up) is taken out of the amortised rate.
QUTIP_PROBE = 20


def models():
    """{name: (model, protocol)} built from Pauli matrices, as in tests/ensemble/test_general_models.py."""
    import darkspin as ds

    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from bench_models import SX, SZ, cavity, site, spin_chain, three_spin_chain

    base = ds.SpinPair(lam1=0.2, lam2=0.2)
    eye = np.eye(2)
    transverse = ds.LindbladModel(
        base.hamiltonian() + 0.075 * (np.kron(SX, eye) + np.kron(eye, SX)), base.jump_operators(), base.jump_labels()
    )
    three = three_spin_chain()
    rng = np.random.default_rng(1)
    psi = rng.normal(size=8) + 1j * rng.normal(size=8)
    psi /= np.linalg.norm(psi)
    return {
        "transverse": (transverse, ds.Protocol("ud", (3.0, 6.0), np.linspace(0, 9, 19))),
        "chain": (
            three,
            ds.Protocol(
                psi, (2.0, 4.0), np.linspace(0, 6, 13), measurement=ds.Measurement(site(3, SZ, 0) @ site(3, SZ, 1))
            ),
        ),
        "paper": (ds.SpinPair(), ds.Protocol.paper()),
        "chain32": spin_chain(5),
        "cavity": cavity(),
    }


def darkspin_rate(model, protocol, ntraj: int) -> float:
    import darkspin as ds

    calls, t0 = 0, time.perf_counter()
    while True:
        ds.simulate(model, protocol, ntraj, SEED, progress=False)
        calls += 1
        elapsed = time.perf_counter() - t0
        if elapsed >= MIN_SECONDS:
            return calls * ntraj / elapsed


def qutip_rate(model, protocol, ntraj: int, threads: int) -> tuple[float, float]:
    """(amortised traj/s without the start-up of a QUTIP_PROBE-run call, raw traj/s of the ntraj call)."""
    import qutip

    H, c_ops = model.to_qutip()
    w, v = np.linalg.eigh(protocol.rho0)
    psi0 = qutip.Qobj(v[:, -1].reshape(-1, 1), dims=[H.dims[0], [1] * len(H.dims[0])])
    opts = {
        "map": "parallel",
        "num_cpus": threads,
        "progress_bar": False,
        "store_states": True,
        "keep_runs_results": False,
        "store_final_state": False,
    }
    times = np.asarray(protocol.times)
    t0 = time.perf_counter()
    qutip.mcsolve(H, psi0, times, c_ops, ntraj=QUTIP_PROBE, options=opts, seeds=SEED)
    t_probe = time.perf_counter() - t0
    t0 = time.perf_counter()
    qutip.mcsolve(H, psi0, times, c_ops, ntraj=ntraj, options=opts, seeds=SEED)
    elapsed = time.perf_counter() - t0
    return (ntraj - QUTIP_PROBE) / max(elapsed - t_probe, 1e-9), ntraj / elapsed


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--ntraj", type=int, default=1000, help="trajectories per call, both solvers (default 1000)")
    ap.add_argument("--repeat", type=int, default=3, help="alternating repetitions (default 3)")
    ap.add_argument("--threads", type=int, default=2, help="Numba threads and QuTiP workers (default 2)")
    ap.add_argument("--qutip-ntraj", type=int, default=5000, help="QuTiP runs per timed call (default 5000)")
    ap.add_argument("--quick", action="store_true", help="ntraj 200, QuTiP 500, 1 repetition")
    ap.add_argument("--only", default="transverse,chain,paper,chain32,cavity", help="comma-separated workloads")
    args = ap.parse_args(argv)
    if args.quick:
        args.ntraj, args.qutip_ntraj, args.repeat = 200, 500, 1
    import numba

    numba.set_num_threads(min(args.threads, numba.config.NUMBA_NUM_THREADS))
    work = {k: v for k, v in models().items() if k in args.only.split(",")}
    for model, protocol in work.values():  # compile / load the cache outside the timing
        darkspin_rate(model, protocol, 10)
    summary = {}
    print(
        f"models throughput: ntraj {args.ntraj} (QuTiP {args.qutip_ntraj}, amortised), {args.repeat} "
        f"repetition(s), {args.threads} threads; "
        f"load {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores",
        flush=True,
    )
    for name, (model, protocol) in work.items():
        ds_rates, qt_rates = [], []
        for rep in range(args.repeat):
            ds_rates.append(darkspin_rate(model, protocol, args.ntraj))
            amortised, raw = qutip_rate(model, protocol, args.qutip_ntraj, args.threads)
            qt_rates.append(amortised)
            print(
                f"  {name} rep {rep + 1}: darkspin {ds_rates[-1]:,.0f} traj/s, QuTiP {amortised:,.2f} traj/s "
                f"amortised ({raw:,.2f} raw); load {os.getloadavg()[0]:.2f}",
                flush=True,
            )
        ratio = statistics.median(ds_rates) / statistics.median(qt_rates)
        summary[name] = {"darkspin": statistics.median(ds_rates), "qutip": statistics.median(qt_rates), "ratio": ratio}
        print(
            f"RATIO {name} (d = {protocol.rho0.shape[0]}): darkspin / QuTiP mcsolve = {ratio:,.1f}x "
            f"(medians {summary[name]['darkspin']:,.0f} vs {summary[name]['qutip']:,.2f} traj/s)",
            flush=True,
        )
    return summary


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
