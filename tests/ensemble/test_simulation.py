"""Scale-out machinery of ensemble.simulate: exact mergeable sums, Dask, save/load, keeping work on
interrupt, adaptive stopping, bad input, progress.

Trajectory i draws from its own stream (seed, i) and the sums are exact integers, so any split of
[0, ntraj) into batches, run anywhere in any order, gives bit-identical sums. Every comparison here is
therefore exact (EnsembleSums.identical / np.array_equal). Batch sizes, thread counts, thread and process
pools and resume are in the reproducibility contract (tests/ensemble/test_reproducibility.py).

A cheap model (lam = 0.2, 2 rounds, 31 outputs on [0, 15]) keeps the whole file at ~30-40 s on 2
cores, most of it spawning Dask's worker processes.
"""

from __future__ import annotations

import concurrent.futures as cf
import importlib
import math
import os
import threading

import numba
import numpy as np
import pytest

from darkspin import ensemble
from darkspin.ensemble import EnsembleSums, load, run_batch, simulate
from darkspin.trajectories import Protocol, SpinPair

# `ensemble.simulate` is the function (re-exported by ensemble/__init__), not the module: the
# module whose global run_batch _run_batches calls is only reachable through importlib.
SIM = importlib.import_module("darkspin.ensemble.montecarlo.simulation")

MODEL = SpinPair(lam1=0.2, lam2=0.2)
PROTOCOL = Protocol("ud", (5.0, 10.0), np.linspace(0.0, 15.0, 31))
SEED = 20240611
N = 3001  # deliberately odd: most batch sizes below do not divide it


@pytest.fixture(scope="module")
def reference() -> ensemble.MonteCarloResult:
    """One uninterrupted in-process run of N trajectories: the answer every other route must match."""
    return simulate(MODEL, PROTOCOL, N, SEED, progress=False)


def skip_if_workqueue():
    """Numba's workqueue layer aborts the process when two Python threads run parallel kernels."""
    if numba.threading_layer() == "workqueue":  # known once the reference fixture has run a kernel
        pytest.skip("Numba workqueue threading layer is not thread-safe (simulate gap: thread pools)")


@pytest.fixture
def no_work(monkeypatch):
    """Make any trajectory work fail loudly: bad input must be rejected before the first batch."""

    def forbidden(*args, **kwargs):
        raise AssertionError("run_batch was called: the input should have been rejected first")

    monkeypatch.setattr(SIM, "run_batch", forbidden)


# ---- EnsembleSums ---------------------------------------------------------------------------------
def test_reference_is_nontrivial(reference):
    # guards the exactness tests below against comparing empty or jump-free sums
    assert reference.ntraj == N and reference.n_jumps > N
    assert 0 < reference.n_success[-1] < N
    assert np.all(reference.sums.lo != 0) or np.count_nonzero(reference.sums.lo) > 100


def test_merge_is_associative_and_order_independent(reference):
    cuts = [0, 1, 700, 701, 1500, 2222, N]
    parts = [
        run_batch(MODEL, PROTOCOL, SEED, a, b, threads=1 + (i % 2))
        for i, (a, b) in enumerate(zip(cuts[:-1], cuts[1:], strict=True))
    ]
    rng = np.random.default_rng(1)
    orders = [list(range(len(parts))), list(range(len(parts)))[::-1]]
    orders += [list(rng.permutation(len(parts))) for _ in range(4)]
    for order in orders:
        # left fold, right fold, and a balanced tree over the same permutation
        left = EnsembleSums.empty(PROTOCOL.times.size, PROTOCOL.rounds)
        for k in order:
            left = left.merge(parts[k])
        right = EnsembleSums.empty(PROTOCOL.times.size, PROTOCOL.rounds)
        for k in reversed(order):
            right = parts[k].merge(right)
        level = [parts[k] for k in order]
        while len(level) > 1:
            level = [level[i] + level[i + 1] if i + 1 < len(level) else level[i] for i in range(0, len(level), 2)]
        for total in (left, right, level[0]):
            assert total.identical(reference.sums), order
    # grouped differently: (a + b) + (c + d) == a + (b + (c + d))
    a, b, c, d = parts[0] + parts[1], parts[2], parts[3] + parts[4], parts[5]
    assert ((a + b) + (c + d)).identical(a + (b + (c + d)))


