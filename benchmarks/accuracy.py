"""Accuracy benchmark: the exact solver against an independent ODE integration, and the jump-time roots.

1. For ``--models`` random models and protocols (seeded; the ranges of tests/test_properties.py, with
   random initial states and measurement schedules), solve_master_equation is compared with
   scipy.integrate.solve_ivp (DOP853, rtol=1e-12, atol=1e-14) of
       d rho/dt = -i[H, rho] + sum_k (L_k rho L_k^dag - 1/2 {L_k^dag L_k, rho}),
   written here from model.hamiltonian() and model.jump_operators() (not from the library's
   Liouvillian), with the tau_z x tau_z measurements applied between the integration segments.
   Reported: the worst max-abs deviation of rho (target < 1e-9), of rho_post and of p_success.
2. ``--ntraj`` trajectories (default 10^6), spread evenly over the same models, are run through
   trajectories.kernel.trajectory with a jump log by a small Numba loop; reported: the worst relative
   root residual | ||psi(t_jump)||^2 / r - 1 | of the jump times (target < 1e-10) and the jumps examined.

Usage, from the repository root in an environment with ``pip install -e ".[test,distributed]"``:
    python benchmarks/accuracy.py [--ntraj N] [--models M] [--seed S] [--skip-ode] [--skip-jumps]
Exit status 1 if a target is missed.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
import warnings

import numba
import numpy as np
import scipy.integrate
from numba import njit, prange

from darkspin.ensemble import solve_master_equation
from darkspin.ensemble.results.master_equation import PostSelectionUndefinedWarning
from darkspin.trajectories import Protocol, SpinPair
from darkspin.trajectories.kernel import trajectory
from darkspin.trajectories.plan import compile_plan
from darkspin.trajectories.protocol import INITIAL_LABELS
from darkspin.trajectories.rng import seed_state
from darkspin.trajectories.run_log import bare_log
from darkspin.trajectories.sums_kernel import chunk_bounds, trajectory_buffers

# ranges of the random models and protocols (as in tests/test_properties.py)
NU_RANGE, V_RANGE, T_RANGE, LAM_RANGE = (0.2, 2.0), (0.0, 5.0), (0.0, 3.0), (0.0, 0.5)
ANGLE_RANGE, J_RANGE = (-math.pi, math.pi), (-1.0, 1.0)
N_OUT_RANGE, T_FINAL_RANGE, MAX_ROUNDS = (5, 30), (0.5, 30.0), 6

ODE_OPTIONS = dict(method="DOP853", rtol=1e-12, atol=1e-14)
TARGET_RHO = 1e-9
TARGET_RESIDUAL = 1e-10
#: Post-selection below this probability is undefined (as in the library); such rounds are skipped.
P_UNDEFINED = 1e-13
#: Jumps logged per trajectory; later ones are counted as not examined.
LOG_SIZE = 4096

P_MINUS = np.diag([0.0, 1.0, 1.0, 0.0]).astype(complex)
P_PLUS = np.diag([1.0, 0.0, 0.0, 1.0]).astype(complex)


# ---- random inputs -----------------------------------------------------------------------------


def random_model(rng: np.random.Generator) -> SpinPair:
    """A SpinPair with every parameter uniform in its range."""
    u = rng.uniform
    return SpinPair(
        nu=u(*NU_RANGE),
        V=u(*V_RANGE),
        T=u(*T_RANGE),
        lam1=u(*LAM_RANGE),
        lam2=u(*LAM_RANGE),
        theta=u(*ANGLE_RANGE),
        phi=u(*ANGLE_RANGE),
        J_ex=u(*J_RANGE),
        J_DM=u(*J_RANGE),
    )


def random_initial(rng: np.random.Generator):
    """A label, a random pure 4-vector or a random density matrix of rank 1-4."""
    kind = rng.integers(3)
    if kind == 0:
        return str(rng.choice(INITIAL_LABELS))
    if kind == 1:
        v = rng.normal(size=4) + 1j * rng.normal(size=4)
        return v / np.linalg.norm(v)
    rank = rng.integers(1, 5)
    G = rng.normal(size=(4, rank)) + 1j * rng.normal(size=(4, rank))
    rho = G @ G.conj().T
    return rho / np.trace(rho).real


def random_protocol(rng: np.random.Generator) -> Protocol:
    """Random output grid (5-30 times up to t_final <= 30) and sorted measurement schedule with
    repeats and rounds at 0, t_final and on the grid."""
    t_final = rng.uniform(*T_FINAL_RANGE)
    n = int(rng.integers(N_OUT_RANGE[0], N_OUT_RANGE[1] + 1))
    if rng.random() < 0.5:
        times = np.linspace(0.0 if rng.random() < 0.7 else 0.1 * t_final, t_final, n)
    else:
        times = np.unique(np.concatenate([rng.uniform(0, t_final, n - 1), [t_final]]))
    meas = []
    for _ in range(rng.integers(0, MAX_ROUNDS + 1)):
        kind = rng.integers(4)
        meas.append([rng.uniform(0, t_final), 0.0, t_final, rng.choice(times)][kind])
    if meas and rng.random() < 0.5:
        meas.append(meas[rng.integers(len(meas))])
    return Protocol(random_initial(rng), np.sort(np.array(meas, float)), times)


# ---- independent reference: ODE integration of the Lindblad equation ---------------------------


def lindblad_rhs(H: np.ndarray, jumps: np.ndarray):
    """f(t, y) for y = [Re, Im] of a stack of density matrices (k, 4, 4) flattened; H (4, 4), jumps (K, 4, 4)."""
    G = np.einsum("kji,kjl->il", jumps.conj(), jumps) if len(jumps) else np.zeros((4, 4), complex)
    Ld = jumps.conj().transpose(0, 2, 1)
    heff = H - 0.5j * G  # -i H_eff rho + i rho H_eff^dag = -i[H, rho] - 1/2 {G, rho}

    def f(t, y):
        half = y.size // 2
        rho = (y[:half] + 1j * y[half:]).reshape(-1, 4, 4)
        d = -1j * (heff @ rho - rho @ heff.conj().T)
        for L, Lh in zip(jumps, Ld, strict=True):
            d += L @ rho @ Lh
        d = d.reshape(-1)
        return np.concatenate([d.real, d.imag])

    return f


def ode_protocol(model: SpinPair, protocol: Protocol):
    """Reference (rho (n, 4, 4), rho_post (n, 4, 4) NaN where undefined, p_success (rounds,))."""
    f = lindblad_rhs(model.hamiltonian(), model.jump_operators())
    n = protocol.times.size
    rho_out = np.empty((n, 4, 4), complex)
    post_out = np.full((n, 4, 4), np.nan, complex)
    p_success = np.full(protocol.rounds, np.nan)
    state = np.stack([protocol.rho0, protocol.rho0]).astype(complex)  # [rho, post]
    post_ok, t = True, 0.0
    for te, kind, idx in zip(*protocol.events(), strict=True):
        if te > t:
            y0 = np.concatenate([state.reshape(-1).real, state.reshape(-1).imag])
            sol = scipy.integrate.solve_ivp(f, (t, te), y0, **ODE_OPTIONS)
            if not sol.success:
                raise RuntimeError(f"solve_ivp failed: {sol.message}")
            y = sol.y[:, -1]
            state = (y[:32] + 1j * y[32:]).reshape(2, 4, 4)
            t = te
        if kind == 0:
            rho, post = state
            rho = P_PLUS @ rho @ P_PLUS + P_MINUS @ rho @ P_MINUS
            if post_ok:
                p = float(np.trace(P_MINUS @ post).real)
                p_success[idx] = p
                if p < P_UNDEFINED:
                    post_ok = False
                else:
                    post = P_MINUS @ post @ P_MINUS / p
            state = np.stack([rho, post])
        else:
            rho_out[idx] = state[0]
            if post_ok:
                post_out[idx] = state[1]
    return rho_out, post_out, p_success


def ode_comparison(n_models: int, seed: int):
    """Worst deviations between solve_master_equation and the ODE reference over random models."""
    rng = np.random.default_rng(seed)
    worst = {"rho": (0.0, -1), "rho_post": (0.0, -1), "p_success": (0.0, -1)}
    compared_post = 0
    cases = []
    t0 = time.perf_counter()
    for i in range(n_models):
        model, protocol = random_model(rng), random_protocol(rng)
        cases.append((model, protocol))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", PostSelectionUndefinedWarning)
            res = solve_master_equation(model, protocol)
        rho, post, p = ode_protocol(model, protocol)
        devs = {"rho": np.max(np.abs(res.rho - rho))}
        both = ~np.isnan(res.rho_post).any(axis=(1, 2)) & ~np.isnan(post).any(axis=(1, 2))
        compared_post += int(both.sum())
        devs["rho_post"] = np.max(np.abs(res.rho_post[both] - post[both]), initial=0.0)
        ok = ~np.isnan(res.p_success) & ~np.isnan(p)
        devs["p_success"] = np.max(np.abs(res.p_success[ok] - p[ok]), initial=0.0)
        for k, v in devs.items():
            if v > worst[k][0]:
                worst[k] = (float(v), i)
    return worst, cases, compared_post, time.perf_counter() - t0


# ---- jump-time residuals -----------------------------------------------------------------------


@njit(parallel=True)
def residual_scan(seed, start, ntraj, nchunks, plan, log_size):
    """Run trajectories start .. start + ntraj - 1 of stream ``seed`` with a jump log.

    Returns (worst residual, jumps examined, jumps not logged, residuals above 1e-13) over all."""
    worst = np.zeros(nchunks)
    examined = np.zeros(nchunks, np.int64)
    unlogged = np.zeros(nchunks, np.int64)
    above = np.zeros(nchunks, np.int64)
    for ch in prange(nchunks):
        lo, hi = chunk_bounds(start, ntraj, nchunks, ch)
        rng, states, post, outcomes, records = trajectory_buffers(plan.n_out, plan.rounds, plan.heff.shape[0])
        jt = np.empty(log_size)
        jk = np.empty(log_size, np.int64)
        jr = np.empty(log_size)
        log = bare_log(plan.jumps.shape[0], plan.heff.shape[0])
        no_abort = np.zeros(1, np.int64)
        for i in range(lo, hi):
            seed_state(rng, seed, i)
            n = trajectory(rng, plan, states, post, outcomes, records, jt, jk, jr, log, no_abort)
            m = min(n, log_size)
            for k in range(m):
                if jr[k] > worst[ch]:
                    worst[ch] = jr[k]
                if jr[k] > 1e-13:
                    above[ch] += 1
            examined[ch] += m
            unlogged[ch] += n - m
    return worst.max(), examined.sum(), unlogged.sum(), above.sum()


def jump_residuals(cases, ntraj: int, seed: int):
    """Worst jump-time residual over ``ntraj`` trajectories spread over ``cases`` [(model, protocol)]."""
    nchunks = 4 * numba.get_num_threads()
    worst, worst_case, examined, unlogged, above = 0.0, -1, 0, 0, 0
    t0 = time.perf_counter()
    for i, (model, protocol) in enumerate(cases):
        n = ntraj // len(cases) + (1 if i < ntraj % len(cases) else 0)
        if n == 0:
            continue
        w, e, u, a = residual_scan(np.uint64(seed + i), 0, n, min(nchunks, n), compile_plan(model, protocol), LOG_SIZE)
        if w > worst:
            worst, worst_case = float(w), i
        examined, unlogged, above = examined + int(e), unlogged + int(u), above + int(a)
    return worst, worst_case, examined, unlogged, above, time.perf_counter() - t0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ntraj", type=int, default=10**6, help="trajectories for the residual scan (default 10^6)")
    ap.add_argument("--models", type=int, default=200, help="random models (default 200)")
    ap.add_argument("--seed", type=int, default=20240607, help="seed of the random models and trajectories")
    ap.add_argument("--skip-ode", action="store_true", help="skip the ODE comparison")
    ap.add_argument("--skip-jumps", action="store_true", help="skip the jump-residual scan")
    args = ap.parse_args(argv)
    if args.models < 1 or args.ntraj < 0:
        ap.error("--models must be >= 1 and --ntraj >= 0")
    ok = True
    cases = None
    if not args.skip_ode:
        worst, cases, n_post, dt = ode_comparison(args.models, args.seed)
        print(f"exact solver vs solve_ivp DOP853 (rtol=1e-12, atol=1e-14): {args.models} random models, {dt:.1f} s")
        for k, (v, i) in worst.items():
            print(f"  worst max|{k} - reference| = {v:.3e}  (model {i})")
        print(f"  ({n_post} post-selected output states compared)")
        passed = worst["rho"][0] < TARGET_RHO
        ok &= passed
        print(f"  target rho < {TARGET_RHO:g}: {'PASS' if passed else 'FAIL'}")
    if not args.skip_jumps and args.ntraj > 0:
        if cases is None:
            rng = np.random.default_rng(args.seed)
            cases = [(random_model(rng), random_protocol(rng)) for _ in range(args.models)]
        worst, wi, examined, unlogged, above, dt = jump_residuals(cases, args.ntraj, args.seed)
        print(f"jump-time roots: {args.ntraj} trajectories over {len(cases)} models, {dt:.1f} s (incl. compilation)")
        print(
            f"  jumps examined: {examined}"
            + (f" ({unlogged} beyond the log of {LOG_SIZE} not examined)" if unlogged else "")
        )
        print(f"  worst relative residual = {worst:.3e}  (model {wi}); residuals > 1e-13: {above}")
        passed = worst < TARGET_RESIDUAL
        ok &= passed
        print(f"  target residual < {TARGET_RESIDUAL:g}: {'PASS' if passed else 'FAIL'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
