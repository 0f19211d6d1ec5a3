"""Closed-form checks of docs/physics.md for trajectories.model (and its steady states).

Every expected value is computed here from the formulas of docs/physics.md (or by an independent
construction in this file), never taken from the code under test.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.linalg
from scipy.optimize import brentq

from darkspin.ensemble.exact.solver import solve_master_equation
from darkspin.ensemble.exact.steady import steady_states
from darkspin.trajectories.model import SpinPair, exchange_from_bandwidth, phase_space
from darkspin.trajectories.protocol import Protocol

from reference import (
    KET,
    SM,
    SP,
    SX,
    SY,
    SZ,
    T1,
    T2,
    T3,
    D,
    decay_operator,
    hamiltonian,
    k1,
    k2,
    kossakowski_rhs,
    lindblad_rhs,
    partial_transpose_2,
    random_rho,
    superoperator,
)
from reference import SINGLET as S
from reference import F as F_indep


def kernel_dim(L, rel=1e-10):
    s = np.linalg.svd(L, compute_uv=False)
    return int(np.sum(s < rel * s[0]))


def long_time_state(model, rho0, t=1e5):
    U = scipy.linalg.expm(model.liouvillian() * t)
    return (U @ np.asarray(rho0, dtype=complex).reshape(16)).reshape(4, 4)


def expect(rho, op):
    return np.trace(rho @ op)


SYM = SpinPair()  # the paper's Fig. 3 right point: symmetric, T = 0, V = 1.25 nu

# ---- Hamiltonian, Eq. 9 ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "J_ex, J_DM",
    [(0.024, 0.0), (0.0, 0.0), (-0.05, 0.0), (0.024, 0.03), (-0.07, 0.02), (0.1, -0.2), (0.0, 0.05), (-0.3, -0.4)],
)
@pytest.mark.parametrize("nu", [1.0, 0.37])
def test_hamiltonian_eigenvalues_eq9(nu, J_ex, J_DM):
    m = SpinPair(nu=nu, J_ex=J_ex, J_DM=J_DM)
    H = m.hamiltonian()
    assert H.shape == (4, 4)
    np.testing.assert_allclose(H, H.conj().T, atol=1e-15)
    j = math.sqrt(J_ex**2 + J_DM**2)
    expected = sorted([2 * j + J_ex, nu - J_ex, -2 * j + J_ex, -nu - J_ex])
    np.testing.assert_allclose(np.linalg.eigvalsh(H), expected, atol=1e-13)


@pytest.mark.parametrize("J_ex, J_DM", [(0.024, 0.0), (-0.05, 0.02), (0.1, -0.2)])
def test_eigenenergies_closed_form(J_ex, J_DM):
    m = SpinPair(nu=1.3, J_ex=J_ex, J_DM=J_DM)
    j = math.sqrt(J_ex**2 + J_DM**2)
    expected = {"S": 2 * j + J_ex, "T1": 1.3 - J_ex, "T2": -2 * j + J_ex, "T3": -1.3 - J_ex}
    got = m.eigenenergies()
    assert set(got) == set(expected)
    for k in expected:
        assert got[k] == pytest.approx(expected[k], abs=1e-14)
    # T1 = |uu>, T3 = |dd> are exact eigenvectors with these energies
    H = m.hamiltonian()
    np.testing.assert_allclose(H @ T1, expected["T1"] * T1, atol=1e-14)
    np.testing.assert_allclose(H @ T3, expected["T3"] * T3, atol=1e-14)


def test_hamiltonian_matches_independent_construction():
    m = SpinPair(nu=0.8, J_ex=-0.13, J_DM=0.21)
    H = (
        0.4 * (k1(SZ) + k2(SZ))
        + 0.13 * (np.kron(SX, SX) + np.kron(SY, SY) + np.kron(SZ, SZ))
        + 0.21 * (np.kron(SX, SY) - np.kron(SY, SX))
    )
    np.testing.assert_allclose(m.hamiltonian(), H, atol=1e-15)
    np.testing.assert_allclose(hamiltonian(m), H, atol=1e-15)  # and the reference used elsewhere


def test_singlet_eigenstate_without_dm():
    H = SpinPair(J_ex=0.07).hamiltonian()
    np.testing.assert_allclose(H @ S, (3 * 0.07) * S, atol=1e-15)  # E_S = 2|J| + J for J > 0


# ---- dark state and kernel ---------------------------------------------------------------------

SYMMETRIC_POINTS = [
    SYM,
    SpinPair(V=2.5),
    SpinPair(T=0.3, V=1.7, lam1=0.03, lam2=0.03, J_ex=-0.05),
    SpinPair(V=0.5),
    SpinPair(J_ex=0.0),
]


@pytest.mark.parametrize("m", SYMMETRIC_POINTS)
def test_dark_state_at_symmetric_point(m):
    assert m.is_symmetric_point
    L = m.liouvillian()
    # Tr[d L(rho)] = vec(d^T)... with row-major vec, Tr[d X] = sum_ij d_ji X_ij = vec(d.T) . vec(X)
    row = D.T.reshape(16) @ L
    assert np.max(np.abs(row)) < 1e-14
    rng = np.random.default_rng(1)
    for _ in range(5):
        rho = random_rho(rng)
        assert abs(np.trace(D @ (L @ rho.reshape(16)).reshape(4, 4))) < 1e-14
    # d itself is stationary and the kernel is two-dimensional
    assert np.max(np.abs(L @ D.reshape(16))) < 1e-14
    assert kernel_dim(L) == 2


@pytest.mark.parametrize(
    "changes", [dict(lam2=0.01), dict(theta=0.4), dict(phi=0.3), dict(lam2=0.02, theta=-0.2, phi=1.1, T=0.2)]
)
def test_off_symmetric_point_kernel_one_dimensional_and_singlet_decays(changes):
    m = SYM.replace(**changes)
    assert not m.is_symmetric_point
    L = m.liouvillian()
    assert kernel_dim(L) == 1
    # the singlet population decays: d/dt <S|rho|S> < 0 at rho = d, and is well below 1 at long times
    dp = np.trace(D @ (L @ D.reshape(16)).reshape(4, 4)).real
    assert dp < -1e-4
    rho_inf = long_time_state(m, D, t=2e4)
    assert (S.conj() @ rho_inf @ S).real < 0.6


def test_dm_coupling_breaks_darkness_even_at_lam1_eq_lam2_theta_phi_zero():
    """H_DM = 2i J_DM (|ud><du| - |du><ud|) couples S to T2, so the singlet is not stationary."""
    m = SYM.replace(J_DM=0.03)
    H_DM = 2j * 0.03 * (np.outer(KET["ud"], KET["du"]) - np.outer(KET["du"], KET["ud"]))
    np.testing.assert_allclose(m.hamiltonian() - SYM.hamiltonian(), H_DM, atol=1e-15)
    L = m.liouvillian()
    assert kernel_dim(L) == 1
    assert np.max(np.abs(L @ D.reshape(16))) > 1e-2


# ---- jump operators ----------------------------------------------------------------------------


def _equal_up_to_phase(A, B, atol=1e-13):
    k = np.argmax(np.abs(B))
    idx = np.unravel_index(k, B.shape)
    if abs(A[idx]) == 0:
        return np.allclose(A, B, atol=atol)
    phase = A[idx] / B[idx]
    return abs(abs(phase) - 1) < 1e-12 and np.allclose(A, phase * B, atol=atol)


@pytest.mark.parametrize("V, lam", [(1.25, 0.0126), (2.5, 0.05), (3.0, 0.001)])
def test_symmetric_point_jump_operators(V, lam):
    nu = 1.0
    m = SpinPair(nu=nu, V=V, lam1=lam, lam2=lam)
    jumps = m.jump_operators()
    assert jumps.shape == (3, 4, 4)
    assert len(m.jump_labels()) == 3
    for L in jumps:
        assert np.max(np.abs(L @ S)) < 1e-15
    Fp, Fm, F0 = F_indep(nu, V, 0.0), F_indep(-nu, V, 0.0), F_indep(0.0, V, 0.0)
    assert (Fp, Fm, F0) == (V + nu, V - nu, V)  # the T = 0 values quoted in docs/physics.md
    expected = [
        math.sqrt(lam * Fp / 2) * (k1(SM) + k2(SM)),
        math.sqrt(lam * Fm / 2) * (k1(SP) + k2(SP)),
        math.sqrt(lam * F0 / 4) * (k1(SZ) + k2(SZ)),
    ]
    for exp in expected:  # each expected operator appears exactly once (order not prescribed)
        matches = [i for i, L in enumerate(jumps) if _equal_up_to_phase(L, exp)]
        assert len(matches) == 1, matches


def test_off_symmetric_point_six_channels():
    m = SpinPair(theta=0.5, lam2=0.02)
    jumps = m.jump_operators()
    assert jumps.shape == (6, 4, 4)
    assert len(m.jump_labels()) == 6
    assert len(set(m.jump_labels())) == 6


MODELS = [
    SYM,
    SpinPair(V=2.5, T=0.4),
    SpinPair(nu=1, V=1.7, T=0.3, lam1=0.05, lam2=0.02, theta=0.4, phi=0.3, J_ex=0.05, J_DM=0.03),
    SpinPair(lam2=0.0, J_ex=0.0),
    SpinPair(V=0.6, theta=2.0, phi=-0.7, J_DM=-0.1),
    SpinPair(V=0.0, T=0.5, lam1=0.1, lam2=0.3, phi=math.pi / 2),
]


@pytest.mark.parametrize("m", MODELS)
def test_liouvillian_rebuilt_from_jump_operators(m):
    L = m.liouvillian()
    assert L.shape == (16, 16)
    # the unraveling-independent Kossakowski form of docs/physics.md, built in tests/reference.py
    L_koss = superoperator(lambda X: kossakowski_rhs(m, X))
    assert np.max(np.abs(L_koss - L)) < 1e-13
    # the library's jump operators unravel that same master equation (with the independent H)
    jumps = m.jump_operators()
    L_jumps = superoperator(lambda X: lindblad_rhs(hamiltonian(m), jumps, X))
    assert np.max(np.abs(L_jumps - L_koss)) < 1e-13
    # effective Hamiltonian H - (i/2) sum L^dag L, where sum L^dag L = sum_s sum_ab K_ab A_b^dag A_a
    # for every unraveling: expected value from the independent H and Kossakowski matrices
    heff = hamiltonian(m) - 0.5j * decay_operator(m)
    np.testing.assert_allclose(m.effective_hamiltonian(), heff, atol=1e-14)


@pytest.mark.parametrize("m", MODELS)
def test_liouvillian_trace_preserving_and_hermiticity_preserving(m):
    L = m.liouvillian()
    assert np.max(np.abs(np.eye(4).reshape(16) @ L)) < 1e-14  # vec(I)^dag L = 0
    rng = np.random.default_rng(7)
    for _ in range(4):
        X = rng.normal(size=(4, 4)) + 1j * rng.normal(size=(4, 4))
        X = X + X.conj().T
        Y = (L @ X.reshape(16)).reshape(4, 4)
        assert np.max(np.abs(Y - Y.conj().T)) < 1e-14
        assert abs(np.trace(Y)) < 1e-14


# ---- Eq. 11 ------------------------------------------------------------------------------------

TZ1, TZ2, TZZ = k1(SZ), k2(SZ), np.kron(SZ, SZ)
TPM = np.kron(SP, SM)  # tau_+ x tau_-


def _check_eq11(rho, nu_t):
    rho_pm = expect(rho, TPM)
    assert abs(rho_pm.imag) < 1e-10
    rho_pm = rho_pm.real
    z1, z2, zz = (expect(rho, op).real for op in (TZ1, TZ2, TZZ))
    assert z1 == pytest.approx(-nu_t * (1 + 2 * rho_pm), abs=1e-9)
    assert z2 == pytest.approx(-nu_t * (1 + 2 * rho_pm), abs=1e-9)
    assert zz == pytest.approx(nu_t**2 + 2 * (1 + nu_t**2) * rho_pm, abs=1e-9)
    return z1, zz


def test_eq11_from_ud_paper_point():
    res = solve_master_equation(SYM, Protocol("ud", (), [0.0, 1e5]))
    rho = res.rho[-1]
    assert (S.conj() @ rho @ S).real == pytest.approx(0.5, abs=1e-12)
    z1, zz = _check_eq11(rho, 1 / 1.25)
    # closed-form numbers: triplet populations r^2:r:1, r = 1/9, p_d = 1/2
    r = (1.25 - 1) / (1.25 + 1)
    pT2 = r / (1 + r + r * r)
    rho_pm = 0.5 * (-0.5) + 0.5 * pT2 / 2
    nu_t = 1 / 1.25
    assert z1 == pytest.approx(-nu_t * (1 + 2 * rho_pm), abs=1e-10)
    assert z1 == pytest.approx(-40 / 91, abs=1e-8)
    assert zz == pytest.approx(-9 / 91, abs=1e-8)
    assert z1 == pytest.approx(-0.43956, abs=1e-5) and zz == pytest.approx(-0.09890, abs=1e-5)


@pytest.mark.parametrize("V", [1.25, 2.5, 4.0])
@pytest.mark.parametrize("init", ["ud", "mixed", "pure"])
def test_eq11_other_voltages_and_initial_states(V, init):
    rng = np.random.default_rng(3)
    if init == "ud":
        rho0 = np.outer(KET["ud"], KET["ud"])
    elif init == "mixed":
        rho0 = random_rho(rng)
    else:
        psi = rng.normal(size=4) + 1j * rng.normal(size=4)
        psi /= np.linalg.norm(psi)
        rho0 = np.outer(psi, psi.conj())
    m = SpinPair(V=V)
    rho = long_time_state(m, rho0)
    # the dark weight is conserved
    assert (S.conj() @ rho @ S).real == pytest.approx((S.conj() @ rho0 @ S).real, abs=1e-10)
    _check_eq11(rho, 1 / V)


# ---- triplet relaxation, steady states, p_c -------------------------------------------------------


@pytest.mark.parametrize("V", [1.25, 2.5, 1.05, 7.0])
def test_triplet_relaxes_to_r2_r_1(V):
    nu = 1.0
    m = SpinPair(V=V)
    ss = steady_states(m)
    assert ss.shape == (2, 4, 4)
    rho_tr, d = ss
    r = (V - nu) / (V + nu)
    Z = r * r + r + 1
    pops = [(v.conj() @ rho_tr @ v).real for v in (S, T1, T2, T3)]
    np.testing.assert_allclose(pops, [0.0, r * r / Z, r / Z, 1 / Z], atol=1e-10)
    # rho_tr is diagonal in the singlet-triplet basis
    B = np.stack([S, T1, T2, T3], axis=1)
    rt = B.conj().T @ rho_tr @ B
    assert np.max(np.abs(rt - np.diag(np.diag(rt)))) < 1e-10
    np.testing.assert_allclose(d, D, atol=1e-10)


def _pc_numeric(rho_tr):
    def lmin(p):
        rho = p * D + (1 - p) * rho_tr
        return np.linalg.eigvalsh(partial_transpose_2(rho))[0]

    assert lmin(0.0) > 0 and lmin(1.0) < 0
    return brentq(lmin, 0.0, 1.0, xtol=1e-15, rtol=1e-15)


@pytest.mark.parametrize("V", [1.25, 2.5, 1.6, 5.0])
def test_entanglement_threshold_pc(V):
    nu = 1.0
    rho_tr = steady_states(SpinPair(V=V))[0]
    pc = _pc_numeric(rho_tr)
    nt = nu / V
    r = (V - nu) / (V + nu)
    formula = (1 - nt**2) / (2 * (1 - nt**2 / 3))
    assert formula == pytest.approx(3 * r / (1 + 4 * r + r * r), rel=1e-14)
    assert pc == pytest.approx(formula, abs=1e-8)
    if V == 1.25:
        assert pc == pytest.approx(0.2288, abs=5e-5)
        assert pc == pytest.approx(27 / 118, abs=1e-8)


# ---- single spin -------------------------------------------------------------------------------


def _single_spin_tz(m):
    rho0 = np.outer(KET["ud"], KET["ud"])
    rho = long_time_state(m, rho0, t=2e4)
    return expect(rho, TZ1).real


@pytest.mark.parametrize("V", [1.25, 2.5, 1.01, 10.0])
def test_single_spin_zero_temperature(V):
    m = SpinPair(V=V, lam1=0.05, lam2=0.0, J_ex=0.0)
    assert _single_spin_tz(m) == pytest.approx(-1.0 / V, abs=1e-10)


@pytest.mark.parametrize("V, T", [(1.25, 0.1), (2.5, 0.7), (0.3, 0.2), (0.0, 0.4), (1.0, 2.0)])
def test_single_spin_finite_temperature_detailed_balance(V, T):
    nu, lam = 1.0, 0.05
    m = SpinPair(nu=nu, V=V, T=T, lam1=lam, lam2=0.0, J_ex=0.0)
    gdown, gup = lam * F_indep(nu, V, T) / 2, lam * F_indep(-nu, V, T) / 2
    # the jump operators carry exactly these rates
    jumps = m.jump_operators()
    rates = {}
    for L in jumps:
        for name, A in (("down", k1(SM)), ("up", k1(SP)), ("z", k1(SZ))):
            c = np.vdot(A, L) / np.vdot(A, A)
            if np.allclose(L, c * A, atol=1e-14) and abs(c) > 0:
                rates[name] = abs(c) ** 2
    assert rates["down"] == pytest.approx(gdown, rel=1e-12)
    assert rates["up"] == pytest.approx(gup, rel=1e-12)
    assert rates["z"] == pytest.approx(lam * F_indep(0.0, V, T) / 4, rel=1e-12)
    # detailed balance of the stationary populations: p_u / p_d = gup / gdown
    tz = _single_spin_tz(m)
    assert tz == pytest.approx((gup - gdown) / (gup + gdown), abs=1e-10)
    if V == 0.0:  # equilibrium: thermal at the electron temperature
        assert gup / gdown == pytest.approx(math.exp(-nu / T), rel=1e-12)
        assert tz == pytest.approx(-math.tanh(nu / (2 * T)), abs=1e-10)


# ---- phase space and exchange ------------------------------------------------------------------


@pytest.mark.parametrize("omega", [-3.0, -1.0, -0.2, 0.0, 0.5, 1.0, 2.5])
@pytest.mark.parametrize("V", [0.0, 0.4, 1.25, 3.0])
def test_phase_space(omega, V):
    assert phase_space(omega, V, 0.0) == pytest.approx(F_indep(omega, V, 0.0), abs=1e-15)
    assert phase_space(omega, V, 0.0) == pytest.approx(max(omega + V, 0) + max(omega - V, 0), abs=1e-15)
    for T in (0.05, 0.3, 1.0, 4.0):
        assert phase_space(omega, V, T) == pytest.approx(F_indep(omega, V, T), rel=1e-12, abs=1e-300)
    # T -> 0 limit (exponentially small corrections except where omega +- V = 0, where g(0) = T)
    T = 1e-3
    zero_args = sum(1 for x in (omega + V, omega - V) if x == 0)
    assert phase_space(omega, V, T) == pytest.approx(F_indep(omega, V, 0.0) + zero_args * T, abs=1e-12)
    assert phase_space(omega, V, 1e-12) == pytest.approx(F_indep(omega, V, 0.0), abs=1e-11)


@pytest.mark.parametrize("omega", [0.3, 1.0, 4.0])
@pytest.mark.parametrize("T", [0.05, 0.5, 2.0])
def test_phase_space_detailed_balance_at_zero_bias(omega, T):
    """At V = 0, F = 2 g with g(x) - g(-x) = x and g(-x) = exp(-x/T) g(x) (equilibrium detailed balance)."""
    up, down = phase_space(-omega, 0.0, T), phase_space(omega, 0.0, T)
    assert down - up == pytest.approx(2 * omega, rel=1e-13)
    assert up == pytest.approx(math.exp(-omega / T) * down, rel=1e-12)
    # the reference g obeys the same identities (both of its branches)
    assert F_indep(omega, 0.0, T) - F_indep(-omega, 0.0, T) == pytest.approx(2 * omega, rel=1e-13)
    assert F_indep(-omega, 0.0, T) == pytest.approx(math.exp(-omega / T) * F_indep(omega, 0.0, T), rel=1e-12)


def test_phase_space_g0_and_extremes():
    for T in (0.01, 0.5, 3.0):
        assert phase_space(0.0, 0.0, T) == pytest.approx(2 * T, rel=1e-15)  # g(0) = T twice
        assert phase_space(1.0, 1.0, T) == pytest.approx(T + 2.0 / (1 - math.exp(-2.0 / T)), rel=1e-13)
    # no overflow far in the tails
    assert phase_space(-1e3, 0.0, 1e-3) >= 0.0
    assert phase_space(-1e3, 0.0, 1e-3) < 1e-300
    assert phase_space(1e3, 0.0, 1e-3) == pytest.approx(2e3, rel=1e-15)


@pytest.mark.parametrize(
    "lam1, lam2, V, Lam, theta, phi",
    [
        (0.0126, 0.0126, 1.25, 100.0, 0.0, 0.0),
        (0.01, 0.009, 10.0, 50.0, 0.3, math.pi / 4),
        (0.02, 0.05, 0.0, 7.0, -1.0, 0.2),
        (0.02, 0.05, 12.0, 7.0, 0.5, -0.4),
        (0.1, 0.1, -3.0, 20.0, 0.0, 1.0),
    ],
)
def test_exchange_from_bandwidth(lam1, lam2, V, Lam, theta, phi):
    aV = abs(V)
    delta = Lam * math.log(16 * Lam**2 / abs(Lam**2 - aV**2))
    if aV > 0:
        delta -= aV * math.log(abs((Lam + aV) / (Lam - aV)))
    base = math.sqrt(lam1 * lam2) / (4 * math.pi) * delta * math.cos(theta / 2)
    J_ex, J_DM = exchange_from_bandwidth(lam1, lam2, V, Lam, theta, phi)
    assert J_ex == pytest.approx(base * math.cos(phi), rel=1e-13, abs=1e-16)
    assert J_DM == pytest.approx(base * math.sin(phi), rel=1e-13, abs=1e-16)


def test_exchange_from_bandwidth_bad_input():
    with pytest.raises(ValueError, match="bandwidth"):
        exchange_from_bandwidth(0.01, 0.01, 1.0, -5.0)
    with pytest.raises(ValueError, match="bandwidth"):
        exchange_from_bandwidth(0.01, 0.01, 1.0, 1.0)
    with pytest.raises(ValueError, match="bandwidth"):
        exchange_from_bandwidth(0.01, 0.01, 1.0, float("nan"))


# ---- bad input ---------------------------------------------------------------------------------

FIELDS = ("nu", "V", "T", "lam1", "lam2", "theta", "phi", "J_ex", "J_DM")


@pytest.mark.parametrize("name", ["lam1", "lam2", "T", "V", "nu"])
def test_negative_parameters_rejected(name):
    with pytest.raises(ValueError, match=name):
        SpinPair(**{name: -0.1})


@pytest.mark.parametrize("name", FIELDS)
@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf"), "1.0", None, 1 + 0j])
def test_non_finite_or_non_numeric_rejected(name, bad):
    with pytest.raises(ValueError, match=name):
        SpinPair(**{name: bad})
    with pytest.raises(ValueError, match=name):
        SYM.replace(**{name: bad})


def test_valid_values_accepted_and_presets():
    m = SpinPair(nu=0, V=0, T=0, lam1=0, lam2=0, theta=-7.0, phi=-1.0, J_ex=-2, J_DM=np.float32(0.5))
    assert isinstance(m.J_DM, float) and m.J_ex == -2.0


# the paper's parameters in units of nu (Fig. 3 caption; Fig. 2 caption: nu = 0.1 V, J_ex = J_DM = 0.2 V)
PAPER_PRESETS = {
    "fig3_right": dict(nu=1.0, V=1.25, T=0.0, lam1=0.0126, lam2=0.0126, theta=0.0, phi=0.0, J_ex=0.024, J_DM=0.0),
    # Fig. 3 left gives only V = 2.5 nu at the symmetric point (the steady-state family needs no more)
    "fig3_left": dict(nu=1.0, V=2.5, T=0.0, theta=0.0, phi=0.0, J_DM=0.0),
    "fig2": dict(nu=1.0, V=10.0, T=0.0, lam1=0.01, lam2=0.009, theta=0.0, phi=0.0, J_ex=2.0, J_DM=0.0),
    "fig2_dm": dict(nu=1.0, V=10.0, T=0.0, lam1=0.01, lam2=0.009, theta=0.0, phi=math.pi / 4, J_ex=2.0, J_DM=2.0),
}


@pytest.mark.parametrize("name", list(PAPER_PRESETS))
def test_presets_are_the_papers_parameters(name):
    preset = {
        "fig3_right": SpinPair.paper_fig3_right(),
        "fig3_left": SpinPair.paper_fig3_left(),
        "fig2": SpinPair.paper_fig2(),
        "fig2_dm": SpinPair.paper_fig2(with_dm=True),
    }[name]
    for field, value in PAPER_PRESETS[name].items():
        assert getattr(preset, field) == pytest.approx(value, abs=1e-15), field
    if name == "fig3_left":
        assert preset.lam1 == preset.lam2 > 0
    assert SpinPair() == SpinPair.paper_fig3_right()  # the documented default


@pytest.mark.parametrize("name", ["nu", "V", "T", "lam1", "lam2", "J_ex", "J_DM", "theta"])
def test_absurdly_large_parameters_are_rejected_by_name(name):
    # finite but huge values would overflow the propagators into NaN states instead of failing loudly
    with pytest.raises(ValueError, match=rf"{name} must lie within"):
        SpinPair(**{name: 1e300})
