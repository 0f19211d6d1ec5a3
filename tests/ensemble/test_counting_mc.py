"""Monte Carlo counting statistics (``simulate(..., distributions=True)``): the histograms of N per channel
set at every output time and the first jump by channel, against the exact ds.count_distribution and
ds.first_jump_density; their G-tests in compare; save and load; bit-identity under batch splits.

Each statistical test has a negative control: the same Monte Carlo histograms against the exact answer of
a model with one rate 10 % off must fail the same criterion.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy.integrate import simpson

import darkspin as ds
from darkspin.ensemble.statistics.goodness_of_fit import g_test

MODEL = ds.SpinPair(lam1=0.3, lam2=0.2)
WRONG = ds.SpinPair(lam1=0.33, lam2=0.2)
PROTOCOL = ds.Protocol("ud", (1.0, 2.0, 3.0), np.linspace(0, 4, 9))
NTRAJ = 20_000
EDGES = np.linspace(0, 4, 21)


@pytest.fixture(scope="module")
def run() -> ds.MonteCarloResult:
    return ds.simulate(MODEL, PROTOCOL, NTRAJ, seed=2026, distributions=True, time_edges=EDGES, progress=False)


def worst_z_and_p(dist, model, channels, post) -> tuple[float, float]:
    """Largest |mc - exact| / binomial SE over cells, and the smallest G-test p-value over output times."""
    h = dist.count_histograms(channels, post)
    mask = ds.trajectories.counting.channel_mask(channels, model.jump_labels())
    exact = ds.count_distribution(model, PROTOCOL, list(np.flatnonzero(mask)), dist.sums.spec.count_max, post=post)
    z_max, p_min = 0.0, 1.0
    for o in range(h.shape[0]):
        n = h[o].sum()
        p = np.maximum(exact[o], 0.0)
        se = np.sqrt(p * (1 - p) / n)
        dev = np.abs(h[o] / n - p)
        # a cell of probability 0 must stay empty
        z = np.where(se > 0, dev / np.where(se > 0, se, 1.0), np.where(dev > 0, np.inf, 0.0))
        z_max = max(z_max, float(z.max()))
        g = g_test(h[o], p / p.sum())
        if np.isfinite(g.p_value):
            p_min = min(p_min, g.p_value)
    return z_max, p_min


@pytest.mark.statistical
def test_count_histograms_match_the_exact_distribution(run):
    dist = run.distributions
    labels = MODEL.jump_labels()
    assert dist.count_sets == (tuple(labels),) + tuple((lab,) for lab in labels)
    tests = 0
    for channels in [None] + labels:
        for post in (False, True):
            z, p = worst_z_and_p(dist, MODEL, channels, post)
            # 4 sets x 2 x 9 times x 17 cells: 5 sigma and p > 1e-4 leave a correct run a margin
            assert z < 5.0, (channels, post, z)
            assert p > 1e-4, (channels, post, p)
            tests += 1
    assert tests == 8
    # negative control: a 10 % error in lam1 fails the same criteria
    fails = [worst_z_and_p(dist, WRONG, channels, False) for channels in (None, labels[0])]
    assert any(z >= 5.0 or p <= 1e-4 for z, p in fails), fails


@pytest.mark.statistical
def test_first_jump_by_channel_matches_the_exact_density(run):
    dist = run.distributions
    labels = MODEL.jump_labels()

    def bin_probabilities(model, k):
        out = []
        for a, b in zip(EDGES[:-1], EDGES[1:], strict=True):
            t = np.linspace(a, b, 41)
            f = ds.first_jump_density(model, PROTOCOL, times=t)[:, k]
            f[-1] = ds.first_jump_density(model, PROTOCOL, times=[b - 1e-12])[0, k]  # left limit at a round
            out.append(simpson(f, x=t))
        return np.array(out)

    for k, lab in enumerate(labels):
        h = dist.first_jump(channel=lab)
        assert h.total == NTRAJ
        assert h.extra_counts[0] == 0  # the grid covers [0, t_final]
        counts = np.concatenate([h.counts, h.extra_counts[1:]])
        for model, good in ((MODEL, True), (WRONG, False)):
            p = bin_probabilities(model, k)
            g = g_test(counts, np.concatenate([p, [1 - p.sum()]]))
            if good:
                assert g.p_value > 1e-4, (lab, g)
            elif k == 0:  # lam1 sets the lowering[0] rate: its first jumps must tell the models apart
                assert g.p_value < 1e-6, (lab, g)
    # the channels split the all-channel first-jump histogram
    total = sum(dist.first_jump(channel=lab).counts for lab in labels)
    np.testing.assert_array_equal(total, dist.first_jump().counts)


@pytest.mark.statistical
def test_compare_runs_the_count_tests(run):
    c = ds.compare(run, ds.solve_master_equation(MODEL, PROTOCOL))
    assert c.consistent, str(c)
    assert c.counts is not None and c.counts.n_tests > 50
    assert np.nanmin(c.counts.p_value) > 1e-4
    # negative control: the exact answer of the wrong model; the count tests flag it on their own
    bad = ds.compare(run, ds.solve_master_equation(WRONG, PROTOCOL))
    assert not bad.consistent
    assert np.nanmin(bad.counts.p_value) * bad.counts.n_tests < 1e-4


def test_histograms_add_up_and_survive_save_load_and_batch_splits(tmp_path):
    protocol = ds.Protocol("ud", (1.0, 2.0), np.linspace(0, 3, 7))
    kwargs = {"seed": 11, "distributions": True, "progress": False}
    a = ds.simulate(MODEL, protocol, 600, batch_size=600, save=tmp_path / "a.npz", **kwargs)
    b = ds.simulate(MODEL, protocol, 600, batch_size=250, **kwargs)
    assert a.sums.dist.identical(b.sums.dist)
    loaded = ds.load(tmp_path / "a.npz")
    assert loaded.sums.dist.identical(a.sums.dist)
    dist = loaded.distributions
    for channels in [None] + MODEL.jump_labels():
        h = dist.count_histograms(channels)
        assert np.all(h.sum(axis=1) == 600)
        np.testing.assert_array_equal(dist.count_histograms(channels, post=True).sum(axis=1), loaded.n_post)
        m = ds.trajectories.counting.channel_mask(channels, MODEL.jump_labels())
        # the histogram's mean is the mean number of jumps (no run reaches the top cell here)
        assert h[:, -1].sum() == 0
        np.testing.assert_allclose(h @ np.arange(h.shape[1]) / 600, dist.mean_jumps[:, m].sum(axis=1), rtol=1e-12)
        p = dist.count_distribution(channels)
        low, high = dist.count_distribution_interval(channels)
        assert np.all((low <= p) & (p <= high))
    with pytest.raises(ValueError, match="channels"):
        dist.count_histograms("nope")
    with pytest.raises(ValueError, match="channels"):
        dist.count_histograms([0, 1])  # not a histogrammed set
    with pytest.raises(ValueError, match="post"):
        dist.count_histograms(None, post="yes")
    with pytest.raises(ValueError, match="channel"):
        dist.first_jump(channel="nope")


def test_files_without_count_histograms_still_load(tmp_path):
    from darkspin.ensemble.montecarlo import files

    protocol = ds.Protocol("ud", (1.0,), np.linspace(0, 2, 5))
    ds.simulate(MODEL, protocol, 50, seed=3, distributions=True, progress=False, save=tmp_path / "new.npz")
    with np.load(tmp_path / "new.npz") as f:
        data = {k: f[k] for k in f.files if k not in files._COUNT_MEMBERS}
    data["checksum"] = np.array(files._checksum(data))
    np.savez(tmp_path / "old.npz", **data)
    dist = ds.load(tmp_path / "old.npz").distributions
    assert dist.count_sets == ()
    assert dist.first_jump().total == 50
    with pytest.raises(ValueError, match="channel"):
        dist.first_jump(channel=0)
    with pytest.raises(ValueError, match="channels"):
        dist.count_histograms()
    # a file with only some of the count members is refused
    data.update({"dist_count_max": np.int64(16)})
    data["checksum"] = np.array(files._checksum(data))
    np.savez(tmp_path / "partial.npz", **data)
    with pytest.raises(ValueError, match="count histogram members"):
        ds.load(tmp_path / "partial.npz")
