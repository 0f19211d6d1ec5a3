"""Regression tests for GitHub issue "Nothing silent": errors that used to pass without a word.

A. a callable schedule objective that returns NaN or +-inf (was scored -inf, or +inf reported as -inf);
B. ``--set`` text that holds more than one TOML value (the rest was dropped);
C. ``target_se`` stopping on a sample standard error that had collapsed to ~0.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from cli_calls import call, one_error_line

import darkspin as ds
from darkspin.analysis.config import ConfigError, parse_override
from darkspin.ensemble.montecarlo.simulation import TargetNotReachedWarning
from darkspin.ensemble.statistics.intervals import mean_interval, standard_error_floor

MODEL = ds.SpinPair()
PROTOCOL = ds.Protocol("ud", [100.0, 200.0], np.linspace(0.0, 500.0, 3))


# ---- A. a broken objective callable is refused, naming itself and the schedule -------------------
@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_non_finite_callable_objective_raises(bad):
    def broken_objective(result) -> float:
        return bad

    with pytest.raises(ValueError, match=r"broken_objective.*finite.*measure_at=\[") as info:
        ds.optimize_schedule(MODEL, PROTOCOL, objective=broken_objective, starts=1)
    assert repr(bad) in str(info.value)


def test_callable_objective_non_finite_somewhere_names_those_times():
    # finite for early first rounds, NaN past t = 150: the search must stop there, not skip it
    def picky(result) -> float:
        return math.nan if result.protocol.measure_at[0] > 150.0 else float(result.p_cumulative[-1])

    with pytest.raises(ValueError, match=r"'picky'.*nan.*measure_at=\[(1[5-9]\d|[2-4]\d\d)"):
        ds.optimize_schedule(MODEL, PROTOCOL, objective=picky, starts=3)


# ---- B. --set takes exactly one TOML value ------------------------------------------------------
@pytest.mark.parametrize(
    "text",
    [
        "model.lam2=0.01\nmodel.V=2",
        "model.lam2=0.01\r\nmodel.V=2",
        "model.V=2\nV=3",  # a duplicate of the value's own key, not TOML: must not become a string
        "protocol.postselect=last\nmodel.V=2",  # not TOML either: a plain string only on one line
    ],
)
def test_override_with_more_than_one_value_is_refused(text):
    with pytest.raises(ConfigError, match="exactly one TOML value") as info:
        parse_override(text)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("model.lam2=0.01", 0.01),
        ("protocol.postselect=last", "last"),
        ('protocol.postselect="last"', "last"),
        ("protocol.measure_at=[100,\n200]", [100, 200]),  # one value over two lines
        ("model.V=2 # a comment", 2),
    ],
)
def test_override_single_value_still_parses(text, value):
    assert parse_override(text)[2] == value


@pytest.mark.parametrize("command", ["exact", "run", "sweep"])
def test_cli_set_with_two_values_exits_2_with_one_line(command, tmp_path):
    # small runs, so that the unfixed code (which ran them) is quick too
    config = tmp_path / "config.toml"
    config.write_text("[protocol]\nmeasure_at = [20.0]\nt_final = 40.0\nn_out = 5\n[run]\nntraj = 20\n")
    if command == "sweep":
        config.write_text(config.read_text() + "[sweep]\nlam2 = [0.0126, 0.011]\n")
    argv = [command, config, "--set", "model.lam2=0.01\nmodel.V=2"]
    if command != "exact":
        argv += ["--out", tmp_path / "out", "--no-progress"]
    status, _, err = call(argv)
    assert status == 2
    assert "exactly one TOML value" in one_error_line(err)
    assert not (tmp_path / "out").exists()


# ---- C. target_se never stops on a collapsed standard error -----------------------------------
def test_standard_error_floor_is_one_outlier_in_n():
    n = np.array([10.0, 1000.0, 1e5])
    one_outlier = np.sqrt((1 / n) * (1 - 1 / n) / n)  # SE of a mean with one run at 0, the rest at 1
    assert np.allclose(standard_error_floor(n), one_outlier, rtol=1.0 / n)
    assert standard_error_floor(0) == math.inf
    # at most the printed interval's own floor z^2/n, as a standard error (z/n)
    low, high = mean_interval(np.full(3, 0.5), np.zeros(3), n)
    assert np.all(standard_error_floor(n) < (high - low) / 2 / 1.959963984540054)


def test_target_se_does_not_stop_on_collapsed_standard_error():
    """At the paper's point ~half the runs are post-selected and few of those have jumped: the sample SE
    of the post-selected singlet is often exactly 0. A target of 1e-6 needs 1e6 runs behind the
    estimate, so every run must go on to max_ntraj and warn (it used to stop on 'target_se')."""
    proto = ds.Protocol.paper(n_out=51)
    ends, collapsed = [], 0
    for seed in range(100):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            r = ds.simulate(MODEL, proto, ntraj=200, seed=seed, target_se=1e-6, max_ntraj=1000, progress=False)
        ends.append(r.stats["end_condition"])
        assert r.ntraj == 1000
        assert any(issubclass(w.category, TargetNotReachedWarning) for w in caught), seed
        assert r.stats["achieved_se"] >= standard_error_floor(r.n_post[-1])
        collapsed += r.singlet_post_se[-1] < 1e-6
    assert ends == ["max_ntraj"] * 100
    assert collapsed > 10  # the premise: the sample SE did collapse in many of these runs


def test_floor_leaves_healthy_standard_errors_alone():
    proto = ds.Protocol("ud", [100.0], np.linspace(0.0, 500.0, 11), postselect="none")
    r = ds.simulate(MODEL, proto, ntraj=2000, seed=3, progress=False)
    assert r.singlet_post_se[-1] > standard_error_floor(r.n_post[-1])  # the premise: a healthy SE
    assert r.target_error("final_post") == r.singlet_post_se[-1] == r.stats["achieved_se"]
    unconditional = r.singlet_se[np.isfinite(r.singlet_se)]
    assert r.target_error("max") >= unconditional.max()
