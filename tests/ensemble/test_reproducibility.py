"""The reproducibility contract: run i draws from its own random stream (seed, i) and every sum is an exact
integer, so each entry point gives the same bits however the work is split or where it runs.

Each case computes the same runs two ways through the public API (``import darkspin as ds``) and hands both
to one helper, :func:`assert_bit_identical`, which compares every array byte for byte (integer sums,
histograms, per-run records, states, jump logs, table columns) and every other field exactly. Covered:
``simulate`` (with and without distributions) for Numba thread counts, batch sizes and threads, thread and
process pools, and a resume from a saved partial file; ``run_trajectories`` for thread counts, index ranges
and what is kept; ``run_trajectory`` against a row of ``run_trajectories``; ``sweep`` with trajectories for
an executor and a batch size. A control shows that the helper sees another seed. No statistics: a few
seconds once the Numba cache is warm (the process pool pays its start-up).
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import dataclasses
import functools
import multiprocessing
from collections.abc import Callable, Iterator
from pathlib import Path

import numba
import numpy as np
import pytest

import darkspin as ds

# strong coupling (short times, several jumps per run), readout error, feedback on +1 and the rule 'last':
# every path of the kernel that writes a per-run array or a sum is exercised
MODEL = ds.SpinPair(lam1=0.2, lam2=0.15, T=0.1)
FEEDBACK = ds.Measurement("zz", readout_error=0.05, feedback={+1: "flip1"})
PROTOCOL = ds.Protocol(
    "ud", (2.0, 4.0, 6.0, 6.0), (0.0, 1.0, 2.0, 4.0, 6.0, 8.0), measurement=FEEDBACK, postselect="last"
)
SEED = 2**63 + 12345  # above 2**63: the whole unsigned range of seeds
N = 3001  # deliberately odd: most batch sizes below do not divide it
DISTRIBUTIONS = {"distributions": True, "target_state": "T2", "distribution_times": (2.0, 8.0)}
KEEP_ALL = ("records", "outcomes", "post", "n_jumps", "first_jump", "final_state", "states", "jumps")
N_RUNS = 1500  # run_trajectories keeps every array of every run: fewer runs
START = 100
SWEEP_PROTOCOL = ds.Protocol("ud", [20.0, 40.0], np.linspace(0.0, 60.0, 31))
SWEEP_AXES = {"lam2": [0.0126, 0.011]}

Pairs = Iterator[tuple[object, object]]


# ---- the one comparison -------------------------------------------------------------------------------
def assert_bit_identical(a: object, b: object, where: str = "result") -> None:
    """Assert that ``a`` and ``b`` hold the same bits: arrays by dtype, shape and bytes (NaN- and
    sign-of-zero-safe), dataclasses and mappings field by field, Monte Carlo results by their sums (every
    integer array, distributions included), ranges, seed and counts, sweep tables column by column."""
    if isinstance(a, ds.MonteCarloResult):
        assert isinstance(b, ds.MonteCarloResult), where
        for name in ("sums", "ranges", "seed", "ntraj", "n_jumps", "stats", "rho"):
            assert_bit_identical(getattr(a, name), getattr(b, name), f"{where}.{name}")
    elif isinstance(a, ds.SweepTable):
        assert isinstance(b, ds.SweepTable) and a.names == b.names, where
        for name in a.names:
            assert_bit_identical(a[name], b[name], f"{where}[{name!r}]")
    elif dataclasses.is_dataclass(a) and not isinstance(a, type):
        assert type(a) is type(b), where
        for field in dataclasses.fields(a):
            assert_bit_identical(getattr(a, field.name), getattr(b, field.name), f"{where}.{field.name}")
    elif isinstance(a, dict):
        assert isinstance(b, dict) and a.keys() == b.keys(), where
        for key in a:
            assert_bit_identical(a[key], b[key], f"{where}[{key!r}]")
    elif isinstance(a, np.ndarray):
        assert isinstance(b, np.ndarray), where
        assert a.dtype == b.dtype and a.shape == b.shape, (where, a.dtype, b.dtype, a.shape, b.shape)
        assert a.tobytes() == b.tobytes(), where
    elif isinstance(a, tuple | list):
        assert type(a) is type(b) and len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            assert_bit_identical(x, y, f"{where}[{i}]")
    else:
        assert type(a) is type(b) and a == b, (where, a, b)


def runs_rows(runs: ds.Runs, lo: int, hi: int) -> dict:
    """Rows [lo, hi) of a run_trajectories result: every kept array, the jump log re-based to the slice."""
    out = {"index": runs.index[lo:hi]}
    for name in ("records", "outcomes", "post", "n_jumps", "first_jump", "final_state", "states"):
        array = getattr(runs, name)
        out[name] = None if array is None else array[lo:hi]
    if runs.jump_offsets is not None:
        a, b = runs.jump_offsets[lo], runs.jump_offsets[hi]
        out["jump_offsets"] = runs.jump_offsets[lo : hi + 1] - a
        for name in ("jump_times", "jump_channels", "jump_residuals"):
            out[name] = getattr(runs, name)[a:b]
    return out


def row_of(runs: ds.Runs, i: int) -> dict:
    """Run i of a run_trajectories result (kept with every array), as a single trajectory reports it."""
    a, b = runs.jump_offsets[i], runs.jump_offsets[i + 1]
    fields = {name: getattr(runs, name)[i] for name in ("records", "outcomes", "post", "states", "final_state")}
    fields.update({name: getattr(runs, name)[a:b] for name in ("jump_times", "jump_channels", "jump_residuals")})
    fields.update(n_jumps=runs.n_jumps[i], first_jump=runs.first_jump[i])
    return fields


def trajectory_fields(one: ds.Trajectory, channels: int) -> dict:
    """The fields of :func:`row_of` from a single trajectory (its jump counts per channel, first jump time)."""
    fields = {name: getattr(one, name) for name in ("post", "states")}
    # a Trajectory reports records and outcomes (+1/-1) as int arrays, Runs stores them as int8
    fields.update({name: getattr(one, name).astype(np.int8) for name in ("records", "outcomes")})
    fields["final_state"] = one.states[-1]
    fields.update({name: getattr(one, name) for name in ("jump_times", "jump_channels", "jump_residuals")})
    fields["n_jumps"] = np.bincount(one.jump_channels, minlength=channels)
    fields["first_jump"] = np.float64(one.jump_times[0] if one.jump_times.size else np.inf)
    return fields


# ---- references: each entry point once, in the default way ------------------------------------------------
@functools.cache
def simulated(distributions: bool) -> ds.MonteCarloResult:
    """N runs of ``simulate`` in this process, default batches and threads."""
    return ds.simulate(MODEL, PROTOCOL, N, SEED, progress=False, **(DISTRIBUTIONS if distributions else {}))


def simulate(distributions: bool, ntraj: int = N, **kwargs) -> ds.MonteCarloResult:
    """``simulate`` of the reference's runs (or the first ``ntraj`` of them) with other settings."""
    extra = DISTRIBUTIONS if distributions else {}
    return ds.simulate(MODEL, PROTOCOL, ntraj, SEED, progress=False, **extra, **kwargs)


