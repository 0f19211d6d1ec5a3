"""ensemble.postselection and ensemble.compare: Wilson intervals (published values, coverage against the
exact probabilities of the master equation), table arithmetic and serialisation, the Monte Carlo vs
exact verdict (a correct model passes, perturbed models fail), and the ntraj^-1/2 convergence.

Reference values come from Newcombe (1998), the master equation (an independent exact solver) and
counts computed here; never from the code under test. Fixed seeds throughout. About 15 s after the
Numba cache is warm. Run with -s to see the measured numbers.
"""

from __future__ import annotations

import contextlib
import json
import math

import numba
import numpy as np
import pytest

from darkspin.ensemble import MonteCarloResult, run_batch, simulate, solve_master_equation
from darkspin.ensemble.compare import SE_FLOOR, compare, convergence, success_z, trace_distance
from darkspin.ensemble.postselection import (
    PostSelectionTable,
    exact_table,
    postselection_table,
    round_end_indices,
    wilson_interval,
)
from darkspin.trajectories.model import SpinPair
from darkspin.trajectories.protocol import Protocol

# A cheap protocol: strong coupling (lam = 0.2, relaxation time ~ 4), three rounds with conditional
# success probabilities 0.70, 0.83, 0.92 (exact), outputs coinciding with the measurements.
MODEL = SpinPair(lam1=0.2, lam2=0.2)
PROTOCOL = Protocol("ud", (2.0, 4.0, 6.0), np.linspace(0.0, 8.0, 17))
SINGLET = np.array([0, 1, -1, 0], dtype=complex) / math.sqrt(2)


@contextlib.contextmanager
def numba_threads_restored():
    """run_batch(threads=1) sets this thread's Numba thread count; put it back afterwards. (Many tiny
    batches run ~20x faster on one thread: no thread-pool wake-up per call on a busy machine.)"""
    n = numba.get_num_threads()
    try:
        yield
    finally:
        numba.set_num_threads(n)


@pytest.fixture(scope="module")
def exact():
    return solve_master_equation(MODEL, PROTOCOL)


@pytest.fixture(scope="module")
def mc():
    return simulate(MODEL, PROTOCOL, 20_000, seed=12345, progress=False)


# ---- Wilson interval ---------------------------------------------------------------------------
# Newcombe, Stat. Med. 17, 857 (1998), Table I, method 3 (score interval without continuity correction)
NEWCOMBE = [(81, 263, 0.2553, 0.3662), (15, 148, 0.0624, 0.1605), (0, 20, 0.0, 0.1611),
            (1, 29, 0.0061, 0.1718), (29, 29, 0.8830, 1.0)]


def test_wilson_published_values():
    for k, n, lo, hi in NEWCOMBE:
        got = wilson_interval(k, n)
        assert got[0] == pytest.approx(lo, abs=6e-5) and got[1] == pytest.approx(hi, abs=6e-5), (k, n, got)
    # vectorised, n = 0 -> NaN, and a hand computation at 90% (z = 1.644854): 3 of 4
    k, n = np.array([81, 0, 3]), np.array([263, 0, 4])
    lo, hi = wilson_interval(k, n, 0.90)
    assert lo.shape == (3,) and np.isnan(lo[1]) and np.isnan(hi[1])
    z2 = 1.6448536269514722**2
    centre, half = (3 + z2 / 2) / (4 + z2), 1.6448536269514722 * math.sqrt(3 / 4 + z2 / 4) / (4 + z2)
    assert lo[2] == pytest.approx(centre - half, rel=1e-12) and hi[2] == pytest.approx(centre + half, rel=1e-12)
    for bad in [dict(k=5, n=3), dict(k=-1, n=3), dict(k=1, n=3, confidence=1.0), dict(k=1, n=3, confidence=0)]:
        with pytest.raises(ValueError):
            wilson_interval(**bad)


