"""ds.sweep: exact columns against solve_master_equation point by point, Monte Carlo columns against the
exact ones in units of their own standard errors, bit-identical results after an interruption and resume
(executors and batch splits: tests/ensemble/test_reproducibility.py), seeds and common random numbers as
documented, and bad axes rejected before any work. A short protocol (2 rounds by t = 60) keeps each test to
a few seconds once Numba's cache is warm."""

from __future__ import annotations

import importlib
import math
import sys

import numpy as np
import pytest

import darkspin as ds
from darkspin.analysis.measures import concurrence
from darkspin.trajectories.operators import basis_state

sweep_module = importlib.import_module("darkspin.analysis.studies.sweeps")
simulation_module = importlib.import_module("darkspin.ensemble.montecarlo.simulation")

SHORT = ds.Protocol("ud", [20.0, 40.0], np.linspace(0.0, 60.0, 61))
LAM2 = [0.0126, 0.011]
ERRORS = [0.0, 0.05, 0.1]


def _singlet_post(rho) -> float:
    s = basis_state("S")
    return float(np.real(s.conj() @ rho @ s))


def _same(a: ds.SweepTable, b: ds.SweepTable) -> None:
    assert a.names == b.names
    for name in a.names:
        x, y = a[name], b[name]
        assert x.dtype == y.dtype and x.tobytes() == y.tobytes(), name


# ---- exact columns -----------------------------------------------------------------------------
def test_exact_columns_equal_the_solver_point_by_point():
    base = ds.Protocol.paper(n_out=51)
    table = ds.sweep(ds.SpinPair(), base, {"lam2": LAM2, "readout_error": ERRORS})
    assert table.axes == ("lam2", "readout_error") and len(table) == 6
    grid = [(lam, e) for lam in LAM2 for e in ERRORS]  # first axis slowest
    for i, (lam, e) in enumerate(grid):
        protocol = ds.Protocol("ud", base.measure_at, base.times, measurement=ds.Measurement("zz", e), postselect="all")
        ex = ds.solve_master_equation(ds.SpinPair(lam2=lam), protocol)
        assert table["lam2"][i] == lam and table["readout_error"][i] == e
        assert abs(table["fidelity_post"][i] - _singlet_post(ex.rho_post[-1])) <= 1e-12
        assert abs(table["yield"][i] - ex.p_cumulative[-1]) <= 1e-12
        for k in range(4):
            assert abs(table[f"p_success_{k + 1}"][i] - ex.p_success[k]) <= 1e-12
        assert abs(table["concurrence_post"][i] - concurrence(ex.rho_post[-1])) <= 1e-12


def test_rounds_axis_spacing_rule_and_nan_padding():
    base = ds.Protocol.paper(n_out=51)
    table = ds.sweep(ds.SpinPair(), base, {"rounds": [0, 1, 3]})
    assert table["rounds"].tolist() == [0, 1, 3]
    for i, schedule in enumerate([[], [100.0], [100.0, 200.0, 300.0]]):  # default spacing: measure_at[0]
        ex = ds.solve_master_equation(ds.SpinPair(), ds.Protocol("ud", schedule, base.times))
        assert abs(table["fidelity_post"][i] - _singlet_post(ex.rho_post[-1])) <= 1e-12
        assert abs(table["yield"][i] - (ex.p_cumulative[-1] if schedule else 1.0)) <= 1e-12
        for k in range(3):
            got = table[f"p_success_{k + 1}"][i]
            assert math.isnan(got) if k >= len(schedule) else abs(got - ex.p_success[k]) <= 1e-12
    spaced = ds.sweep(ds.SpinPair(), base, {"rounds": [2]}, spacing=150.0)
    ex = ds.solve_master_equation(ds.SpinPair(), ds.Protocol("ud", [150.0, 300.0], base.times))
    assert abs(spaced["fidelity_post"][0] - _singlet_post(ex.rho_post[-1])) <= 1e-12


def test_schedule_and_rule_axes_shown_as_text():
    table = ds.sweep(ds.SpinPair(), SHORT, {"measure_at": [[20.0], [10.0, 30.0, 50.0]], "postselect": ["all", "last"]})
    assert table["measure_at"].tolist() == ["20", "20", "10 30 50", "10 30 50"]
    assert table["postselect"].tolist() == ["all", "last", "all", "last"]
    ex = ds.solve_master_equation(ds.SpinPair(), ds.Protocol("ud", [10.0, 30.0, 50.0], SHORT.times, postselect="last"))
    assert abs(table["fidelity_post"][3] - _singlet_post(ex.rho_post[-1])) <= 1e-12
    assert math.isnan(table["p_success_2"][0]) and abs(table["p_success_3"][3] - ex.p_success[2]) <= 1e-12


