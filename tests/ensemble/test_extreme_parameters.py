"""Edge cases of the model and the protocol, each checked against the exact master equation
(solve_master_equation) with the Monte Carlo ensemble (simulate) and/or against closed forms.

Statistical comparisons: every estimate must lie within 5 of its own standard errors (+ 1e-10 for the
fixed-point rounding) of the exact value, with fixed seeds; where the sample standard error is exactly
0 (no trajectory reached a state of exact weight << 1/ntraj) a bound from the exact weight is used
instead (see _check). Closed forms are derived in the test docstrings from docs/physics.md, with a
phase-space function written here. Run with -s to see the largest deviations in units of the
standard error. The whole file takes 5-25 s on 2 cores (load-dependent; Numba cache warm).
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
import scipy.linalg

from darkspin.ensemble import simulate, solve_master_equation
from darkspin.ensemble.results.master_equation import PostSelectionUndefinedWarning
from darkspin.trajectories import Protocol, SpinPair, run_trajectory
from darkspin.trajectories.operators import P_MINUS, P_PLUS, basis_state, kron, singlet_population
from darkspin.trajectories.propagator import propagator_matrix

N_SIGMA = 5.0
ROUNDING = 1e-10  # fixed-point sums: each term is rounded to 2^-40
NTRAJ = 20_000

#: A generic point: off-symmetric, finite angles, exchange and DM.
GENERIC = dict(nu=1.0, V=1.6, T=0.0, lam1=0.08, lam2=0.05, theta=0.7, phi=0.4, J_ex=0.06, J_DM=0.03)


def _generic_psi(seed: int = 0) -> np.ndarray:
    """A fixed normalised state (4,) with weight on every basis state."""
    x = np.random.default_rng(seed).normal(size=8)
    v = x[:4] + 1j * x[4:]
    return v / np.linalg.norm(v)


def _g(x: float, T: float) -> float:
    """g(x) = x / (1 - exp(-x/T)), g = max(x, 0) at T = 0 (written here independently of the library)."""
    if T == 0:
        return max(x, 0.0)
    if x == 0:
        return T
    return x / -math.expm1(-x / T)


def _F(omega: float, V: float, T: float) -> float:
    return _g(omega + V, T) + _g(omega - V, T)


@pytest.fixture(scope="module", autouse=True)
def _compiled():
    """Load (or compile) the Numba kernels before any test runs under warnings-as-errors."""
    simulate(SpinPair(), Protocol("ud", [0.5], [0.0, 1.0]), 10, 0, progress=False)
    run_trajectory(SpinPair(), Protocol("ud", [0.5], [0.0, 1.0]), 0)


def _z(dev, se):
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.where(dev <= ROUNDING, 0.0, dev / se)
    return float(np.max(z, initial=0.0))


def _check(label, est, exact, se, var_bound, n):
    """|est - exact| <= N_SIGMA se + ROUNDING elementwise.

    Where the sample standard error is exactly 0 (every trajectory gave the same value, e.g. none
    reached a state of exact weight q << 1/n), the sampling error is still bounded by
    sqrt(var_bound / n), var_bound an upper bound on the single-trajectory variance from the exact
    solution; that bound is used there instead.
    """
    est, exact, se = np.asarray(est), np.asarray(exact), np.asarray(se)
    n = np.broadcast_to(np.asarray(n, float), est.shape[:1]).reshape((-1,) + (1,) * (est.ndim - 1))
    se = np.where(se > 0, se, np.sqrt(np.maximum(var_bound, 0.0) / n))
    dev = np.abs(est - exact)
    bound = N_SIGMA * se + ROUNDING
    bad = ~(dev <= bound)
    assert not bad.any(), (
        f"{label}: {bad.sum()} estimates beyond {N_SIGMA} se; worst deviation "
        f"{dev[bad].max():.3g} with se {se[bad][np.argmax(dev[bad])]:.3g}"
    )
    return _z(dev, se)


def _pair_bound(rho):
    """min(rho_ii, rho_jj) (..., 4, 4): bounds E|psi_i psi_j^*|^2, the variance of one term."""
    q = np.real(np.diagonal(rho, axis1=-2, axis2=-1))
    return np.minimum(q[..., :, None], q[..., None, :])


def assert_mc_matches_exact(mc, ex, label, upto=None):
    """MC estimates (rho, singlet, post-selected ones, success probabilities) vs the exact solution,
    on the output times < ``upto`` (all by default). Returns the largest |deviation| / se seen."""
    sel = slice(None) if upto is None else mc.times < upto
    rho, post = ex.rho[sel], ex.rho_post[sel]
    s, s_post = singlet_population(rho), singlet_population(post)
    s_mc = mc.population("S")
    z = [
        _check(f"{label} rho", mc.rho[sel], rho, mc.rho_se[sel], _pair_bound(rho), mc.ntraj),
        _check(f"{label} singlet", s_mc.value.real[sel], s, s_mc.se[sel], s, mc.ntraj),
    ]
    n_post = mc.n_post[sel]
    ok = ~np.isnan(post).any(axis=(1, 2)) & (n_post >= 2)
    z.append(
        _check(
            f"{label} rho_post",
            mc.rho_post[sel][ok],
            post[ok],
            mc.rho_post_se[sel][ok],
            _pair_bound(post[ok]),
            n_post[ok],
        )
    )
    z.append(
        _check(
            f"{label} singlet_post",
            s_mc.value_post.real[sel][ok],
            s_post[ok],
            s_mc.se_post[sel][ok],
            s_post[ok],
            n_post[ok],
        )
    )
    # MC post-selected estimates are undefined exactly where no trajectory is post-selected
    assert np.all(np.isnan(mc.rho_post[mc.n_post == 0]))
    assert np.all(np.isfinite(mc.rho_post[mc.n_post > 0]))
    rounds = np.arange(mc.protocol.rounds) if upto is None else np.flatnonzero(mc.protocol.measure_at < upto)
    if rounds.size:
        pc, pc_ex = mc.p_cumulative[rounds], ex.p_cumulative[rounds]
        z.append(
            _check(f"{label} p_cumulative", pc, pc_ex, np.sqrt(pc * (1 - pc) / mc.ntraj), pc_ex * (1 - pc_ex), mc.ntraj)
        )
        prev = np.concatenate([[mc.ntraj], mc.n_success[:-1]])[rounds]
        ok = prev > 0
        ps, ps_ex = mc.p_success[rounds][ok], ex.p_success[rounds][ok]
        z.append(
            _check(f"{label} p_success", ps, ps_ex, np.sqrt(ps * (1 - ps) / prev[ok]), ps_ex * (1 - ps_ex), prev[ok])
        )
    worst = max(z)
    print(f"\n[{label}] ntraj={mc.ntraj}, jumps={mc.n_jumps}, worst |MC - exact| = {worst:.2f} se")
    return worst


def _run(model, protocol, ntraj=NTRAJ, seed=1):
    ex = solve_master_equation(model, protocol)
    mc = simulate(model, protocol, ntraj, seed, progress=False)
    return ex, mc


def _expect(rho, op):
    return np.real(np.einsum("...ij,ji->...", rho, op))


# ---- temperature -------------------------------------------------------------------------------


@pytest.mark.statistical
@pytest.mark.parametrize("T, V, t_final", [(0.0, 1.0, 20.0), (50.0, 1.0, 2.0)], ids=["T=0", "T=50>>V"])
def test_temperature_extremes_match_exact(T, V, t_final):
    """T = 0 exactly (here with V = nu, so the raising rate F(-nu) = g(0) + g(-2 nu) is exactly 0),
    and hot electrons T = 50 >> V = 1, where every rate is ~ lam T."""
    m = SpinPair(**{**GENERIC, "T": T, "V": V})
    p = Protocol(_generic_psi(), (0.25 * t_final, 0.5 * t_final), np.linspace(0, t_final, 11))
    ex, mc = _run(m, p)
    assert_mc_matches_exact(mc, ex, f"T={T}, V={V}")
    if T == 0:
        assert not any(lab.startswith("raising") for lab in m.jump_labels())


@pytest.mark.statistical
@pytest.mark.parametrize("T, V", [(0.0, 1.25), (0.0, 3.0), (50.0, 1.0), (0.7, 0.4)])
def test_single_spin_relaxation_closed_form(T, V):
    """lam2 = 0 and J_ex = J_DM = 0: spin 1 alone relaxes, spin 2 is untouched.

    Rates Gamma_down = lam1 F(nu)/2, Gamma_up = lam1 F(-nu)/2, and F(nu) - F(-nu) = 2 nu for any V, T
    (g(x) - g(-x) = x), so <tau_z1>(t) = z_inf + (z0 - z_inf) exp(-Gamma t) with
    Gamma = lam1 (F(nu) + F(-nu))/2 and z_inf = -2 nu/(F(nu) + F(-nu)) (= -nu/V at T = 0, V > nu)."""
    nu, lam1 = 1.0, 0.05
    m = SpinPair(nu=nu, V=V, T=T, lam1=lam1, lam2=0.0, theta=1.1, phi=-0.7, J_ex=0.0, J_DM=0.0)
    Fp, Fm = _F(nu, V, T), _F(-nu, V, T)
    gamma, z_inf = lam1 * (Fp + Fm) / 2, -2 * nu / (Fp + Fm)
    if T == 0 and V > nu:
        assert z_inf == pytest.approx(-nu / V, rel=1e-14)
    times = np.linspace(0, 4 / gamma, 11)
    p = Protocol("uu", (), times)
    ex, mc = _run(m, p)
    z1 = _expect(ex.rho, kron("z", "1"))
    np.testing.assert_allclose(z1, z_inf + (1 - z_inf) * np.exp(-gamma * times), rtol=0, atol=1e-12)
    np.testing.assert_allclose(_expect(ex.rho, kron("1", "z")), 1.0, rtol=0, atol=1e-13)
    assert_mc_matches_exact(mc, ex, f"one spin T={T} V={V}")
    # every jump operator acts on spin 1 only, so spin 2 stays up in every trajectory
    for L in m.jump_operators():
        np.testing.assert_allclose(L, np.kron(L[::2, ::2], np.eye(2)), atol=1e-15)
    for seed in range(5):
        tr = run_trajectory(m, p, seed)
        assert np.max(np.abs(tr.states[:, [1, 3]])) < 1e-15
    assert mc.rho[:, 1, 1].max() < 1e-12 and mc.rho[:, 3, 3].max() < 1e-12


# ---- V < nu at T = 0: no excitation ------------------------------------------------------------


@pytest.mark.statistical
@pytest.mark.parametrize("V", [0.0, 0.5])
def test_below_threshold_nothing_happens_from_dd(V):
    """T = 0, V < nu: F(-nu) = 0, so nothing can excite |dd>. It is an eigenstate of H, annihilated
    by the lowering operators; at V = 0 the dephasing rate F(0) = 0 too, so no jump occurs at all."""
    m = SpinPair(**{**GENERIC, "V": V})
    assert _F(-1.0, V, 0.0) == 0.0
    p = Protocol("dd", (), np.linspace(0, 50, 11))
    ex, mc = _run(m, p, ntraj=2000)
    dd = np.diag([0, 0, 0, 1]).astype(complex)
    np.testing.assert_allclose(ex.rho, np.broadcast_to(dd, ex.rho.shape), rtol=0, atol=1e-13)
    np.testing.assert_allclose(mc.rho, np.broadcast_to(dd, mc.rho.shape), rtol=0, atol=1e-12)
    assert np.all(mc.rho_se <= 1e-6)
    if V == 0:
        assert mc.n_jumps == 0
    else:
        assert mc.n_jumps > 0  # dephasing jumps, which leave |dd> unchanged


@pytest.mark.statistical
def test_below_threshold_uu_relaxes_to_dd_closed_form():
    """Symmetric point, J_DM = 0, T = 0, V < nu: |uu> -> T2 -> |dd> through the collective lowering
    operator at rate gamma = lam F(nu) = 2 lam nu each step (dephasing and H do not move populations):
    p_uu = e^{-gamma t}, p_T2 = gamma t e^{-gamma t}, p_dd = 1 - (1 + gamma t) e^{-gamma t}."""
    nu, lam = 1.0, 0.1
    m = SpinPair(nu=nu, V=0.6, T=0.0, lam1=lam, lam2=lam, J_ex=0.05)
    gamma = lam * _F(nu, 0.6, 0.0)
    assert gamma == pytest.approx(2 * lam * nu)
    times = np.linspace(0, 12 / gamma, 13)
    p = Protocol("uu", (), times)
    ex, mc = _run(m, p)
    T2 = np.outer(basis_state("T2"), basis_state("T2").conj())
    e = np.exp(-gamma * times)
    np.testing.assert_allclose(ex.rho[:, 0, 0].real, e, rtol=0, atol=1e-12)
    np.testing.assert_allclose(_expect(ex.rho, T2), gamma * times * e, rtol=0, atol=1e-12)
    np.testing.assert_allclose(ex.rho[:, 3, 3].real, 1 - (1 + gamma * times) * e, rtol=0, atol=1e-12)
    assert singlet_population(ex.rho).max() < 1e-14 and singlet_population(mc.rho).max() < 1e-12
    assert_mc_matches_exact(mc, ex, "uu -> dd below threshold")


@pytest.mark.statistical
def test_below_threshold_off_symmetric_relaxes_to_dd():
    """Off the symmetric point no state is dark: below threshold everything ends in |dd>."""
    m = SpinPair(**{**GENERIC, "V": 0.5, "lam1": 0.3, "lam2": 0.1, "theta": 2.0})
    p = Protocol("uu", (5.0,), np.linspace(0, 300, 16))
    with warnings.catch_warnings():  # the post-selected weight decays, but stays above 1e-13 here
        warnings.simplefilter("error", PostSelectionUndefinedWarning)
        ex, mc = _run(m, p, ntraj=5000)
    np.testing.assert_allclose(ex.rho[-1], np.diag([0, 0, 0, 1]), rtol=0, atol=1e-8)
    np.testing.assert_allclose(mc.rho[-1], np.diag([0, 0, 0, 1]), rtol=0, atol=1e-8)
    assert_mc_matches_exact(mc, ex, "off-symmetric below threshold")


# ---- no coupling: unitary evolution ------------------------------------------------------------


def _unitary_protocol(H, psi, measure_at, times):
    """Closed form with lam = 0: rho(t) = U rho U^dag between measurements, P+ . P+ + P- . P- at each."""
    rho = np.outer(psi, psi.conj())
    out, t = [], 0.0
    events = sorted([(tm, 0) for tm in measure_at] + [(to, 1) for to in times])
    for te, kind in events:
        U = scipy.linalg.expm(-1j * H * (te - t))
        rho, t = U @ rho @ U.conj().T, te
        if kind == 0:
            rho = P_PLUS @ rho @ P_PLUS + P_MINUS @ rho @ P_MINUS
        else:
            out.append(rho)
    return np.array(out)


@pytest.mark.statistical
def test_no_coupling_is_unitary():
    """lam1 = lam2 = 0: no jump operators, no jumps; psi(t) = exp(-i H t) psi exactly."""
    m = SpinPair(**{**GENERIC, "lam1": 0.0, "lam2": 0.0, "T": 0.3, "J_ex": 0.3, "J_DM": 0.2})
    assert m.jump_operators().shape == (0, 4, 4)
    psi = _generic_psi(1)
    times = np.linspace(0, 10, 11)
    H = m.hamiltonian()
    ref = np.array([scipy.linalg.expm(-1j * H * t) @ psi for t in times])
    ex, mc = _run(m, Protocol(psi, (), times), ntraj=500)
    rho_ref = np.einsum("ti,tj->tij", ref, ref.conj())
    np.testing.assert_allclose(ex.rho, rho_ref, rtol=0, atol=1e-12)
    np.testing.assert_allclose(mc.rho, rho_ref, rtol=0, atol=1e-11)
    assert mc.n_jumps == 0
    for seed in range(3):
        tr = run_trajectory(m, Protocol(psi, (), times), seed)
        assert tr.jump_times.size == 0
        phase = np.vdot(ref[0], tr.states[0])  # the kernel starts from an eigenvector of rho0
        assert abs(phase) == pytest.approx(1.0, abs=1e-13)
        np.testing.assert_allclose(tr.states, ref * phase, rtol=0, atol=1e-12)


@pytest.mark.statistical
def test_no_coupling_with_measurements():
    """lam = 0 with measurements: the only randomness is the outcomes; the exact solution is the
    unitary closed form with non-selective measurements, and MC agrees statistically."""
    m = SpinPair(**{**GENERIC, "lam1": 0.0, "lam2": 0.0, "J_ex": 0.3, "J_DM": 0.2})
    psi = _generic_psi(2)
    times, meas = np.linspace(0, 10, 11), (2.5, 5.0, 5.0, 8.0)
    ex, mc = _run(m, Protocol(psi, meas, times))
    np.testing.assert_allclose(ex.rho, _unitary_protocol(m.hamiltonian(), psi, meas, times), rtol=0, atol=1e-12)
    # S_z is conserved between measurements: after the first round, the -1 branch stays in P_-
    assert ex.p_success[1:] == pytest.approx([1.0, 1.0, 1.0], abs=1e-14)
    assert mc.n_jumps == 0
    assert_mc_matches_exact(mc, ex, "no coupling with measurements")


# ---- stiff: rates 10^3 x the Larmor frequency ---------------------------------------------------


STIFF_TIMES = np.array([0.0, 1e-5, 1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 0.05, 0.2, 0.5])


@pytest.mark.statistical
@pytest.mark.parametrize(
    "params",
    [
        dict(nu=1.0, V=1.25, lam1=1000.0, lam2=1000.0, J_ex=0.024),
        dict(nu=1.0, V=1.25, lam1=1000.0, lam2=600.0, theta=0.4, phi=0.2, J_ex=0.024, J_DM=0.01),
    ],
    ids=["symmetric", "off-symmetric"],
)
def test_stiff_rates_match_exact(params):
    """lam ~ 1000 with nu = 1, V = 1.25: relaxation in ~1e-3 while H acts on ~1. The closed-form
    no-jump propagator must stay exact (no overflow of e^{m t} cosh w separately)."""
    m = SpinPair(**params)
    heff = m.effective_hamiltonian()
    for tau in (1e-7, 1e-4, 1e-2, 1.0, 50.0):
        np.testing.assert_allclose(
            propagator_matrix(heff, tau), scipy.linalg.expm(-1j * heff * tau), rtol=0, atol=1e-12
        )
    p = Protocol("ud", (3e-4, 0.05), STIFF_TIMES)
    ex, mc = _run(m, p, ntraj=4000)
    assert_mc_matches_exact(mc, ex, f"stiff {m.lam1}/{m.lam2}")
    for seed in range(3):
        tr = run_trajectory(m, p, seed)
        assert tr.jump_times.size > 10
        assert np.max(tr.jump_residuals) < 1e-10
        assert np.max(np.abs(np.sum(np.abs(tr.states) ** 2, axis=1) - 1)) < 1e-12


def test_stiff_symmetric_steady_state_eq11():
    """At the symmetric point the stiff model relaxes within ~1e-2 to the Eq. 11 steady state; from
    |ud> (p_d = 1/2, V = 1.25 nu): <tau_z x 1> = -0.43956..., <tau_z x tau_z> = -0.09890..., and both
    relations of Eq. 11 hold with rho_+- = <tau_+ x tau_->, nu~ = nu/V."""
    m = SpinPair(nu=1.0, V=1.25, lam1=1000.0, lam2=1000.0, J_ex=0.024)
    ex = solve_master_equation(m, Protocol("ud", (), [0.0, 0.5, 2.0]))
    for rho in ex.rho[1:]:
        nt = 1.0 / 1.25
        rpm = np.trace(rho @ kron("+", "-")).real
        z1, zz = _expect(rho, kron("z", "1")), _expect(rho, kron("z", "z"))
        assert singlet_population(rho) == pytest.approx(0.5, abs=1e-12)
        assert z1 == pytest.approx(-nt * (1 + 2 * rpm), abs=1e-10)
        assert zz == pytest.approx(nt**2 + 2 * (1 + nt**2) * rpm, abs=1e-10)
        assert z1 == pytest.approx(-0.43956, abs=1e-5) and zz == pytest.approx(-0.09890, abs=1e-5)


# ---- degeneracies of H_eff (J_ex = J_DM = 0) ----------------------------------------------------


@pytest.mark.statistical
@pytest.mark.parametrize(
    "params, kind",
    [
        (dict(lam1=0.1, lam2=0.1, theta=0.0), "symmetric point: equal diagonal, a - d = 0"),
        (dict(lam1=0.1, lam2=0.1, theta=math.pi), "independent equal spins: H_eff block ~ identity, z = 0"),
        (dict(lam1=0.1, lam2=0.02, theta=math.pi, J_ex=0.01), "exceptional point of H_eff"),
    ],
    ids=["symmetric", "identity-block", "exceptional"],
)
def test_degenerate_effective_hamiltonian(params, kind):
    """J_ex = J_DM = 0: the S_z = 0 block of H_eff is degenerate or proportional to the identity.
    Also its exceptional point: with theta = pi the spins decay independently and the block is
    [[J - i G_ud/2, -2J], [-2J, J - i G_du/2]] with G_ud - G_du = (lam1 - lam2)(F(nu) - F(-nu))/2
    = (lam1 - lam2) nu, defective at J = |lam1 - lam2| nu / 8."""
    m = SpinPair(**{"nu": 1.0, "V": 1.25, "T": 0.0, "phi": 0.0, "J_ex": 0.0, "J_DM": 0.0, **params})
    heff = m.effective_hamiltonian()
    a, d, b = heff[1, 1], heff[2, 2], heff[1, 2]
    disc = (a - d) ** 2 / 4 + b * heff[2, 1]
    if "exceptional" in kind:
        assert abs(disc) < 1e-15 and abs(b) > 1e-3  # defective, not diagonal
    else:
        assert abs(a - d) < 1e-16
        assert "identity" not in kind or abs(b) < 1e-16
    for tau in (1e-3, 0.37, 1.0, 7.0, 60.0):
        np.testing.assert_allclose(
            propagator_matrix(heff, tau), scipy.linalg.expm(-1j * heff * tau), rtol=0, atol=1e-13
        )
    p = Protocol(_generic_psi(3), (5.0, 12.0), np.linspace(0, 30, 11))
    ex, mc = _run(m, p)
    assert_mc_matches_exact(mc, ex, kind)


# ---- measurements at the ends and repeated -----------------------------------------------------


@pytest.mark.statistical
def test_measurements_at_zero_final_and_repeated():
    """Rounds at t = 0, twice at t = 4, twice at t_final: the output at t = 0 and at t_final already
    show the measured state; a repeated round at the same instant succeeds with certainty."""
    m = SpinPair(**GENERIC)
    psi = _generic_psi(4)
    t_final = 10.0
    p = Protocol(psi, (0.0, 4.0, 4.0, t_final, t_final), np.linspace(0, t_final, 11))
    ex, mc = _run(m, p)
    rho0 = np.outer(psi, psi.conj())
    p0 = abs(psi[1]) ** 2 + abs(psi[2]) ** 2
    assert ex.p_success[0] == pytest.approx(p0, abs=1e-15)
    np.testing.assert_allclose(ex.rho[0], P_PLUS @ rho0 @ P_PLUS + P_MINUS @ rho0 @ P_MINUS, atol=1e-15)
    np.testing.assert_allclose(ex.rho_post[0], P_MINUS @ rho0 @ P_MINUS / p0, atol=1e-15)
    # repeated rounds: certain success (exactly, in MC: the same trajectories succeed again)
    assert mc.p_success[2] == 1.0 and mc.p_success[4] == 1.0
    assert mc.n_success[2] == mc.n_success[1] and mc.n_success[4] == mc.n_success[3]
    assert ex.p_success[[2, 4]] == pytest.approx([1.0, 1.0], abs=2e-16)
    # post-selected states at t = 0 and t_final live in the -1 subspace: those entries are exact zeros
    for r in (mc.rho_post[0], mc.rho_post[-1]):
        assert r[0, 0] == 0 and r[3, 3] == 0 and r[0, 3] == 0
    assert abs(ex.rho_post[-1][0, 0]) + abs(ex.rho_post[-1][3, 3]) < 1e-15
    # non-selective measurement: the unconditional state is block diagonal at those times
    for r in (ex.rho[0], ex.rho[-1], mc.rho[0], mc.rho[-1]):
        assert np.max(np.abs(r[np.ix_([0, 3], [1, 2])])) < 1e-12
    assert_mc_matches_exact(mc, ex, "measurements at 0, repeated, at t_final")


def test_exact_repeated_round_succeeds_exactly():
    m = SpinPair(**GENERIC)
    ex = solve_master_equation(m, Protocol(_generic_psi(0), (10.0, 10.0), np.linspace(0, 10, 11)))
    assert ex.p_success[1] == 1.0


# ---- post-selection underflow ------------------------------------------------------------------


def _under_errors(fn):
    """Run fn with every warning an error except PostSelectionUndefinedWarning, which is recorded."""
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("error")
        warnings.simplefilter("always", PostSelectionUndefinedWarning)
        out = fn()
    return out, rec


@pytest.mark.statistical
@pytest.mark.parametrize("case", ["p=0 at t=0", "p=1e-14", "decayed p<1e-13 in round 1"])
def test_postselection_underflow(case):
    """A round whose success probability is 0 or below 1e-13: exact rho_post is NaN from that round
    on, with a PostSelectionUndefinedWarning naming the round; MC rho_post is NaN where n_post == 0;
    no other warning (division by zero, invalid value) escapes."""
    times = np.linspace(0, 3, 7)
    if case == "p=0 at t=0":
        m, p, bad_round, p_bad = SpinPair(lam1=0.0, lam2=0.0), Protocol("uu", (0.0, 1.0), times), 0, 0.0
    elif case == "p=1e-14":
        eps = 1e-14
        psi = np.array([math.sqrt(1 - eps), math.sqrt(eps), 0, 0], complex)
        m = SpinPair(**{**GENERIC, "lam1": 0.0, "lam2": 0.0})
        p, bad_round, p_bad = Protocol(psi, (1.0, 2.0), times), 0, eps
    else:
        # V = 0, T = 0: only lowering; independent spins (theta = pi): the -1 weight decays ~ e^{-0.3 t}
        m = SpinPair(nu=1.0, V=0.0, T=0.0, lam1=0.5, lam2=0.3, theta=math.pi, J_ex=0.1)
        times = np.array([0.0, 0.5, 1.0, 50.0, 120.0, 150.0, 200.0])
        p, bad_round, p_bad = Protocol("ud", (0.5, 120.0, 150.0), times), 1, None
    (ex, mc), rec = _under_errors(lambda: _run(m, p, ntraj=2000))
    assert len(rec) == 1 and issubclass(rec[0].category, PostSelectionUndefinedWarning), [str(w.message) for w in rec]
    assert f"round {bad_round + 1} " in str(rec[0].message)
    t_bad = p.measure_at[bad_round]
    undefined = p.times >= t_bad
    assert np.all(np.isnan(ex.rho_post[undefined])) and np.all(np.isfinite(ex.rho_post[~undefined]))
    assert np.all(np.isfinite(ex.rho))
    if p_bad is not None:
        assert ex.p_success[bad_round] == pytest.approx(p_bad, rel=1e-6, abs=0)
    assert 0 <= ex.p_success[bad_round] < 1e-13
    assert np.all(np.isnan(ex.p_success[bad_round + 1 :]))
    assert np.all(ex.p_cumulative[bad_round + 1 :] == 0)
    # MC: no trajectory survives the round; everything post-selected from there on is NaN
    assert mc.n_success[bad_round] == 0
    assert np.all(mc.n_post[undefined] == 0) and np.all(mc.n_post[~undefined] > 0)
    assert np.all(np.isnan(mc.rho_post[undefined])) and np.all(np.isnan(mc.population("S").value_post.real[undefined]))
    assert np.all(np.isnan(mc.rho_post_se[undefined]))
    assert np.all(np.isfinite(mc.rho_post[~undefined]))
    assert mc.p_success[bad_round] == 0 and np.all(np.isnan(mc.p_success[bad_round + 1 :]))
    assert np.all(mc.p_cumulative[bad_round:] == 0)
    assert np.isfinite(mc.max_singlet_se())
    assert_mc_matches_exact(mc, ex, case)