def test_wilson_coverage_of_exact_probabilities(exact):
    """95% Wilson intervals from 1000 independent groups of 100 trajectories cover the exact conditional
    and cumulative success probabilities at 93-97% (3000 checks each: binomial sd of the coverage 0.004)."""
    protocol = Protocol("ud", PROTOCOL.measure_at, np.linspace(0.0, 8.0, 5))  # coarse grid: cheaper
    ex = solve_master_equation(MODEL, protocol)
    groups, size = 1000, 100
    hits_cond = hits_cum = checks = 0
    for g in range(groups):  # disjoint trajectory ranges of one seed are independent samples
        with numba_threads_restored():
            sums = run_batch(MODEL, protocol, 777, g * size, (g + 1) * size, threads=1)
        table = postselection_table(MonteCarloResult(MODEL, protocol, sums, 777))
        ok = table["attempts"] > 0
        hits_cond += np.sum((table["p_success_low"] <= ex.p_success) & (ex.p_success <= table["p_success_high"]) & ok)
        hits_cum += np.sum((table["p_cumulative_low"] <= ex.p_cumulative)
                           & (ex.p_cumulative <= table["p_cumulative_high"]))
        checks += int(np.sum(ok))
    cov_cond, cov_cum = hits_cond / checks, hits_cum / (groups * protocol.rounds)
    print(f"\nWilson 95% coverage: conditional {cov_cond:.4f} ({checks} checks), "
          f"cumulative {cov_cum:.4f} ({groups * protocol.rounds} checks)")
    assert checks >= 2900
    assert 0.93 <= cov_cond <= 0.97
    assert 0.93 <= cov_cum <= 0.97


# ---- the table ---------------------------------------------------------------------------------
def test_round_ends():
    # an output that coincides with the next measurement already belongs to the next round
    assert round_end_indices(PROTOCOL).tolist() == [7, 11, 16]  # t = 3.5, 5.5, 8.0
    p = Protocol("ud", (1.0, 2.0, 2.0), [0.0, 1.0, 1.5, 2.0, 3.0])
    assert round_end_indices(p).tolist() == [2, -1, 4]  # two rounds at one instant: no output in between


def test_table_matches_counts(mc, exact):
    table = mc.postselection()
    n = mc.n_success
    assert len(table) == 3 and table["round"].tolist() == [1, 2, 3]
    assert table["time"].tolist() == [2.0, 4.0, 6.0]
    assert table["attempts"].tolist() == [20_000, n[0], n[1]]
    assert table["successes"].tolist() == n.tolist()
    np.testing.assert_allclose(table["p_success"], [n[0] / 20_000, n[1] / n[0], n[2] / n[1]], rtol=1e-15)
    np.testing.assert_allclose(table["p_cumulative"], n / 20_000, rtol=1e-15)
    np.testing.assert_allclose(table["attempts_per_success"], 20_000 / n, rtol=1e-14)
    assert np.all(table["p_success_low"] < table["p_success"]) and np.all(table["p_success"] < table["p_success_high"])
    np.testing.assert_allclose(table["attempts_per_success_low"], 1 / table["p_cumulative_high"], rtol=1e-14)
    assert table["end_time"].tolist() == [3.5, 5.5, 8.0]
    idx = [7, 11, 16]
    assert table["singlet_post"].tolist() == mc.singlet_post[idx].tolist()
    assert table["singlet_post_se"].tolist() == mc.singlet_post_se[idx].tolist()
    # the post-selected singlet population agrees with the exact one in units of its standard error
    exact_singlet = np.real(np.einsum("i,kij,j->k", SINGLET.conj(), exact.rho_post[idx], SINGLET))
    assert np.all(np.abs(table["singlet_post"] - exact_singlet) < 5 * table["singlet_post_se"])

    rows = table.rows()
    assert rows[1]["successes"] == n[1] and rows[2]["round"] == 3 and set(rows[0]) == set(table.names)
    with pytest.raises(KeyError):
        table["nope"]
    wider = table.add_column("concurrence", [0.1, 0.2, 0.3], ".3f")
    assert "concurrence" in wider and "concurrence" not in table and wider["concurrence"].tolist() == [0.1, 0.2, 0.3]
    with pytest.raises(ValueError):
        table.add_column("extra", [1.0, 2.0], ".3f")
    with pytest.raises(ValueError):
        table.add_column("round", [1, 2, 3], "d")

    text = str(wider)
    lines = text.splitlines()
    assert "20000 trajectories" in lines[0] and "p_success [95%]" in lines[1] and "concurrence" in lines[1]
    assert len(lines) == 3 + 3 and len({len(line) for line in lines[1:]}) == 1  # aligned
    assert f"{100 * n[1] / n[0]:.2f}%" in lines[4] and "0.200" in lines[4]


