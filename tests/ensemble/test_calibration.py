"""Calibration of the statistics we print: false-alarm rates of ``compare`` over many independent correct
runs, its power against small model errors, and the coverage of the post-selected singlet interval near
F = 1.

Independent runs are cheap: disjoint trajectory index ranges of one seed are independent samples
(ensemble.run_batch). The full-size measurements (200 runs of each case at the sizes of issue 10, the
default `darkspin run` at 10^5 trajectories) are in benchmarks/calibration.py; the cases here are the
same models and protocols with fewer output times or trajectories. Reference values are exact solutions
of the master equation, never the code under test. About 60 s on two cores.
"""

from __future__ import annotations

import contextlib

import numba
import numpy as np
import pytest

from darkspin.ensemble import MonteCarloResult, compare, run_batch, simulate, solve_master_equation
from darkspin.trajectories.model import SpinPair
from darkspin.trajectories.protocol import Protocol

pytestmark = pytest.mark.statistical

#: The documented family-wise threshold of compare (sigma) and the largest false-alarm rate we accept.
THRESHOLD = 3.0
MAX_RATE = 0.01
REPLICAS = 200

# Issue 10's rare-path case: post-selected |uu>, |dd> populations of ~5e-4 with ~1e4 post-selected runs,
# i.e. ~5 runs expected and often none seen. 51 outputs instead of 201 keep it at ~30 s.
RARE = (SpinPair(lam2=0.8 * 0.0126), Protocol("ud", (100.0, 200.0, 300.0, 400.0), np.linspace(0, 500, 51)), 20_000)
# the default `darkspin run` (SpinPair(), the paper's protocol), fewer outputs and trajectories
DEFAULT = (SpinPair(), Protocol("ud", (100.0, 200.0, 300.0, 400.0), np.linspace(0, 500, 101)), 2_000)
# strong coupling, three rounds
SMALL = (SpinPair(lam1=0.2, lam2=0.2), Protocol("ud", (2.0, 4.0, 6.0), np.linspace(0.0, 8.0, 17)), 2_000)


@contextlib.contextmanager
def numba_threads_restored():
    """run_batch(threads=...) sets this thread's Numba thread count; put it back afterwards."""
    n = numba.get_num_threads()
    try:
        yield
    finally:
        numba.set_num_threads(n)


def replicas(case, seed: int, count: int = REPLICAS) -> list[MonteCarloResult]:
    model, protocol, n = case
    with numba_threads_restored():
        return [
            MonteCarloResult(model, protocol, run_batch(model, protocol, seed, r * n, (r + 1) * n), seed)
            for r in range(count)
        ]


def floor_statistic(mc: MonteCarloResult, exact) -> float:
    """The discredited statistic, for contrast: largest |mc - exact| / sqrt(se^2 + 1/N^2) over the elements
    (N >= 20) and the normal z of the success counts. Written here, independently of ensemble.statistics.comparison."""
    zs = []
    for est, se, ex, count in (
        (mc.rho, mc.rho_se, exact.rho, np.full(mc.times.size, mc.ntraj)),
        (mc.rho_post, mc.rho_post_se, exact.rho_post, np.asarray(mc.n_post)),
    ):
        n = np.asarray(count, float)[:, None, None]
        with np.errstate(invalid="ignore", divide="ignore"):
            z = np.abs(est - ex) / np.maximum(np.sqrt(se**2 + 1.0 / n**2), 1e-10)
        z = np.where(n >= 20, z, np.nan)
        if np.any(np.isfinite(z)):
            zs.append(np.nanmax(z))
    succ = np.asarray(mc.n_success, float)
    att = np.concatenate([[mc.ntraj], succ])[: succ.size]
    with np.errstate(invalid="ignore", divide="ignore"):
        zsucc = np.abs(succ - att * exact.p_success) / np.sqrt(att * exact.p_success * (1 - exact.p_success))
    zs += list(zsucc[np.isfinite(zsucc)])
    return max(zs)


@pytest.mark.parametrize("name, case, seed", [("rare", RARE, 101), ("default", DEFAULT, 202), ("small", SMALL, 303)])
def test_false_alarm_rate_at_the_documented_threshold(name, case, seed):
    """Over 200 independent correct runs, compare calls at most 1 % inconsistent (0 measured in each case;
    benchmarks/calibration.py: 0 of 200 at full size)."""
    model, protocol, n = case
    exact = solve_master_equation(model, protocol)
    runs = replicas(case, seed)
    comps = [compare(mc, exact) for mc in runs]
    sigma = np.array([c.sigma for c in comps])
    alarms = int(np.sum(sigma > THRESHOLD))
    assert all(c.threshold == THRESHOLD for c in comps)
    assert alarms == int(np.sum([not c.consistent for c in comps]))
    old = np.array([floor_statistic(mc, exact) for mc in runs])
    print(
        f"\n[{name}] {REPLICAS} runs of {n}: {alarms} inconsistent at {THRESHOLD:g} sigma (largest family-wise "
        f"sigma {sigma.max():.2f}, largest single z {max(c.max_z for c in comps):.2f}); the 1/N-floor "
        f"statistic exceeds 5 in {int(np.sum(old > 5))}"
    )
    assert alarms <= MAX_RATE * REPLICAS
    if name == "rare":
        # the case is hard: the old statistic, with its 1/N floor, cries wolf here
        assert np.sum(old > 5) > 2 * MAX_RATE * REPLICAS