def test_merge_with_empty_and_negative_controls(reference):
    empty = EnsembleSums.empty(PROTOCOL.times.size, PROTOCOL.rounds)
    s = reference.sums
    assert s.merge(empty).identical(s) and empty.merge(s).identical(s)
    assert empty.merge(empty).identical(empty) and empty.ntraj == 0
    # identical() is not trivially true: counting one batch twice, or a different seed, must differ
    part = run_batch(MODEL, PROTOCOL, SEED, 0, 100)
    assert not s.merge(part).identical(s)
    other = run_batch(MODEL, PROTOCOL, SEED + 1, 0, N)
    assert other.ntraj == s.ntraj and not other.identical(s)
    with pytest.raises(ValueError, match="different output grids"):
        s.merge(EnsembleSums.empty(PROTOCOL.times.size + 1, PROTOCOL.rounds))


# ---- batches and executors ------------------------------------------------------------------------
@pytest.fixture(scope="module")
def dask_client():
    distributed = pytest.importorskip("dask.distributed")
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None)
    client = distributed.Client(cluster)
    try:
        yield client
    finally:
        client.close()
        cluster.close()


@pytest.mark.subprocess
@pytest.mark.parametrize("how", ["client", "get_executor"])
def test_dask(reference, dask_client, how):
    executor = dask_client if how == "client" else dask_client.get_executor()
    r = simulate(MODEL, PROTOCOL, N, SEED, batch_size=500, executor=executor, progress=False)
    assert r.sums.identical(reference.sums) and r.ranges.tolist() == [[0, N]]


# ---- save / load / resume -------------------------------------------------------------------------
ESTIMATES = [
    "times",
    "rho",
    "rho_se",
    "rho_post",
    "rho_post_se",
    "p_success",
    "p_cumulative",
    "n_success",
    "n_post",
    "ranges",
]


def assert_same_result(a, b):
    assert a.sums.identical(b.sums)
    assert a.seed == b.seed and a.ntraj == b.ntraj and a.n_jumps == b.n_jumps
    assert a.model == b.model and a.model.as_dict() == b.model.as_dict()
    assert a.protocol.same_as(b.protocol)
    for name in ESTIMATES:
        x, y = getattr(a, name), getattr(b, name)
        assert x.shape == y.shape and x.dtype == y.dtype, name
        assert np.array_equal(x, y, equal_nan=True), name
    s_a, s_b = a.population("S"), b.population("S")
    for x, y, name in zip(s_a, s_b, s_a._fields, strict=True):
        assert x.shape == y.shape and x.dtype == y.dtype, name
        assert np.array_equal(x, y, equal_nan=True), name


def test_save_load_round_trip(reference, tmp_path):
    path = tmp_path / "run.npz"
    assert reference.save(path) == os.fspath(path)
    loaded = load(path)
    assert_same_result(loaded, reference)
    assert loaded.stats["end_condition"] != "interrupted"
    # a model off the symmetric point with every field distinct survives too
    model = SpinPair(nu=1.1, V=1.7, T=0.3, lam1=0.21, lam2=0.19, theta=0.4, phi=-0.3, J_ex=0.05, J_DM=0.02)
    r = simulate(model, PROTOCOL, 300, 5, progress=False)
    assert_same_result(load(r.save(tmp_path / "off.npz")), r)


def test_resume_mismatch_is_rejected(tmp_path, no_work):
    p1 = tmp_path / "first.npz"
    # no_work forbids running trajectories, so write an (empty) result file directly
    ensemble.MonteCarloResult(MODEL, PROTOCOL, EnsembleSums.empty(PROTOCOL.times.size, PROTOCOL.rounds), SEED).save(p1)
    with pytest.raises(ValueError, match="seed"):
        simulate(MODEL, PROTOCOL, N, SEED + 1, resume=p1, progress=False)
    with pytest.raises(ValueError, match="lam1"):
        simulate(MODEL.replace(lam1=0.21), PROTOCOL, N, resume=p1, progress=False)
    other = Protocol("ud", (5.0, 10.0), np.linspace(0.0, 15.0, 32))
    with pytest.raises(ValueError, match="protocol"):
        simulate(MODEL, other, N, resume=p1, progress=False)
    with pytest.raises(ValueError, match="protocol"):
        simulate(MODEL, Protocol("du", (5.0, 10.0), PROTOCOL.times), N, resume=p1, progress=False)
    with pytest.raises(ValueError, match="does not exist"):
        simulate(MODEL, PROTOCOL, N, resume=tmp_path / "nope.npz", progress=False)