def test_table_json_round_trip():
    # |ud> measured at t = 0 always succeeds (p = 1, Wilson high = 1 exactly)
    protocol = Protocol("ud", (0.0, 0.0), [0.0, 1.0])
    sums = run_batch(MODEL, protocol, 5, 0, 50)
    table = postselection_table(MonteCarloResult(MODEL, protocol, sums, 5))
    assert table["successes"].tolist() == [50, 50] and table["p_success"].tolist() == [1.0, 1.0]
    blob = json.dumps(table.to_dict(), allow_nan=False)
    back = PostSelectionTable.from_dict(json.loads(blob))
    assert back.names == table.names and back.meta == table.meta and back.formats == table.formats
    for name in table.names:
        np.testing.assert_array_equal(back[name], table[name])
    assert str(back) == str(table)

    assert table["p_success_high"].tolist() == [1.0, 1.0]
    # |uu> measured at t = 0 always fails: zero counts, round 2 never attempted (NaN), infinite attempts
    nothing = Protocol("uu", (0.0, 1.0), [0.0, 1.0, 2.0])
    t2 = postselection_table(MonteCarloResult(MODEL, nothing, run_batch(MODEL, nothing, 5, 0, 10), 5))
    assert t2["successes"].tolist() == [0, 0] and np.isnan(t2["p_success"][1])
    assert t2["attempts_per_success"].tolist() == [math.inf, math.inf]
    d = json.loads(json.dumps(t2.to_dict(), allow_nan=False))
    assert d["columns"]["attempts_per_success"] == ["inf", "inf"] and d["columns"]["p_success"][1] is None
    assert "inf" in str(t2)


def test_exact_table(exact):
    table = postselection_table(exact)
    assert table.names == ["round", "time", "p_success", "p_cumulative", "attempts_per_success",
                           "end_time", "singlet_post"]
    # round 1: P_- population of the unconditional state (a non-selective measurement keeps the diagonal)
    p1 = exact.rho[4, 1, 1].real + exact.rho[4, 2, 2].real
    np.testing.assert_allclose(table["p_success"][0], p1, atol=1e-12)
    np.testing.assert_allclose(table["p_cumulative"], np.cumprod(table["p_success"]), rtol=1e-12)
    np.testing.assert_allclose(table["attempts_per_success"], 1 / table["p_cumulative"], rtol=1e-12)
    singlet = np.real(np.einsum("i,kij,j->k", SINGLET.conj(), exact.rho_post[[7, 11, 16]], SINGLET))
    np.testing.assert_allclose(table["singlet_post"], singlet, atol=1e-14)
    assert "exact" in str(table).splitlines()[0]
    json.dumps(exact_table(exact).to_dict(), allow_nan=False)
    with pytest.raises(ValueError):
        postselection_table("not a result")


# ---- Monte Carlo against exact -----------------------------------------------------------------
def test_success_z_deterministic_probabilities():
    z = success_z([0, 5, 3, 4, 2], [5, 5, 5, 0, 4], [0.0, 1.0, 0.0, 0.5, 0.5])
    assert z[0] == 0 and z[1] == 0 and z[2] == math.inf and np.isnan(z[3])
    assert z[4] == 0.0  # 2 of 4 at p = 1/2


def test_trace_distance_closed_form():
    a = np.diag([1.0, 0, 0, 0]).astype(complex)
    b = np.diag([0.5, 0.5, 0, 0]).astype(complex)
    plus = np.full((4, 4), 0.25, complex)
    assert trace_distance(a, b) == pytest.approx(0.5)
    # pure states: sqrt(1 - |<psi|phi>|^2); <uu|++> = 1/2
    assert trace_distance(a, plus) == pytest.approx(math.sqrt(0.75))
    assert np.isnan(trace_distance(np.full((4, 4), np.nan), a))


