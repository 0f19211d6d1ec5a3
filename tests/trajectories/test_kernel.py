"""Tests of the quantum-jump trajectory engine (issue 4): kernels, single trajectories, ensembles.

Monte Carlo estimates are compared with the exact master-equation solution in units of their own
standard error, with fixed seeds and a 5 sigma threshold; a deliberately wrong model is shown to fail
the same comparison. Rates and expected values are computed here from docs/physics.md, not taken from the
code under test. Runtime: ~30-40 s on a busy 2-core machine with the Numba cache warm (+~20 s per
process for a cold cache), most of it in the ensemble comparisons, the 2000 single trajectories of the
waiting-time test and the two thread-count subprocesses.

Where the sample standard error is blind (paths too rare for any trajectory to have taken them), a
one-trajectory resolution 1/n is added in quadrature; see element_z in tests/reference.py.
"""

from __future__ import annotations

import importlib.util
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import scipy.linalg
from scipy import stats

from darkspin import ensemble
from darkspin.ensemble import MonteCarloResult, simulate, solve_master_equation
from darkspin.ensemble.montecarlo import simulation as simulate_module
from darkspin.ensemble.montecarlo.sums import EnsembleSums
from darkspin.trajectories import Protocol, SpinPair, run_trajectory
from darkspin.trajectories.distributions import no_distributions
from darkspin.trajectories.plan import compile_plan
from darkspin.trajectories.propagator import block_propagator, propagator_matrix
from darkspin.trajectories.signatures import canonical
from darkspin.trajectories.sums_kernel import sums_with_table

from reference import I2, SM, SP, SZ, binomial_z, element_z, singlet_population
from reference import SINGLET as S_VEC
from reference import F as F_phys

HERE = Path(__file__).resolve().parents[1]  # tests/, where the subprocess helper lives


# ---- independent physics (docs/physics.md, via tests/reference.py) -------------------------------
def local_jumps(model: SpinPair) -> np.ndarray:
    """A WRONG unraveling: one operator per spin, rate K_aa, i.e. the master equation without the
    cross terms K_12 of docs/physics.md (so the singlet is no longer dark). (6, 4, 4)."""
    out = []
    for op, omega, kappa in ((SM, model.nu, 0.5), (SP, -model.nu, 0.5), (SZ, 0.0, 0.25)):
        f = kappa * F_phys(omega, model.V, model.T)
        out.append(math.sqrt(f * model.lam1) * np.kron(op, I2))
        out.append(math.sqrt(f * model.lam2) * np.kron(I2, op))
    return np.array(out)


# ---- models and protocols -------------------------------------------------------------------------
PAPER = SpinPair()  # Fig. 3 right: symmetric point, V = 1.25, lam = 0.0126, J_ex = 0.024, T = 0
OFF = SpinPair(nu=1.0, V=1.7, T=0.3, lam1=0.05, lam2=0.02, theta=0.4, phi=0.3, J_ex=0.05, J_DM=0.03)
SYM_FAST = SpinPair(nu=1.0, V=1.25, T=0.2, lam1=0.3, lam2=0.3, J_ex=0.1)

PSI_MIX_SECTORS = np.array([0.5, 0.6, -0.4j, 0.3 + 0.2j])
PSI_MIX_SECTORS = PSI_MIX_SECTORS / np.linalg.norm(PSI_MIX_SECTORS)
RHO_MIXED = (
    0.3 * np.diag([1, 0, 0, 0])
    + 0.5 * np.outer(PSI_MIX_SECTORS, PSI_MIX_SECTORS.conj())
    + 0.2 * np.outer(S_VEC, S_VEC.conj())
).astype(complex)


