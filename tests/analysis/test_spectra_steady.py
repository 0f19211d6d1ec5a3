"""Correlation spectra (Eq. 8, Fig. 2) and the steady-state family at the symmetric point (Fig. 3 left).

Expected values are the paper's closed forms, written out here (line positions from Eq. 9 and the
Fig. 2 caption, p_c after Eq. 11, the singlet's measures), QuTiP's independent spectrum routine, and
the sum rule int C dw / 2pi = 2 G(0). Run with -s to see the measured numbers. Takes a few seconds.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from darkspin.analysis.spectra import (
    correlation_operators,
    correlation_spectrum,
    find_peaks,
    linewidth,
    spectra,
    transition_lines,
)
from darkspin.analysis.steady import (
    critical_weight,
    critical_weight_closed_form,
    family_measures,
    family_states,
    steady_family,
)
from darkspin.ensemble.exact.steady import steady_states
from darkspin.trajectories.model import SpinPair

from reference import SINGLET, SM, SP, SZ, k1

OMEGA = np.linspace(0.0, 14.0, 2801)  # units of nu; Fig. 2 lines lie below 12


def paper_lines(model: SpinPair) -> dict[str, list[float]]:
    """Line positions (>= 0) stated in the paper for the Fig. 2 parameters, in units of nu."""
    nu, jx, jd = model.nu, model.J_ex, model.J_DM
    if jd == 0:
        # Fig. 2 caption: C1 at nu; C2 at nu, 4 J_ex +- nu; C3 at 0, 4 J_ex
        return {"C1": [nu], "C2": [nu, abs(4 * jx - nu), 4 * jx + nu], "C3": [0.0, 4 * jx]}
    j = math.hypot(jx, jd)
    # main text: four lines nu +- 2(j - J_ex), 2(j + J_ex) +- nu for both C1 and C2; C3 at 0 and
    # E_S - E_T2 = 4 j (Eq. 9: tau_- x tau_+ connects only S and T2)
    four = sorted(abs(x) for x in (nu + 2 * (j - jx), nu - 2 * (j - jx), 2 * (j + jx) + nu, 2 * (j + jx) - nu))
    return {"C1": four, "C2": four, "C3": [0.0, 4 * j]}


# ---- spectra ------------------------------------------------------------------------------------


def test_operators_are_eq8():
    ops = correlation_operators()
    assert set(ops) == {"C1", "C2", "C3"}
    du_ud = np.zeros((4, 4))
    du_ud[2, 1] = 1  # |du><ud| = tau_- x tau_+
    expected = {"C1": np.kron(SM, SZ) + np.kron(SZ, SM), "C2": np.kron(SM, SZ), "C3": np.kron(SM, SP)}
    np.testing.assert_array_equal(expected["C3"], du_ud)
    for name, (A, B) in ops.items():
        np.testing.assert_array_equal(A, expected[name])
        np.testing.assert_array_equal(B, expected[name].conj().T)


@pytest.mark.parametrize("with_dm", [False, True], ids=["J_ex", "J_ex+J_DM"])
def test_peaks_at_eq9_lines(with_dm):
    model = SpinPair.paper_fig2(with_dm=with_dm)
    spec = spectra(model, OMEGA)
    for name, expected in paper_lines(model).items():
        found = find_peaks(OMEGA, spec[name], rel_prominence=1e-3)
        widths = [linewidth(OMEGA, spec[name], x) for x in found]
        print(
            f"\n{name} dm={with_dm}: found {np.round(found, 4)} expected {np.round(expected, 4)}"
            f" FWHM {np.round(widths, 4)}"
        )
        assert len(found) == len(expected), (name, found, expected)
        for x, e, fwhm in zip(found, sorted(expected), widths, strict=True):
            assert abs(x - e) < 0.5 * fwhm, (name, x, e, fwhm)
            assert fwhm < 1.0  # resolved lines (rates ~ lam V ~ 0.1-0.3; spacings >= 1.3 incl. mirrors)


@pytest.mark.parametrize("with_dm", [False, True], ids=["J_ex", "J_ex+J_DM"])
def test_transition_lines_match_paper(with_dm):
    model = SpinPair.paper_fig2(with_dm=with_dm)
    lines = transition_lines(model)
    for name, expected in paper_lines(model).items():
        np.testing.assert_allclose(lines[name], sorted(expected), atol=1e-9)


def test_sign_convention_and_qutip():
    qutip = pytest.importorskip("qutip")
    # one driven spin, weakly coupled second spin: S of (tau_-, tau_+) peaks at omega = +nu
    w = np.linspace(-3, 3, 601)
    single = SpinPair(nu=1.0, V=10.0, lam1=0.01, lam2=0.005, J_ex=0.0)
    s1 = correlation_spectrum(single, k1(SM), k1(SP), w)
    assert abs(w[np.argmax(s1.real)] - 1.0) < 0.02
    # QuTiP (e^{-i w t}, exponential series, <A><B> subtracted) gives S(-w); non-even case with DM
    model = SpinPair.paper_fig2(with_dm=True)
    w = np.linspace(-14, 14, 281)
    dims = [[2, 2], [2, 2]]
    H = qutip.Qobj(model.hamiltonian(), dims=dims)
    c_ops = [qutip.Qobj(L, dims=dims) for L in model.jump_operators()]
    for name, (A, B) in correlation_operators().items():
        ours = correlation_spectrum(model, A, B, w)
        ref = qutip.spectrum(H, -w, c_ops, qutip.Qobj(A, dims=dims), qutip.Qobj(B, dims=dims), solver="es")
        scale = np.abs(ref).max()
        print(f"\n{name}: max |S - S_qutip| / max S = {np.abs(ours - ref).max() / scale:.2e}")
        assert np.abs(ours.imag).max() < 1e-10 * scale
        assert np.abs(ours - ref).max() < 1e-8 * scale
        if name != "C3":  # S itself is not even: its +-nu lines have different weights
            assert np.abs(ours.real - ours.real[::-1]).max() > 0.1 * scale


@pytest.mark.parametrize("with_dm", [False, True], ids=["J_ex", "J_ex+J_DM"])
def test_sum_rule(with_dm):
    """int C(w) dw / 2pi = 2 (<A B> - <A><B>): C = S(w) + S(-w) and int S dw / 2pi = G(0)."""
    model = SpinPair.paper_fig2(with_dm=with_dm)
    rho = steady_states(model)[0]
    # w = tan(u): the 1/w^2 tails become smooth, and the narrow dark line (width ~5e-4) is resolved
    u = np.linspace(-np.pi / 2, np.pi / 2, 40001)[1:-1]
    w, jac = np.tan(u), 1 / np.cos(u) ** 2
    spec = spectra(model, w)
    for name, (A, B) in correlation_operators().items():
        integral = np.sum(spec[name] * jac) * (u[1] - u[0]) / (2 * np.pi)
        exact = 2 * (np.trace(A @ B @ rho) - np.trace(A @ rho) * np.trace(B @ rho)).real
        print(f"\n{name}: integral {integral:.8f} exact {exact:.8f}")
        assert integral == pytest.approx(exact, rel=1e-4)


def test_sum_rule_at_symmetric_point():
    """With a 2-d kernel the removed delta(w) weight is G(inf) = lim <A(t) B(0)>, here from expm(L t)."""
    scipy_linalg = pytest.importorskip("scipy.linalg")
    model = SpinPair.paper_fig3_left()
    rho_tr, d = steady_family(model)
    rho = 0.3 * d + 0.7 * rho_tr
    L = model.liouvillian()
    slowest = np.sort(np.abs(np.linalg.eigvals(L).real))[2]  # two zero eigenvalues
    evolve = scipy_linalg.expm(L * 50 / slowest)  # e^{-50}: the stationary limit
    u = np.linspace(-np.pi / 2, np.pi / 2, 40001)[1:-1]
    w, jac = 0.1 * np.tan(u), 0.1 / np.cos(u) ** 2  # lines of width ~0.01 up to |w| ~ 1.1
    spec = spectra(model, w, steady_state=rho)
    for name, (A, B) in correlation_operators().items():
        g_inf = np.trace(A @ (evolve @ (B @ rho).reshape(16)).reshape(4, 4))
        exact = 2 * (np.trace(A @ B @ rho) - g_inf).real
        integral = np.sum(spec[name] * jac) * (u[1] - u[0]) / (2 * np.pi)
        print(f"\n{name}: G(inf) {g_inf.real:.6f}, integral {integral:.8f}, exact {exact:.8f}")
        assert integral == pytest.approx(exact, rel=1e-4)


def test_dark_line_narrows_near_symmetric_point():
    """C3's narrow omega = 0 line is the dark state's: FWHM = 2 x its decay rate, -> 0 as lam2 -> lam1."""
    base = SpinPair.paper_fig2(with_dm=False)
    w = np.concatenate([[0.0], np.logspace(-12, 0, 3000)])  # resolves widths from 1e-11 up
    fwhm, gamma = [], []
    for eps in (0.1, 0.01, 0.001):
        model = base.replace(lam2=base.lam1 * (1 - eps))
        c3 = spectra(model, w, which="C3")["C3"]
        rates = np.sort(np.abs(np.linalg.eigvals(model.liouvillian()).real))
        gamma.append(rates[1])  # rates[0] ~ 1e-16 is the steady state
        fwhm.append(linewidth(w, c3, 0.0))
    fwhm, gamma = np.array(fwhm), np.array(gamma)
    print(f"\nFWHM {fwhm}, 2 gamma_dark {2 * gamma}, ratio {fwhm / (2 * gamma)}")
    assert np.all(np.diff(fwhm) < 0)
    np.testing.assert_allclose(fwhm / (2 * gamma), 1.0, atol=0.01)


def test_spectra_input_checks():
    sym = SpinPair.paper_fig3_left()
    with pytest.raises(ValueError, match="steady_state"):
        spectra(sym, OMEGA)
    rho_tr, d = steady_family(sym)
    out = spectra(sym, OMEGA, which=("C3",), steady_state=0.5 * (rho_tr + d))
    assert set(out) == {"C3"} and np.isfinite(out["C3"]).all()
    with pytest.raises(ValueError, match="stationary"):
        spectra(sym, OMEGA, steady_state=np.diag([1.0, 0, 0, 0]))
    model = SpinPair.paper_fig2()
    with pytest.raises(ValueError, match="which"):
        spectra(model, OMEGA, which=("C4",))
    with pytest.raises(ValueError, match="omega"):
        spectra(model, [0.0, np.nan])
    with pytest.raises(ValueError, match="model"):
        spectra("fig2", OMEGA)


# ---- steady-state family ------------------------------------------------------------------------


@pytest.mark.parametrize("V, paper_value", [(1.25, 0.229), (2.5, None)])
def test_critical_weight(V, paper_value):
    model = SpinPair(V=V)  # symmetric point, T = 0, nu = 1
    nt2 = (model.nu / V) ** 2
    closed = (1 - nt2) / (2 * (1 - nt2 / 3))
    r = (V - 1) / (V + 1)
    assert closed == pytest.approx(3 * r / (1 + 4 * r + r * r), abs=1e-14)  # docs/physics.md check 4
    pc = critical_weight(model)
    print(f"\nV = {V}: p_c = {pc:.12f}, closed form {closed:.12f}")
    assert pc == pytest.approx(closed, abs=1e-10)
    assert critical_weight_closed_form(model) == pytest.approx(closed, abs=1e-14)
    if paper_value is not None:
        assert pc == pytest.approx(paper_value, abs=5e-4)
    # Wootters' concurrence (independent of the partial transpose) switches on at the same p
    c = family_measures(model, [pc - 1e-6, pc + 1e-3])["concurrence"]
    assert c[0] == 0.0 and c[1] > 1e-4


def test_family_end_points():
    model = SpinPair.paper_fig3_left()
    m = family_measures(model, np.array([0.0, 1.0]))
    np.testing.assert_allclose(m["concurrence"][1], 1.0, atol=1e-9)
    np.testing.assert_allclose(m["entanglement_of_formation"][1], 1.0, atol=1e-9)
    np.testing.assert_allclose(m["log_negativity"][1], 1.0, atol=1e-9)
    np.testing.assert_allclose(m["mutual_information"][1], 2.0, atol=1e-9)
    np.testing.assert_allclose(m["log_negativity"][0], 0.0, atol=1e-9)
    np.testing.assert_allclose(m["entanglement_of_formation"][0], 0.0, atol=1e-9)
    assert m["mutual_information"][0] > 0.01  # rho_tr is correlated though separable (Fig. 3 left)
    np.testing.assert_allclose(family_states(model, 1.0), np.outer(SINGLET, SINGLET.conj()), atol=1e-9)


def test_steady_input_checks():
    off = SpinPair.paper_fig2()
    with pytest.raises(ValueError, match="symmetric point"):
        steady_family(off)
    with pytest.raises(ValueError, match="symmetric point"):
        critical_weight(off)
    with pytest.raises(ValueError, match="T must be 0"):
        critical_weight_closed_form(SpinPair(T=0.1))
    with pytest.raises(ValueError, match="V must exceed nu"):
        critical_weight_closed_form(SpinPair(V=0.5))
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        family_measures(SpinPair(), [0.5, 1.5])
    # at T > 0 the state-based p_c still exists (no closed form), and lies in (0, 1)
    assert 0 < critical_weight(SpinPair(V=2.5, T=0.3)) < 1
