"""Segments and gates in the exact solver, against an independent brute force (issue 21).

The brute force keeps one unnormalised density matrix per record string, propagates it with
scipy.linalg.expm of each segment's Liouvillian built here from H and the jump operators, applies gates
as U rho U^dag and rounds as sum_m P(r | m) U_r P_m rho P_m U_r^dag, and judges each string with the rule
written out here. Nothing is taken from the solver under test but its answer.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import scipy.linalg

import darkspin as ds

from reference import rule_accepts


def _liouvillian(H: np.ndarray, Ls: np.ndarray) -> np.ndarray:
    """Row-major vec(rho): vec(A X B) = (A kron B^T) vec(X)."""
    d = H.shape[0]
    eye = np.eye(d)
    out = -1j * (np.kron(H, eye) - np.kron(eye, H.T))
    for L in Ls:
        LdL = L.conj().T @ L
        out += np.kron(L, L.conj()) - 0.5 * np.kron(LdL, eye) - 0.5 * np.kron(eye, LdL.T)
    return out


def brute_force(model, segments, gates, rho0, measure_at, meas, rule, times):
    """rho (n, d, d), rho_post (n, d, d), p_cumulative (R,), record probabilities (2**R,)."""
    d = rho0.shape[0]
    models = [model] + [m for _, m in segments]
    Ls = [_liouvillian(np.asarray(m.hamiltonian()), np.asarray(m.jump_operators()).reshape(-1, d, d)) for m in models]
    # events: (time, priority, index): switch 0, gate 1, measurement 2, output 3
    ev = [(t, 0, i + 1) for i, (t, _) in enumerate(segments)]
    ev += [(t, 1, i) for i, (t, _) in enumerate(gates)]
    ev += [(t, 2, i) for i, t in enumerate(measure_at)]
    ev += [(t, 3, i) for i, t in enumerate(times)]
    ev.sort()
    branches = {(): rho0.reshape(-1).astype(complex)}
    seg, t = 0, 0.0
    rho = np.zeros((len(times), d, d), complex)
    post = np.zeros((len(times), d, d), complex)
    p_cum = np.zeros(len(measure_at))
    for te, kind, i in ev:
        if te > t:
            E = scipy.linalg.expm(Ls[seg] * (te - t))
            branches = {k: E @ v for k, v in branches.items()}
            t = te
        if kind == 0:
            seg = i
        elif kind == 1:
            U = gates[i][1]
            branches = {k: (U @ v.reshape(d, d) @ U.conj().T).reshape(-1) for k, v in branches.items()}
        elif kind == 2:
            m = meas[i]
            A = np.asarray(m.observable)
            P = {1: 0.5 * (np.eye(d) + A), -1: 0.5 * (np.eye(d) - A)}
            ep, em = m.readout_error
            prob = {(1, 1): 1 - ep, (-1, 1): ep, (1, -1): em, (-1, -1): 1 - em}  # (record, true)
            fb = m.feedback
            new = {}
            for k, v in branches.items():
                X = v.reshape(d, d)
                for r in (1, -1):
                    Y = sum(prob[r, mm] * P[mm] @ X @ P[mm] for mm in (1, -1))
                    U = fb.get(r, np.eye(d))
                    new[k + (r,)] = (U @ Y @ U.conj().T).reshape(-1)
            branches = new
            p_cum[i] = sum(np.trace(v.reshape(d, d)).real for k, v in branches.items() if rule_accepts(rule, k))
        else:
            tot = sum(branches.values()).reshape(d, d)
            acc = sum(v for k, v in branches.items() if rule_accepts(rule, k)).reshape(d, d)
            rho[i] = tot
            post[i] = acc / np.trace(acc).real
    R = len(measure_at)
    rec = np.zeros(2**R)
    for k, v in branches.items():
        rec[sum(2**j for j, r in enumerate(k) if r == 1)] = np.trace(v.reshape(d, d)).real
    return rho, post, p_cum, rec


def _random_hermitian(rng, d, scale):
    A = rng.standard_normal((d, d)) + 1j * rng.standard_normal((d, d))
    return scale * (A + A.conj().T) / 2


def _random_model(rng, d, K):
    L = 0.3 * (rng.standard_normal((K, d, d)) + 1j * rng.standard_normal((K, d, d)))
    return ds.LindbladModel(_random_hermitian(rng, d, 1.0), L)


def _random_unitary(rng, d):
    q, r = np.linalg.qr(rng.standard_normal((d, d)) + 1j * rng.standard_normal((d, d)))
    return q * (np.diag(r) / np.abs(np.diag(r)))


def _observable(rng, d):
    U = _random_unitary(rng, d)
    s = np.array([1.0 if i % 2 else -1.0 for i in range(d)])
    return U @ np.diag(s) @ U.conj().T


CASES = [
    # seed, d, rule, pair (SpinPair at t = 0)
    (1, 4, "all", True),
    (2, 4, "last", False),
    (3, 3, "-+?", False),
    (4, 4, "none", True),
    (5, 2, "all", False),
]


@pytest.mark.parametrize(("seed", "d", "rule", "pair"), CASES)
def test_exact_matches_brute_force(seed, d, rule, pair):
    rng = np.random.default_rng(seed)
    model = ds.SpinPair(lam1=0.2, lam2=0.15, J_ex=0.3) if pair else _random_model(rng, d, 2)
    segs = [(0.7, _random_model(rng, d, 1)), (1.3, _random_model(rng, d, 3))]
    if pair:
        segs.append((2.2, ds.SpinPair(lam1=0.05, lam2=0.3, V=2.0)))
    gates = [(0.7, _random_unitary(rng, d)), (1.9, _random_unitary(rng, d)), (1.9, _random_unitary(rng, d))]
    if d == 4:
        gates.append((1.3, "rx1(pi/2)"))
        gates.sort(key=lambda g: g[0])
    measure_at = (0.5, 1.3, 2.0)
    meas = [ds.Measurement(_observable(rng, d), readout_error=(0.1, 0.05), feedback={1: _random_unitary(rng, d)})] * 3
    times = np.linspace(0.0, 2.6, 14)
    rho0 = np.eye(d) / d if seed % 2 else np.diag(np.r_[1.0, np.zeros(d - 1)])
    protocol = ds.Protocol(rho0, measure_at, times, measurement=meas, postselect=rule, segments=segs, gates=gates)
    res = ds.solve_master_equation(model, protocol)
    gate_mats = [(t, protocol.gate_unitaries[i]) for i, (t, _) in enumerate(gates)]
    rho, post, p_cum, rec = brute_force(model, segs, gate_mats, rho0.astype(complex), measure_at, meas, rule, times)
    assert np.max(np.abs(res.rho - rho)) < 1e-10
    assert np.max(np.abs(res.rho_post - post)) < 1e-10
    assert np.max(np.abs(res.p_cumulative - p_cum)) < 1e-10
    assert np.max(np.abs(res.record_probabilities - rec)) < 1e-10
    # the negative control: the switch at another time is seen at this tolerance
    moved = [(0.8, segs[0][1]), *segs[1:]]
    rho_m, *_ = brute_force(model, moved, gate_mats, rho0.astype(complex), measure_at, meas, rule, times)
    assert np.max(np.abs(res.rho - rho_m)) > 1e-6


def test_ten_identical_segments_change_nothing():
    model = ds.SpinPair.paper_fig3_right()
    plain = ds.Protocol.paper(101)
    split = ds.Protocol("ud", plain.measure_at, plain.times, segments=[(t, model) for t in np.linspace(0, 450, 10)])
    a, b = ds.solve_master_equation(model, plain), ds.solve_master_equation(model, split)
    assert np.max(np.abs(a.rho - b.rho)) < 1e-12
    assert np.max(np.abs(a.rho_post - b.rho_post)) < 1e-12
    assert np.max(np.abs(a.p_success - b.p_success)) < 1e-12


def test_identity_gate_changes_nothing():
    model = ds.SpinPair.paper_fig3_right()
    plain = ds.Protocol.paper(101)
    gated = ds.Protocol("ud", plain.measure_at, plain.times, gates=[(150.0, np.eye(4)), (200.0, "rz12(0)")])
    a, b = ds.solve_master_equation(model, plain), ds.solve_master_equation(model, gated)
    assert np.max(np.abs(a.rho_post - b.rho_post)) < 1e-12
    assert np.max(np.abs(a.p_cumulative - b.p_cumulative)) < 1e-12


def test_state_path_matches_reduced_path():
    from darkspin.ensemble.exact.solver import _solve

    rng = np.random.default_rng(7)
    d = 4
    model = _random_model(rng, d, 2)
    p = ds.Protocol(
        np.eye(d) / d,
        (0.5, 1.0),
        np.linspace(0, 1.5, 7),
        measurement=ds.Measurement(_observable(rng, d), 0.1),
        segments=[(0.3, _random_model(rng, d, 1))],
        gates=[(0.6, _random_unitary(rng, d))],
    )
    a, b = _solve(model, p, state_path=False), _solve(model, p, state_path=True)
    assert np.max(np.abs(a.rho - b.rho)) < 1e-10
    assert np.max(np.abs(a.record_probabilities - b.record_probabilities)) < 1e-10


def test_gate_names():
    from darkspin.trajectories.gates import gate_unitary
    from darkspin.trajectories.operators import kron

    sx = np.array([[0, 1], [1, 0]], complex)
    assert np.allclose(gate_unitary("g", "rx1(pi)", 4), -1j * kron("x", "1"))
    assert np.allclose(gate_unitary("g", "flip2", 4), kron("1", "x"))
    r = scipy.linalg.expm(-0.5j * 0.7 * sx)
    assert np.allclose(gate_unitary("g", ("rx12", 0.7), 4), np.kron(r, r))
    for text, angle in (("ry2(-3pi/4)", -0.75 * np.pi), ("ry2(0.5*pi)", 0.5 * np.pi), ("ry2(1.25)", 1.25)):
        sy = np.array([[0, -1j], [1j, 0]])
        assert np.allclose(gate_unitary("g", text, 4), np.kron(np.eye(2), scipy.linalg.expm(-0.5j * angle * sy)))
    assert list(itertools.islice(iter(ds.Protocol.paper().events()[1]), 1)) == [1]
