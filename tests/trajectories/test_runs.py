"""run_trajectories (issue 13): per-run records of the same (seed, index) runs that simulate sums.

Record counts, post-selection counts and jump totals agree with simulate integer for integer; bad input is
refused before any run. Index ranges, single trajectories, thread counts and batch splits: the reproducibility
contract (tests/ensemble/test_reproducibility.py). Exact integer comparisons throughout (no statistics). A few
seconds once the Numba cache is warm.
"""

from __future__ import annotations

import numpy as np
import pytest

import darkspin.trajectories.runs as RUNS
from darkspin.ensemble import simulate
from darkspin.ensemble.montecarlo.simulation import run_batch
from darkspin.trajectories import Measurement, Protocol, SpinPair, run_trajectories
from darkspin.trajectories.operators import basis_state

# strong coupling (short times, several jumps per run), readout error, feedback on +1 and the rule 'last':
# every path of the kernel that writes a per-run array is exercised
MODEL = SpinPair(lam1=0.2, lam2=0.15, T=0.1)
FB = Measurement("zz", readout_error=0.05, feedback={+1: "flip1"})
PROTOCOL = Protocol("ud", (2.0, 4.0, 6.0, 6.0), (0.0, 1.0, 2.0, 4.0, 6.0, 8.0), measurement=FB, postselect="last")
SEED = 4242


def codes(records: np.ndarray) -> np.ndarray:
    """Record-string index of each run: sum_k 2**k [r_k = +1]."""
    return ((records == 1).astype(np.int64) << np.arange(records.shape[1])).sum(axis=1)


def test_same_runs_as_simulate():
    N = 20_000
    runs = run_trajectories(MODEL, PROTOCOL, N, SEED, keep=("records", "post", "n_jumps", "first_jump", "final_state"))
    mc = simulate(MODEL, PROTOCOL, N, SEED, progress=False, distributions=True)
    assert runs.records.shape == (N, PROTOCOL.rounds) and set(np.unique(runs.records)) == {-1, 1}
    np.testing.assert_array_equal(np.bincount(codes(runs.records), minlength=2**PROTOCOL.rounds), mc.record_counts)
    assert int(runs.n_jumps.sum()) == mc.n_jumps
    np.testing.assert_array_equal(runs.n_jumps.sum(axis=0), mc.distributions.sums.count_sums[-1])
    np.testing.assert_array_equal(runs.post.sum(axis=0), mc.n_post)
    assert int(np.isfinite(runs.first_jump).sum()) == N - int(mc.distributions.first_jump().extra_counts[1])
    # the final states are the ones summed: the post-selected singlet population, to fixed-point rounding
    s = basis_state("S")
    F = np.abs(runs.final_state @ s.conj()) ** 2
    assert abs(F[runs.post[:, -1]].mean() - mc.population("S").value_post.real[-1]) < 1e-12
    # and another seed gives other runs
    other = run_trajectories(MODEL, PROTOCOL, N, SEED + 1, keep=("records",))
    assert not np.array_equal(np.bincount(codes(other.records), minlength=2**PROTOCOL.rounds), mc.record_counts)


def test_same_runs_as_simulate_from_any_start():
    a, n = 123_456, 3_000
    runs = run_trajectories(MODEL, PROTOCOL, n, SEED, start=a, keep=("records", "n_jumps"))
    sums = run_batch(MODEL, PROTOCOL, SEED, a, a + n)
    np.testing.assert_array_equal(np.bincount(codes(runs.records), minlength=2**PROTOCOL.rounds), sums.record_counts)
    assert int(runs.n_jumps.sum()) == sums.n_jumps
    np.testing.assert_array_equal(runs.index, np.arange(a, a + n))


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"keep": ("records", "bogus")}, "keep"),
        ({"keep": "nothing"}, "keep"),
        ({"keep": 5}, "keep"),
        ({"ntraj": 0}, "ntraj"),
        ({"ntraj": -3}, "ntraj"),
        ({"ntraj": 2.0}, "ntraj"),
        ({"ntraj": True}, "ntraj"),
        ({"seed": -1}, "seed"),
        ({"seed": 2**64}, "seed"),
        ({"start": -1}, "start"),
        ({"start": 2**62}, "start"),
        ({"threads": 0}, "threads"),
        ({"ntraj": 2**40, "keep": ("states",)}, "ntraj"),
    ],
)
def test_bad_input_is_refused_before_work(monkeypatch, kwargs, name):
    def forbidden(*args, **kwargs):
        raise AssertionError("per_run was called: the input should have been rejected first")

    monkeypatch.setattr(RUNS, "per_run", forbidden)
    args = {"ntraj": 10, "seed": 1, **kwargs}
    with pytest.raises(ValueError, match=name):
        run_trajectories(MODEL, PROTOCOL, **args)


def test_jumps_of_needs_the_jumps_kept():
    runs = run_trajectories(MODEL, PROTOCOL, 10, 1, keep=("n_jumps",))
    with pytest.raises(ValueError, match="jumps"):
        runs.jumps_of(0)


def test_jumps_of_checks_the_run_index():
    """Out of range raises an IndexError naming the valid range (not numpy's about the offsets); negative
    indices count from the end, as in a Python sequence."""
    runs = run_trajectories(MODEL, PROTOCOL, 10, 1, keep=("n_jumps", "jumps"))
    assert runs.jump_offsets[-1] > 0
    for i in (10, 5000, -11, -5000):
        with pytest.raises(IndexError, match=r"run index must be in \[-10, 9\]") as err:
            runs.jumps_of(i)
        assert "size 11" not in str(err.value) and "axis" not in str(err.value)
    for i in range(1, 11):
        for got, want in zip(runs.jumps_of(-i), runs.jumps_of(10 - i), strict=True):
            np.testing.assert_array_equal(got, want)
    times, channels = runs.jumps_of(-1)
    assert times.size == runs.n_jumps[-1].sum() and channels.size == times.size
    for bad in (1.0, True, "0"):
        with pytest.raises(TypeError, match="run index must be an integer"):
            runs.jumps_of(bad)
