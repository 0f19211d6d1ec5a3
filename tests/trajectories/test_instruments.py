"""Instruments (observable, readout error, feedback) and post-selection rules, in both solvers.

References are independent of darkspin: the Liouvillian is built here from docs/physics.md
(tests/reference.py), instruments from reference Pauli matrices, and the exact answer is brute
force: one density matrix per record string (2**R branches), summed by a rule evaluated here.
Monte Carlo is compared with the exact solver element-wise in units of its standard error, fixed seeds.
The bit-identity check reads sums saved by darkspin 0.1 (tests/data/golden_v0_1.npz).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import scipy.linalg

import darkspin as ds
from darkspin.ensemble.montecarlo.simulation import run_batch
from darkspin.ensemble.statistics.goodness_of_fit import g_test

from reference import KET, SX, SY, SZ, binomial_z, element_z, k1, k2, kossakowski_rhs, rule_accepts, superoperator

DATA = Path(__file__).parents[1] / "data"

#: Strong coupling keeps these runs short: relaxation time ~ 5, three rounds by t = 6.
SYMMETRIC = ds.SpinPair(lam1=0.2, lam2=0.2)
ASYMMETRIC = ds.SpinPair(lam1=0.25, lam2=0.12, T=0.3, theta=0.4, phi=0.2, J_ex=0.05, J_DM=0.02)
MEASURE_AT = (2.0, 4.0, 6.0)
TIMES = np.linspace(0.0, 8.0, 17)

OBS = {"zz": np.kron(SZ, SZ), "xx": np.kron(SX, SX), "yy": np.kron(SY, SY), "z1": k1(SZ), "z2": k2(SZ)}
UNI = {"flip1": k1(SX), "flip2": k2(SX)}

FEATURES = {
    # name: (list of (observable, (eps_plus, eps_minus), {record: unitary name}) per round, rule)
    "readout_symmetric": ([("zz", (0.1, 0.1), {})] * 3, "all"),
    "readout_one_sided": ([("zz", (0.0, 0.25), {})] * 3, "all"),
    "feedback_on_plus": ([("zz", (0.0, 0.0), {1: "flip1"})] * 3, "all"),
    "xx": ([("xx", (0.0, 0.0), {})] * 3, "all"),
    "z1": ([("z1", (0.0, 0.0), {})] * 3, "all"),
    "last": ([("zz", (0.0, 0.0), {})] * 3, "last"),
    "pattern": ([("zz", (0.0, 0.0), {})] * 3, "?+-"),
    "none": ([("zz", (0.0, 0.0), {})] * 3, "none"),
    "together": (
        [("zz", (0.05, 0.15), {1: "flip1"}), ("xx", (0.1, 0.1), {}), ("z1", (0.0, 0.2), {-1: "flip2"})],
        "?--",
    ),
}


def make_protocol(rounds, rule, initial="ud", measure_at=MEASURE_AT, times=TIMES) -> ds.Protocol:
    meas = [ds.Measurement(o, e, {r: u for r, u in fb.items()} or None) for o, e, fb in rounds]
    return ds.Protocol(initial, measure_at, times, measurement=meas, postselect=rule)


# ---- brute force: one branch per record string --------------------------------------------------
def brute_force(model: ds.SpinPair, rounds, rule, rho0, measure_at, times):
    """(rho (n,4,4), rho_post (n,4,4), p_cumulative (R,), p_success (R,), record probabilities (2**R,))."""
    L = superoperator(lambda r: kossakowski_rhs(model, r))

    def evolve(rho, dt):
        return (scipy.linalg.expm(L * dt) @ rho.reshape(16)).reshape(4, 4) if dt else rho

    def record_map(k, r, rho):
        name, (ep, em), fb = rounds[k]
        A = OBS[name]
        out = np.zeros((4, 4), complex)
        for m in (1, -1):
            P = 0.5 * (np.eye(4) + m * A)
            flip = ep if m == 1 else em
            prob = flip if r != m else 1.0 - flip
            out += prob * P @ rho @ P
        U = UNI[fb[r]] if r in fb else np.eye(4)
        return U @ out @ U.conj().T

    events = sorted([(t, 0, k) for k, t in enumerate(measure_at)] + [(t, 1, i) for i, t in enumerate(times)])
    branches = {(): np.array(rho0, complex)}
    t = 0.0
    n = len(times)
    rho_out, post_out = np.zeros((n, 4, 4), complex), np.zeros((n, 4, 4), complex)
    p_cum, p_succ = np.zeros(len(measure_at)), np.zeros(len(measure_at))
    for te, kind, k in events:
        branches = {rec: evolve(b, te - t) for rec, b in branches.items()}
        t = te
        if kind == 0:
            before = sum(np.trace(b).real for rec, b in branches.items() if rule_accepts(rule, rec))
            branches = {rec + (r,): record_map(k, r, b) for rec, b in branches.items() for r in (1, -1)}
            kept = sum(
                np.trace(b).real
                for rec, b in branches.items()
                if rule_accepts(rule, rec) and rule_accepts(rule, rec[:-1])
            )
            p_cum[k] = sum(np.trace(b).real for rec, b in branches.items() if rule_accepts(rule, rec))
            p_succ[k] = kept / before
        else:
            rho_out[k] = sum(branches.values())
            post = sum(b for rec, b in branches.items() if rule_accepts(rule, rec))
            post_out[k] = post / np.trace(post).real
    R = len(measure_at)
    probs = np.zeros(2**R)
    for rec, b in branches.items():
        probs[sum(2**j for j, r in enumerate(rec) if r == 1)] = np.trace(b).real
    return rho_out, post_out, p_cum, p_succ, probs


@pytest.mark.parametrize("model", [SYMMETRIC, ASYMMETRIC], ids=["symmetric", "asymmetric"])
@pytest.mark.parametrize("feature", list(FEATURES))
def test_exact_solver_matches_brute_force(model, feature):
    rounds, rule = FEATURES[feature]
    protocol = make_protocol(rounds, rule)
    ex = ds.solve_master_equation(model, protocol)
    rho, post, p_cum, p_succ, probs = brute_force(
        model, rounds, rule, np.outer(KET["ud"], KET["ud"]), MEASURE_AT, TIMES
    )
    np.testing.assert_allclose(ex.rho, rho, atol=1e-11, rtol=0)
    np.testing.assert_allclose(ex.rho_post, post, atol=1e-11, rtol=0)
    np.testing.assert_allclose(ex.p_cumulative, p_cum, atol=1e-12, rtol=0)
    np.testing.assert_allclose(ex.p_success, p_succ, atol=1e-12, rtol=0)
    np.testing.assert_allclose(ex.record_probabilities, probs, atol=1e-12, rtol=0)


def test_brute_force_reference_sees_a_wrong_instrument():
    """The reference is sharp: a 0.01 change of the readout error moves the exact answer by far more than 1e-11."""
    rounds, rule = FEATURES["readout_symmetric"]
    ex = ds.solve_master_equation(ASYMMETRIC, make_protocol([("zz", (0.11, 0.11), {})] * 3, rule))
    _, post, _, _, probs = brute_force(ASYMMETRIC, rounds, rule, np.outer(KET["ud"], KET["ud"]), MEASURE_AT, TIMES)
    assert np.max(np.abs(ex.rho_post - post)) > 1e-4
    assert np.max(np.abs(ex.record_probabilities - probs)) > 1e-3


# ---- Monte Carlo against exact -------------------------------------------------------------------
NTRAJ = 20_000
MIN_POST = 50


def agreement(mc, ex) -> dict:
    """Largest z of every estimate: rho and rho_post element-wise on the whole grid, p_success per round."""
    post = mc.n_post >= MIN_POST
    attempts = np.concatenate([[mc.ntraj], mc.n_success[:-1]])
    return {
        "rho": float(element_z(mc.rho, mc.rho_se, ex.rho, mc.ntraj).max()),
        "rho_post": float(element_z(mc.rho_post[post], mc.rho_post_se[post], ex.rho_post[post], mc.n_post[post]).max()),
        "p_success": float(binomial_z(mc.n_kept, attempts, ex.p_success).max()),
        "records_p": g_test(mc.record_counts, ex.record_probabilities).p_value,
    }


@pytest.mark.statistical
@pytest.mark.parametrize("model", [SYMMETRIC, ASYMMETRIC], ids=["symmetric", "asymmetric"])
@pytest.mark.parametrize("feature", list(FEATURES))
def test_monte_carlo_matches_exact(model, feature):
    rounds, rule = FEATURES[feature]
    protocol = make_protocol(rounds, rule)
    mc = ds.simulate(model, protocol, NTRAJ, seed=1100 + list(FEATURES).index(feature), progress=False)
    ex = ds.solve_master_equation(model, protocol)
    z = agreement(mc, ex)
    print(f"\n{feature}: {z}")
    assert z["rho"] <= 5 and z["rho_post"] <= 5 and z["p_success"] <= 5, z
    assert z["records_p"] > 1e-4, z
    assert mc.n_post[-1] >= MIN_POST


@pytest.mark.statistical
@pytest.mark.parametrize(
    "feature",
    ["readout_symmetric", "readout_one_sided", "feedback_on_plus", "xx", "z1", "last", "pattern", "none", "together"],
)
def test_each_feature_changes_the_answer_beyond_the_test_threshold(feature):
    """Power: the same Monte Carlo compared with the exact answer of today's protocol (perfect zz, no feedback,
    'all') fails, so the agreement test above could see a feature that was ignored or misread."""
    rounds, rule = FEATURES[feature]
    protocol = make_protocol(rounds, rule)
    mc = ds.simulate(ASYMMETRIC, protocol, NTRAJ, seed=1100 + list(FEATURES).index(feature), progress=False)
    plain = ds.solve_master_equation(ASYMMETRIC, make_protocol([("zz", (0.0, 0.0), {})] * 3, "all"))
    z = agreement(mc, plain)
    assert max(z["rho"], z["rho_post"], z["p_success"]) > 5 or z["records_p"] < 1e-6, z


# ---- record statistics -----------------------------------------------------------------------------
SHORT_TIMES = np.array([0.0, 6.0])


@pytest.mark.statistical
def test_record_counts_goodness_of_fit_false_alarms_over_many_seeds():
    """200 independent replicas (disjoint trajectory ranges of one seed) of a correct run: the G-test at
    p < 0.01 fires at its nominal rate (binomial 99.9 % upper bound for 200 draws at 1 %: 7)."""
    protocol = make_protocol(FEATURES["together"][0], "?--", times=SHORT_TIMES)
    ex = ds.solve_master_equation(ASYMMETRIC, protocol)
    n, reps = 1000, 200
    pvals = [
        g_test(
            run_batch(ASYMMETRIC, protocol, 77, i * n, (i + 1) * n, threads=1).record_counts, ex.record_probabilities
        ).p_value
        for i in range(reps)
    ]
    alarms = int(np.sum(np.array(pvals) < 0.01))
    print(f"\nG-test false alarms at p < 0.01: {alarms} / {reps}")
    assert alarms <= 7


@pytest.mark.statistical
def test_record_counts_flag_a_wrong_readout_error():
    """Simulated with readout error 0.05, tested against the exact probabilities for 0.06: flagged at
    ntraj = 100 000."""
    sim = make_protocol([("zz", (0.05, 0.05), {})] * 3, "all", times=SHORT_TIMES)
    wrong = make_protocol([("zz", (0.06, 0.06), {})] * 3, "all", times=SHORT_TIMES)
    mc = ds.simulate(ASYMMETRIC, sim, 100_000, seed=5, progress=False)
    right = g_test(mc.record_counts, ds.solve_master_equation(ASYMMETRIC, sim).record_probabilities)
    bad = g_test(mc.record_counts, ds.solve_master_equation(ASYMMETRIC, wrong).record_probabilities)
    print(f"\n{right}\n{bad}")
    assert right.p_value > 1e-3
    assert bad.p_value < 1e-6


@pytest.mark.statistical
def test_half_readout_error_makes_records_independent_of_the_state():
    protocol = ds.Protocol("ud", (1.0, 2.0, 3.0, 4.0), [0.0, 5.0], measurement=ds.Measurement("zz", 0.5))
    ex = ds.solve_master_equation(ASYMMETRIC, protocol)
    np.testing.assert_allclose(ex.record_probabilities, np.full(16, 1 / 16), atol=1e-14, rtol=0)
    mc = ds.simulate(ASYMMETRIC, protocol, 20_000, seed=3, progress=False)
    assert g_test(mc.record_counts, np.full(16, 1 / 16)).p_value > 1e-3


@pytest.mark.statistical
def test_feedback_recycles_runs_at_the_paper_point():
    """From |ud> at the paper's point with rounds at 100..400 and no post-selection, flipping spin 1 on +1
    moves |uu>, |dd> back into the sector of the singlet: the unconditional singlet population at t = 500
    rises from exactly 1/2 (the dark weight is conserved) to about 0.947."""
    model = ds.SpinPair()
    singlet = (KET["ud"] - KET["du"]) / math.sqrt(2)
    pops = {}
    for name, fb in (("plain", None), ("flip1", {1: "flip1"})):
        protocol = ds.Protocol(
            "ud",
            (100.0, 200.0, 300.0, 400.0),
            np.linspace(0.0, 500.0, 11),
            measurement=ds.Measurement("zz", 0.0, fb),
            postselect="none",
        )
        rho = ds.solve_master_equation(model, protocol).rho[-1]
        pops[name] = float(np.real(singlet.conj() @ rho @ singlet))
        if fb:
            mc = ds.simulate(model, protocol, 20_000, seed=9, progress=False)
            s = mc.population("S")
            s_mc = float(s.value.real[-1])
            assert abs(s_mc - pops[name]) <= 5 * max(float(s.se[-1]), 1 / mc.ntraj)
    assert pops["plain"] == pytest.approx(0.5, abs=1e-12)
    assert pops["flip1"] == pytest.approx(0.947, abs=1e-3)


def test_perfect_zz_all_is_bit_identical_to_version_0_1():
    """Sums saved by darkspin 0.1 (before instruments existed) for the same seeds."""
    golden = np.load(DATA / "golden_v0_1.npz")
    cases = {
        "paper": (ds.SpinPair(), ds.Protocol.paper(21), 4000, 2021),
        "asym": (ASYMMETRIC, ds.Protocol("uu", (1.0, 2.0, 2.0, 5.0), np.linspace(0, 6, 13)), 4000, 7),
    }
    for name, (model, protocol, n, seed) in cases.items():
        sums = ds.simulate(model, protocol, n, seed=seed, progress=False).sums
        for field in ("hi", "lo", "n_post", "n_success"):
            assert np.array_equal(getattr(sums, field), golden[f"{name}_{field}"]), (name, field)
        assert sums.n_jumps == int(golden[f"{name}_n_jumps"])


# ---- single runs and the rule machine ---------------------------------------------------------------
def test_single_run_records_follow_the_readout_and_the_rule():
    protocol = make_protocol(FEATURES["together"][0], "?--")
    flips = 0
    for i in range(200):
        tr = ds.run_trajectory(ASYMMETRIC, protocol, 4, i)
        accepted = [rule_accepts("?--", list(tr.records[: k + 1])) for k in range(3)]
        # post at each output follows the rule on the records seen by then
        for t, p in zip(TIMES, tr.post, strict=True):
            k = int(np.sum(np.asarray(MEASURE_AT) <= t))
            assert p == (True if k == 0 else accepted[k - 1])
        flips += int(np.sum(tr.records != tr.outcomes))
    assert flips > 0  # readout errors happen


@pytest.mark.parametrize(
    "rule, records, expected",
    [
        ("all", [-1, -1, 1], [True, True, False]),
        ("all", [1, -1, -1], [False, False, False]),
        ("last", [1, -1, 1], [False, True, False]),
        ("none", [1, 1, 1], [True, True, True]),
        ("?+-", [1, 1, -1], [True, True, True]),
        ("?+-", [1, -1, -1], [True, False, False]),
    ],
)
def test_rule_machine(rule, records, expected):
    assert list(ds.PostSelection(rule, 3).run(records)) == expected


# ---- bad input ----------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "kwargs, name",
    [
        (dict(observable=np.diag([1.0, 1.0, 0.0, -1.0])), "observable"),
        (dict(observable=np.array([[0, 1j], [1j, 0]])), "observable"),
        (dict(observable="zx"), "observable"),
        (dict(readout_error=1.5), "readout_error"),
        (dict(readout_error=-0.1), "readout_error"),
        (dict(readout_error=(0.1, float("nan"))), "eps_minus"),
        (dict(readout_error=(0.1, 0.2, 0.3)), "readout_error"),
        (dict(feedback={1: np.diag([1, 1, 1, 2])}), "unitary"),
        (dict(feedback={2: "flip1"}), "feedback"),
        (dict(feedback={1: "flip3"}), "feedback"),
        (dict(feedback="flip1"), "feedback"),
    ],
)
def test_bad_measurement(kwargs, name):
    with pytest.raises(ValueError, match=name):
        ds.Measurement(**kwargs)


@pytest.mark.parametrize(
    "kwargs, name",
    [
        (dict(postselect="--"), "one character per round"),
        (dict(postselect="-x-"), "may only contain"),
        (dict(postselect=3), "postselect"),
        (dict(measurement=[ds.Measurement()] * 2), "one per round"),
        (dict(measurement="zz"), "Measurement"),
        (dict(measurement=ds.Measurement(np.kron(np.kron(SZ, SZ), SZ))), "dimension"),
    ],
)
def test_bad_protocol(kwargs, name):
    with pytest.raises(ValueError, match=name):
        ds.Protocol("ud", MEASURE_AT, TIMES, **kwargs)


def test_named_operators_need_two_spins():
    from darkspin.trajectories.instrument_operators import check_observable, check_unitary

    with pytest.raises(ValueError, match="d = 4"):
        check_observable("zz", dim=8)
    with pytest.raises(ValueError, match="d = 4"):
        check_unitary("feedback", "flip1", dim=2)


def test_measurement_equality_and_description():
    a = ds.Measurement("zz", (0.0, 0.1), {1: "flip1"})
    b = ds.Measurement(OBS["zz"], (0.0, 0.1), {1: UNI["flip1"]})
    assert a == b and hash(a) == hash(b)
    assert a != ds.Measurement("zz", (0.0, 0.1))
    assert "eps- 0.1" in a.describe() and "flip1" in a.describe()


# ---- red-team regressions --------------------------------------------------------------------------
@pytest.mark.statistical
def test_last_rule_selects_again_after_an_empty_round():
    """'last': a round that selects nobody does not end the selection; the next -1 record selects
    runs again. From |0> of a driven qubit (H = 0.7 sigma_x, no decay), the first round at t = 0 records
    +1 for every run; from t = 2 on, 'last' is the pattern '?-'."""
    sx, sz = np.array([[0, 1], [1, 0]]), np.diag([1.0, -1.0])
    model = ds.LindbladModel(0.7 * sx, [])
    times = [0.0, 1.0, 2.0, 3.0]
    last = ds.Protocol(np.array([1.0, 0]), [0.0, 2.0], times, measurement=ds.Measurement(sz), postselect="last")
    pattern = ds.Protocol(np.array([1.0, 0]), [0.0, 2.0], times, measurement=ds.Measurement(sz), postselect="?-")
    with pytest.warns(ds.ensemble.PostSelectionUndefinedWarning, match="round 1 "):
        ex = ds.solve_master_equation(model, last)
    ref = ds.solve_master_equation(model, pattern)
    assert np.all(np.isnan(ex.rho_post[:2]))
    np.testing.assert_allclose(ex.rho_post[2:], ref.rho_post[2:], atol=1e-13)
    mc = ds.simulate(model, last, 20_000, 8, progress=False)
    assert ds.compare(mc, ex).consistent


@pytest.mark.statistical
def test_g_test_is_calibrated_on_sparse_tables():
    """Most cells expected below 5: all of them are pooled. 400 multinomial draws from the probabilities
    themselves: p < 0.01 at most 2.5 % of the time (binomial 99.9 % bound for 1 %: 2.4 %), median near 1/2."""
    rng = np.random.default_rng(3)
    p = rng.dirichlet(np.full(256, 0.3))
    pvals = np.array([g_test(rng.multinomial(300, p), p).p_value for _ in range(400)])
    assert np.mean(pvals < 0.01) <= 0.025
    assert 0.35 < np.median(pvals) < 0.65


def test_measurement_accepts_numpy_scalars_and_refuses_nonsense():
    assert ds.Measurement(np.diag([1.0, -1.0]), np.array(0.1)).readout_error == (0.1, 0.1)
    with pytest.raises(ValueError, match="observable must be a .* array of numbers"):
        ds.Measurement(np.eye(2, dtype=bool))
    with pytest.raises(ValueError, match="2 <= d <= 64"):
        ds.Measurement(np.eye(65))


def test_compare_refuses_results_of_other_dimensions_instruments_or_rules():
    two = ds.LindbladModel(0.5 * np.array([[0, 1], [1, 0]]), [np.array([[0, 0], [0.5, 0]])])
    sz = np.diag([1.0, -1.0])
    p2 = ds.Protocol(np.array([1.0, 0]), [1.0], [0.0, 2.0], measurement=ds.Measurement(sz))
    mc2 = ds.simulate(two, p2, 200, 1, progress=False)
    p4 = ds.Protocol("ud", [1.0], [0.0, 2.0])
    with pytest.raises(ValueError, match="one dimension"):
        ds.compare(mc2, ds.solve_master_equation(ds.SpinPair(), p4))
    with pytest.raises(ValueError, match="instruments"):
        ds.compare(
            mc2,
            ds.solve_master_equation(
                two, ds.Protocol(np.array([1.0, 0]), [1.0], [0.0, 2.0], measurement=ds.Measurement(sz, 0.1))
            ),
        )
    with pytest.raises(ValueError, match="post-selection rule"):
        ds.compare(
            mc2,
            ds.solve_master_equation(
                two,
                ds.Protocol(np.array([1.0, 0]), [1.0], [0.0, 2.0], measurement=ds.Measurement(sz), postselect="none"),
            ),
        )