@functools.cache
def all_runs() -> ds.Runs:
    """Runs START .. START + N_RUNS - 1 of ``run_trajectories``, every array kept, default threads."""
    return ds.run_trajectories(MODEL, PROTOCOL, N_RUNS, SEED, start=START, keep=KEEP_ALL)


@functools.cache
def swept() -> ds.SweepTable:
    """A two-point sweep with trajectories, default executor and batches."""
    return ds.sweep(MODEL, SWEEP_PROTOCOL, SWEEP_AXES, ntraj=2000, seed=11, progress=False)


@contextlib.contextmanager
def numba_threads(n: int) -> Iterator[None]:
    """Run Numba's parallel kernels on ``n`` threads inside the block."""
    before = numba.get_num_threads()
    numba.set_num_threads(n)
    try:
        yield
    finally:
        numba.set_num_threads(before)


def skip_if_workqueue() -> None:
    """Numba's workqueue layer aborts the process when two Python threads run parallel kernels."""
    simulated(False)  # the threading layer is known once a kernel has run
    if numba.threading_layer() == "workqueue":
        pytest.skip("Numba workqueue threading layer is not thread-safe (simulate gap: thread pools)")


# ---- the cases: (expected, got) pairs ------------------------------------------------------------------
def simulate_on_one_thread(distributions: bool, tmp_path: Path) -> Pairs:
    with numba_threads(1):
        yield simulated(distributions), simulate(distributions)


def simulate_in_batches(distributions: bool, tmp_path: Path) -> Pairs:
    for batch_size, batch_threads in ((97, 1), (1000, None), (1234, 2), (1777, 1), (N, 1), (10**6, None)):
        yield simulated(distributions), simulate(distributions, batch_size=batch_size, batch_threads=batch_threads)


def simulate_on_a_thread_pool(distributions: bool, tmp_path: Path) -> Pairs:
    skip_if_workqueue()
    with cf.ThreadPoolExecutor(2) as pool:
        yield simulated(distributions), simulate(distributions, batch_size=400, executor=pool)


def simulate_on_a_process_pool(distributions: bool, tmp_path: Path) -> Pairs:
    # spawn, not the Linux default fork: forking a process whose Numba OpenMP pool is already
    # running aborts the children ("fork() called from a process already using GNU OpenMP")
    with cf.ProcessPoolExecutor(2, mp_context=multiprocessing.get_context("spawn")) as pool:
        yield simulated(distributions), simulate(distributions, batch_size=700, executor=pool)


