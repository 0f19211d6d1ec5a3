"""The exact solver's state-propagation path (d >= STATE_PROPAGATION_DIM): against the dense path on random
models (d = 8 to 16, the path forced both ways) and against a qutip.mesolve loop on a 5-spin chain (d = 32)."""

from __future__ import annotations

import math
import time
import warnings

import numpy as np
import pytest
from model_builders import chain as site
from model_builders import heisenberg_chain

import darkspin as ds
from darkspin.ensemble.exact import jump_statistics, solver
from darkspin.ensemble.exact.state_propagation import STATE_PROPAGATION_DIM, sparse_liouvillian

from reference import SM, SZ


def random_case(seed: int, d: int) -> tuple[ds.LindbladModel, ds.Protocol]:
    """Random dense model (4 channels) and a protocol with rounds, readout error, feedback and a rule."""
    rng = np.random.default_rng(seed)
    H = rng.normal(size=(d, d)) + 1j * rng.normal(size=(d, d))
    H = 0.5 * (H + H.conj().T) * rng.uniform(0.1, 0.5)
    jumps = (rng.normal(size=(4, d, d)) + 1j * rng.normal(size=(4, d, d))) * rng.uniform(0.02, 0.1)
    if seed % 2:
        jumps = jumps * np.triu(np.ones((d, d)), 1)  # lowering only: sparse
    U = np.linalg.qr(rng.normal(size=(d, d)) + 1j * rng.normal(size=(d, d)))[0]
    obs = (U * np.where(np.arange(d) % 2, 1.0, -1.0)) @ U.conj().T
    fb = np.linalg.qr(rng.normal(size=(d, d)) + 1j * rng.normal(size=(d, d)))[0]
    meas = ds.Measurement(obs, (0.03, 0.06), feedback={-1: fb} if seed % 3 == 0 else None)
    psi = rng.normal(size=d) + 1j * rng.normal(size=d)
    rule = ["all", "last", "+-?"][seed % 3]
    protocol = ds.Protocol(
        psi / np.linalg.norm(psi), (1.5, 3.0, 3.0), np.linspace(0.0, 6.0, 13), measurement=meas, postselect=rule
    )
    return ds.LindbladModel(H, jumps), protocol


def assert_same(a: ds.MasterEquationResult, b: ds.MasterEquationResult, tol: float = 1e-10) -> None:
    scale = float(np.max(np.linalg.norm(a.rho, axis=(1, 2))))
    assert np.max(np.abs(a.rho - b.rho)) <= tol * scale
    np.testing.assert_array_equal(np.isnan(a.rho_post), np.isnan(b.rho_post))
    assert np.nanmax(np.abs(a.rho_post - b.rho_post)) <= tol
    np.testing.assert_allclose(a.p_success, b.p_success, rtol=0, atol=tol)
    np.testing.assert_allclose(a.p_cumulative, b.p_cumulative, rtol=0, atol=tol)
    np.testing.assert_allclose(a.record_probabilities, b.record_probabilities, rtol=0, atol=tol)


# (5, 16) passes too, but the dense path takes ~2 min there on a loaded 2-core machine
@pytest.mark.parametrize("seed,d", [(0, 8), (1, 8), (2, 8), (3, 10), (4, 12)])
def test_state_path_matches_dense_path(seed: int, d: int) -> None:
    model, protocol = random_case(seed, d)
    dense = solver._solve(model, protocol, state_path=False)
    state = solver._solve(model, protocol, state_path=True)
    assert_same(dense, state)


def test_state_path_without_scipys_private_parameter_choice(monkeypatch: pytest.MonkeyPatch) -> None:
    # the Taylor parameters come from a private scipy helper; without it the fall-back choice is as exact
    import darkspin.ensemble.exact.state_propagation as sprop

    monkeypatch.setattr(sprop, "_fragment_3_1", None)
    model, protocol = random_case(3, 10)
    assert_same(solver._solve(model, protocol, state_path=False), solver._solve(model, protocol, state_path=True))


def test_sparse_liouvillian_is_the_models() -> None:
    model, _ = random_case(1, 8)
    L = sparse_liouvillian(np.asarray(model.effective_hamiltonian()), np.asarray(model.jump_operators()))
    np.testing.assert_allclose(L.toarray(), model.liouvillian(), rtol=0, atol=1e-14)


def test_paper_keeps_dense_path() -> None:
    assert STATE_PROPAGATION_DIM > 4
    p = ds.Protocol.paper(n_out=11)
    a = ds.solve_master_equation(ds.SpinPair(), p)
    b = solver._solve(ds.SpinPair(), p, state_path=False)
    np.testing.assert_array_equal(a.rho_post, b.rho_post)