def test_paired_pairs_axes():
    table = ds.sweep(ds.SpinPair(), SHORT, {"lam2": LAM2, "T": [0.0, 0.1]}, paired=True)
    assert len(table) == 2 and table["T"].tolist() == [0.0, 0.1] and table.meta["paired"] is True
    ex = ds.solve_master_equation(ds.SpinPair(lam2=0.011, T=0.1), SHORT)
    assert abs(table["fidelity_post"][1] - _singlet_post(ex.rho_post[-1])) <= 1e-12


def test_zip_is_a_deprecated_name_of_paired():
    axes = {"lam2": LAM2, "T": [0.0, 0.1]}
    with pytest.warns(DeprecationWarning, match=r"sweep\(zip=\.\.\.\) is deprecated.*use paired="):
        old = ds.sweep(ds.SpinPair(), SHORT, axes, zip=True, seed=1)
    assert old.to_dict() == ds.sweep(ds.SpinPair(), SHORT, axes, paired=True, seed=1).to_dict()
    with pytest.raises(TypeError, match="both paired= and its deprecated name zip="), pytest.warns(DeprecationWarning):
        ds.sweep(ds.SpinPair(), SHORT, axes, paired=True, zip=True)
    with pytest.raises(TypeError, match="unexpected keyword argument 'zipped'"):
        ds.sweep(ds.SpinPair(), SHORT, axes, zipped=True)


# ---- Monte Carlo columns -----------------------------------------------------------------------
@pytest.fixture(scope="module")
def mc_table():
    return ds.sweep(ds.SpinPair(), SHORT, {"lam2": LAM2}, ntraj=4000, seed=11, progress=False)


def _z_scores(table, exact_columns) -> dict[str, np.ndarray]:
    quantities = ["fidelity_post", "yield", "p_success_1", "p_success_2", "concurrence_post"]
    return {q: np.abs(table[f"mc_{q}"] - exact_columns[q]) / table[f"mc_{q}_se"] for q in quantities}


@pytest.mark.statistical
def test_monte_carlo_columns_agree_with_exact_within_five_se(mc_table):
    z = _z_scores(mc_table, mc_table.columns)
    for q, values in z.items():
        assert np.all(values < 5), (q, values)
    for q in ("fidelity_post", "yield", "p_success_1", "concurrence_post"):
        lo, hi = mc_table[f"mc_{q}_lo"], mc_table[f"mc_{q}_hi"]
        assert np.all((lo < hi) & (lo >= 0) & (hi <= 1)), q
    assert mc_table["mc_ntraj"].tolist() == [4000, 4000]


@pytest.mark.statistical
def test_a_wrong_model_fails_the_five_se_check(mc_table):
    wrong = ds.sweep(ds.SpinPair(lam1=0.02), SHORT, {"lam2": [0.02, 0.0175]})  # stronger coupling
    z = _z_scores(mc_table, wrong.columns)
    assert max(float(v.max()) for v in z.values()) > 5


@pytest.mark.statistical
def test_other_target_state_uses_its_population():
    table = ds.sweep(ds.SpinPair(), SHORT, {"lam2": [0.0126]}, ntraj=2000, seed=3, target_state="T2", progress=False)
    ex = ds.solve_master_equation(ds.SpinPair(), SHORT)
    t2 = basis_state("T2")
    exact = float(np.real(t2.conj() @ ex.rho_post[-1] @ t2))
    assert abs(table["fidelity_post"][0] - exact) <= 1e-12
    assert abs(table["mc_fidelity_post"][0] - exact) < 5 * table["mc_fidelity_post_se"][0]


