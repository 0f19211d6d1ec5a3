"""``target_se`` never stops on a sample standard error that has collapsed to ~0: the error it stops on is
floored at 1/n (one unseen outlier in n runs of a quantity in [0, 1])."""

from __future__ import annotations

import math
import warnings

import numpy as np

import darkspin as ds
from darkspin.ensemble.montecarlo.simulation import TargetNotReachedWarning
from darkspin.ensemble.statistics.intervals import mean_interval, standard_error_floor

MODEL = ds.SpinPair()
PROTOCOL = ds.Protocol("ud", [100.0, 200.0], np.linspace(0.0, 500.0, 3))


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
        collapsed += r.population("S").se_post[-1] < 1e-6
    assert ends == ["max_ntraj"] * 100
    assert collapsed > 10  # the premise: the sample SE did collapse in many of these runs


def test_floor_leaves_healthy_standard_errors_alone():
    proto = ds.Protocol("ud", [100.0], np.linspace(0.0, 500.0, 11), postselect="none")
    r = ds.simulate(MODEL, proto, ntraj=2000, seed=3, progress=False)
    assert r.population("S").se_post[-1] > standard_error_floor(r.n_post[-1])  # the premise: a healthy SE
    assert r.target_error("final_post") == r.population("S").se_post[-1] == r.stats["achieved_se"]
    se = r.population("S").se
    unconditional = se[np.isfinite(se)]
    assert r.target_error("max") >= unconditional.max()
