"""The stepped jump-time search of a Schur-Pade H_eff (trajectories/stepping.py, issue 20).

Checked against scipy.linalg.expm (independent of darkspin's Pade kernel): the ladder's rungs, the
root of ||exp(-i H_eff tau) psi||^2 = r and the state at the end of a span without a root; on the
driven damped cavity (d = 32, one non-normal block) the kernel's jump times against the per-tau
Schur-Pade Newton search on the same runs, and their residuals below ROOT_TOL. The Monte Carlo test of
the cavity against the exact solver is in tests/ensemble/test_cavity.py.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.linalg
from model_builders import cavity

import darkspin as ds
from darkspin.trajectories.blocks import KIND_DENSE, make_block_propagator
from darkspin.trajectories.kernel import ROOT_TOL, trajectory
from darkspin.trajectories.plan import compile_plan
from darkspin.trajectories.rng import seed_state
from darkspin.trajectories.run_log import bare_log
from darkspin.trajectories.signatures import canonical
from darkspin.trajectories.stepping import (
    make_stepper,
    propagator_matrix,
    stepped_jump_time,
    taylor_thresholds,
)


def _random_nonnormal(d: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """A random H_eff = H - (i/2) L^dag L (valid: its anti-Hermitian part is negative semidefinite) and L."""
    rng = np.random.default_rng(seed)
    H = rng.normal(size=(d, d)) + 1j * rng.normal(size=(d, d))
    H = 0.5 * (H + H.conj().T)
    L = np.triu(rng.normal(size=(d, d)) + 1j * rng.normal(size=(d, d)), 1)  # nilpotent: far from normal
    return H - 0.5j * L.conj().T @ L, L


def test_taylor_thresholds_bound_the_remainder():
    th = taylor_thresholds(30)
    assert np.all(np.diff(th) > 0)
    for K in (5, 18, 30):
        x = th[K]
        tail = sum(x**k / math.factorial(k) for k in range(K + 1, K + 60))
        assert tail <= 2.0**-53 * (1 + 1e-9)
        assert sum((1.001 * x) ** k / math.factorial(k) for k in range(K + 1, K + 60)) > 2.0**-53
    assert th[18] >= 1.0 > th[17]  # a full step (||H_eff|| h = 1) takes degree 18


def test_rungs_match_scipy_expm():
    model, protocol = cavity(32)
    heff = model.effective_hamiltonian()
    prop = make_block_propagator(heff)
    assert list(prop.kind) == [KIND_DENSE]
    for tau in (0.057, 0.5, 3.0):
        U = propagator_matrix(prop, tau)
        ref = scipy.linalg.expm(-1j * tau * heff)
        assert np.abs(U - ref).max() <= 1e-12 * np.abs(ref).max()


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_stepped_root_against_scipy(seed):
    d = 9
    heff, L = _random_nonnormal(d, seed)
    prop = make_block_propagator(heff, eig_cond_max=1.0)  # force the Schur-Pade block
    span = 2.0
    st = make_stepper(heff, L[None], prop, span)
    assert st.h > 0 and st.sp_ptr.shape[0] >= 3  # 1 jump operator, the generator, >= 1 rung
    rng = np.random.default_rng(10 + seed)
    psi = rng.normal(size=d) + 1j * rng.normal(size=d)
    psi /= np.linalg.norm(psi)
    end2 = np.linalg.norm(scipy.linalg.expm(-1j * span * heff) @ psi) ** 2
    assert end2 < 0.9
    phi = np.empty(d, complex)
    for r in np.linspace(end2, 1.0, 7)[1:-1]:
        tau, resid, hit = stepped_jump_time(*st, 1, psi, r, span, phi, ROOT_TOL)
        assert hit and 0 < tau < span and resid < ROOT_TOL
        ref = scipy.linalg.expm(-1j * tau * heff) @ psi
        assert abs(np.linalg.norm(ref) ** 2 / r - 1) < 1e-12
        assert np.abs(phi - ref).max() < 1e-12
    # no root within the span: phi is the state at the span's end
    tau, resid, hit = stepped_jump_time(*st, 1, psi, 0.5 * end2, span, phi, ROOT_TOL)
    assert not hit and tau == span
    assert np.abs(phi - scipy.linalg.expm(-1j * span * heff) @ psi).max() < 1e-12


def test_only_schur_blocks_step():
    model, protocol = cavity(32)
    assert compile_plan(model, protocol).step_h > 0
    assert compile_plan(ds.SpinPair(), ds.Protocol.paper()).step_h == 0.0


def _run(plan, index: int, d: int):
    rng = np.empty(4, np.uint64)
    seed_state(rng, np.uint64(3), np.uint64(index))
    states = np.empty((plan.n_out, d), complex)
    jt, jk, jr = np.empty(1000), np.empty(1000, np.int64), np.empty(1000)
    z = np.zeros(1, np.int8)
    plan = canonical(plan)  # the library's one signature: no extra compile
    n = trajectory(
        rng, plan, states, np.empty(plan.n_out, bool), z, z.copy(), jt, jk, jr, bare_log(1, d), np.zeros(1, np.int64)
    )
    return jt[:n].copy(), jr[:n].copy(), states


def test_cavity_jump_times_exact_on_the_stepped_path():
    """The same runs through the stepped search and through the per-tau Schur-Pade Newton search (step_h
    set to 0): the same number of jumps, jump times within 1e-11 (time unit; t up to 30), residuals of
    the stepped search below ROOT_TOL."""
    d = 32
    model, protocol = cavity(d)
    plan = compile_plan(model, protocol)
    assert plan.step_h > 0
    per_tau = plan._replace(step_h=0.0)
    total = 0
    for index in range(4):
        t_new, r_new, s_new = _run(plan, index, d)
        t_old, _, s_old = _run(per_tau, index, d)
        assert t_new.size == t_old.size > 50  # about 108 jumps per run
        assert np.abs(t_new - t_old).max() < 1e-11
        assert r_new.max() < ROOT_TOL
        assert np.abs(s_new - s_old).max() < 1e-10
        total += t_new.size
    assert total > 200
