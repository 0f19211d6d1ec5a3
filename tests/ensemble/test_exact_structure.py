"""The exact solver where rounding used to win: many rounds, long times, structural zeros.

References: closed forms of docs/physics.md (check 3: triplet populations r^2 : r : 1 at the symmetric
point; the dark weight is conserved), the steady state from the Liouvillian's kernel built in
tests/reference.py, and the same protocol with few rounds (well conditioned).
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import scipy.linalg

import darkspin as ds
from darkspin.ensemble.results.master_equation import PostSelectionUndefinedWarning

from reference import SINGLET, kossakowski_rhs, singlet_population, superoperator


def _solve_quietly(model, protocol):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no warning of any kind
        return ds.solve_master_equation(model, protocol)


def test_many_identical_rounds_stay_exact():
    """Red team: 400 identical rounds from |uu> at T = 5. p_success must settle to one value and stay
    there (the old solver drifted from round 31 and reached -0.06); the singlet is decoupled exactly
    at the symmetric point, so its population stays exactly 0."""
    model = ds.SpinPair(lam1=0.1, lam2=0.1, T=5.0)
    many = ds.Protocol("uu", np.linspace(1, 500, 400), np.linspace(0, 500, 51))
    ex = _solve_quietly(model, many)
    few = _solve_quietly(model, ds.Protocol("uu", many.measure_at[:4], many.measure_at[:4]))
    settled = few.p_success[3]
    assert 0.3 < settled < 0.4
    np.testing.assert_allclose(ex.p_success[3:], settled, rtol=0, atol=1e-12)
    assert np.all(np.isfinite(ex.rho_post))
    assert np.max(np.abs(singlet_population(ex.rho_post))) == 0.0
    # with outputs between the rounds as well (the old solver reported 0.397 there, without a warning)
    shifted = ds.Protocol("uu", many.measure_at, np.linspace(0, 500, 51) + 0.5)
    np.testing.assert_allclose(_solve_quietly(model, shifted).p_success[3:], settled, rtol=0, atol=1e-12)


@pytest.mark.parametrize("t", [1e2, 1e4, 1e8, 1e12])
def test_long_times_at_the_symmetric_point_meet_the_closed_form(t):
    """From |ud> the dark weight stays 1/2 and the triplet relaxes to r^2 : r : 1, r = (V - nu)/(V + nu):
    the -1 outcome has probability 1/2 + (1/2) r / (1 + r + r^2) once t >> 1/lam."""
    model = ds.SpinPair()
    ex = _solve_quietly(model, ds.Protocol("ud", [t], [0.0, t]))
    r = (model.V - model.nu) / (model.V + model.nu)
    assert singlet_population(ex.rho[-1]) == pytest.approx(0.5, abs=1e-12)
    assert np.trace(ex.rho[-1]).real == pytest.approx(1.0, abs=1e-13)
    if t >= 1e4:
        assert ex.p_success[0] == pytest.approx(0.5 + 0.5 * r / (1 + r + r * r), abs=1e-11)


@pytest.mark.parametrize("t", [1e3, 1e7, 1e12])
def test_long_times_with_fast_rates_reach_the_steady_state(t):
    """lam = 1e3 and 2e3 (|L| ~ 2e4), up to t = 1e12: the state is the unique steady state (the kernel of
    the reference Liouvillian) to 1e-12; scaling and squaring alone gave a trace of 1.3 here."""
    model = ds.SpinPair(lam1=1e3, lam2=2e3, V=3.0, T=2.0)
    L = superoperator(lambda rho: kossakowski_rhs(model, rho))
    _, _, vh = np.linalg.svd(L)
    ss = vh[-1].conj().reshape(4, 4)
    ss = ss / np.trace(ss)
    for initial in ("S", "ud"):
        ex = _solve_quietly(model, ds.Protocol(initial, [], [0.0, t]))
        np.testing.assert_allclose(ex.rho[-1], ss, rtol=0, atol=1e-12)


def test_dark_singlet_is_exact_forever():
    """The singlet is dark at the symmetric point: from S every tau_z x tau_z round succeeds with certainty."""
    ex = _solve_quietly(ds.SpinPair(), ds.Protocol("S", [1e12], [0.0, 1e12]))
    assert ex.p_success[0] == 1.0
    np.testing.assert_allclose(ex.rho_post[-1], np.outer(SINGLET, SINGLET), rtol=0, atol=1e-15)


def test_untrustworthy_conditional_state_is_reported_not_returned():
    """A -1 weight that has decayed to the rounding level (V < nu at T = 0: the steady state is |dd>):
    the round is named in a warning and rho_post is NaN from there; the unconditional state is exact."""
    model = ds.SpinPair(V=0.5, lam1=0.2, lam2=0.1, theta=0.5, J_ex=0.0)
    protocol = ds.Protocol("ud", (1.0, 1e4), [0.0, 1.0, 5e3, 1e4])
    with pytest.warns(PostSelectionUndefinedWarning, match="round 2 "):
        ex = ds.solve_master_equation(model, protocol)
    assert np.all(np.isnan(ex.rho_post[-1])) and np.all(np.isfinite(ex.rho_post[:-1]))
    L = superoperator(lambda rho: kossakowski_rhs(model, rho))
    rho1 = ex.rho[1]
    ref = (scipy.linalg.expm(L * (1e4 - 1.0)) @ rho1.reshape(16)).reshape(4, 4)
    P = np.diag([1, 0, 0, 1]), np.diag([0, 1, 1, 0])
    ref = P[0] @ ref @ P[0] + P[1] @ ref @ P[1]
    np.testing.assert_allclose(ex.rho[-1], ref, rtol=0, atol=1e-12)