def spin_chain(n: int = 5) -> tuple[ds.LindbladModel, ds.Protocol]:
    """5 spins: local and collective decay and dephasing (4 channels); parity of spins 1, 2 in rounds."""
    H = heisenberg_chain(n)
    jumps = [
        math.sqrt(0.05) * sum(site(n, SM, j) for j in range(n)),
        math.sqrt(0.1) * site(n, SM, 0),
        math.sqrt(0.02) * sum(site(n, SZ, j) for j in range(n)),
        math.sqrt(0.05) * site(n, SZ, n // 2),
    ]
    psi1 = np.array([math.cos(0.4), math.sin(0.4) * np.exp(0.3j)])
    psi = np.array([1.0 + 0j])
    for _ in range(n):
        psi = np.kron(psi, psi1)
    parity = ds.Measurement(site(n, SZ, 0) @ site(n, SZ, 1), 0.02)
    protocol = ds.Protocol(psi, (2.0, 4.0, 6.0, 8.0), np.linspace(0.0, 10.0, 21), measurement=parity)
    return ds.LindbladModel(H, jumps), protocol


def test_spin_chain_against_qutip() -> None:
    qutip = pytest.importorskip("qutip")
    model, protocol = spin_chain(5)
    t0 = time.perf_counter()
    res = ds.solve_master_equation(model, protocol)
    assert time.perf_counter() - t0 < 60.0  # the dense path took minutes here
    H = qutip.Qobj(np.asarray(model.hamiltonian())).to("csr")
    c_ops = [qutip.Qobj(L).to("csr") for L in np.asarray(model.jump_operators())]
    rho = qutip.Qobj(np.asarray(protocol.rho0))
    opts = {"atol": 1e-13, "rtol": 1e-11, "store_final_state": True, "store_states": False}
    t = 0.0
    for te, kind, idx in zip(*protocol.events(), strict=True):
        if te != t:
            rho = qutip.mesolve(H, rho, [t, te], c_ops, options=opts).final_state
            t = te
        if kind == 0:  # the non-selective map of the parity round, by hand
            P = protocol.measurements[idx].projectors()
            r = rho.full()
            rho = qutip.Qobj(P[0] @ r @ P[0] + P[1] @ r @ P[1])
        else:
            ref = rho.full()
            assert np.max(np.abs(res.rho[idx] - ref)) < 1e-8, (idx, te)
            if te < protocol.measure_at[0]:  # before the first round: the post-selected state too
                assert np.max(np.abs(res.rho_post[idx] - ref)) < 1e-8
    assert np.all(res.p_success > 0) and np.all(np.diff(res.p_cumulative) <= 1e-15)


def test_mean_jumps_and_no_jump_scale() -> None:
    model, protocol = spin_chain(5)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        t0 = time.perf_counter()
        counts = jump_statistics.mean_jumps(model, protocol)
        p0 = jump_statistics.no_jump_probability(model, protocol)
        assert time.perf_counter() - t0 < 60.0
    assert counts.shape == (protocol.times.size, 4) and np.all(np.diff(counts, axis=0) >= -1e-12)
    assert abs(p0[0] - 1.0) < 1e-14 and np.all(np.diff(p0) <= 1e-15)


@pytest.mark.parametrize("seed", [0, 1])
def test_mean_jumps_state_path_matches_dense(seed: int) -> None:
    model, protocol = random_case(seed, 8)
    a = jump_statistics._mean_jumps(model, protocol, state_path=False)
    b = jump_statistics._mean_jumps(model, protocol, state_path=True)
    np.testing.assert_allclose(a, b, rtol=0, atol=1e-10 * max(1.0, float(np.max(a))))


def test_steady_states_sparse_kernel(monkeypatch: pytest.MonkeyPatch) -> None:
    from darkspin.ensemble.exact import steady

    model, _ = spin_chain(4)
    sparse = ds.steady_states(model)
    monkeypatch.setattr(steady, "SPARSE_KERNEL_DIM", 10**6)
    dense = ds.steady_states(model)
    assert sparse.shape == dense.shape
    np.testing.assert_allclose(sparse, dense, rtol=0, atol=1e-10)
    # d = 64 (benchmarks): ~8 s on the sparse path, where the dense SVD would take most of an hour


def test_steady_states_dense_refused_large() -> None:
    model, _ = random_case(0, 64)
    with pytest.raises(ValueError, match="would take hours"):
        ds.steady_states(model)
