"""run_trajectories (issue 13): per-run records of the same (seed, index) runs that simulate sums.

Record counts, post-selection counts and jump totals agree with simulate integer for integer; any index
range is the same slice of a longer call; run_trajectory(seed, index=i) is row i; results are bit-identical
for any thread count and batch split (simulate with distributions too); bad input is refused before any
run. Exact integer comparisons throughout (no statistics). A few seconds once the Numba cache is warm.
"""

from __future__ import annotations

import numba
import numpy as np
import pytest

import darkspin.trajectories.runs as RUNS
from darkspin.ensemble import simulate
from darkspin.ensemble.montecarlo.simulation import run_batch
from darkspin.trajectories import Measurement, Protocol, SpinPair, run_trajectories, run_trajectory
from darkspin.trajectories.distributions import distribution_spec
from darkspin.trajectories.operators import basis_state
from darkspin.trajectories.runs import KEEP

# strong coupling (short times, several jumps per run), readout error, feedback on +1 and the rule 'last':
# every path of the kernel that writes a per-run array is exercised
MODEL = SpinPair(lam1=0.2, lam2=0.15, T=0.1)
FB = Measurement("zz", readout_error=0.05, feedback={+1: "flip1"})
PROTOCOL = Protocol("ud", (2.0, 4.0, 6.0, 6.0), (0.0, 1.0, 2.0, 4.0, 6.0, 8.0), measurement=FB, postselect="last")
SEED = 4242
ARRAYS = ("records", "outcomes", "post", "n_jumps", "first_jump", "final_state", "states")


@pytest.fixture
def restore_numba_threads():
    n = numba.get_num_threads()
    yield
    numba.set_num_threads(n)


def codes(records: np.ndarray) -> np.ndarray:
    """Record-string index of each run: sum_k 2**k [r_k = +1]."""
    return ((records == 1).astype(np.int64) << np.arange(records.shape[1])).sum(axis=1)


def assert_same_runs(a, b, rows=slice(None)):
    """Every kept array of ``b`` equals rows ``rows`` of ``a`` bit for bit, jumps included."""
    for name in ARRAYS:
        x, y = getattr(a, name), getattr(b, name)
        assert (x is None) == (y is None), name
        if x is not None:
            x = x[rows]
            assert x.dtype == y.dtype and x.shape == y.shape, name
            assert x.tobytes() == y.tobytes(), name  # bitwise, NaN- and sign-of-zero-safe
    np.testing.assert_array_equal(a.index[rows], b.index)
    if a.jump_offsets is not None:
        lo, hi = a.jump_offsets[rows.start], a.jump_offsets[rows.stop]
        np.testing.assert_array_equal(a.jump_offsets[rows.start : rows.stop + 1] - lo, b.jump_offsets)
        for name in ("jump_times", "jump_channels", "jump_residuals"):
            assert getattr(a, name)[lo:hi].tobytes() == getattr(b, name).tobytes(), name


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
    assert abs(F[runs.post[:, -1]].mean() - mc.singlet_post[-1]) < 1e-12
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


def test_any_index_range_is_a_slice_of_a_longer_call():
    keep = KEEP  # everything, ragged jumps included
    long = run_trajectories(MODEL, PROTOCOL, 3_000, SEED, start=100, keep=keep)
    assert long.jump_times.size == long.n_jumps.sum() > 0
    for start, n in ((100, 1), (1_234, 700), (2_000, 1_100), (3_099, 1)):
        part = run_trajectories(MODEL, PROTOCOL, n, SEED, start=start, keep=keep)
        assert_same_runs(long, part, slice(start - 100, start - 100 + n))
    # keeping less changes nothing in what is kept
    few = run_trajectories(MODEL, PROTOCOL, 3_000, SEED, start=100, keep=("first_jump", "records"))
    assert few.n_jumps is None and few.states is None and few.jump_offsets is None
    np.testing.assert_array_equal(few.first_jump, long.first_jump)
    np.testing.assert_array_equal(few.records, long.records)


def test_run_trajectory_is_row_i():
    runs = run_trajectories(MODEL, PROTOCOL, 400, SEED, keep=KEEP)
    for i in (0, 1, 57, 399):
        one = run_trajectory(MODEL, PROTOCOL, SEED, index=i)
        np.testing.assert_array_equal(one.records, runs.records[i])
        np.testing.assert_array_equal(one.outcomes, runs.outcomes[i])
        np.testing.assert_array_equal(one.post, runs.post[i])
        assert one.states.tobytes() == runs.states[i].tobytes()
        assert one.states[-1].tobytes() == runs.final_state[i].tobytes()
        times, channels = runs.jumps_of(i)
        np.testing.assert_array_equal(one.jump_times, times)
        np.testing.assert_array_equal(one.jump_channels, channels)
        np.testing.assert_array_equal(np.bincount(one.jump_channels, minlength=runs.n_jumps.shape[1]), runs.n_jumps[i])
        assert runs.first_jump[i] == (one.jump_times[0] if one.jump_times.size else np.inf)


def test_bit_identical_for_any_thread_count(restore_numba_threads):
    out = {}
    for threads in (1, 2):
        numba.set_num_threads(threads)
        out[threads] = (
            run_trajectories(MODEL, PROTOCOL, 5_000, SEED, keep=KEEP),
            simulate(MODEL, PROTOCOL, 30_000, SEED, progress=False, distributions=True),
        )
    assert_same_runs(out[1][0], out[2][0], slice(0, 5_000))
    assert out[1][1].sums.identical(out[2][1].sums)
    assert out[1][1].sums.dist.identical(out[2][1].sums.dist)
    # the threads argument, too
    assert_same_runs(out[1][0], run_trajectories(MODEL, PROTOCOL, 5_000, SEED, keep=KEEP, threads=1), slice(0, 5_000))


def test_bit_identical_for_any_batch_split(restore_numba_threads):
    N = 8_000
    kw = {"progress": False, "distributions": True, "target_state": "T2", "distribution_times": (2.0, 8.0)}
    ref = simulate(MODEL, PROTOCOL, N, SEED, **kw)
    for extra in (
        {"batch_size": 1_000},
        {"batch_size": 4_999},
        {"batch_size": N},
        {"batch_size": 1_777, "batch_threads": 1},
    ):
        other = simulate(MODEL, PROTOCOL, N, SEED, **kw, **extra)
        assert ref.sums.identical(other.sums), extra
        assert ref.sums.dist.identical(other.sums.dist), extra
    # batches are additive: [a, N) + [0, a) == [0, N), distributions included
    spec = distribution_spec(PROTOCOL, 4, "T2", (2.0, 8.0))
    parts = run_batch(MODEL, PROTOCOL, SEED, 4_321, N, spec=spec) + run_batch(
        MODEL, PROTOCOL, SEED, 0, 4_321, spec=spec
    )
    assert parts.identical(ref.sums)
    # the control: another seed differs
    assert not ref.sums.dist.identical(simulate(MODEL, PROTOCOL, N, SEED + 1, **kw).sums.dist)


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