def test_compare_correct_run_is_consistent(mc, exact):
    c = compare(mc, exact)
    print(f"\n{c}")
    assert c.consistent and c.verdict == "consistent" and c.max_z <= 5.0
    assert c.trace_distance.shape == c.z_max.shape == c.z_max_post.shape == (17,)
    assert c.z_success.shape == (3,) and np.all(np.abs(c.z_success) < 5)
    assert c.trace_distance[0] < 1e-9 and np.all(c.trace_distance[1:] < 0.03)  # t = 0: exact pure state
    assert np.nanmax(c.trace_distance_post) < 0.03
    assert c.z_max[0] < 1.0  # identical trajectories at t = 0: deviation is rounding over SE_FLOOR
    text = str(c)
    assert "20000" in text and "consistent" in text


@pytest.mark.parametrize("change", [dict(lam1=0.24), dict(J_ex=0.03)])
def test_compare_perturbed_model_is_inconsistent(exact, change):
    wrong = simulate(MODEL.replace(**change), PROTOCOL, 20_000, seed=12345, progress=False)
    c = compare(wrong, exact)
    print(f"\n{change}: {c.verdict}")
    assert not c.consistent and c.max_z > 5.0
    assert c.verdict == f"inconsistent at {c.max_z:.1f} sigma"


def test_compare_bad_input(mc, exact):
    other_times = solve_master_equation(MODEL, Protocol("ud", (2.0, 4.0, 6.0), np.linspace(0.0, 8.0, 9)))
    other_rounds = solve_master_equation(MODEL, Protocol("ud", (2.0, 4.0, 7.0), np.linspace(0.0, 8.0, 17)))
    for ex in (other_times, other_rounds):
        with pytest.raises(ValueError, match="share"):
            compare(mc, ex)
    for kwargs in (dict(threshold=0), dict(threshold=math.inf), dict(min_count=1)):
        with pytest.raises(ValueError):
            compare(mc, exact, **kwargs)
    with pytest.raises(ValueError):
        compare(exact, exact)
    assert SE_FLOOR == 1e-10


# ---- convergence -------------------------------------------------------------------------------
def test_convergence_slope():
    """Time-averaged trace distance ~ ntraj^-1/2. With 16 independent runs per point the fitted slope
    has an sd of ~0.035 (measured over 20 seeds), so +-0.1 is a ~3-sigma band."""
    with numba_threads_restored():
        conv = convergence(MODEL, PROTOCOL, [250, 1000, 4000, 16000], seed=2024, repeats=16,
                           batch_threads=1)
    print(f"\n{conv}")
    assert conv.distance.shape == (4,) and conv.distances.shape == (4, 16, 16) and conv.times[0] > 0
    assert len({int(s) for s in conv.seeds.ravel()}) == 64
    assert abs(conv.slope + 0.5) < 0.1
    assert conv.slope_se < 0.06
    for bad in (dict(ntraj_list=[100]), dict(ntraj_list=[100, 100]), dict(ntraj_list=[0, 100]),
                dict(ntraj_list=[100, 200], repeats=0), dict(ntraj_list=[100, 200], seed=2**64 - 1)):
        kwargs = dict(seed=1) | bad
        with pytest.raises(ValueError):
            convergence(MODEL, PROTOCOL, **kwargs)


def test_compare_consistent_when_a_rare_path_was_never_sampled():
    # 100k trajectories: the du population at t = 0.5 needs two jumps (p ~ 1e-5), so no trajectory
    # samples it and its sample se is 0; a bare se floor called this run "inconsistent at 33.5 sigma"
    model = SpinPair()
    protocol = Protocol("ud", (10.0, 20.0, 30.0), np.linspace(0, 40, 81))
    mc = simulate(model, protocol, 100_000, seed=11, progress=False)
    ex = solve_master_equation(model, protocol)
    assert compare(mc, ex).consistent
    # and a 10% rate error is still caught
    bad = solve_master_equation(model.replace(lam1=0.9 * model.lam1, lam2=0.9 * model.lam2), protocol)
    assert not compare(mc, bad).consistent