# ---- interrupts -------------------------------------------------------------------------------------
def interrupting(after: int):
    """A run_batch that raises KeyboardInterrupt on call number ``after + 1`` (thread-safe count)."""
    lock, calls = threading.Lock(), [0]

    def wrapper(*args, **kwargs):
        with lock:
            calls[0] += 1
            k = calls[0]
        if k == after + 1:
            raise KeyboardInterrupt
        return run_batch(*args, **kwargs)

    return wrapper


def test_interrupt_keeps_finished_batches(reference, tmp_path, monkeypatch):
    path = tmp_path / "cut.npz"
    monkeypatch.setattr(SIM, "run_batch", interrupting(2))
    with pytest.warns(RuntimeWarning, match="interrupted"):
        cut = simulate(MODEL, PROTOCOL, N, SEED, batch_size=500, save=path, progress=False)
    monkeypatch.undo()
    assert (cut.stats["end_condition"] == "interrupted") and cut.ntraj == 1000 and cut.ranges.tolist() == [[0, 1000]]
    assert cut.sums.identical(run_batch(MODEL, PROTOCOL, SEED, 0, 1000))
    saved = load(path)
    assert (saved.stats["end_condition"] == "interrupted") and saved.sums.identical(cut.sums) and saved.seed == SEED
    done = simulate(MODEL, PROTOCOL, N, resume=path, batch_size=500, progress=False)
    assert not (done.stats["end_condition"] == "interrupted")
    assert_same_result(done, reference)


def test_interrupt_with_thread_pool_keeps_consistent_work(reference, tmp_path, monkeypatch):
    skip_if_workqueue()
    path = tmp_path / "cut.npz"
    monkeypatch.setattr(SIM, "run_batch", interrupting(2))
    with pytest.warns(RuntimeWarning, match="interrupted"), cf.ThreadPoolExecutor(2) as ex:
        cut = simulate(MODEL, PROTOCOL, N, SEED, batch_size=300, executor=ex, save=path, progress=False)
    monkeypatch.undo()
    # which batches finished depends on scheduling; whatever was kept must be exactly those batches
    assert (cut.stats["end_condition"] == "interrupted") and 0 < cut.ntraj < N
    assert int(np.sum(np.diff(cut.ranges, axis=1))) == cut.ntraj
    kept = EnsembleSums.empty(PROTOCOL.times.size, PROTOCOL.rounds)
    for a, b in cut.ranges:
        kept = kept + run_batch(MODEL, PROTOCOL, SEED, int(a), int(b))
    assert cut.sums.identical(kept)
    assert load(path).sums.identical(cut.sums)
    done = simulate(MODEL, PROTOCOL, N, resume=path, batch_size=300, progress=False)
    assert_same_result(done, reference)


# ---- adaptive stopping ------------------------------------------------------------------------------
def test_target_se_stops_below_target():
    target = 0.01
    r = simulate(
        MODEL, PROTOCOL, 500, SEED, batch_size=500, target_se=target, max_ntraj=10**5, target="max", progress=False
    )
    assert r.max_singlet_se() < target
    assert 500 < r.ntraj < 10**5 and r.ranges.tolist() == [[0, r.ntraj]]
    # it stopped within a few batches of the first point below target, not far beyond it
    assert r.ntraj < 4 * 500 + 1.5 * (target / r.max_singlet_se()) ** 2 * r.ntraj
    # the adaptive run is exactly the first r.ntraj trajectories of the seed
    assert simulate(MODEL, PROTOCOL, r.ntraj, SEED, progress=False).sums.identical(r.sums)


def test_target_se_respects_ntraj_and_max_ntraj():
    easy = simulate(MODEL, PROTOCOL, 700, SEED, target_se=1.0, progress=False)
    assert easy.ntraj == 700  # never fewer than ntraj, even if the target is met earlier
    with pytest.warns(RuntimeWarning, match="max_ntraj"):
        capped = simulate(MODEL, PROTOCOL, 500, SEED, batch_size=400, target_se=1e-6, max_ntraj=1300, progress=False)
    assert capped.ntraj == 1300 and capped.max_singlet_se() > 1e-6