def channel_scaled(model: SpinPair, channel: str, factor: float) -> SpinPair:
    """``model`` with one jump channel's rate multiplied by ``factor`` (0 drops it). The kernel takes
    jump_operators() and effective_hamiltonian() (built from them); the exact solver, the Liouvillian of
    the unchanged Kossakowski matrices, so the reference stays that of ``model``."""

    class Scaled(SpinPair):
        def jump_operators(self):
            jumps = super().jump_operators().copy()
            jumps[super().jump_labels().index(channel)] *= np.sqrt(factor)
            return jumps

    return Scaled(**model.as_dict())


POWER_NTRAJ = 100_000


@pytest.fixture(scope="module")
def small_exact():
    model, protocol, _ = SMALL
    return solve_master_equation(model, protocol)


@pytest.mark.parametrize(
    "label",
    ["correct", "lam2 * 1.05", "lowering rate * 1.05", "raising rate * 1.05", "raising dropped", "lowering dropped"],
)
def test_power_against_small_model_errors(small_exact, label):
    """At 10^5 trajectories of SMALL (seed 7): a 5 % change of lam2, a 5 % rate error in one channel and a
    dropped channel are each flagged at the default threshold, and the correct model is not. (Measured
    family-wise sigma: lam2 ~8, lowering ~22, raising ~5-6, dropped channels > 20; benchmarks/calibration.py
    has the other cases.) The dephasing channel is not tested: at this symmetric point, from |ud>, every run
    stays in one S_z sector, where tau_z1 + tau_z2 only multiplies the state by a constant, so that channel
    changes nothing (off the symmetric point, benchmarks/calibration.py's rare case, dropping it is flagged)."""
    model, protocol, _ = SMALL
    assert model.jump_labels() == ["lowering[0]", "raising[0]", "dephasing[0]"]
    wrong = {
        "correct": model,
        "lam2 * 1.05": model.replace(lam2=1.05 * model.lam2),
        "lowering rate * 1.05": channel_scaled(model, "lowering[0]", 1.05),
        "raising rate * 1.05": channel_scaled(model, "raising[0]", 1.05),
        "raising dropped": channel_scaled(model, "raising[0]", 0.0),
        "lowering dropped": channel_scaled(model, "lowering[0]", 0.0),
    }[label]
    mc = simulate(wrong, protocol, POWER_NTRAJ, seed=7, progress=False)
    c = compare(mc, small_exact)
    print(f"\n{label}: {c.verdict} (largest single z {c.max_z:.1f})")
    if label == "correct":
        assert c.consistent
    else:
        assert not c.consistent and c.verdict.startswith("inconsistent at")


def test_singlet_interval_covers_near_one():
    """Eight rounds every 50: the exact post-selected singlet population climbs to 0.99997, where every
    post-selected run of a batch often has fidelity 1 and the sample standard error is 0 (the table used
    to print "1.00000 +- 0.00000"). Over 200 independent batches of 2500 runs the 95 % interval covers the
    exact value at >= 95 % in the rounds near 1 (at >= 93 %, nominal within binomial noise, in the
    others), and no interval has zero width; the naive mean +- 1.96 se misses most of the time there."""
    model = SpinPair()
    protocol = Protocol("ud", tuple(50.0 * k for k in range(1, 9)), np.linspace(0, 450, 46))
    exact = solve_master_equation(model, protocol).postselection()["singlet_post"]
    assert exact[-1] == pytest.approx(0.99997, abs=1e-5) and np.all(np.diff(exact) > 0)
    hits, naive, zero_se, widths = [], [], [], []
    for mc in replicas((model, protocol, 2_500), seed=404):
        table = mc.postselection()
        lo, hi, m, se = (table[k] for k in ("singlet_post_low", "singlet_post_high", "singlet_post", "singlet_post_se"))
        hits.append((lo <= exact) & (exact <= hi))
        naive.append(np.abs(m - exact) <= 1.959964 * se)
        zero_se.append(se == 0)
        widths.append(hi - lo)
    cover, naive_cover = np.mean(hits, axis=0), np.mean(naive, axis=0)
    print(
        f"\ncoverage per round: {np.round(cover, 3).tolist()}"
        f"\nnaive +-1.96 se:    {np.round(naive_cover, 3).tolist()}"
        f"\nse == 0 in {np.round(np.mean(zero_se, axis=0), 3).tolist()}"
    )
    assert np.min(widths) > 0
    near_one = 1 - exact < 2e-3  # rounds 5-8
    assert near_one.sum() == 4
    assert np.all(cover[near_one] >= 0.95)
    assert np.all(cover[~near_one] >= 0.93)
    # the boundary regime is exercised, and a standard-error interval fails in it
    assert np.mean(zero_se, axis=0)[-1] > 0.5
    assert naive_cover[-1] < 0.5
