"""A resonant drive in the lab frame, discretised by the midpoint rule, against the Rabi closed form (issue 21)."""

from __future__ import annotations

import math

import numpy as np
import pytest

import darkspin as ds
from darkspin.ensemble.exact.step_error import solve_with_step_error
from darkspin.trajectories.drives import drive_segments

SX = np.array([[0, 1], [1, 0]], complex)
SY = np.array([[0, -1j], [1j, 0]])
SZ = np.diag([1.0, -1.0]).astype(complex)
W, OMEGA = 3.0, 0.4  # Larmor and Rabi frequencies
T_PULSE = math.pi / OMEGA  # a pi pulse


def _build(steps: int) -> ds.Protocol:
    model = ds.LindbladModel(0.5 * W * SZ, [])
    # a circularly polarised field at resonance: in the frame rotating at W the Hamiltonian is exactly
    # (OMEGA / 2) sigma_x, so P_down(t) = sin^2(OMEGA t / 2) with no rotating-wave error
    terms = [(lambda t: 0.5 * OMEGA * math.cos(W * t), SX), (lambda t: 0.5 * OMEGA * math.sin(W * t), SY)]
    segs = drive_segments(model, terms, 0.0, T_PULSE, steps)
    return ds.Protocol([1.0, 0.0], (), np.linspace(0.0, T_PULSE + 1.0, 5), measurement=[], segments=segs)


def _closed_form(t: np.ndarray) -> np.ndarray:
    """P_down(t) = sin^2(OMEGA t / 2) during the pulse, constant after it."""
    return np.sin(0.5 * OMEGA * np.minimum(t, T_PULSE)) ** 2


def _closed_state(t: float) -> np.ndarray:
    """rho(t) in the lab frame: exp(-i W t sz / 2) exp(-i OMEGA t sx / 2) |up> during the pulse."""
    tp = min(t, T_PULSE)
    a = np.array([math.cos(0.5 * OMEGA * tp), -1j * math.sin(0.5 * OMEGA * tp)])
    psi = np.exp(-0.5j * W * t * np.array([1.0, -1.0])) * a
    return np.outer(psi, psi.conj())


@pytest.mark.parametrize("steps", [40, 80])
def test_rabi_flip_within_predicted_error(steps):
    model = ds.LindbladModel(0.5 * W * SZ, [])
    out = solve_with_step_error(model, _build, steps)
    times = out.result.times
    exact = np.array([_closed_state(t) for t in times])
    assert np.allclose(exact[:, 1, 1].real, _closed_form(times))
    actual = np.max(np.abs(out.result.rho - exact), axis=(1, 2))
    # within the predicted error (with a margin for the O(h^3) term), and the prediction not vacuous
    assert np.all(actual <= 1.5 * out.error + 1e-12)
    assert actual[-1] > out.error[-1] / 3
    assert actual[-1] > 1e-5  # the discretisation is visible: the test can fail
    # second order: the finer solution's error is about a quarter
    fine = np.max(np.abs(out.fine.rho[-1] - exact[-1]))
    assert 3.0 < actual[-1] / fine < 5.0


def test_wrong_frequency_fails_the_closed_form():
    """The negative control: a drive 5 % off resonance misses the flip by far more than the step error."""
    model = ds.LindbladModel(0.5 * W * SZ, [])
    terms = [(lambda t: 0.5 * OMEGA * math.cos(1.05 * W * t), SX), (lambda t: 0.5 * OMEGA * math.sin(1.05 * W * t), SY)]

    def build(n):
        segs = drive_segments(model, terms, 0.0, T_PULSE, n)
        return ds.Protocol([1.0, 0.0], (), np.linspace(0.0, T_PULSE + 1.0, 5), measurement=[], segments=segs)

    out = solve_with_step_error(model, build, 80)
    actual = np.abs(out.result.rho[:, 1, 1].real - _closed_form(out.result.times))
    assert actual[-1] > 10 * out.error[-1]
