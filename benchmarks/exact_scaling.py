"""Exact solver at d = 32 and 64: darkspin's state propagation against a qutip.mesolve loop.

Cases (each at 5 spins, d = 32, and 6 spins, d = 64):
  chain  -- a Heisenberg spin chain with a graded field; 4 channels: collective decay, local decay of
            spin 1, collective dephasing, local dephasing of the middle spin; the two-spin parity
            tau_z1 tau_z2 measured in 4 rounds (readout error 0.02, rule 'all'); 101 outputs.
  random -- a random dense LindbladModel (4 dense channels) with a random two-outcome observable in 4
            rounds, 101 outputs.
darkspin: ``solve_master_equation`` (rho, rho_post, p_success, p_cumulative and the record
probabilities). QuTiP 5: ``mesolve`` (CSR operators) between event times on the unconditional state,
the non-selective map sum_j P_j rho P_j applied by hand at every round (the same number of outputs;
QuTiP does not post-select, so it does less work). Medians of ``--repeat`` (>= 3) runs, ratio
darkspin/qutip (target: <= 1 at d = 32, <= 10 at d = 64); the deviation of the unconditional states.

Usage, from the repository root:  python benchmarks/exact_scaling.py [--repeat 3] [--sizes 5,6]
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import time

import numpy as np
from bench_models import spin_chain

import darkspin as ds


def random_case(n: int, seed: int = 7) -> tuple[ds.LindbladModel, ds.Protocol]:
    """A random dense model of dimension 2**n with 4 channels and a random observable in 4 rounds."""
    d = 2**n
    rng = np.random.default_rng(seed)
    H = rng.normal(size=(d, d)) + 1j * rng.normal(size=(d, d))
    H = 0.25 * (H + H.conj().T) / math.sqrt(d)
    jumps = (rng.normal(size=(4, d, d)) + 1j * rng.normal(size=(4, d, d))) * (0.1 / math.sqrt(d))
    U = np.linalg.qr(rng.normal(size=(d, d)) + 1j * rng.normal(size=(d, d)))[0]
    obs = (U * np.where(np.arange(d) % 2, 1.0, -1.0)) @ U.conj().T
    psi = rng.normal(size=d) + 1j * rng.normal(size=d)
    psi /= np.linalg.norm(psi)
    protocol = ds.Protocol(psi, (2.0, 4.0, 6.0, 8.0), np.linspace(0.0, 10.0, 101), measurement=ds.Measurement(obs))
    return ds.LindbladModel(H, jumps), protocol


def qutip_loop(model: ds.LindbladModel, protocol: ds.Protocol) -> np.ndarray:
    """The unconditional state at the outputs, (n, d, d): mesolve between events, rounds by hand."""
    import qutip

    d = protocol.rho0.shape[0]
    H = qutip.Qobj(np.asarray(model.hamiltonian())).to("csr")
    c_ops = [qutip.Qobj(L).to("csr") for L in np.asarray(model.jump_operators())]
    rho = qutip.Qobj(np.asarray(protocol.rho0))
    out = np.empty((protocol.times.size, d, d), complex)
    t = 0.0
    opts = {"atol": 1e-12, "rtol": 1e-10, "store_final_state": True, "store_states": False}
    for te, kind, idx in zip(*protocol.events(), strict=True):
        if te != t:
            rho = qutip.mesolve(H, rho, [t, te], c_ops, options=opts).final_state
            t = te
        if kind == 0:
            P = protocol.measurements[idx].projectors()
            r = rho.full()
            rho = qutip.Qobj(P[0] @ r @ P[0] + P[1] @ r @ P[1])
        else:
            out[idx] = rho.full()
    return out


def _median_time(f, repeat: int) -> tuple[float, object]:
    times, res = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        res = f()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), res


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--sizes", default="5,6", help="numbers of spins, comma-separated")
    ap.add_argument("--cases", default="chain,random")
    args = ap.parse_args()
    print(f"cores: {os.cpu_count()}, load average: {os.getloadavg()[0]:.2f}", flush=True)
    print(f"{'case':8s} {'d':>3s} {'darkspin s':>11s} {'qutip s':>9s} {'ratio':>7s} {'max |drho|':>11s}")
    for n in (int(s) for s in args.sizes.split(",")):
        for case in args.cases.split(","):
            model, protocol = spin_chain(n) if case == "chain" else random_case(n)
            ds.solve_master_equation(model, protocol)  # warm-up (imports, caches)
            t_ds, res = _median_time(lambda m=model, p=protocol: ds.solve_master_equation(m, p), args.repeat)
            t_qt, ref = _median_time(lambda m=model, p=protocol: qutip_loop(m, p), args.repeat)
            dev = float(np.max(np.abs(res.rho - ref)))  # type: ignore[attr-defined]
            print(f"{case:8s} {2**n:3d} {t_ds:11.3f} {t_qt:9.3f} {t_ds / t_qt:7.2f} {dev:11.2e}", flush=True)


if __name__ == "__main__":
    main()
