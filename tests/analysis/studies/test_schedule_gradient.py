"""The analytic gradient of the schedule objectives (ensemble.exact.time_gradient) and what it buys.

The gradient is checked against central differences of the exact solver's own numbers (never of the
gradient code's forward pass); the optimiser with it against the forward-difference optimiser it
replaced, on the paper's model with 6 rounds by t = 600.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import darkspin as ds
from darkspin.analysis.studies import schedule_search as search_module
from darkspin.analysis.studies import stick_breaking
from darkspin.ensemble.exact.time_gradient import TimeGradient
from darkspin.trajectories.operators import target_vector

SINGLET = np.array([0.0, 1.0, -1.0, 0.0]) / math.sqrt(2.0)


def exact_fy(model, protocol: ds.Protocol, target: np.ndarray) -> np.ndarray:
    """[post-selected target population at the final time, final p_cumulative] by the exact solver."""
    res = ds.solve_master_equation(model, protocol)
    return np.array([np.vdot(target, res.rho_post[-1] @ target).real, res.p_cumulative[-1]])


def central_differences(model, protocol: ds.Protocol, target: np.ndarray, h: float) -> np.ndarray:
    """d[F, yield]/dt_k, (2, R), by central differences of the exact solver (step h, model time unit)."""
    times = protocol.measure_at
    out = np.empty((2, times.size))
    for k in range(times.size):
        step = h * np.eye(times.size)[k]
        up, down = (
            exact_fy(
                model,
                ds.Protocol(
                    protocol.rho0,
                    times + s,
                    protocol.times,
                    measurement=protocol.measurements[0],
                    postselect=protocol.postselect,
                ),
                target,
            )
            for s in (step, -step)
        )
        out[:, k] = (up - down) / (2 * h)
    return out


def check_gradient(model, protocol: ds.Protocol, target: np.ndarray, h: float) -> None:
    F, D, dF, dD = TimeGradient(model, protocol, target)(protocol.measure_at)
    np.testing.assert_allclose([F, D], exact_fy(model, protocol, target), rtol=0, atol=1e-12)
    fd = central_differences(model, protocol, target, h)
    for analytic, numeric in zip((dF, dD), fd, strict=True):
        assert np.max(np.abs(analytic)) > 1e-8, "the test needs a gradient well above the differences' noise"
        assert np.max(np.abs(analytic - numeric)) <= 1e-6 * np.max(np.abs(analytic)), (analytic, numeric)


def test_gradient_matches_central_differences_on_the_paper_model():
    protocol = ds.Protocol("ud", [30.0, 80.0, 250.0, 420.0], np.linspace(0.0, 500.0, 3))
    check_gradient(ds.SpinPair(), protocol, SINGLET, h=0.05)


def test_gradient_matches_central_differences_on_a_random_model_with_readout_error_and_rule_last():
    rng = np.random.default_rng(7)
    d = 3
    H = rng.normal(size=(d, d)) + 1j * rng.normal(size=(d, d))
    H = 0.5 * (H + H.conj().T) * 0.3
    jumps = (rng.normal(size=(2, d, d)) + 1j * rng.normal(size=(2, d, d))) * 0.15
    model = ds.LindbladModel(H, jumps)
    observable = np.diag([1.0, -1.0, -1.0])
    measurement = ds.Measurement(observable, readout_error=(0.05, 0.1))
    psi = rng.normal(size=d) + 1j * rng.normal(size=d)
    protocol = ds.Protocol(
        psi / np.linalg.norm(psi), [0.7, 1.9, 2.0, 3.4], [0.0, 2.0, 4.0], measurement=measurement, postselect="last"
    )
    target = rng.normal(size=d) + 1j * rng.normal(size=d)
    check_gradient(model, protocol, target / np.linalg.norm(target), h=1e-4)


def test_stick_jacobian_matches_differences():
    rng = np.random.default_rng(3)
    w, t_max, h = rng.uniform(0.1, 0.9, 5), 600.0, 1e-6
    J = stick_breaking.stick_jacobian(w, stick_breaking.stick_times(w, t_max), t_max)
    for j in range(w.size):
        e = h * np.eye(w.size)[j]
        fd = (stick_breaking.stick_times(w + e, t_max) - stick_breaking.stick_times(w - e, t_max)) / (2 * h)
        np.testing.assert_allclose(J[:, j], fd, rtol=1e-7, atol=1e-7)


@pytest.mark.parametrize("objective", ["fidelity", "yield"])
def test_search_gradient_in_the_box_matches_forward_differences(objective, monkeypatch):
    model = ds.SpinPair()
    protocol = ds.Protocol("ud", [100.0, 200.0, 300.0], np.linspace(0.0, 600.0, 3))
    target = target_vector(None, 4)
    w = np.array([0.2, 0.5, 0.4])
    search = search_module._Search(model, protocol, 600.0, objective, None, target)
    loss, grad = search.loss_and_grad(w)
    monkeypatch.setattr(search_module._Search, "analytic_gradient", False)
    loss_fd, grad_fd = search_module._Search(model, protocol, 600.0, objective, None, target).loss_and_grad(w)
    assert loss == loss_fd
    # forward differences in w err by ~1e-7 (the module docstring)
    np.testing.assert_allclose(grad, grad_fd, rtol=0, atol=1e-6 * max(1.0, np.max(np.abs(grad))))


def test_six_rounds_by_600_same_optimum_with_five_times_fewer_solves(monkeypatch):
    model = ds.SpinPair()
    protocol = ds.Protocol("ud", [100.0, 200.0, 300.0, 400.0], np.linspace(0.0, 600.0, 3))
    new = ds.optimize_schedule(model, protocol, 6, 600.0)
    monkeypatch.setattr(search_module._Search, "analytic_gradient", False)
    old = ds.optimize_schedule(model, protocol, 6, 600.0)
    print(f"exact solves: finite differences {old.evaluations}, analytic gradient {new.evaluations}")
    print(f"(plus {new.gradients} adjoint gradient sweeps)")
    assert abs(new.objective - old.objective) <= 1e-8
    # the optimiser's tolerance on the times: the objective is flat to 1e-14 over ~1e-3 around the optimum
    np.testing.assert_allclose(new.measure_at, old.measure_at, rtol=0, atol=1e-2)
    assert new.evaluations * 5 <= old.evaluations
