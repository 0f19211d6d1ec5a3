"""ensemble.exact.solver against an independent QuTiP model built from docs/physics.md.

The QuTiP Hamiltonian and collapse operators are constructed here from the formulas of
docs/physics.md (Kossakowski matrices computed in this file with the phase space F of
tests/reference.py, diagonalised into collapse operators); nothing of the library's model is used on
the QuTiP side. Run with -s to see the measured deviations.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import qutip

import darkspin.trajectories.model as model_module
from darkspin.ensemble.exact.solver import solve_master_equation
from darkspin.ensemble.exact.steady import steady_states
from darkspin.ensemble.results.master_equation import PostSelectionUndefinedWarning
from darkspin.trajectories.model import SpinPair
from darkspin.trajectories.protocol import Protocol

from reference import P_MINUS as PM
from reference import P_PLUS as PP
from reference import SINGLET, params, singlet_population
from reference import F as _F

QUTIP_OPTIONS = {"atol": 1e-13, "rtol": 1e-11, "nsteps": 10**6, "method": "adams"}
TOL_QUTIP = 1e-7

OFF = dict(nu=1.0, V=1.7, T=0.3, lam1=0.05, lam2=0.02, theta=0.4, phi=0.3, J_ex=0.05, J_DM=0.03)

# ---- independent QuTiP model -------------------------------------------------------------------
_id = qutip.qeye(2)
_sz, _sx, _sy = qutip.sigmaz(), qutip.sigmax(), qutip.sigmay()
_sm = qutip.sigmam()  # |1><0| = |d><u| with |0> = |u> (sigmaz eigenvalue +1)
_sp = qutip.sigmap()


def qutip_model(p):
    """(H, c_ops) from docs/physics.md for a parameter dict p."""
    nu, V, T = p["nu"], p["V"], p["T"]
    lam1, lam2, theta, phi = p["lam1"], p["lam2"], p["theta"], p["phi"]
    H = (nu / 2) * (qutip.tensor(_sz, _id) + qutip.tensor(_id, _sz))
    H -= p["J_ex"] * (qutip.tensor(_sx, _sx) + qutip.tensor(_sy, _sy) + qutip.tensor(_sz, _sz))
    H += p["J_DM"] * (qutip.tensor(_sx, _sy) - qutip.tensor(_sy, _sx))
    c = math.cos(theta / 2)
    g12 = math.sqrt(lam1 * lam2)
    sectors = [
        (_sm, nu, 0.5, np.exp(1j * phi) * c),
        (_sp, -nu, 0.5, np.exp(-1j * phi) * c),
        (_sz, 0.0, 0.25, math.cos(phi) * c),
    ]
    c_ops = []
    for op, omega, kappa, cs in sectors:
        K = kappa * _F(omega, V, T) * np.array([[lam1, g12 * cs], [g12 * np.conj(cs), lam2]])
        A = (qutip.tensor(op, _id), qutip.tensor(_id, op))
        mu, vec = np.linalg.eigh(K)
        for k in range(2):
            if mu[k] > 1e-14 * max(abs(mu).max(), 1e-300):
                c_ops.append(math.sqrt(mu[k]) * (vec[0, k] * A[0] + vec[1, k] * A[1]))
    return H, c_ops


def _dm(rho):
    return qutip.Qobj(np.asarray(rho), dims=[[2, 2], [2, 2]])


def qutip_evolve(H, c_ops, rho0, tlist):
    """States (len(tlist), 4, 4) from mesolve; tlist[0] is the initial time of rho0."""
    res = qutip.mesolve(H, _dm(rho0), np.asarray(tlist, dtype=float), c_ops, e_ops=[], options=QUTIP_OPTIONS)
    return np.array([s.full() for s in res.states])


def qutip_protocol(params, rho0, measure_at, times):
    """Reference protocol: mesolve piecewise, measurements applied before an output at the same time."""
    H, c_ops = qutip_model(params)
    measure_at, times = [float(x) for x in measure_at], [float(x) for x in times]
    n = len(times)
    out, out_post = np.full((n, 4, 4), np.nan, complex), np.full((n, 4, 4), np.nan, complex)
    p_success = []
    rho, post = np.array(rho0, complex), np.array(rho0, complex)
    t, done = 0.0, set()
    for stop in sorted(set(measure_at) | {times[-1]}):
        is_meas = stop in measure_at
        seg = [i for i in range(n) if i not in done and (times[i] < stop or (times[i] == stop and not is_meas))]
        tl = sorted({t, stop, *(times[i] for i in seg)})
        if len(tl) > 1:
            r_states, p_states = qutip_evolve(H, c_ops, rho, tl), qutip_evolve(H, c_ops, post, tl)
        else:
            r_states, p_states = rho[None], post[None]
        for i in seg:
            k = tl.index(times[i])
            out[i], out_post[i] = r_states[k], p_states[k]
            done.add(i)
        rho, post, t = r_states[-1], p_states[-1], stop
        for _ in range(measure_at.count(stop)):
            rho = PP @ rho @ PP + PM @ rho @ PM
            p = np.trace(PM @ post).real
            p_success.append(p)
            post = PM @ post @ PM / p
        for i in range(n):  # outputs at the measurement time show the post-measurement state
            if i not in done and times[i] == stop:
                out[i], out_post[i] = rho, post
                done.add(i)
    assert len(done) == n
    p_success = np.array(p_success)
    return out, out_post, p_success, np.cumprod(p_success)


def _nontrivial_rho0():
    rng = np.random.default_rng(42)
    A = rng.normal(size=(4, 2)) + 1j * rng.normal(size=(4, 2))
    rho = A @ A.conj().T
    return rho / np.trace(rho).real


def _maxdev(a, b):
    return float(np.max(np.abs(np.asarray(a) - np.asarray(b))))


# ---- free evolution vs QuTiP -------------------------------------------------------------------


def _free_evolution_deviation(m: SpinPair, params: dict) -> float:
    rho0 = _nontrivial_rho0()
    times = np.linspace(0.0, 60.0, 61)
    res = solve_master_equation(m, Protocol(rho0, (), times))
    H, c_ops = qutip_model(params)
    ref = qutip_evolve(H, c_ops, rho0, times)
    return _maxdev(res.rho, ref)


def test_free_evolution_matches_qutip_off_symmetric_finite_T():
    m = SpinPair(**OFF)
    dev = _free_evolution_deviation(m, OFF)
    print(f"\n[qutip free evolution, off-symmetric finite T] max |rho - rho_qutip| = {dev:.3e}")
    assert dev < TOL_QUTIP


def test_free_evolution_matches_qutip_paper_point():
    m = SpinPair()
    dev = _free_evolution_deviation(m, params(m))
    print(f"\n[qutip free evolution, paper point] max |rho - rho_qutip| = {dev:.3e}")
    assert dev < TOL_QUTIP


@pytest.mark.parametrize("sector, factor", [("dephasing", 1.2), ("lowering", 0.9)])
def test_qutip_comparison_detects_broken_model(monkeypatch, sector, factor):
    """Sanity check of the comparison itself: a wrong rate in the library model must be caught."""
    monkeypatch.setitem(model_module._SECTOR_KAPPA, sector, factor * model_module._SECTOR_KAPPA[sector])
    dev = _free_evolution_deviation(SpinPair(**OFF), OFF)
    print(f"\n[broken model: kappa_{sector} x {factor}] max |rho - rho_qutip| = {dev:.3e}")
    assert dev > 1e3 * TOL_QUTIP


def test_qutip_comparison_detects_broken_coherence(monkeypatch):
    orig = model_module._coherences

    def broken(phi, theta):
        out = orig(phi, theta)
        out["raising"] = np.conj(out["raising"])  # phase of the coherence flipped: e^{+i phi}
        return out

    # the one source of the coherences of both SpinPair.kossakowski and SpinPair.liouvillian
    monkeypatch.setattr(model_module, "_coherences", broken)
    dev = _free_evolution_deviation(SpinPair(**OFF), OFF)
    print(f"\n[broken model: raising coherence conjugated] max |rho - rho_qutip| = {dev:.3e}")
    assert dev > 1e3 * TOL_QUTIP


# ---- protocol vs QuTiP -------------------------------------------------------------------------


def _compare_protocol(m, params, protocol, label):
    res = solve_master_equation(m, protocol)
    ref_rho, ref_post, ref_p, ref_pc = qutip_protocol(params, protocol.rho0, protocol.measure_at, protocol.times)
    devs = {
        "rho": _maxdev(res.rho, ref_rho),
        "rho_post": _maxdev(res.rho_post, ref_post),
        "p_success": _maxdev(res.p_success, ref_p),
        "p_cumulative": _maxdev(res.p_cumulative, ref_pc),
    }
    print(f"\n[qutip protocol, {label}] " + ", ".join(f"{k}: {v:.3e}" for k, v in devs.items()))
    for k, v in devs.items():
        assert v < TOL_QUTIP, (k, v)
    np.testing.assert_array_equal(res.times, protocol.times)
    return res


def test_paper_protocol_matches_qutip():
    m = SpinPair()
    res = _compare_protocol(m, params(m), Protocol.paper(n_out=101), "paper, n_out=101")
    assert res.rho.shape == res.rho_post.shape == (101, 4, 4)
    assert res.p_success.shape == res.p_cumulative.shape == (4,)
    # purification: the singlet weight of the post-selected state increases round by round
    # Protocol.paper() is our schedule (the paper does not state its measurement times, see docs/guide/protocols.md)
    np.testing.assert_array_equal(res.times, np.linspace(0.0, 500.0, 101))
    np.testing.assert_array_equal(Protocol.paper(n_out=101).measure_at, [100.0, 200.0, 300.0, 400.0])
    pd = singlet_population(res.rho_post)
    at_meas = [0, 20, 40, 60, 80]  # t = 0, 100, ..., 400 (outputs at t_k are post-measurement)
    assert np.all(np.diff(pd[at_meas]) > 0)
    # the dark weight is conserved between rounds and divided by p_success at each round (P_- d P_- = d)
    for k, i in enumerate(at_meas[1:]):
        np.testing.assert_allclose(pd[i - 20 + 1 : i], pd[i - 20], atol=1e-12)
        assert pd[i] == pytest.approx(pd[i - 1] / res.p_success[k], abs=1e-12)
    np.testing.assert_allclose(pd[81:], pd[80], atol=1e-12)


def test_off_symmetric_protocol_measurements_on_output_grid_matches_qutip():
    m = SpinPair(**OFF)
    p = Protocol(_nontrivial_rho0(), (10.0, 20.0, 35.0, 60.0), np.linspace(0.0, 60.0, 61))
    _compare_protocol(m, OFF, p, "off-symmetric, measurements on output grid (incl. t_final)")


def test_off_symmetric_protocol_measurements_off_output_grid_matches_qutip():
    m = SpinPair(**OFF)
    p = Protocol("ud", (0.0, 7.3, 7.3, 21.55, 44.123), np.linspace(0.0, 60.0, 31))
    res = _compare_protocol(m, OFF, p, "off-symmetric, measurements off output grid")
    assert res.p_success[2] == pytest.approx(1.0, abs=1e-14)


# ---- general properties ------------------------------------------------------------------------

PROPERTY_CASES = [
    (SpinPair(), Protocol.paper(n_out=51)),
    (SpinPair(**OFF), Protocol(_nontrivial_rho0(), (0.0, 5.0, 5.0, 12.5, 30.0), np.linspace(0, 30, 41))),
    (SpinPair(V=2.5, T=0.2), Protocol("S", (1.0, 2.0), np.linspace(0, 3, 7))),
    (SpinPair(theta=1.0, phi=-0.5, J_DM=0.1), Protocol([0.6, 0.8j, 0, 0], (3.3, 9.9), np.linspace(0, 10, 11))),
]


@pytest.mark.parametrize("m, protocol", PROPERTY_CASES)
def test_states_are_density_matrices(m, protocol):
    res = solve_master_equation(m, protocol)
    for arr in (res.rho, res.rho_post):
        assert np.all(np.isfinite(arr))
        np.testing.assert_allclose(np.trace(arr, axis1=1, axis2=2), 1.0, atol=1e-12)
        assert np.max(np.abs(arr - arr.conj().transpose(0, 2, 1))) < 1e-12
        for r in arr:
            assert np.linalg.eigvalsh(0.5 * (r + r.conj().T))[0] >= -1e-12
    assert np.all((res.p_success >= 0) & (res.p_success <= 1))
    np.testing.assert_allclose(res.p_cumulative, np.cumprod(res.p_success), rtol=1e-13, atol=0)
    # rho_post equals rho before the first measurement
    before = protocol.times < (protocol.measure_at[0] if protocol.rounds else np.inf)
    np.testing.assert_allclose(res.rho_post[before], res.rho[before], atol=1e-15)


def test_measurement_at_zero_and_final_time():
    psi = np.array([1, 1, 0, 0]) / math.sqrt(2)  # (|uu> + |ud>)/sqrt2
    times = np.linspace(0.0, 10.0, 6)
    res = solve_master_equation(SpinPair(), Protocol(psi, (0.0, 10.0, 10.0), times))
    assert res.p_success[0] == pytest.approx(0.5, abs=1e-15)
    # the output at t = 0 already shows the measured state
    np.testing.assert_allclose(res.rho[0], np.diag([0.5, 0.5, 0, 0]), atol=1e-15)
    np.testing.assert_allclose(res.rho_post[0], np.diag([0, 1, 0, 0]), atol=1e-15)
    # repeated measurement at the same instant succeeds with certainty
    assert res.p_success[2] == pytest.approx(1.0, abs=1e-14)
    # the final output is post-measurement: block diagonal, post-selected state in the -1 subspace
    for r in (res.rho[-1], res.rho_post[-1]):
        off = r.copy()
        off[np.ix_([1, 2], [1, 2])] = 0
        off[np.ix_([0, 3], [0, 3])] = 0
        assert np.max(np.abs(off)) < 1e-15
    assert abs(res.rho_post[-1][0, 0]) + abs(res.rho_post[-1][3, 3]) < 1e-15
    # the extra measurements at t_final change nothing before it
    res2 = solve_master_equation(SpinPair(), Protocol(psi, (0.0,), times))
    np.testing.assert_allclose(res.rho[:-1], res2.rho[:-1], atol=1e-15)


def test_zero_success_probability_gives_nan_and_warning():
    with pytest.warns(PostSelectionUndefinedWarning, match="round 1 "):
        res = solve_master_equation(SpinPair(), Protocol("uu", (0.0,), np.linspace(0, 5, 6)))
    assert res.p_success[0] == 0.0
    assert res.p_cumulative[0] == 0.0
    assert np.all(np.isnan(res.rho_post))
    assert np.all(np.isfinite(res.rho))


def test_zero_success_later_round_named_in_warning():
    # V < nu at T = 0 and off the symmetric point: the unique steady state is |dd>, so the weight of
    # the -1 subspace decays to zero and the second round underflows.
    m = SpinPair(V=0.5, lam1=0.2, lam2=0.1, theta=0.5, J_ex=0.0)
    with pytest.warns(PostSelectionUndefinedWarning, match="round 2 "):
        res = solve_master_equation(m, Protocol("ud", (1.0, 1e4, 1.2e4), [0.0, 1.0, 5e3, 1e4, 1.5e4]))
    assert 0.5 < res.p_success[0] < 1.0
    assert res.p_success[1] == pytest.approx(0.0, abs=1e-13)
    assert np.isnan(res.p_success[2])
    assert res.p_cumulative[1] == pytest.approx(0.0, abs=1e-13) and res.p_cumulative[2] == 0.0
    assert np.all(np.isfinite(res.rho_post[:3])) and np.all(np.isnan(res.rho_post[3:]))
    np.testing.assert_allclose(res.rho[-1], np.diag([0, 0, 0, 1]), atol=1e-12)


def test_steady_states_symmetric_point():
    for m in (SpinPair(), SpinPair(V=2.5, T=0.3, J_ex=-0.04)):
        ss = steady_states(m)
        assert ss.shape == (2, 4, 4)
        L = m.liouvillian()
        for r in ss:
            assert np.trace(r).real == pytest.approx(1.0, abs=1e-12)
            assert np.max(np.abs(r - r.conj().T)) < 1e-12
            assert np.linalg.eigvalsh(r)[0] >= -1e-12
            assert np.max(np.abs(L @ r.reshape(16))) < 1e-12
        # ordered by increasing singlet population; the second is |S><S|
        assert singlet_population(ss[0]) < singlet_population(ss[1])
        np.testing.assert_allclose(ss[1], np.outer(SINGLET, SINGLET.conj()), atol=1e-10)


def test_steady_states_off_symmetric_point():
    m = SpinPair(**OFF)
    ss = steady_states(m)
    assert ss.shape == (1, 4, 4)
    r = ss[0]
    assert np.trace(r).real == pytest.approx(1.0, abs=1e-12)
    assert np.linalg.eigvalsh(0.5 * (r + r.conj().T))[0] >= -1e-12
    assert np.max(np.abs(m.liouvillian() @ r.reshape(16))) < 1e-12
    # the long-time QuTiP state agrees
    H, c_ops = qutip_model(OFF)
    ref = qutip.steadystate(H, c_ops).full()
    assert _maxdev(r, ref) < 1e-9


# ---- Protocol bad input ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs, name",
    [
        (dict(measure_at=(2.0, 1.0)), "measure_at"),
        (dict(measure_at=(1.0, 11.0)), "measure_at"),
        (dict(measure_at=(-1.0, 1.0)), "measure_at"),
        (dict(measure_at=(1.0, float("nan"))), "measure_at"),
        (dict(measure_at="abc"), "measure_at"),
        (dict(times=(-1.0, 0.0, 10.0)), "times"),
        (dict(times=(0.0, 5.0, 5.0, 10.0)), "times"),
        (dict(times=(0.0, 6.0, 5.0, 10.0)), "times"),
        (dict(times=()), "times"),
        (dict(times=(0.0, float("inf"))), "times"),
        (dict(times=[[0.0, 1.0], [2.0, 10.0]]), "times"),
        (dict(initial=np.ones(1)), "initial"),  # d = 1: no state space to speak of
        (dict(initial=np.eye(65) / 65), "initial"),  # d > 64
        (dict(initial=np.ones(3) / math.sqrt(3)), "measurement"),  # d = 3 is fine, the default zz is not
        (dict(initial=np.ones((2, 2, 4)) / 4), "initial"),
        (dict(initial=np.array([1.0, 1.0, 0, 0])), "initial"),
        (dict(initial=np.eye(4) / 2), "initial"),
        (dict(initial=np.diag([1.5, -0.5, 0, 0])), "initial"),
        (dict(initial=np.array([[0.5, 0.5], [0.1, 0.5]])), "initial"),
        (dict(initial="T1x"), "initial"),
        (dict(initial="up"), "initial"),
        (dict(initial=np.array([1, np.nan, 0, 0])), "initial"),
        (dict(initial=None), "initial"),
    ],
)
def test_protocol_bad_input(kwargs, name):
    args = dict(initial="ud", measure_at=(1.0, 2.0), times=np.linspace(0.0, 10.0, 11))
    args.update(kwargs)
    with pytest.raises(ValueError, match=name):
        Protocol(**args)


def test_protocol_good_input():
    p = Protocol(np.eye(4) / 4, (), [0.0])
    assert p.rounds == 0 and p.t_final == 0.0
    p = Protocol([0, 1j, 0, 0], [5.0, 5.0], [0.0, 5.0])
    np.testing.assert_allclose(p.rho0, np.diag([0, 1, 0, 0]))
    assert p.rounds == 2
    with pytest.raises(ValueError):  # read-only arrays
        p.times[0] = 1.0
