"""Models as data: any small Lindblad system in the same exact engine.

Models are built here from Pauli matrices (tests/reference.py) or in QuTiP, never from darkspin's
SpinPair code path; Monte Carlo is compared with the exact solver element-wise on the whole output grid
in units of its standard error (reference.element_z, fixed seeds), and the exact solver with
qutip.mesolve. Covered: a transverse field on the STM pair (dense H_eff), a three-spin chain (d = 8),
models within 1e-8 of an exceptional point on the closed-form path (a 2 x 2 block) and on the general
path (a 3 x 3 block), the general path forced on the STM pair, and files that keep their model.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from model_builders import chain, three_spin_chain

import darkspin as ds
from darkspin.ensemble import load
from darkspin.trajectories.lindblad import LindbladModel
from darkspin.trajectories.plan import compile_plan

from reference import SM, SX, SZ, binomial_z, element_z, k1, k2

I2 = np.eye(2)


def transverse_pair(omega: float = 0.15) -> LindbladModel:
    """The STM pair at the paper's point plus a transverse field (omega/2)(tau_x1 + tau_x2): H_eff is dense."""
    base = ds.SpinPair(lam1=0.2, lam2=0.2)
    H = base.hamiltonian() + 0.5 * omega * (k1(SX) + k2(SX))
    return LindbladModel(H, base.jump_operators(), base.jump_labels())


def near_ep_two_level(eps: float = 1e-8) -> LindbladModel:
    """A driven decaying two-level system, H = Omega sigma_x, L = sqrt(g) sigma_-; H_eff is defective
    at Omega = g / 4: here Omega = (g / 4)(1 + eps)."""
    g = 0.4
    return LindbladModel((g / 4) * (1 + eps) * SX, [math.sqrt(g) * SM], ["decay"])


def near_ep_three_level(eps: float = 1e-8) -> LindbladModel:
    """The two-level model near its exceptional point, coupled by 1e-10 to a third level: one 3 x 3 block
    whose eigenbasis is ill conditioned (cond ~ 1e4), so the robust (Schur-Pade) path is taken."""
    g = 0.4
    H = np.zeros((3, 3), complex)
    H[0, 1] = H[1, 0] = (g / 4) * (1 + eps)
    H[1, 2] = H[2, 1] = 1e-10
    L = np.zeros((3, 3), complex)
    L[1, 0] = math.sqrt(g)
    return LindbladModel(H, [L], ["decay"])