def _ep_model(detune: float, lam1: float = 0.05, lam2: float = 0.01) -> SpinPair:
    """theta = pi kills the cross terms, J_DM = 0: the S_z = 0 block of H_eff is
    [[J - i g1/2, -2J], [-2J, J - i g2/2]], defective at J = (g1 - g2)/8, where
    g1 - g2 = (lam1 - lam2)(F(nu) - F(-nu))/2 (docs/physics.md)."""
    nu, V = 1.0, 1.25
    dg = (lam1 - lam2) * (F_phys(nu, V, 0.0) - F_phys(-nu, V, 0.0)) / 2
    return SpinPair(
        nu=nu, V=V, T=0.0, lam1=lam1, lam2=lam2, theta=math.pi, phi=0.0, J_ex=dg / 8 * (1 + detune), J_DM=0.0
    )


#: name -> (model, protocol, ntraj, seed)
AGREEMENT_CASES = {
    # exact paper parameters, short times so the rates (~0.03) matter
    "paper_point": (PAPER, Protocol("ud", (10.0, 20.0, 30.0), np.linspace(0.0, 40.0, 81)), 100_000, 11),
    # the paper's full protocol at the paper point, coarse grid
    "paper_protocol": (PAPER, Protocol.paper(n_out=51), 100_000, 12),
    # symmetric point, finite T, fast mixing: several jumps per trajectory
    "symmetric_fast": (SYM_FAST, Protocol("ud", (1.5, 3.0, 4.5, 6.0), np.linspace(0.0, 8.0, 41)), 60_000, 13),
    # off-symmetric, finite T, J_DM != 0, superposition across S_z sectors
    "off_symmetric_vector": (
        OFF,
        Protocol(PSI_MIX_SECTORS, (5.0, 10.0, 15.0, 20.0), np.linspace(0.0, 25.0, 51)),
        60_000,
        14,
    ),
    # off-symmetric, mixed initial state, two rounds at one instant, measurement at an output time
    "off_symmetric_mixed": (OFF, Protocol(RHO_MIXED, (4.0, 8.0, 8.0, 12.0), np.linspace(0.0, 16.0, 41)), 60_000, 15),
    # nearly defective S_z = 0 block of H_eff, fast rates: trajectories through the closed form near an EP
    "near_exceptional": (
        _ep_model(1e-12, lam1=0.5, lam2=0.1),
        Protocol("ud", (2.0, 4.0, 6.0), np.linspace(0.0, 8.0, 41)),
        60_000,
        16,
    ),
}


# ---- comparison in units of the standard error (tests/reference.py: element_z, binomial_z) ----------
def success_z(mc: MonteCarloResult, p_exact: np.ndarray) -> np.ndarray:
    """Binomial z of the success count of each round given the previous round's count, (rounds,)."""
    prev = np.concatenate([[mc.ntraj], mc.n_success[:-1]])
    return binomial_z(mc.n_success, prev, p_exact)


def agreement(mc: MonteCarloResult, ex) -> dict[str, float]:
    """Largest z of each compared quantity (rho, rho_post, singlet, singlet_post, success counts)."""
    post = mc.n_post >= 100  # rho_post se is meaningful; the exact rho_post is defined there too
    npost = mc.n_post[post]
    assert np.all(np.isfinite(ex.rho_post[post]))
    s_exact = singlet_population(ex.rho)
    s_post_exact = singlet_population(ex.rho_post[post])
    s_mc = mc.population("S")
    out = {
        "rho": element_z(mc.rho, mc.rho_se, ex.rho, mc.ntraj).max(),
        "rho_post": element_z(mc.rho_post[post], mc.rho_post_se[post], ex.rho_post[post], npost).max(),
        "singlet": element_z(s_mc.value.real, s_mc.se, s_exact, mc.ntraj).max(),
        "singlet_post": element_z(s_mc.value_post.real[post], s_mc.se_post[post], s_post_exact, npost).max(),
    }
    out["success"] = success_z(mc, ex.p_success).max() if mc.protocol.rounds else 0.0
    return out