# ---- bad input --------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "kwargs,match",
    [
        (dict(executor="threads"), "executor"),
        (dict(executor=object()), "executor"),
        (dict(target_se=0), "target_se"),
        (dict(target_se=-1.0), "target_se"),
        (dict(target_se=math.nan), "target_se"),
        (dict(target_se=math.inf), "target_se"),
        (dict(target_se="0.1"), "target_se"),
        (dict(batch_size=0), "batch_size"),
        (dict(batch_size=-3), "batch_size"),
        (dict(batch_size=2.5), "batch_size"),
        (dict(batch_threads=0), "batch_threads"),
        (dict(target_se=0.1, max_ntraj=10), "max_ntraj"),
    ],
)
def test_bad_arguments_rejected_before_work(no_work, kwargs, match):
    with pytest.raises(ValueError, match=match):
        simulate(MODEL, PROTOCOL, 100, SEED, progress=False, **kwargs)


@pytest.mark.parametrize("ntraj", [0, -1, 1.5, None])
def test_bad_ntraj(no_work, ntraj):
    with pytest.raises(ValueError, match="ntraj"):
        simulate(MODEL, PROTOCOL, ntraj, SEED, progress=False)


def test_save_to_missing_folder_rejected_before_work(tmp_path, no_work):
    with pytest.raises(ValueError, match="does not exist"):
        simulate(MODEL, PROTOCOL, 100, SEED, save=tmp_path / "no" / "such" / "run.npz", progress=False)


@pytest.fixture(scope="module")
def saved_bytes(tmp_path_factory, reference) -> bytes:
    path = tmp_path_factory.mktemp("good") / "good.npz"
    reference.save(path)
    return path.read_bytes()


def _corrupt_files(folder, good: bytes) -> dict:
    files = {
        "random": np.random.default_rng(0).bytes(4096),
        "empty": b"",
        "truncated_half": good[: len(good) // 2],
        "truncated_end": good[:-10],
    }
    flipped = bytearray(good)
    flipped[len(good) // 3] ^= 0xFF
    files["bit_flip"] = bytes(flipped)
    paths = {}
    for name, data in files.items():
        paths[name] = folder / f"{name}.npz"
        paths[name].write_bytes(data)
    paths["other_arrays"] = folder / "other.npz"
    np.savez(paths["other_arrays"], a=np.arange(3), hi=np.zeros(3))
    # a real result file with one array of the wrong shape
    with np.load(_write(folder / "g.npz", good)) as f:
        data = {k: f[k] for k in f.files}
    data["hi"] = data["hi"][:-1]
    paths["wrong_shape"] = folder / "wrong_shape.npz"
    np.savez(paths["wrong_shape"], **data)
    paths["missing"] = folder / "missing.npz"
    paths["directory"] = folder / "adir"
    paths["directory"].mkdir()
    return paths


def _write(path, data: bytes):
    path.write_bytes(data)
    return path


CORRUPT = [
    "random",
    "empty",
    "truncated_half",
    "truncated_end",
    "bit_flip",
    "other_arrays",
    "wrong_shape",
    "missing",
    "directory",
]


@pytest.mark.parametrize("kind", CORRUPT)
def test_load_corrupt_file_raises_value_error(tmp_path, saved_bytes, kind):
    path = _corrupt_files(tmp_path, saved_bytes)[kind]
    with pytest.raises(ValueError, match="result file") as info:
        load(path)
    assert os.fspath(path) in str(info.value)  # the message names the file
    assert type(info.value) is ValueError  # not a numpy/zipfile error type in disguise


def test_load_npy_file_raises_value_error(tmp_path):
    path = tmp_path / "array.npy"
    np.save(path, np.arange(3))
    with pytest.raises(ValueError, match="result file"):
        load(path)


def test_good_file_still_loads(tmp_path, saved_bytes, reference):
    # control for the corrupt-file tests: the same bytes unmodified load fine
    assert load(_write(tmp_path / "ok.npz", saved_bytes)).sums.identical(reference.sums)


# ---- progress ---------------------------------------------------------------------------------------
def test_progress_bar_goes_to_stderr(capsys):
    simulate(MODEL, PROTOCOL, 600, SEED, batch_size=200, progress=True)
    out, err = capsys.readouterr()
    assert out == ""
    assert "darkspin" in err and "600/600" in err and "traj" in err


def test_no_progress_writes_nothing(capsys):
    simulate(MODEL, PROTOCOL, 600, SEED, batch_size=200, progress=False)
    out, err = capsys.readouterr()
    assert out == "" and err == ""
