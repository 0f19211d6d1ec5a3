"""Regression tests for the review of issues 13 and 14 (distributions, sweeps): each test pins one bug found
there. A few seconds in all once the Numba cache is warm."""

from __future__ import annotations

import math

import numpy as np
import pytest

import darkspin.ensemble.montecarlo.simulation as SIM
from darkspin.analysis.cli import main
from darkspin.analysis.studies import sweep
from darkspin.ensemble import load, no_jump_probability, simulate, solve_master_equation
from darkspin.ensemble.statistics.comparison import compare
from darkspin.ensemble.statistics.jump_tests import jump_tests
from darkspin.trajectories import LindbladModel, Measurement, Protocol, SpinPair

SM = np.array([[0, 1], [0, 0]], complex)
SX = np.array([[0, 1], [1, 0]], complex)


def decay(rate: float = 0.01) -> LindbladModel:
    """A driven two-level system decaying at ``rate`` (jump operator sqrt(rate) sigma_-)."""
    return LindbladModel(0.1 * SX, [math.sqrt(rate) * SM], ["decay"])


D2_P = Protocol([1, 0], (), np.linspace(0.0, 50.0, 11))


def test_first_jump_survival_past_the_final_time_is_no_false_alarm():
    """Runs stop at the final output time: on a time grid reaching past it the trajectories' survival is
    flat, and the exact one must be held at t_final too (it used to keep decaying: an 'inconsistent'
    verdict at > 30 sigma for a correct model). A wrong rate is still caught on that grid."""
    edges = np.linspace(0.0, 200.0, 41)  # four times the final time
    mc = simulate(decay(), D2_P, 4000, 11, progress=False, distributions=True, target_state=[0, 1], time_edges=edges)
    good = compare(mc, solve_master_equation(decay(), D2_P))
    assert good.consistent, str(good)
    assert good.jumps.survival_p > 0.01
    bad = jump_tests(mc, solve_master_equation(decay(0.013), D2_P))
    assert bad.survival_p < 1e-6


def test_figure_holds_the_exact_survival_at_the_final_time():
    pytest.importorskip("matplotlib")
    from darkspin.analysis.figures import distributions_figure

    edges = np.linspace(0.0, 200.0, 41)
    mc = simulate(decay(), D2_P, 200, 1, progress=False, distributions=True, target_state=[0, 1], time_edges=edges)
    exact = solve_master_equation(decay(), D2_P)
    fig = distributions_figure(mc, exact)
    line = [ln for ln in fig.axes[2].lines if ln.get_label() == "exact"][0]
    t, y = line.get_data()
    import matplotlib.pyplot as plt

    plt.close(fig)
    past = np.asarray(t) >= D2_P.t_final
    held = no_jump_probability(exact.model, exact.protocol, [D2_P.t_final])[0]
    assert past.sum() > 10 and np.allclose(np.asarray(y)[past], held, rtol=0, atol=1e-12)
    assert no_jump_probability(exact.model, exact.protocol, [200.0])[0] < held - 0.1  # the unheld value differs


def test_no_snapshot_at_all_is_refused_before_work(monkeypatch):
    """distribution_times=[] on a protocol without rounds left nothing to bin, and the result was saved in
    a file that load() refused."""

    def forbidden(*args, **kwargs):
        raise AssertionError("run_batch was called: the input should have been rejected first")

    monkeypatch.setattr(SIM, "run_batch", forbidden)
    with pytest.raises(ValueError, match="distribution_times must hold at least one output time"):
        simulate(decay(), D2_P, 10, 1, progress=False, distributions=True, target_state=[0, 1], distribution_times=[])


def test_round_ends_alone_save_and_load(tmp_path):
    """With rounds, distribution_times=[] keeps the round ends only, and the file loads bit for bit."""
    p = Protocol([1, 0], (10.0, 20.0), np.linspace(0.0, 50.0, 11), measurement=Measurement(np.diag([1.0, -1.0])))
    mc = simulate(decay(), p, 300, 2, progress=False, distributions=True, target_state=[0, 1], distribution_times=[])
    assert mc.distributions.snapshot_labels == ("round 1", "round 2")
    mc.save(tmp_path / "r.npz")
    assert load(tmp_path / "r.npz").distributions.sums.identical(mc.distributions.sums)


@pytest.mark.parametrize("method", ["fidelity", "jump_counts", "first_jump"])
def test_post_flag_must_be_a_boolean(method):
    mc = simulate(decay(), D2_P, 50, 3, progress=False, distributions=True, target_state=[0, 1])
    dist = mc.distributions
    call = getattr(dist, method)
    args = (0,) if method == "jump_counts" else ()
    assert call(*args, post=True).total == mc.n_post[-1]
    with pytest.raises(ValueError, match="post must be True or False, got 'no'"):
        call(*args, post="no")  # a non-empty string used to mean True


def test_sweep_pairs_rounds_with_patterns_of_their_length():
    """Each value was checked alone against the base protocol, so a 2-round pattern was refused even when
    it was paired or crossed with rounds = 2."""
    base = Protocol.paper(11)
    model = SpinPair()
    table = sweep(model, base, {"rounds": [2, 3], "postselect": ["-?", "--+"]}, paired=True, progress=False)
    for R, rule, f in zip(table["rounds"], table["postselect"], table["fidelity_post"], strict=True):
        p = Protocol(base.rho0, 100.0 * np.arange(1, R + 1), base.times, postselect=str(rule))
        exact = solve_master_equation(model, p).population("S").value_post[-1].real
        assert abs(f - exact) <= 1e-12
    assert len(sweep(model, base, {"rounds": [2], "postselect": ["-?", "--"]}, progress=False)) == 2
    # a combination that is invalid names the point ...
    with pytest.raises(ValueError, match=r"sweep point \(rounds = 3, postselect = --\)"):
        sweep(model, base, {"rounds": [2, 3], "postselect": ["--"]}, progress=False)
    # ... and a value that no other axis can repair still names the axis and the value
    with pytest.raises(ValueError, match=r"axis 'lam2', value 2 \(-1\.0\): lam2 must be >= 0"):
        sweep(model, base, {"lam2": [0.01, -1.0], "rounds": [1]}, progress=False)
    with pytest.raises(ValueError, match=r"axis 'measure_at', value 1 \(\[600\.0\]\)"):
        sweep(model, base, {"T": [0.1], "measure_at": [[600.0]]}, progress=False)


def test_cli_sweep_initial_error_names_the_sweep_key(tmp_path, capsys):
    study = tmp_path / "s.toml"
    study.write_text('[protocol]\nn_out = 11\n[sweep]\ninitial = ["ud", "qq"]\n')
    assert main(["sweep", str(study), "--out", str(tmp_path / "out"), "--no-progress"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("darkspin: ") and "sweep.initial[1]" in err[0], err
    assert not (tmp_path / "out").exists()