def run_packed(p, model, protocol, seed, ntraj) -> MonteCarloResult:
    """Ensemble of trajectories 0 .. ntraj-1 straight from the kernel, for a hand-modified Plan."""
    no_abort, done = np.zeros(1, np.int64), np.zeros(8, np.int64)
    # canonical: the hand-modified plan compiles (or loads) the library's one signature, not its own
    spec = canonical(no_distributions(4))
    out = sums_with_table(np.uint64(seed), 0, ntraj, 8, canonical(p), spec, no_abort, done, -1)  # as simulate
    sums = EnsembleSums.from_kernel(out, ntraj)
    return MonteCarloResult(model, protocol, sums, seed, [(0, ntraj)])


# ---- 1. statistical agreement with the exact master equation ------------------------------------------
@pytest.mark.statistical
@pytest.mark.parametrize("name", list(AGREEMENT_CASES))
def test_ensemble_agrees_with_master_equation(name):
    model, protocol, ntraj, seed = AGREEMENT_CASES[name]
    mc = simulate(model, protocol, ntraj, seed, progress=False)
    ex = solve_master_equation(model, protocol)
    assert mc.ntraj == ntraj and mc.seed == seed
    assert mc.n_jumps > ntraj // 10  # the dynamics is actually exercised
    assert mc.n_post[-1] >= 1000  # the post-selected estimates are tested to the last output
    # estimates are states: Hermitian by construction, trace 1 up to the fixed-point rounding
    np.testing.assert_allclose(np.trace(mc.rho, axis1=1, axis2=2), 1.0, atol=1e-9)
    z = agreement(mc, ex)
    print(f"\n{name}: max z {z}")
    for key, value in z.items():
        assert value <= (4.0 if key == "success" else 5.0), (key, value)


