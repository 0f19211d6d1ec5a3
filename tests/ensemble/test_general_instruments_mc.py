"""Monte Carlo against the exact solver for the general instruments of issue 22: monitored windows
(eta < 1, dark clicks, thresholds 1 and 2, feedback on the rule state) and Kraus instruments with
several operators per record. :func:`compare` tests every element of rho and rho_post on the whole
output grid, every round's success count and the record strings (G-test), Bonferroni-corrected, at
5 sigma. Negative controls: the Monte Carlo of a detector with another efficiency (or another Kraus
instrument) fails the same test against the right exact answer. Fixed seeds.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

import darkspin as ds
from darkspin.ensemble.statistics.comparison import compare

MODEL = ds.SpinPair(lam1=0.2, lam2=0.2)  # relaxation time ~ 4
TIMES = np.linspace(0.0, 12.0, 25)
NTRAJ = 20_000
SIGMA = 5.0


def monitor_protocol(eta: float, threshold: int, feedback=None) -> ds.Protocol:
    mon = ds.Monitor(["dephasing[0]"], 1.5, efficiency=eta, dark_rate=0.05, threshold=threshold, feedback=feedback)
    return ds.Protocol("uu", (1.0, 3.0, 5.0, 8.0), TIMES, measurement=mon)


def random_kraus(seed: int) -> dict[int, list[np.ndarray]]:
    rng = np.random.default_rng(seed)
    A = rng.normal(size=(4, 4, 4)) + 1j * rng.normal(size=(4, 4, 4))
    S = np.einsum("kji,kjl->il", A.conj(), A)
    w, v = np.linalg.eigh(S)
    root = v @ np.diag(w**-0.5) @ v.conj().T
    M = [a @ root for a in A]
    return {1: M[:2], -1: M[2:]}


def verdict(mc_protocol: ds.Protocol, exact_protocol: ds.Protocol, seed: int):
    """compare() of the Monte Carlo of one protocol with the exact answer of another (labelled as the
    first, since compare() insists on one protocol: that is how a negative control gets through)."""
    mc = ds.simulate(MODEL, mc_protocol, NTRAJ, seed=seed, progress=False)
    ex = dataclasses.replace(ds.solve_master_equation(MODEL, exact_protocol), protocol=mc_protocol)
    return compare(mc, ex, threshold=SIGMA)


@pytest.mark.statistical
@pytest.mark.parametrize("threshold", [1, 2])
def test_monitor_matches_exact_and_a_wrong_efficiency_fails(threshold):
    right = monitor_protocol(0.6, threshold)
    c = verdict(right, right, seed=11 + threshold)
    assert c.consistent and c.max_z < SIGMA, str(c)
    assert c.records is not None and c.n_tests > 100
    wrong = monitor_protocol(0.45, threshold)
    bad = verdict(wrong, right, seed=11 + threshold)
    print(f"threshold {threshold}: eta 0.6 {c.verdict}; eta 0.45 against 0.6: {bad.verdict}")
    assert not bad.consistent, str(bad)


@pytest.mark.statistical
def test_monitor_with_history_feedback_matches_exact():
    p = monitor_protocol(0.8, 1, feedback={(1, 0): "flip1"})
    c = verdict(p, p, seed=21)
    assert c.consistent and c.max_z < SIGMA, str(c)
    # the negative control: feedback on every +1 is another protocol
    every = monitor_protocol(0.8, 1, feedback={1: "flip1"})
    assert not verdict(every, p, seed=21).consistent


@pytest.mark.statistical
def test_kraus_instrument_matches_exact_and_another_fails():
    kr = ds.Measurement(kraus=random_kraus(3), feedback={(-1, 0): "flip2"})
    p = ds.Protocol("ud", (1.0, 3.0, 5.0, 8.0), TIMES, measurement=kr, postselect="last")
    c = verdict(p, p, seed=31)
    assert c.consistent and c.max_z < SIGMA, str(c)
    other = ds.Protocol("ud", p.measure_at, TIMES, measurement=ds.Measurement(kraus=random_kraus(4)), postselect="last")
    assert not verdict(other, p, seed=31).consistent
