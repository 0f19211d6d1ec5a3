"""optimize_schedule with an objective per unit of protocol time, and its report of flat optima."""

from __future__ import annotations

import numpy as np
import pytest

import darkspin as ds
from darkspin.analysis.studies.flatness import flat_directions
from darkspin.analysis.studies.per_time import PerUnitTime
from darkspin.analysis.studies.schedule_search import _Search

MODEL = ds.SpinPair()
PROTOCOL = ds.Protocol("ud", [100.0, 200.0, 300.0], np.linspace(0.0, 400.0, 9))
SINGLET = np.array([0, 1, -1, 0]) / np.sqrt(2)


def _by_hand(rate: PerUnitTime, times: np.ndarray) -> float:
    res = ds.solve_master_equation(MODEL, ds.Protocol("ud", times, PROTOCOL.times))
    F = float(np.real(SINGLET @ res.rho_post[-1] @ SINGLET))
    Y = float(res.p_cumulative[-1])
    q = {"good_pairs": Y * F, "fidelity_gain": F - 0.5, "yield": Y}[rate.quantity]
    return q / (times[-1] + rate.overhead)


@pytest.mark.parametrize("quantity", ["good_pairs", "fidelity_gain", "yield"])
def test_per_time_objective_is_the_hand_computed_rate(quantity: str) -> None:
    rate = PerUnitTime(quantity, overhead=40.0)
    best = ds.optimize_schedule(MODEL, PROTOCOL, max_rounds=3, objective=rate, starts=2)
    assert best.objective_name == f"{quantity}_per_time"
    assert best.objective == pytest.approx(_by_hand(rate, best.measure_at), rel=1e-10)
    # never worse than the equally spaced schedules it started from, at any number of rounds
    for R in (1, 2, 3):
        assert best.objective >= _by_hand(rate, 400.0 * np.arange(1, R + 1) / (R + 1)) - 1e-12


def test_per_time_analytic_gradient_matches_finite_differences() -> None:
    for rate in (PerUnitTime("good_pairs", 40.0), PerUnitTime("fidelity_gain", 10.0)):
        search = _Search(MODEL, PROTOCOL, 400.0, rate, None, SINGLET)
        w = np.array([0.3, 0.45, 0.6])
        loss, grad = search.loss_and_grad(w)
        assert loss == pytest.approx(-_by_hand(rate, search.times(w)), rel=1e-10)
        h = 1e-6
        fd = [(search.loss(w + h * e) - search.loss(w - h * e)) / (2 * h) for e in np.eye(3)]
        np.testing.assert_allclose(grad, fd, rtol=1e-5, atol=1e-12)
        # a negative control: the same chain rule without the duration's derivative fails the comparison
        _, F, Y = search.evaluate_many([w])[0]
        dF, dY = search._time_gradient(w)
        duration = search.times(w)[-1] + rate.overhead
        wrong = -rate.gradient(F, Y, 0.5, duration, dF, dY, np.zeros(3))
        assert not np.allclose(wrong, fd, rtol=1e-5, atol=1e-12)


def test_a_flat_direction_is_reported() -> None:
    def ignores_first_time(res: ds.MasterEquationResult) -> float:
        t = res.protocol.measure_at
        return 1.0 - ((t[1] - 150.0) / 100.0) ** 2

    best = ds.optimize_schedule(MODEL, PROTOCOL, rounds=2, objective=ignores_first_time, starts=2)
    assert best.measure_at[1] == pytest.approx(150.0, abs=1e-3)
    assert best.flat_directions.shape == (1, 2)
    np.testing.assert_allclose(np.abs(best.flat_directions[0]), [1.0, 0.0], atol=1e-12)
    assert "flat along measure_at[0]" in repr(best)


def test_a_flat_combination_of_times_is_reported() -> None:
    def depends_on_the_gap(res: ds.MasterEquationResult) -> float:
        t = res.protocol.measure_at
        return 1.0 - ((t[1] - t[0] - 100.0) / 100.0) ** 2

    times = np.array([100.0, 200.0])
    value = depends_on_the_gap(ds.solve_master_equation(MODEL, ds.Protocol("ud", times, PROTOCOL.times)))
    search = _Search(MODEL, PROTOCOL, 400.0, depends_on_the_gap, None, SINGLET)
    flat = flat_directions(times, value, lambda ts: [v for v, _, _ in search.evaluate_times(ts)], 400.0)
    assert flat.shape == (1, 2)
    np.testing.assert_allclose(np.abs(flat[0]), [2**-0.5, 2**-0.5], atol=1e-6)


def test_a_well_defined_optimum_is_not_flat() -> None:
    def bowl(res: ds.MasterEquationResult) -> float:
        t = res.protocol.measure_at
        return 1.0 - ((t[0] - 80.0) / 100.0) ** 2 - ((t[1] - 150.0) / 100.0) ** 2

    best = ds.optimize_schedule(MODEL, PROTOCOL, rounds=2, objective=bowl, starts=2)
    np.testing.assert_allclose(best.measure_at, [80.0, 150.0], atol=1e-3)
    assert best.flat_directions.shape == (0, 2) and "flat" not in repr(best)
    paper = ds.optimize_schedule(MODEL, PROTOCOL, rounds=3, starts=2)  # the singlet fidelity
    assert paper.flat_directions.shape[0] == 0


CLI_STUDY = """
[protocol]
initial = "{initial}"
measure_at = [100.0, 200.0]
t_final = 500.0
n_out = 3

[optimize]
rounds = 2
starts = 1

[run]
ntraj = 200
seed = 5
"""


@pytest.mark.parametrize("initial, flat", [("S", True), ("ud", False)])
def test_cli_optimize_says_when_the_optimum_is_flat(tmp_path, initial: str, flat: bool) -> None:
    """From the dark singlet every schedule keeps F = 1: flat in both times; from |ud> the optimum is not."""
    from cli_calls import call

    study = tmp_path / "study.toml"
    study.write_text(CLI_STUDY.format(initial=initial))
    status, out, err = call(["optimize", study, "--no-progress"])
    assert status == 0, err
    line = "the optimum is flat along measure_at[0]; measure_at[1]: moving there by 1% of t_max"
    assert (line in out) is flat