# ---- reproducibility ---------------------------------------------------------------------------
def test_interrupted_sweep_resumes_bit_identically(mc_table, tmp_path, monkeypatch):
    real = simulation_module.run_batch
    calls = {"n": 0}

    def flaky(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 7:  # 5 batches of point 1, then point 2 after its first batch
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(simulation_module, "run_batch", flaky)
    with pytest.warns(RuntimeWarning, match="interrupted: 1 of 2 points"):
        partial = ds.sweep(
            ds.SpinPair(),
            SHORT,
            {"lam2": LAM2},
            ntraj=4000,
            seed=11,
            batch_size=800,
            directory=tmp_path,
            progress=False,
        )
    assert partial.interrupted and partial["mc_ntraj"].tolist() == [4000, 800]
    calls["n"] = 0
    monkeypatch.setattr(
        simulation_module, "run_batch", lambda *a, **k: (calls.__setitem__("n", calls["n"] + 1), real(*a, **k))[1]
    )
    resumed = ds.sweep(ds.SpinPair(), SHORT, {"lam2": LAM2}, ntraj=4000, seed=11, directory=tmp_path, progress=False)
    assert not resumed.interrupted
    assert calls["n"] == 1  # only the missing 3200 trajectories of point 2, in one default batch
    _same(mc_table, resumed)
    calls["n"] = 0
    again = ds.sweep(ds.SpinPair(), SHORT, {"lam2": LAM2}, ntraj=4000, seed=11, directory=tmp_path, progress=False)
    assert calls["n"] == 0  # every point was finished
    _same(mc_table, again)


def test_directory_of_another_sweep_is_refused(tmp_path, no_work):
    ds.sweep(ds.SpinPair(), SHORT, {"lam2": LAM2}, directory=tmp_path)
    with pytest.raises(ValueError, match="another sweep.*points' models or protocols differ"):
        ds.sweep(ds.SpinPair(), SHORT, {"lam2": [0.0126, 0.012]}, directory=tmp_path)
    with pytest.raises(ValueError, match="another sweep.*ntraj: 0 there, 100 here"):
        ds.sweep(ds.SpinPair(), SHORT, {"lam2": LAM2}, ntraj=100, seed=1, directory=tmp_path)


def test_point_seeds_and_common_random_numbers(mc_table):
    seed = 11
    for i in range(2):
        # the documented mix, computed here independently of the code under test
        expected = int(np.random.SeedSequence([seed, i]).generate_state(1, np.uint64)[0])
        assert sweep_module.point_seed(seed, i) == expected
        alone = ds.simulate(ds.SpinPair(lam2=LAM2[i]), SHORT, 4000, expected, progress=False)
        assert mc_table["mc_fidelity_post"][i] == alone.population("S").value_post.real[-1]
    crn = ds.sweep(
        ds.SpinPair(), SHORT, {"lam2": LAM2}, ntraj=4000, seed=seed, common_random_numbers=True, progress=False
    )
    for i in range(2):
        alone = ds.simulate(ds.SpinPair(lam2=LAM2[i]), SHORT, 4000, seed, progress=False)
        assert crn["mc_fidelity_post"][i] == alone.population("S").value_post.real[-1]
        assert crn["mc_yield"][i] == alone.p_cumulative[-1]


@pytest.mark.statistical
def test_common_random_numbers_make_differences_less_noisy():
    """Over 30 seeds: with independent streams the variance of a difference between two points is the
    sum of their variances (the sample ratio is chi^2_29/29: outside [0.35, 2.2] with probability < 1e-3);
    with common random numbers it is far smaller for nearby points."""
    axes = {"lam2": [0.0126, 0.0115]}
    diffs = {False: [], True: []}
    var_sum = []
    for seed in range(30):
        for crn in (False, True):
            t = ds.sweep(ds.SpinPair(), SHORT, axes, ntraj=1000, seed=seed, common_random_numbers=crn, progress=False)
            diffs[crn].append(t["mc_fidelity_post"][1] - t["mc_fidelity_post"][0])
            if not crn:
                var_sum.append(t["mc_fidelity_post_se"][0] ** 2 + t["mc_fidelity_post_se"][1] ** 2)
    var_ind, var_crn = np.var(diffs[False], ddof=1), np.var(diffs[True], ddof=1)
    assert 0.35 < var_ind / np.mean(var_sum) < 2.2, (var_ind, np.mean(var_sum))
    assert var_crn < 0.25 * var_ind, (var_crn, var_ind)


# ---- the table ---------------------------------------------------------------------------------
def test_table_conversions(mc_table, monkeypatch, tmp_path):
    text = str(mc_table)
    lines = text.splitlines()
    assert len(lines) == 4 and len({len(line) for line in lines[:3]}) == 1  # aligned
    assert lines[-1].startswith("(") and "more columns: table.show()" in lines[-1]  # the compact print
    d = mc_table.to_dict()
    assert list(d["columns"]) == mc_table.names and d["columns"]["lam2"] == LAM2 and d["axes"] == ["lam2"]
    rows = mc_table.rows()
    assert rows[1]["lam2"] == 0.011 and rows[1]["mc_ntraj"] == 4000
    csv_text = mc_table.to_csv(tmp_path / "t.csv")
    assert (tmp_path / "t.csv").read_text() == csv_text
    header, first = csv_text.splitlines()[:2]
    assert header.split(",") == mc_table.names
    assert [float(x) for x in first.split(",")] == [float(v) for v in rows[0].values()]  # exact round trip
    with pytest.raises(KeyError, match="no column 'fidelity'"):
        mc_table["fidelity"]
    monkeypatch.setitem(sys.modules, "pandas", None)
    with pytest.raises(ImportError, match="pip install pandas"):
        mc_table.to_pandas()


# ---- bad input, rejected before any work -------------------------------------------------------
@pytest.fixture
def no_exact(monkeypatch):
    def forbidden(*args, **kwargs):
        raise AssertionError("the exact solver ran: bad input should have been rejected first")

    monkeypatch.setattr(sweep_module, "_exact_points", forbidden)


@pytest.mark.parametrize(
    ("axes", "kwargs", "match"),
    [
        ({"lamda2": [0.1]}, {}, r"unknown axis 'lamda2'; accepted: model: nu, V, T, lam1, lam2"),
        ({"lam2": []}, {}, r"axis 'lam2' is empty"),
        ({"lam2": [0.01, -0.01]}, {}, r"axis 'lam2', value 2 \(-0.01\): lam2 must be >= 0"),
        ({"readout_error": [0.0, 1.5]}, {}, r"axis 'readout_error', value 2 \(1.5\): .*probability in \[0, 1\]"),
        ({"rounds": [2, 9]}, {}, r"axis 'rounds', value 2 \(9\): .*accepted: 0 to 5"),
        ({"measure_at": [[10.0, 70.0]]}, {}, r"axis 'measure_at'.*\[0, times\[-1\]\]"),
        ({"lam2": LAM2, "T": [0.0]}, {"paired": True}, r"paired=True needs axes of equal length, got lam2: 2, T: 1"),
        ({"rounds": [1], "measure_at": [[10.0]]}, {}, r"exclude each other"),
        ({"lam2": "0.1"}, {}, r"axis 'lam2' must be a list"),
        ({}, {}, r"at least one parameter"),
        ({"lam2": LAM2}, {"ntraj": 0, "target_se": 0.01}, r"target_se needs trajectories"),
        ({"lam2": LAM2}, {"spacing": -1.0}, r"spacing must be"),
        ({"lam2": LAM2}, {"target_state": "Q"}, r"target_state must be one of"),
        ({"lam2": LAM2}, {"ntraj": -1}, r"ntraj must be an integer in \[0"),
        ({"lam2": LAM2}, {"executor": object()}, r"executor must be"),
    ],
)
def test_bad_input_is_rejected_before_any_work(axes, kwargs, match, no_work, no_exact):
    protocol = SHORT if "rounds" not in axes else ds.Protocol.paper(n_out=11)
    with pytest.raises(ValueError, match=match):
        ds.sweep(ds.SpinPair(), protocol, axes, **kwargs)


def test_lindblad_model_has_no_named_axes(no_work, no_exact):
    with pytest.raises(ValueError, match=r"unknown axis 'lam2' \(a LindbladModel has no named parameters"):
        ds.sweep(ds.SpinPair().to_lindblad(), SHORT, {"lam2": LAM2})


def test_lindblad_model_over_protocol_axes():
    model = ds.SpinPair().to_lindblad()
    table = ds.sweep(model, SHORT, {"readout_error": [(0.0, 0.1)]})
    assert table["readout_error"].tolist() == ["0/0.1"]
    protocol = ds.Protocol("ud", SHORT.measure_at, SHORT.times, measurement=ds.Measurement("zz", (0.0, 0.1)))
    ex = ds.solve_master_equation(model, protocol)
    assert abs(table["fidelity_post"][0] - _singlet_post(ex.rho_post[-1])) <= 1e-12


def test_sweep_pairs_rounds_with_patterns_of_their_length():
    """Each value was checked alone against the base protocol, so a 2-round pattern was refused even when
    it was paired (zip) or crossed with rounds = 2."""
    base = ds.Protocol.paper(11)
    model = ds.SpinPair()
    table = ds.sweep(model, base, {"rounds": [2, 3], "postselect": ["-?", "--+"]}, paired=True, progress=False)
    for R, rule, f in zip(table["rounds"], table["postselect"], table["fidelity_post"], strict=True):
        p = ds.Protocol(base.rho0, 100.0 * np.arange(1, R + 1), base.times, postselect=str(rule))
        exact = ds.solve_master_equation(model, p).population("S").value_post[-1].real
        assert abs(f - exact) <= 1e-12
    assert len(ds.sweep(model, base, {"rounds": [2], "postselect": ["-?", "--"]}, progress=False)) == 2
    # a combination that is invalid names the point ...
    with pytest.raises(ValueError, match=r"sweep point \(rounds = 3, postselect = --\)"):
        ds.sweep(model, base, {"rounds": [2, 3], "postselect": ["--"]}, progress=False)
    # ... and a value that no other axis can repair still names the axis and the value
    with pytest.raises(ValueError, match=r"axis 'lam2', value 2 \(-1\.0\): lam2 must be >= 0"):
        ds.sweep(model, base, {"lam2": [0.01, -1.0], "rounds": [1]}, progress=False)
    with pytest.raises(ValueError, match=r"axis 'measure_at', value 1 \(\[600\.0\]\)"):
        ds.sweep(model, base, {"T": [0.1], "measure_at": [[600.0]]}, progress=False)