def _psi(d: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    v = rng.normal(size=d) + 1j * rng.normal(size=d)
    return v / np.linalg.norm(v)


CASES = {
    # name: (model, protocol, ntraj, seed)
    "transverse_pair": (transverse_pair(), ds.Protocol("ud", (3.0, 6.0), np.linspace(0, 9, 19)), 20_000, 11),
    "three_spin_chain": (
        three_spin_chain(),
        ds.Protocol(
            _psi(8, 1), (2.0, 4.0), np.linspace(0, 6, 13), measurement=ds.Measurement(chain(3, SZ, 0) @ chain(3, SZ, 1))
        ),
        20_000,
        12,
    ),
    "near_ep_2x2": (near_ep_two_level(), ds.Protocol(np.array([0, 1.0]), (), np.linspace(0, 20, 21)), 20_000, 13),
    "near_ep_3x3": (near_ep_three_level(), ds.Protocol(np.array([0, 1.0, 0]), (), np.linspace(0, 20, 21)), 20_000, 14),
}


def agreement(mc, ex) -> dict:
    post = mc.n_post >= 50
    attempts = np.concatenate([[mc.ntraj], mc.n_success[:-1]])
    out = {
        "rho": float(element_z(mc.rho, mc.rho_se, ex.rho, mc.ntraj).max()),
        "rho_post": float(element_z(mc.rho_post[post], mc.rho_post_se[post], ex.rho_post[post], mc.n_post[post]).max())
        if post.any()
        else 0.0,
    }
    if mc.protocol.rounds:
        out["p_success"] = float(binomial_z(mc.n_kept, attempts, ex.p_success).max())
    return out


@pytest.mark.statistical
@pytest.mark.parametrize("name", list(CASES))
def test_monte_carlo_matches_exact_for_general_models(name):
    model, protocol, ntraj, seed = CASES[name]
    mc = ds.simulate(model, protocol, ntraj, seed, progress=False)
    ex = ds.solve_master_equation(model, protocol)
    z = agreement(mc, ex)
    print(f"\n{name}: {z}")
    assert all(v <= 5.0 for v in z.values()), z
    assert mc.n_jumps > ntraj // 10  # the dynamics is exercised
    assert ds.compare(mc, ex).consistent


@pytest.mark.statistical
def test_a_wrong_general_model_fails():
    """Power: the transverse-field trajectories against the exact answer without the field."""
    model, protocol, ntraj, seed = CASES["transverse_pair"]
    mc = ds.simulate(model, protocol, ntraj, seed, progress=False)
    base = ds.SpinPair(lam1=0.2, lam2=0.2)
    z = agreement(mc, ds.solve_master_equation(base, protocol))
    assert max(z.values()) > 5.0, z


def test_paths_chosen_by_structure():
    """STM pair: blocks 1 + 2 + 1 on the closed form; the transverse pair: one dense block; the 2x2
    near-EP model: the closed form; the 3x3 near-EP block: the robust (not eigen) general path."""
    kinds = {name: tuple(compile_plan(m, p).prop_kind) for name, (m, p, _, _) in CASES.items()}
    stm = compile_plan(ds.SpinPair(), ds.Protocol.paper(11))
    assert tuple(stm.prop_kind) == (0, 1, 0)
    assert len(kinds["transverse_pair"]) == 1 and kinds["transverse_pair"][0] >= 2
    assert kinds["near_ep_2x2"] == (1,)
    assert kinds["near_ep_3x3"] == (3,)


@pytest.mark.statistical
def test_general_path_forced_on_the_stm_pair_is_consistent_with_the_block_path():
    """Same physics, different code: the STM pair as a LindbladModel whose H has a transverse term of
    1e-12 (far below any statistical resolution, but structurally one dense 4 x 4 block) against the
    1 + 2 + 1 closed-form blocks."""
    base = ds.SpinPair(lam1=0.2, lam2=0.2)
    H = base.hamiltonian() + 1e-12 * (k1(SX) + k2(SX))
    dense = LindbladModel(H, base.jump_operators(), base.jump_labels())
    protocol = ds.Protocol("ud", (3.0, 6.0), np.linspace(0, 9, 19))
    assert len(compile_plan(dense, protocol).prop_kind) == 1
    a = ds.simulate(base, protocol, 20_000, 21, progress=False)
    b = ds.simulate(dense, protocol, 20_000, 22, progress=False)
    ex = ds.solve_master_equation(base, protocol)
    assert max(agreement(a, ex).values()) <= 5 and max(agreement(b, ex).values()) <= 5
    # run by run, up to the first measurement (where the 1e-12 admixture may change whether a random
    # number is drawn, after which the streams differ), the two paths give the same jumps and states
    before = protocol.times < protocol.measure_at[0]
    for index in range(20):
        ta = ds.run_trajectory(base, protocol, 5, index)
        tb = ds.run_trajectory(dense, protocol, 5, index)
        early = ta.jump_times < protocol.measure_at[0]
        np.testing.assert_allclose(ta.jump_times[early], tb.jump_times[: early.sum()], rtol=1e-9)
        overlap = np.abs(np.einsum("ni,ni->n", ta.states[before].conj(), tb.states[before]))
        np.testing.assert_allclose(overlap, 1.0, atol=1e-9)


def test_stm_pair_as_lindblad_model_is_bit_identical():
    """SpinPair and SpinPair.to_lindblad() compile to the same plan: same sums, bit for bit."""
    m = ds.SpinPair(lam1=0.25, lam2=0.12, T=0.3, theta=0.4, phi=0.2, J_ex=0.05, J_DM=0.02)
    p = ds.Protocol("uu", (1.0, 2.0, 2.0, 5.0), np.linspace(0, 6, 13))
    a = ds.simulate(m, p, 3000, 7, progress=False).sums
    b = ds.simulate(m.to_lindblad(), p, 3000, 7, progress=False).sums
    assert a.identical(b)


# ---- QuTiP in and out ---------------------------------------------------------------------------------
def test_to_qutip_mesolve_agrees_with_the_exact_solver():
    qutip = pytest.importorskip("qutip")
    model = three_spin_chain()
    psi = _psi(8, 2)
    times = np.linspace(0, 5, 11)
    H, c_ops = model.to_qutip()
    rho0 = qutip.Qobj(np.outer(psi, psi.conj()), dims=H.dims)
    res = qutip.mesolve(H, rho0, times, c_ops, options={"atol": 1e-13, "rtol": 1e-11, "nsteps": 10**6})
    ex = ds.solve_master_equation(model, ds.Protocol(psi, (), times))
    worst = max(np.max(np.abs(s.full() - r)) for s, r in zip(res.states, ex.rho, strict=True))
    assert worst < 1e-9, worst


@pytest.mark.statistical
def test_from_qutip_model_runs_in_simulate_and_takes_a_qobj_initial_state():
    qutip = pytest.importorskip("qutip")
    g = 0.3
    H = 0.5 * qutip.sigmax()
    c_ops = [math.sqrt(g) * qutip.destroy(2)]
    model = LindbladModel.from_qutip(H, c_ops)
    psi0 = qutip.basis(2, 1)
    protocol = ds.Protocol(psi0, (2.0,), np.linspace(0, 4, 9), measurement=ds.Measurement(np.array(SZ)))
    mc = ds.simulate(model, protocol, 20_000, 31, progress=False)
    ex = ds.solve_master_equation(model, protocol)
    assert max(agreement(mc, ex).values()) <= 5


# ---- files keep their model ---------------------------------------------------------------------------
@pytest.mark.parametrize("which", ["lindblad", "spinpair", "qutip"])
def test_save_load_resume_keep_the_model(tmp_path, which):
    if which == "lindblad":
        model, protocol = three_spin_chain(), CASES["three_spin_chain"][1]
    elif which == "spinpair":
        model, protocol = ds.SpinPair(lam1=0.2, lam2=0.1), ds.Protocol("ud", (2.0,), np.linspace(0, 4, 5))
    else:
        qutip = pytest.importorskip("qutip")
        model = LindbladModel.from_qutip(0.5 * qutip.sigmax(), [math.sqrt(0.3) * qutip.destroy(2)])
        protocol = ds.Protocol(qutip.basis(2, 1), (2.0,), np.linspace(0, 4, 5), measurement=ds.Measurement(SZ))
    path = tmp_path / "r.npz"
    part = ds.simulate(model, protocol, 600, 3, batch_size=200, progress=False, save=path)
    back = load(path)
    assert type(back.model) is type(model) and back.model == model
    assert back.sums.identical(part.sums)
    full = ds.simulate(model, protocol, 1500, progress=False, resume=path, batch_size=200)
    assert full.sums.identical(ds.simulate(model, protocol, 1500, 3, batch_size=500, progress=False).sums)


def test_resume_with_a_model_one_element_off_is_refused(tmp_path):
    model, protocol = three_spin_chain(), CASES["three_spin_chain"][1]
    path = tmp_path / "r.npz"
    ds.simulate(model, protocol, 300, 3, progress=False, save=path)
    H = model.hamiltonian()
    H[2, 5] += 1e-9
    H[5, 2] += 1e-9
    other = LindbladModel(H, model.jump_operators(), model.jump_labels())
    with pytest.raises(ValueError, match="model_hamiltonian differs"):
        ds.simulate(other, protocol, 600, progress=False, resume=path)


def test_steady_states_of_a_general_model():
    """The driven decaying two-level system has one steady state; check L rho = 0 and trace 1."""
    model = near_ep_two_level(0.3)
    (ss,) = ds.steady_states(model)
    assert abs(np.trace(ss) - 1) < 1e-12
    assert np.max(np.abs(model.liouvillian() @ ss.reshape(-1))) < 1e-12


# ---- one result family ------------------------------------------------------------------------------
def test_exact_and_monte_carlo_results_share_fields_and_methods():
    from darkspin.ensemble import ProtocolResult

    model, protocol, _, _ = CASES["three_spin_chain"]
    ex = ds.solve_master_equation(model, protocol)
    mc = ds.simulate(model, protocol, 4000, 5, progress=False)
    for r in (ex, mc):
        assert isinstance(r, ProtocolResult)
        for name in ("times", "rho", "rho_post", "p_success", "p_cumulative", "stats"):
            assert getattr(r, name) is not None, name
        assert len(r.postselection()) == protocol.rounds
    assert ex.stats["end_condition"] == "exact" and mc.stats["end_condition"] == "ntraj"
    # <Z1 Z2> from the exact state against a hand trace; the Monte Carlo one within its (bounding) error
    zz = chain(3, SZ, 0) @ chain(3, SZ, 1)
    e = ex.expect(zz)
    np.testing.assert_allclose(e.value, [np.trace(zz @ r) for r in ex.rho], atol=1e-14)
    assert np.all(e.se == 0)
    m = mc.expect(zz)
    assert np.all(np.abs(m.value - e.value) <= 5 * m.se + 1e-12)
    assert np.all(m.se[1:] > 0)
    # named populations exist for two spins only
    pair = ds.solve_master_equation(ds.SpinPair(), ds.Protocol.paper(11))
    s = pair.population("S")
    assert s.value[-1].real == pytest.approx(0.5, abs=1e-12)
    with pytest.raises(ValueError, match="d = 4"):
        ex.population("S")
    with pytest.raises(ValueError, match="operator"):
        ex.expect(np.eye(4))


def test_correlation_spectrum_of_a_general_model():
    """A decaying two-level system, H = (w/2) sigma_z, L = sqrt(g) sigma_-: in its steady state |d>,
    <sigma_-(t) sigma_+(0)> = exp(-i w t - g t / 2), so S(omega) = g / ((g/2)^2 + (omega - w)^2)."""
    from darkspin.analysis.spectra import correlation_spectrum

    w, g = 1.3, 0.2
    model = LindbladModel(0.5 * w * SZ, [math.sqrt(g) * SM])
    omega = np.linspace(-3, 3, 121)
    S = correlation_spectrum(model, SM, SM.conj().T, omega)
    np.testing.assert_allclose(S.real, g / ((g / 2) ** 2 + (omega - w) ** 2), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(S.imag, 0.0, atol=1e-12)
    with pytest.raises(ValueError, match=r"\(2, 2\)"):
        correlation_spectrum(model, np.eye(4), np.eye(4), omega)