# ---- 2. a wrong model fails the same comparison --------------------------------------------------------
@pytest.mark.statistical
def test_wrong_unraveling_fails_agreement(monkeypatch):
    """Local (per-spin) jumps drop the cross terms of docs/physics.md: the singlet decays, and the
    comparison with the exact (collective) master equation must fail by far."""
    model, protocol, ntraj, seed = AGREEMENT_CASES["paper_point"]
    ex = solve_master_equation(model, protocol)
    monkeypatch.setattr(SpinPair, "jump_operators", lambda self: local_jumps(self))
    mc = simulate(model, protocol, ntraj // 2, seed, progress=False)
    z = agreement(mc, ex)
    print(f"\nlocal unraveling: max z {z}")
    assert max(z.values()) > 5.0
    assert z["singlet"] > 5.0


@pytest.mark.statistical
def test_dropped_jump_channel_fails_agreement():
    """Removing one Lindblad channel (from the jumps and from H_eff) is a different master equation."""
    model, protocol, ntraj, seed = AGREEMENT_CASES["off_symmetric_vector"]
    ntraj //= 2
    ex = solve_master_equation(model, protocol)
    p = compile_plan(model, protocol)
    # the harness itself reproduces simulate() bit for bit
    assert run_packed(p, model, protocol, seed, ntraj).sums.identical(
        simulate(model, protocol, ntraj, seed, progress=False).sums
    )

    drop = list(model.jump_labels()).index("dephasing[0]")
    L = p.jumps[drop]
    LdL = L.conj().T @ L
    heff = p.heff + 0.5j * LdL
    dt = np.diff(np.concatenate([[0.0], p.ev_time]))
    ev_U = np.array([block_propagator(heff, float(d)) for d in dt], dtype=complex).reshape(-1, 6)
    broken = p._replace(
        heff=heff, gamma=p.gamma - LdL, ev_U=ev_U, jumps=np.ascontiguousarray(np.delete(p.jumps, drop, axis=0))
    )
    z = agreement(run_packed(broken, model, protocol, seed, ntraj), ex)
    print(f"\ndropped dephasing[0]: max z {z}")
    assert max(z.values()) > 5.0


# ---- 3. waiting times ------------------------------------------------------------------------------
@pytest.mark.statistical
def test_first_jump_time_is_exponential():
    """One decaying spin (lam2 = 0, V = nu = 1, T = 0) started in |ud>: spin 1 lowers at rate
    lam1 F(nu)/2 = lam1; dephasing tau_z x 1 (rate lam1 F(0)/4) only multiplies |ud> by -1."""
    nu, V, lam1 = 1.0, 1.0, 0.1
    model = SpinPair(nu=nu, V=V, T=0.0, lam1=lam1, lam2=0.0, J_ex=0.0, J_DM=0.0)
    rate_low = 0.5 * lam1 * F_phys(nu, V, 0.0)
    rate_deph = 0.25 * lam1 * F_phys(0.0, V, 0.0)
    assert rate_low == pytest.approx(lam1) and F_phys(-nu, V, 0.0) == 0.0
    t_final = 20.0 / rate_low
    protocol = Protocol("ud", (), np.linspace(0.0, t_final, 11))
    first_low, first_any = [], []
    for i in range(2000):
        tr = run_trajectory(model, protocol, 2024, index=i, max_jumps=1000)
        low = [k for k, lab in enumerate(tr.jump_labels) if lab == "lowering[0]"]
        assert len(low) == 1  # lowering fires once (P(none by t_final) = e^-20), then |dd> is stuck
        assert set(tr.jump_labels) <= {"lowering[0]", "dephasing[0]"}
        t_low = tr.jump_times[low[0]]
        first_low.append(t_low)
        first_any.append(tr.jump_times[0])
        # before the lowering jump the state is |ud>, after it |dd> (up to a phase)
        before, after = tr.times < t_low, tr.times > t_low
        np.testing.assert_allclose(np.abs(tr.states[before, 1]), 1.0, atol=1e-12)
        np.testing.assert_allclose(np.abs(tr.states[after, 3]), 1.0, atol=1e-12)
    first_low, first_any = np.array(first_low), np.array(first_any)
    p_low = stats.kstest(first_low, "expon", args=(0, 1 / rate_low)).pvalue
    p_any = stats.kstest(first_any, "expon", args=(0, 1 / (rate_low + rate_deph))).pvalue
    p_wrong = stats.kstest(first_low, "expon", args=(0, 1 / (1.25 * rate_low))).pvalue
    print(f"\nfirst jump KS p: lowering {p_low:.3g}, any {p_any:.3g}, 1.25x rate {p_wrong:.3g}")
    assert p_low > 1e-3 and p_any > 1e-3
    assert p_wrong < 1e-6


@pytest.mark.statistical
def test_sojourn_times_in_one_long_trajectory():
    """Finite T: spin 1 flips down at lam1 F(nu)/2 and up at lam1 F(-nu)/2; one long trajectory gives
    thousands of exponential sojourns (and Poisson dephasing jumps at lam1 F(0)/4)."""
    nu, V, T, lam1 = 1.0, 1.0, 0.5, 0.1
    model = SpinPair(nu=nu, V=V, T=T, lam1=lam1, lam2=0.0, J_ex=0.0, J_DM=0.0)
    rate_down = 0.5 * lam1 * F_phys(nu, V, T)
    rate_up = 0.5 * lam1 * F_phys(-nu, V, T)
    rate_deph = 0.25 * lam1 * F_phys(0.0, V, T)
    t_final = 8.0e5
    # two outputs only: the state norm underflows between them, which the root search must survive
    tr = run_trajectory(model, Protocol("ud", (), [0.0, t_final]), 99)
    labels = np.array(tr.jump_labels)
    assert set(labels) == {"lowering[0]", "raising[0]", "dephasing[0]"}
    assert np.all(tr.jump_residuals < 1e-10)
    flips = tr.jump_times[labels != "dephasing[0]"]
    kinds = labels[labels != "dephasing[0]"]
    assert np.all(kinds[0::2] == "lowering[0]") and np.all(kinds[1::2] == "raising[0]")
    edges = np.concatenate([[0.0], flips])
    up_times = np.diff(edges)[0::2]  # |ud> -> lowering
    down_times = np.diff(edges)[1::2]  # |dd> -> raising
    deph = tr.jump_times[labels == "dephasing[0]"]
    p_up = stats.kstest(up_times, "expon", args=(0, 1 / rate_down)).pvalue
    p_down = stats.kstest(down_times, "expon", args=(0, 1 / rate_up)).pvalue
    p_deph = stats.kstest(np.diff(np.concatenate([[0.0], deph])), "expon", args=(0, 1 / rate_deph)).pvalue
    p_wrong = stats.kstest(up_times, "expon", args=(0, 1 / (1.1 * rate_down))).pvalue
    print(
        f"\nsojourn KS p: up {p_up:.3g} ({up_times.size}), down {p_down:.3g} ({down_times.size}), "
        f"dephasing {p_deph:.3g} ({deph.size}), 1.1x rate {p_wrong:.3g}"
    )
    assert up_times.size > 15000 and down_times.size > 15000
    assert p_up > 1e-3 and p_down > 1e-3 and p_deph > 1e-3
    assert p_wrong < 1e-6
    mean_count = rate_deph * t_final
    assert abs(deph.size - mean_count) < 5 * math.sqrt(mean_count)


# ---- 4. the dark state -----------------------------------------------------------------------------
@pytest.mark.parametrize(
    "model", [PAPER, SpinPair(T=0.3, lam1=0.2, lam2=0.2, J_ex=0.05)], ids=["paper", "symmetric_finite_T"]
)
def test_dark_singlet_never_jumps(model):
    protocol = Protocol("S", (100.0, 200.0, 200.0, 300.0, 400.0), np.linspace(0.0, 500.0, 51))
    for i in range(100):
        tr = run_trajectory(model, protocol, 5, index=i)
        assert tr.jump_times.size == 0
        np.testing.assert_allclose(tr.singlet, 1.0, atol=1e-12)
        assert np.all(tr.outcomes == -1) and np.all(tr.post)
    mc = simulate(model, protocol, 5_000, 6, progress=False)
    assert mc.n_jumps == 0
    assert np.all(mc.n_success == mc.ntraj)
    np.testing.assert_allclose(mc.population("S").value.real, 1.0, atol=1e-10)
    np.testing.assert_allclose(mc.population("S").value_post.real, 1.0, atol=1e-10)


# ---- 5. reproducibility: threads, batches, single trajectories --------------------------------------
THREAD_SPEC = {
    "model": OFF.as_dict(),
    "initial": "ud",
    "measure_at": [4.0, 8.0, 12.0],
    "t_final": 16.0,
    "n_out": 41,
    "ntraj": 24_000,
    "seed": 2**63 + 12345,
    "batch_size": 7_001,
}


def _spec_case(spec):
    """(model, protocol, ntraj, seed) exactly as the subprocess helper builds them."""
    loader = importlib.util.spec_from_file_location("_thread_probe", HERE / "_thread_probe.py")
    probe = importlib.util.module_from_spec(loader)
    loader.loader.exec_module(probe)
    return probe.build(spec)[:4]


@pytest.mark.subprocess
def test_bit_identical_across_thread_counts(tmp_path):
    model, protocol, ntraj, seed = _spec_case(THREAD_SPEC)
    procs = {}
    for threads in (1, 2):
        env = dict(os.environ, NUMBA_NUM_THREADS=str(threads))
        out = tmp_path / f"threads{threads}.npz"
        procs[threads] = (
            out,
            subprocess.Popen(
                [sys.executable, str(HERE / "_thread_probe.py"), json.dumps(THREAD_SPEC), str(out)],
                env=env,
                cwd=HERE.parent,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
            ),
        )
    here = simulate(model, protocol, ntraj, seed, progress=False)  # default batch size, this process
    assert here.n_jumps > 0
    for threads, (out, proc) in procs.items():
        _, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err.decode()[-2000:]
        assert (tmp_path / f"threads{threads}.npz.threads").read_text() == str(threads)
        other = ensemble.load(out)
        assert other.seed == seed and other.ntraj == ntraj
        assert here.sums.identical(other.sums), f"NUMBA_NUM_THREADS={threads} differs"
        np.testing.assert_array_equal(here.rho, other.rho)


def test_run_trajectory_reproducible_and_same_as_simulate():
    model, protocol, _, seed = _spec_case(THREAD_SPEC)
    n = 300
    trs = [run_trajectory(model, protocol, seed, index=i) for i in range(n)]
    again = run_trajectory(model, protocol, seed, index=7)
    for field in ("states", "post", "jump_times", "jump_channels", "outcomes"):
        np.testing.assert_array_equal(getattr(again, field), getattr(trs[7], field))
    assert not np.array_equal(trs[0].states, trs[1].states)
    # simulate(seed) sums exactly these trajectories
    mc = simulate(model, protocol, n, seed, progress=False)
    assert mc.n_jumps == sum(t.jump_times.size for t in trs)
    states = np.array([t.states for t in trs])  # (n, n_out, 4)
    rho = np.einsum("kti,ktj->tij", states, states.conj()) / n
    np.testing.assert_allclose(mc.rho, rho, atol=1e-10)
    outcomes = np.array([t.outcomes for t in trs])
    expected_success = [(np.all(outcomes[:, : k + 1] == -1, axis=1)).sum() for k in range(protocol.rounds)]
    np.testing.assert_array_equal(mc.n_success, expected_success)
    np.testing.assert_array_equal(mc.n_post, np.array([t.post for t in trs]).sum(axis=0))


# ---- 6. the closed-form propagator -----------------------------------------------------------------
PROPAGATOR_MODELS = {
    "symmetric": PAPER,
    "off_symmetric": OFF,
    "paper_fig2_dm": SpinPair.paper_fig2(with_dm=True),
    "no_exchange": SpinPair(J_ex=0.0, J_DM=0.0),
    "no_exchange_off": OFF.replace(J_ex=0.0, J_DM=0.0),
    "exceptional": _ep_model(0.0),
    "near_exceptional": _ep_model(1e-12),
}
#: scipy's expm loses ~1e-16 tau ||H|| (2e-12 at tau = 600 on the Jordan blocks below): compare up to 150
TAUS = [0.0, 1e-6, 1e-3, 0.1, 1.0, 3.7, 25.0, 150.0]


def _assert_close_to_expm(heff, taus):
    for tau in taus:
        exact = scipy.linalg.expm(-1j * heff * tau)
        got = propagator_matrix(heff, float(tau))
        err = np.linalg.norm(got - exact) / np.linalg.norm(exact)
        assert err < 1e-12, (tau, err)


def _eig_propagator(heff, tau):
    """exp(-i H tau) by eigen-decomposition: what the closed form avoids near exceptional points."""
    w, v = np.linalg.eig(heff)
    return v @ np.diag(np.exp(-1j * w * tau)) @ np.linalg.inv(v)


@pytest.mark.parametrize("name", list(PROPAGATOR_MODELS))
def test_propagator_matches_expm(name):
    heff = PROPAGATOR_MODELS[name].effective_hamiltonian()
    blk = heff[1:3, 1:3]
    z_coef = abs(((blk[0, 0] - blk[1, 1]) / 2) ** 2 + blk[0, 1] * blk[1, 0])
    taus = list(TAUS)
    if 0 < z_coef and math.sqrt(0.09 / z_coef) < 1e3:  # both sides of the series/closed-form switch
        taus += [math.sqrt(0.09 / z_coef) * f for f in (1 - 1e-9, 1 + 1e-9)]
    _assert_close_to_expm(heff, taus)
    # long times: the semigroup law U(4 tau) = U(tau)^4, independent of expm's growing error
    u150 = propagator_matrix(heff, 150.0)
    u600 = propagator_matrix(heff, 600.0)
    assert np.linalg.norm(u600 - np.linalg.matrix_power(u150, 4)) <= 1e-12 * np.linalg.norm(u600)
    if "exceptional" in name:
        # the test point is really (nearly) defective: the eigenvectors of the block are nearly parallel
        # and an eigen-decomposition loses accuracy that the closed form keeps
        assert np.linalg.cond(np.linalg.eig(blk)[1]) > 1e5
        exact = scipy.linalg.expm(-1j * heff * 25.0)
        eig_err = np.linalg.norm(_eig_propagator(heff, 25.0) - exact) / np.linalg.norm(exact)
        assert eig_err > 1e-11


def test_symmetric_point_singlet_is_undamped():
    """At the symmetric point H_eff has the real eigenvalue E_S: |<S|U(tau)|S>| = 1."""
    heff = PAPER.effective_hamiltonian()
    for tau in (1.0, 100.0, 1e4):
        U = propagator_matrix(heff, tau)
        assert abs(abs(S_VEC.conj() @ U @ S_VEC) - 1.0) < 1e-12


@pytest.mark.parametrize("b", [1.0, 5.0, 0.01])
def test_propagator_on_hand_made_jordan_block(b):
    """Block [[c, b], [eps, c]] with Im c < 0: defective at eps = 0, nearly defective for small eps."""
    c = 0.3 - 0.02j
    x, y = 1.0 - 0.01j, -1.0 - 0.05j
    for eps in (0.0, 1e-12, 1e-6):
        heff = np.array([[x, 0, 0, 0], [0, c, b, 0], [0, eps, c, 0], [0, 0, 0, y]], dtype=complex)
        _assert_close_to_expm(heff, TAUS)
        for tau in TAUS + [600.0]:
            # (N - eps b)... N = [[0, b], [eps, 0]] has N^2 = s^2 1, s = sqrt(b eps):
            # exp(-i tau (c + N)) = e^{-i c tau} (cos(s tau) 1 - i sin(s tau)/s N)
            s = math.sqrt(b * eps)
            cos_st, sin_over_s = math.cos(s * tau), tau * np.sinc(s * tau / math.pi)
            e = np.exp(-1j * c * tau)
            exact = np.diag([np.exp(-1j * x * tau), e * cos_st, e * cos_st, np.exp(-1j * y * tau)])
            exact[1, 2] = -1j * b * sin_over_s * e
            exact[2, 1] = -1j * eps * sin_over_s * e
            got = propagator_matrix(heff, tau)
            assert np.linalg.norm(got - exact) <= 1e-13 * np.linalg.norm(exact), (eps, tau)


def test_jump_time_residuals_small():
    protocol = Protocol("ud", (20.0, 40.0, 60.0), np.linspace(0.0, 80.0, 41))
    residuals = []
    for model in (OFF, SYM_FAST, _ep_model(1e-12, lam1=0.5, lam2=0.1)):
        for i in range(150):
            residuals.append(run_trajectory(model, protocol, 77, index=i).jump_residuals)
    residuals = np.concatenate(residuals)
    assert residuals.size > 1000
    assert np.all(residuals < 1e-10), residuals.max()


# ---- 7. single-trajectory sanity -------------------------------------------------------------------
@pytest.mark.parametrize(
    "model, protocol",
    [
        (OFF, Protocol(PSI_MIX_SECTORS, (3.0, 6.0, 9.0, 9.0, 12.0), np.linspace(0.0, 15.0, 31))),
        (SYM_FAST, Protocol(RHO_MIXED, (1.0, 2.0, 3.0, 4.0), np.linspace(0.0, 5.0, 41))),
    ],
    ids=["off_symmetric", "symmetric_fast"],
)
def test_single_trajectory_sanity(model, protocol):
    seen_plus = seen_minus = 0
    for i in range(200):
        tr = run_trajectory(model, protocol, 31, index=i)
        assert tr.states.shape == (protocol.times.size, 4) and tr.index == i and tr.seed == 31
        np.testing.assert_allclose(np.linalg.norm(tr.states, axis=1), 1.0, atol=1e-12)
        jt = tr.jump_times
        assert np.all(np.diff(jt) > 0) and np.all((jt >= 0) & (jt <= protocol.t_final))
        assert tr.jump_labels == tuple(tr.labels[k] for k in tr.jump_channels)
        assert set(np.unique(tr.outcomes)) <= {-1, 1} and tr.outcomes.size == protocol.rounds
        # post[t] <=> every round measured at or before t gave -1 (measurement precedes an equal output)
        done = np.searchsorted(protocol.measure_at, protocol.times, side="right")
        expected = np.array([np.all(tr.outcomes[:k] == -1) for k in done])
        np.testing.assert_array_equal(tr.post, expected)
        # just after a measurement the state lies in the measured subspace
        for k, tm in enumerate(protocol.measure_at):
            at = np.flatnonzero(protocol.times == tm)
            if at.size:
                keep = [1, 2] if tr.outcomes[k] == -1 else [0, 3]
                drop = [0, 3] if tr.outcomes[k] == -1 else [1, 2]
                assert np.all(tr.states[at[0], drop] == 0) and np.linalg.norm(tr.states[at[0], keep]) > 0
        # two rounds at one instant agree
        same = np.flatnonzero(np.diff(protocol.measure_at) == 0)
        assert np.all(tr.outcomes[same] == tr.outcomes[same + 1])
        seen_plus += np.sum(tr.outcomes == 1)
        seen_minus += np.sum(tr.outcomes == -1)
    assert seen_plus > 0 and seen_minus > 0


# ---- 8. bad input ----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "kwargs, name",
    [
        ({"ntraj": 0}, "ntraj"),
        ({"ntraj": -5}, "ntraj"),
        ({"ntraj": 1.5}, "ntraj"),
        ({"ntraj": True}, "ntraj"),
        ({"seed": 1.5}, "seed"),
        ({"seed": -1}, "seed"),
        ({"seed": "a"}, "seed"),
        ({"seed": 2**64}, "seed"),
        ({"batch_size": 0}, "batch_size"),
        ({"batch_threads": 0}, "batch_threads"),
    ],
)
def test_simulate_rejects_bad_input_before_work(monkeypatch, kwargs, name):
    def no_work(*args, **kw):
        raise AssertionError("work started before the input was validated")

    monkeypatch.setattr(simulate_module, "run_batch", no_work)
    args = {"ntraj": 10, "seed": 1, **kwargs}
    with pytest.raises(ValueError, match=name):
        simulate(PAPER, Protocol.paper(11), args.pop("ntraj"), args.pop("seed"), progress=False, **args)


@pytest.mark.parametrize(
    "kwargs, name",
    [
        ({"seed": 1.5}, "seed"),
        ({"seed": -1}, "seed"),
        ({"seed": "a"}, "seed"),
        ({"seed": 2**64}, "seed"),
        ({"seed": None}, "seed"),
        ({"index": -1}, "index"),
        ({"index": 2.0}, "index"),
    ],
)
def test_run_trajectory_rejects_bad_seed(kwargs, name):
    args = {"seed": 1, "index": 0, **kwargs}
    with pytest.raises(ValueError, match=name):
        run_trajectory(PAPER, Protocol.paper(11), args["seed"], index=args["index"])


def test_protocol_rejects_unnormalised_vector():
    with pytest.raises(ValueError, match="initial.*normalised"):
        Protocol(np.array([1.0, 1.0, 0.0, 0.0]), (1.0,), np.linspace(0.0, 2.0, 3))
    with pytest.raises(ValueError, match="model"):
        simulate("not a model", Protocol.paper(11), 10, 1, progress=False)
    with pytest.raises(ValueError, match="protocol"):
        simulate(PAPER, "not a protocol", 10, 1, progress=False)