def simulate_resumed(distributions: bool, tmp_path: Path) -> Pairs:
    path = tmp_path / "partial.npz"
    partial = simulate(distributions, 1200, batch_size=500, save=path)
    yield partial, ds.load(path)
    resumed = simulate(distributions, resume=path, save=path, batch_size=700)
    yield simulated(distributions), resumed
    yield simulated(distributions), ds.load(path)
    # resuming a complete file runs nothing new and changes nothing
    yield simulated(distributions), simulate(distributions, resume=path)


def runs_on_one_thread(tmp_path: Path) -> Pairs:
    with numba_threads(1):
        yield all_runs(), ds.run_trajectories(MODEL, PROTOCOL, N_RUNS, SEED, start=START, keep=KEEP_ALL)
    yield all_runs(), ds.run_trajectories(MODEL, PROTOCOL, N_RUNS, SEED, start=START, keep=KEEP_ALL, threads=1)


def runs_in_index_ranges(tmp_path: Path) -> Pairs:
    runs = all_runs()
    assert runs.jump_times.size == runs.n_jumps.sum() > 0
    for start, n in ((START, 1), (1_234, 300), (700, N_RUNS + START - 700), (N_RUNS + START - 1, 1)):
        part = ds.run_trajectories(MODEL, PROTOCOL, n, SEED, start=start, keep=KEEP_ALL)
        yield runs_rows(runs, start - START, start - START + n), runs_rows(part, 0, n)


def runs_keeping_less(tmp_path: Path) -> Pairs:
    few = ds.run_trajectories(MODEL, PROTOCOL, N_RUNS, SEED, start=START, keep=("first_jump", "records"))
    assert few.n_jumps is None and few.states is None and few.jump_offsets is None
    yield (
        {"first_jump": all_runs().first_jump, "records": all_runs().records},
        {
            "first_jump": few.first_jump,
            "records": few.records,
        },
    )


def single_trajectory_is_a_row(tmp_path: Path) -> Pairs:
    runs = all_runs()
    for i in (0, 1, 57, N_RUNS - 1):
        one = ds.run_trajectory(MODEL, PROTOCOL, SEED, index=START + i)
        yield row_of(runs, i), trajectory_fields(one, runs.n_jumps.shape[1])


def sweep_on_a_thread_pool(tmp_path: Path) -> Pairs:
    skip_if_workqueue()
    with cf.ThreadPoolExecutor(2) as pool:
        yield swept(), ds.sweep(MODEL, SWEEP_PROTOCOL, SWEEP_AXES, ntraj=2000, seed=11, executor=pool, progress=False)


def sweep_in_batches(tmp_path: Path) -> Pairs:
    yield swept(), ds.sweep(MODEL, SWEEP_PROTOCOL, SWEEP_AXES, ntraj=2000, seed=11, batch_size=700, progress=False)


def _simulate_cases() -> list:
    cases = []
    for distributions in (False, True):
        name = "simulate+distributions" if distributions else "simulate"
        for how, marks in (
            (simulate_on_one_thread, ()),
            (simulate_in_batches, ()),
            (simulate_on_a_thread_pool, ()),
            (simulate_on_a_process_pool, (pytest.mark.subprocess,)),
            (simulate_resumed, ()),
        ):
            case = functools.partial(how, distributions)
            cases.append(pytest.param(case, id=f"{name}:{how.__name__}", marks=marks))
    return cases


CASES = _simulate_cases() + [
    pytest.param(how, id=f"{entry}:{how.__name__}")
    for entry, how in (
        ("run_trajectories", runs_on_one_thread),
        ("run_trajectories", runs_in_index_ranges),
        ("run_trajectories", runs_keeping_less),
        ("run_trajectory", single_trajectory_is_a_row),
        ("sweep", sweep_on_a_thread_pool),
        ("sweep", sweep_in_batches),
    )
]


@pytest.mark.parametrize("case", CASES)
def test_same_runs_give_the_same_bits(case: Callable[[Path], Pairs], tmp_path: Path) -> None:
    pairs = 0
    for expected, got in case(tmp_path):
        assert_bit_identical(expected, got)
        pairs += 1
    assert pairs > 0


def test_the_comparison_sees_another_seed() -> None:
    """The control: the helper is not trivially satisfied (another seed, one run more, one bit flipped)."""
    other = ds.simulate(MODEL, PROTOCOL, N, SEED + 1, progress=False, **DISTRIBUTIONS)
    with pytest.raises(AssertionError):
        assert_bit_identical(simulated(True), other)
    with pytest.raises(AssertionError):
        assert_bit_identical(simulated(True).sums.dist, other.sums.dist)
    with pytest.raises(AssertionError):
        assert_bit_identical(simulated(False), simulate(False, N + 1))
    runs = all_runs()
    flipped = runs.states.copy()
    flipped.view(np.uint8)[0, 0, 0] ^= 1
    with pytest.raises(AssertionError):
        assert_bit_identical(runs_rows(runs, 0, N_RUNS), {**runs_rows(runs, 0, N_RUNS), "states": flipped})
    with pytest.raises(AssertionError):
        assert_bit_identical(np.array([0.0]), np.array([-0.0]))
