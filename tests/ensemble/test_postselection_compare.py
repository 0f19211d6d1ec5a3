"""ensemble.results.postselection and ensemble.statistics: Wilson intervals (published values, coverage against the
exact probabilities of the master equation), table arithmetic and serialisation, the Monte Carlo vs
exact verdict (a correct model passes, perturbed models fail), and the ntraj^-1/2 convergence.

Reference values come from Newcombe (1998), the master equation (an independent exact solver) and
counts computed here; never from the code under test. Fixed seeds throughout. About 15 s after the
Numba cache is warm. Run with -s to see the measured numbers.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import json
import math

import numba
import numpy as np
import pytest

from darkspin.analysis.studies import convergence
from darkspin.ensemble import EnsembleSums, MonteCarloResult, run_batch, simulate, solve_master_equation
from darkspin.ensemble.results.master_equation import PostSelectionUndefinedWarning
from darkspin.ensemble.results.postselection import PostSelectionTable, round_end_indices
from darkspin.ensemble.statistics.comparison import compare
from darkspin.ensemble.statistics.density_tests import element_p_values, variance_bound
from darkspin.ensemble.statistics.intervals import mean_interval, wilson_interval
from darkspin.ensemble.statistics.significance import SE_FLOOR, sigma_from_p
from darkspin.ensemble.statistics.success_tests import success_p_values, success_z
from darkspin.ensemble.statistics.trace_distance import trace_distance
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
NEWCOMBE = [
    (81, 263, 0.2553, 0.3662),
    (15, 148, 0.0624, 0.1605),
    (0, 20, 0.0, 0.1611),
    (1, 29, 0.0061, 0.1718),
    (29, 29, 0.8830, 1.0),
]


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
    for bad in [dict(k=-1, n=3), dict(k=1, n=3, confidence=1.0), dict(k=1, n=3, confidence=0)]:
        with pytest.raises(ValueError):
            wilson_interval(**bad)
    # the message names the parameters and the offending values
    with pytest.raises(ValueError, match=r"k must be <= n \(successes cannot exceed trials\), got k=5 > n=3"):
        wilson_interval(5, 3)
    with pytest.raises(ValueError, match=r"got k=7 > n=6"):
        wilson_interval([1, 7], [4, 6])
    with pytest.raises(ValueError, match=r"k must be a finite count >= 0, got k=-1"):
        wilson_interval(-1, 3)


@pytest.mark.statistical
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
        table = MonteCarloResult(MODEL, protocol, sums, 777).postselection()
        ok = table["attempts"] > 0
        hits_cond += np.sum((table["p_success_low"] <= ex.p_success) & (ex.p_success <= table["p_success_high"]) & ok)
        hits_cum += np.sum(
            (table["p_cumulative_low"] <= ex.p_cumulative) & (ex.p_cumulative <= table["p_cumulative_high"])
        )
        checks += int(np.sum(ok))
    cov_cond, cov_cum = hits_cond / checks, hits_cum / (groups * protocol.rounds)
    print(
        f"\nWilson 95% coverage: conditional {cov_cond:.4f} ({checks} checks), "
        f"cumulative {cov_cum:.4f} ({groups * protocol.rounds} checks)"
    )
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
    assert table["singlet_post"].tolist() == mc.population("S").value_post.real[idx].tolist()
    assert table["singlet_post_se"].tolist() == mc.population("S").se_post[idx].tolist()
    # the post-selected singlet population agrees with the exact one in units of its standard error
    exact_singlet = np.real(np.einsum("i,kij,j->k", SINGLET.conj(), exact.rho_post[idx], SINGLET))
    assert np.all(np.abs(table["singlet_post"] - exact_singlet) < 5 * table["singlet_post_se"])
    # its interval: about the normal interval +-1.96 se here (the sample variance is far from collapsing)
    lo, hi = table["singlet_post_low"], table["singlet_post_high"]
    assert np.all(lo < table["singlet_post"]) and np.all(table["singlet_post"] < hi)
    half = 1.959964 * table["singlet_post_se"]
    assert np.all(hi - lo > 2 * half) and np.all(hi - lo < 2.2 * half)

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
    assert len(lines) == 3 + 3 + 1 + 2 and len({len(line) for line in lines[1:-3]}) == 1  # aligned
    assert lines[-3] == "Rounds: every round: zz, perfect readout; post-select runs whose every record is -1"
    assert lines[-2].startswith("p_cumulative: P(records of rounds 1..k all -1)") and lines[-1].startswith("end_time:")
    assert f"{100 * n[1] / n[0]:.2f}%" in lines[4] and "0.200" in lines[4]
    assert "singlet_post [95%]" in lines[1] and "+-" not in text  # intervals, not 'value +- se'
    assert f"{table['singlet_post'][1]:.5f} [{lo[1]:.5f}, {hi[1]:.5f}]" in lines[4]


def test_table_json_round_trip():
    # |ud> measured at t = 0 always succeeds (p = 1, Wilson high = 1 exactly)
    protocol = Protocol("ud", (0.0, 0.0), [0.0, 1.0])
    sums = run_batch(MODEL, protocol, 5, 0, 50)
    table = MonteCarloResult(MODEL, protocol, sums, 5).postselection()
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
    t2 = MonteCarloResult(MODEL, nothing, run_batch(MODEL, nothing, 5, 0, 10), 5).postselection()
    assert t2["successes"].tolist() == [0, 0] and np.isnan(t2["p_success"][1])
    assert t2["attempts_per_success"].tolist() == [math.inf, math.inf]
    d = json.loads(json.dumps(t2.to_dict(), allow_nan=False))
    assert d["columns"]["attempts_per_success"] == ["inf", "inf"] and d["columns"]["p_success"][1] is None
    assert "inf" in str(t2)


def test_exact_table(exact):
    table = exact.postselection()
    assert table.names == [
        "round",
        "time",
        "p_success",
        "p_cumulative",
        "attempts_per_success",
        "end_time",
        "singlet_post",
    ]
    # round 1: P_- population of the unconditional state (a non-selective measurement keeps the diagonal)
    p1 = exact.rho[4, 1, 1].real + exact.rho[4, 2, 2].real
    np.testing.assert_allclose(table["p_success"][0], p1, atol=1e-12)
    np.testing.assert_allclose(table["p_cumulative"], np.cumprod(table["p_success"]), rtol=1e-12)
    np.testing.assert_allclose(table["attempts_per_success"], 1 / table["p_cumulative"], rtol=1e-12)
    singlet = np.real(np.einsum("i,kij,j->k", SINGLET.conj(), exact.rho_post[[7, 11, 16]], SINGLET))
    np.testing.assert_allclose(table["singlet_post"], singlet, atol=1e-14)
    assert "exact" in str(table).splitlines()[0]
    json.dumps(exact.postselection().to_dict(), allow_nan=False)


# ---- Monte Carlo against exact -----------------------------------------------------------------
def test_success_z_deterministic_probabilities():
    z = success_z([0, 5, 3, 4, 2], [5, 5, 5, 0, 4], [0.0, 1.0, 0.0, 0.5, 0.5])
    assert z[0] == 0 and z[1] == 0 and z[2] == math.inf and np.isnan(z[3])
    assert z[4] == 0.0  # 2 of 4 at p = 1/2
    assert success_z([4], [5], [1.0])[0] == -math.inf


def _binom_tails(k, n, p):
    pmf = [math.comb(n, j) * p**j * (1 - p) ** (n - j) for j in range(n + 1)]
    return sum(pmf[: k + 1]), sum(pmf[k:])


def test_success_p_values_are_exact_binomial_tails():
    # 999 successes of 1000 where p = 1 - 2.4e-5 (0.024 failures expected): P(X <= 999) = 1 - (1 - 2.4e-5)^1000,
    # two-sided p = 0.047, about 2 sigma, where the normal z was -6.2
    p = 1 - 2.4e-5
    ref = 2 * (1 - p**1000)
    got = success_p_values([999], [1000], [p])[0]
    assert got == pytest.approx(ref, rel=1e-9)
    z = success_z([999], [1000], [p])[0]
    assert z == pytest.approx(-1.983, abs=0.005)  # Phi^-1(1 - 0.0474 / 2) = 1.983, from a table
    # small cases against tails summed here
    for k, n, q in [(3, 10, 0.5), (0, 12, 0.2), (9, 9, 0.7), (7, 20, 0.1)]:
        below, above = _binom_tails(k, n, q)
        assert success_p_values([k], [n], [q])[0] == pytest.approx(min(1.0, 2 * min(below, above)), rel=1e-10)


def test_trace_distance_closed_form():
    a = np.diag([1.0, 0, 0, 0]).astype(complex)
    b = np.diag([0.5, 0.5, 0, 0]).astype(complex)
    plus = np.full((4, 4), 0.25, complex)
    assert trace_distance(a, b) == pytest.approx(0.5)
    # pure states: sqrt(1 - |<psi|phi>|^2); <uu|++> = 1/2
    assert trace_distance(a, plus) == pytest.approx(math.sqrt(0.75))
    assert np.isnan(trace_distance(np.full((4, 4), np.nan), a))


@pytest.mark.statistical
def test_compare_correct_run_is_consistent(mc, exact):
    c = compare(mc, exact)
    print(f"\n{c}")
    assert c.consistent and c.verdict == "consistent" and c.max_z <= 5.0
    assert c.threshold == 3.0 and c.sigma <= 3.0 and 0 < c.p_min <= c.p_value <= 1
    # 17 times x 10 independent elements x (rho, rho_post) and 3 rounds, less the coherences between
    # S_z sectors (uu-ud, uu-du, ud-dd, du-dd, uu-dd: 5 per matrix) and the exactly known t = 0 state
    assert 0 < c.n_tests <= 17 * 10 * 2 + 3
    assert c.n_tests == pytest.approx(16 * 5 * 2 + 3, abs=16)
    assert c.trace_distance.shape == c.z_max.shape == c.z_max_post.shape == (17,)
    assert c.z_success.shape == (3,) and np.all(np.abs(c.z_success) < 5)
    assert c.trace_distance[0] < 1e-9 and np.all(c.trace_distance[1:] < 0.03)  # t = 0: exact pure state
    assert np.nanmax(c.trace_distance_post) < 0.03
    assert c.z_max[0] < 1.0  # identical trajectories at t = 0: deviation is rounding over SE_FLOOR
    text = str(c)
    assert "20000" in text and "consistent" in text


@pytest.mark.statistical
@pytest.mark.parametrize("change", [dict(lam1=0.24), dict(J_ex=0.03)])
def test_compare_perturbed_model_is_inconsistent(exact, change):
    wrong = simulate(MODEL.replace(**change), PROTOCOL, 20_000, seed=12345, progress=False)
    c = compare(wrong, exact)
    print(f"\n{change}: {c.verdict}")
    assert not c.consistent and c.max_z > 5.0 and c.sigma > 3.0
    assert c.verdict == f"inconsistent at {c.sigma:.1f} sigma"
    # Bonferroni: the family-wise p-value is n_tests times the smallest
    assert c.p_value == pytest.approx(min(1.0, c.n_tests * c.p_min), rel=1e-12)


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
@pytest.mark.statistical
def test_convergence_slope():
    """Time-averaged trace distance ~ ntraj^-1/2. With 16 independent runs per point the fitted slope
    has an sd of ~0.035 (measured over 20 seeds), so +-0.1 is a ~3-sigma band."""
    with numba_threads_restored():
        conv = convergence(MODEL, PROTOCOL, [250, 1000, 4000, 16000], seed=2024, repeats=16, batch_threads=1)
    print(f"\n{conv}")
    assert conv.distance.shape == (4,) and conv.distances.shape == (4, 16, 16) and conv.times[0] > 0
    assert len({int(s) for s in conv.seeds.ravel()}) == 64
    assert abs(conv.slope + 0.5) < 0.1
    assert conv.slope_se < 0.06
    for bad in (
        dict(ntraj_list=[100]),
        dict(ntraj_list=[100, 100]),
        dict(ntraj_list=[0, 100]),
        dict(ntraj_list=[100, 200], repeats=0),
        dict(ntraj_list=[100, 200], seed=2**64 - 1),
    ):
        kwargs = dict(seed=1) | bad
        with pytest.raises(ValueError):
            convergence(MODEL, PROTOCOL, **kwargs)


@pytest.mark.statistical
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


# ---- never "consistent" about missing data -----------------------------------------------------
def _with(mc, **arrays):
    """A shallow copy of a MonteCarloResult with some estimate arrays replaced."""
    out = copy.copy(mc)
    for name, value in arrays.items():
        setattr(out, name, value)
    return out


def test_compare_never_consistent_about_nan_or_empty(mc, exact):
    assert compare(mc, exact).consistent  # the unbroken run, for contrast
    rho = mc.rho.copy()
    rho[5, 1, 2] = rho[5, 2, 1] = np.nan
    post_se = mc.rho_post_se.copy()
    post_se[9, 1, 1] = np.nan
    ex_rho = exact.rho.copy()
    ex_rho[3, 0, 0] = np.nan
    ex_post = exact.rho_post.copy()
    ex_post[12] = np.nan  # as if the exact post-selection probability were 0, yet runs were post-selected
    ex_p = exact.p_success.copy()
    ex_p[2] = np.nan
    cases = {
        "Monte Carlo rho NaN": (_with(mc, rho=rho), exact),
        "Monte Carlo se NaN": (_with(mc, rho_post_se=post_se), exact),
        "exact rho NaN": (mc, dataclasses.replace(exact, rho=ex_rho)),
        "exact rho_post NaN": (mc, dataclasses.replace(exact, rho_post=ex_post)),
        "exact p_success NaN": (mc, dataclasses.replace(exact, p_success=ex_p)),
    }
    for label, (m, e) in cases.items():
        c = compare(m, e)
        print(f"\n{label}: {c.verdict}")
        assert not c.consistent and c.verdict.startswith("inconsistent: ") and "NaN" in c.verdict, label
        assert c.worst["kind"] == "nan" and c.sigma == math.inf
    assert "rho[ud,du] is NaN at t = 2.5" in compare(*cases["Monte Carlo rho NaN"]).verdict

    # no trajectories, or too few for any element: inconclusive, even when the few success counts pass
    empty = MonteCarloResult(MODEL, PROTOCOL, EnsembleSums.empty(PROTOCOL.times.size, PROTOCOL.rounds), 1)
    c = compare(empty, exact)
    assert not c.consistent and c.verdict == "inconclusive: no trajectories"
    few = MonteCarloResult(MODEL, PROTOCOL, run_batch(MODEL, PROTOCOL, 1, 0, 10), 1)
    c = compare(few, exact)
    assert not c.consistent and c.verdict.startswith("inconclusive: ")


def test_compare_nothing_post_selected_where_nothing_can_be():
    # |uu> measured at t = 0 always fails: rho_post is NaN on both sides, which is agreement, not a NaN
    # against a value; the unconditional state is still tested
    protocol = Protocol("uu", (0.0, 1.0), [0.0, 1.0, 2.0])
    with pytest.warns(PostSelectionUndefinedWarning):
        ex = solve_master_equation(MODEL, protocol)
    mc = MonteCarloResult(MODEL, protocol, run_batch(MODEL, protocol, 3, 0, 2000), 3)
    assert np.all(mc.n_post == 0) and np.all(np.isnan(mc.rho_post)) and np.all(np.isnan(ex.rho_post))
    c = compare(mc, ex)
    assert c.consistent and c.n_tests > 0


# ---- the interval for a mean in [0, 1] ---------------------------------------------------------
def test_mean_interval_at_the_boundary():
    z = 1.959963984540054
    # every run at 1 (se = 0): [1 - z^2/n, 1], next to Wilson's n/(n + z^2) for n successes in n
    lo, hi = mean_interval(1.0, 0.0, 10_000)
    assert hi == 1.0 and lo == pytest.approx(1 - z * z / 10_000, rel=1e-12)
    assert lo == pytest.approx(wilson_interval(10_000, 10_000)[0], abs=(z * z / 10_000) ** 2)
    lo, hi = mean_interval(0.0, 0.0, 400)
    assert lo == 0.0 and hi == pytest.approx(z * z / 400, rel=1e-12)
    # never zero width: identical runs anywhere in [0, 1]
    m = np.array([0.0, 1e-9, 0.5, 1 - 1e-9, 1.0])
    lo, hi = mean_interval(m, np.zeros(5), np.full(5, 10**6))
    assert np.all(hi - lo > 0) and np.all(lo <= m) and np.all(m <= hi) and np.all(lo >= 0) and np.all(hi <= 1)
    # a well-sampled spread: mean +- z se to first order in 1/n
    lo, hi = mean_interval(0.3, 0.003, 20_000)  # widened by ~z^2 / (2 n) = 1e-4
    assert (hi - lo) / 2 == pytest.approx(z * 0.003, rel=0.02) and (hi - lo) / 2 > z * 0.003
    # one run (no se): the largest variance of a quantity in [0, 1]; none: NaN
    lo, hi = mean_interval([0.7, np.nan], [np.nan, np.nan], [1, 0])
    assert lo[0] == 0.0 and hi[0] == 1.0 and np.isnan(lo[1]) and np.isnan(hi[1])
    # rounding of the fixed-point sums is tolerated; anything else is an error naming the parameter
    assert mean_interval(1 + 1e-12, 0.0, 100)[1] == 1.0
    for bad, match in [
        ((1.5, 0.0, 10), "mean must lie in"),
        ((0.5, -1.0, 10), "se be >= 0"),
        ((0.5, 0.1, -3), "n must be a finite count >= 0, got n=-3"),
        ((0.5, 0.1, 10, 1.0), "confidence"),
    ]:
        with pytest.raises(ValueError, match=match):
            mean_interval(*bad)


# ---- the element test ----------------------------------------------------------------------------
def test_variance_bound_holds_for_random_ensembles():
    """variance_bound(mean of |psi><psi|) >= the per-element variance of any ensemble of pure states,
    computed here directly; tight for populations of basis states (Bernoulli)."""
    rng = np.random.default_rng(5)
    for trial in range(200):
        k = rng.integers(1, 6)
        if trial % 4 == 0:  # basis states: populations are Bernoulli, the bound is their variance
            psi = np.eye(4, dtype=complex)[rng.integers(0, 4, k)]
        else:
            psi = rng.normal(size=(k, 4)) + 1j * rng.normal(size=(k, 4))
            psi[:, rng.random(4) < 0.3] = 0  # some sectors empty
            psi[np.all(psi == 0, axis=1), 0] = 1
            psi /= np.linalg.norm(psi, axis=1, keepdims=True)
        w = rng.dirichlet(np.ones(k))
        x = np.einsum("ki,kj->kij", psi, psi.conj())
        mean = np.einsum("k,kij->ij", w, x)
        var = np.einsum("k,kij->ij", w, np.abs(x - mean) ** 2)
        bound = variance_bound(mean)
        assert np.all(var <= bound + 1e-12), (trial, var - bound)
        if trial % 4 == 0:
            np.testing.assert_allclose(np.diag(var), np.diag(bound), atol=1e-12)


def _element_sigma(mean, se, exact_p, n):
    est = np.diag([mean, 1 - mean, 0, 0]).astype(complex)[None]
    ex = np.diag([exact_p, 1 - exact_p, 0, 0]).astype(complex)[None]
    s = np.zeros((1, 4, 4))
    s[0, 0, 0] = s[0, 1, 1] = se
    return sigma_from_p(element_p_values(est, s, ex, n)[0, 0, 0])


@pytest.mark.statistical
def test_element_test_of_a_rare_outcome_against_exact_binomial_tails():
    """A population p = 3.2e-4 sampled by N = 2e4 runs that take it with certainty or not at all
    (6.4 expected): the element's significance never exceeds the exact binomial one (scipy.stats here)
    and stays within ~0.8 sigma of it, whether none, one or many runs were seen. The 1/N-floor
    statistic called 0 seen a 6.4 sigma event."""
    from scipy.stats import binom, norm

    n, p = 20_000, 3.2e-4
    for k in (0, 1, 3, 6, 12, 20, 30):
        m = k / n
        se = math.sqrt(m * (1 - m) / (n - 1)) if k else 0.0  # the sample se of k ones among n
        exact_two_sided = min(1.0, 2 * min(binom.cdf(k, n, p), binom.sf(k - 1, n, p)))
        exact_sigma = norm.isf(exact_two_sided / 2)
        got = _element_sigma(m, se, p, n)
        print(f"k = {k:2d}: element {got:.2f} sigma, exact binomial {exact_sigma:.2f} sigma")
        assert got <= exact_sigma + 0.05 and got >= exact_sigma - 0.8, k
    # a real deviation in a well-sampled element is still a many-sigma event
    assert _element_sigma(0.50, 0.0016, 0.45, 100_000) > 20
