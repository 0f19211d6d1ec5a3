"""Saving, loading and resuming results safely (issue 10): why a run ended (``stats``), refusing to
save what cannot be reloaded exactly or onto something that is not a regular file, refusing edited
or inconsistent result files, and bounded memory before any work (lazy batches, sizes checked
before reading).

Files are edited here the way a user or a faulty tool would: members of the .npz rewritten with
numpy, with the stored checksum left alone (an edit the checksum must catch) or recomputed (so
that the cross-field invariants alone must catch it).
"""

from __future__ import annotations

import concurrent.futures as cf
import dataclasses
import importlib
import io
import json
import os
import re
import stat
import threading
import tracemalloc
import warnings
import zipfile

import numpy as np
import pytest

from darkspin.ensemble import EnsembleSums, MonteCarloResult, load, run_batch, simulate
from darkspin.trajectories import Protocol, SpinPair

SIM = importlib.import_module("darkspin.ensemble.montecarlo.simulation")
RES = importlib.import_module("darkspin.ensemble.montecarlo.files")

MODEL = SpinPair(lam1=0.2, lam2=0.2)
PROTOCOL = Protocol("ud", (5.0, 10.0), np.linspace(0.0, 15.0, 31))
SEED = 20240611


@pytest.fixture(scope="module")
def small() -> MonteCarloResult:
    return simulate(MODEL, PROTOCOL, 400, SEED, batch_size=200, progress=False)


@pytest.fixture(scope="module")
def good_bytes(tmp_path_factory, small) -> bytes:
    path = tmp_path_factory.mktemp("good") / "good.npz"
    small.save(path)
    return path.read_bytes()


def members(data: bytes) -> dict:
    """The arrays of a result file we wrote ourselves (trusted here)."""
    with np.load(io.BytesIO(data), allow_pickle=False) as f:
        return {k: f[k] for k in f.files}


def write(path, arrays: dict, fix_checksum: bool = False):
    arrays = dict(arrays)
    if fix_checksum:
        arrays["checksum"] = np.array(RES._checksum(arrays))
    np.savez(path, **arrays)
    return path


def one_line_error(path, match: str) -> str:
    """load(path) raises a plain one-line ValueError naming the file, matching ``match`` elsewhere."""
    with pytest.raises(ValueError) as info:
        load(path)
    msg = str(info.value)
    assert type(info.value) is ValueError
    assert "\n" not in msg and "np." not in msg and os.fspath(path) in msg, msg
    rest = msg.replace(os.fspath(path), "")  # the match must not come from the file's name
    assert re.search(match, rest), msg
    return msg


# ---- why a run ended --------------------------------------------------------------------------------
def test_stats_of_a_plain_run_round_trip(small, tmp_path):
    assert small.stats["end_condition"] == "ntraj" and not (small.stats["end_condition"] == "interrupted")
    assert small.stats["target"] == "final_post" and small.stats["target_se"] is None
    assert small.stats["achieved_se"] == float(small.population("S").se_post[-1])
    json.dumps(small.stats, allow_nan=False)  # plain, JSON-ready values (for summary.json)
    loaded = load(small.save(tmp_path / "r.npz"))
    assert loaded.stats == small.stats and not (loaded.stats["end_condition"] == "interrupted")


def test_target_se_applies_to_the_final_post_selected_singlet_by_default():
    target = 0.02
    r = simulate(MODEL, PROTOCOL, 200, SEED, batch_size=200, target_se=target, max_ntraj=10**5, progress=False)
    assert r.stats["end_condition"] == "target_se" and r.stats["target"] == "final_post"
    assert r.population("S").se_post[-1] < target and r.stats["achieved_se"] == float(r.population("S").se_post[-1])
    assert r.stats["target_se"] == target and r.stats["max_ntraj"] == 10**5
    # the figure of merit only: some other time still has a larger standard error
    assert r.max_singlet_se() > target
    # today's rule on request: every output time, unconditional and post-selected
    m = simulate(
        MODEL, PROTOCOL, 200, SEED, batch_size=200, target_se=target, max_ntraj=10**5, target="max", progress=False
    )
    assert m.stats["end_condition"] == "target_se" and m.stats["target"] == "max"
    assert m.max_singlet_se() < target and m.stats["achieved_se"] == m.max_singlet_se()
    assert m.ntraj > r.ntraj
    # both are exactly the first ntraj trajectories of the seed
    assert simulate(MODEL, PROTOCOL, r.ntraj, SEED, progress=False).sums.identical(r.sums)


def test_stopping_at_max_ntraj_warns_and_is_recorded(tmp_path):
    path = tmp_path / "capped.npz"
    with pytest.warns(RuntimeWarning, match="max_ntraj"):
        r = simulate(
            MODEL, PROTOCOL, 500, SEED, batch_size=400, target_se=1e-6, max_ntraj=1300, save=path, progress=False
        )
    assert (
        r.ntraj == 1300 and r.stats["end_condition"] == "max_ntraj" and not (r.stats["end_condition"] == "interrupted")
    )
    assert r.stats["achieved_se"] > 1e-6
    assert load(path).stats == r.stats


def test_interrupt_and_files_saved_mid_run_say_interrupted(tmp_path, monkeypatch):
    path = tmp_path / "run.npz"
    seen = []

    def spying(*args, **kwargs):  # a file on disk while the run goes on is an unfinished run
        if os.path.exists(path):
            seen.append(load(path).stats["end_condition"])
        return run_batch(*args, **kwargs)

    monkeypatch.setattr(SIM, "run_batch", spying)
    r = simulate(MODEL, PROTOCOL, 600, SEED, batch_size=200, save=path, progress=False)
    assert seen == ["interrupted", "interrupted"]
    assert r.stats["end_condition"] == "ntraj" and load(path).stats == r.stats

    calls = [0]

    def interrupting(*args, **kwargs):
        calls[0] += 1
        if calls[0] == 2:
            raise KeyboardInterrupt
        return run_batch(*args, **kwargs)

    monkeypatch.setattr(SIM, "run_batch", interrupting)
    with pytest.warns(RuntimeWarning, match="interrupted"):
        cut = simulate(MODEL, PROTOCOL, 600, SEED, batch_size=200, save=path, progress=False)
    assert (
        (cut.stats["end_condition"] == "interrupted")
        and cut.stats["end_condition"] == "interrupted"
        and cut.ntraj == 200
    )
    assert (load(path).stats["end_condition"] == "interrupted") and load(path).stats == cut.stats


@pytest.mark.parametrize("target", ["mean", None, 5, "MAX"])
def test_bad_target_rejected_before_work(no_work, target):
    with pytest.raises(ValueError, match="target"):
        simulate(MODEL, PROTOCOL, 100, SEED, target_se=0.1, target=target, progress=False)


# ---- only what reloads bit for bit is saved -----------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class LoudPair(SpinPair):
    def hamiltonian(self):
        return 2 * super().hamiltonian()


@dataclasses.dataclass(frozen=True, eq=False)
class OtherProtocol(Protocol):
    pass


def test_save_refuses_subclasses_before_work(tmp_path, no_work, small):
    path = tmp_path / "sub.npz"
    with pytest.raises(ValueError, match="SpinPair"):
        simulate(LoudPair(lam1=0.2, lam2=0.2), PROTOCOL, 100, SEED, save=path, progress=False)
    with pytest.raises(ValueError, match="Protocol"):
        simulate(MODEL, OtherProtocol("ud", (5.0, 10.0), PROTOCOL.times), 100, SEED, save=path, progress=False)
    sub = MonteCarloResult(LoudPair(lam1=0.2, lam2=0.2), PROTOCOL, small.sums, SEED, small.ranges)
    with pytest.raises(ValueError, match="SpinPair"):
        sub.save(path)
    assert not path.exists()
    # a subclass cannot extend a file of plain SpinPair trajectories either
    small.save(path)
    with pytest.raises(ValueError, match="SpinPair"):
        simulate(LoudPair(lam1=0.2, lam2=0.2), PROTOCOL, 800, resume=path, progress=False)


# ---- only regular files are overwritten ---------------------------------------------------------------
def _targets(tmp_path) -> dict:
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    (tmp_path / "adir").mkdir()
    return {
        "devnull": "/dev/null",
        "fifo": fifo,
        "directory": tmp_path / "adir",
        "empty": "",
        "proc": "/proc/darkspin-test.npz",
        "trailing_slash": os.fspath(tmp_path / "new") + os.sep,
        "cwd": ".",
    }


@pytest.mark.parametrize("kind", ["devnull", "fifo", "directory", "empty", "proc", "trailing_slash", "cwd"])
def test_save_onto_non_file_rejected_before_work(tmp_path, no_work, kind):
    target = _targets(tmp_path)[kind]
    with pytest.raises(ValueError, match="save"):
        simulate(MODEL, PROTOCOL, 100, SEED, save=target, progress=False)
    assert stat.S_ISCHR(os.stat("/dev/null").st_mode)
    assert stat.S_ISFIFO(os.stat(tmp_path / "pipe").st_mode)


def test_result_save_onto_non_file_refused(tmp_path, small):
    targets = _targets(tmp_path)
    for kind in ("fifo", "directory", "empty", "trailing_slash"):
        with pytest.raises(ValueError):
            small.save(targets[kind])
    assert stat.S_ISFIFO(os.stat(targets["fifo"]).st_mode)
    assert not os.path.exists(targets["trailing_slash"])
    assert not [p for p in os.listdir(tmp_path) if p.startswith(".darkspin-")]  # no temporary left


def test_save_through_a_symlink_writes_its_target(tmp_path, small):
    real = tmp_path / "real.npz"
    link = tmp_path / "link.npz"
    link.symlink_to(real)
    small.save(link)
    assert link.is_symlink() and real.is_file()
    assert load(real).sums.identical(small.sums)


# ---- edited or inconsistent files are refused -------------------------------------------------------
def _edit(name):
    def apply(a):
        a = dict(a)
        if name == "hi":
            a["hi"] = a["hi"].copy()
            a["hi"][3, 0, 5] += 1
        elif name == "seed":
            a["seed"] = np.uint64(int(a["seed"]) + 1)
        elif name == "params":
            a["params"] = a["params"].copy()
            a["params"][3] = 0.25
        elif name == "times":
            a["times"] = a["times"] * 1.5
        elif name == "measure_at":
            a["measure_at"] = a["measure_at"] + 1.0
        elif name == "rho0":
            a["rho0"] = a["rho0"][::-1, ::-1].copy()
        elif name == "n_jumps":
            a["n_jumps"] = np.int64(int(a["n_jumps"]) + 7)
        elif name == "stats":
            s = json.loads(str(a["stats"]))
            s["end_condition"] = "target_se"
            a["stats"] = np.array(json.dumps(s))
        return a

    return apply


@pytest.mark.parametrize("name", ["hi", "seed", "params", "times", "measure_at", "rho0", "n_jumps", "stats"])
def test_edited_file_fails_its_checksum(tmp_path, good_bytes, name):
    path = write(tmp_path / "edited.npz", _edit(name)(members(good_bytes)))
    one_line_error(path, "checksum")


def test_resume_from_a_file_with_an_edited_seed_is_refused(tmp_path, good_bytes, no_work):
    path = write(tmp_path / "edited.npz", _edit("seed")(members(good_bytes)))
    with pytest.raises(ValueError) as info:
        simulate(MODEL, PROTOCOL, 800, resume=path, progress=False)
    assert "checksum" in str(info.value).replace(os.fspath(path), "")


def _inconsistent(kind):
    def apply(a):
        a = dict(a)
        if kind == "ntraj_negative":
            a["ntraj"] = np.int64(-1)
        elif kind == "n_post_above_ntraj":
            a["n_post"] = a["n_post"] + 1000
        elif kind == "empty_with_sums":
            a["ntraj"], a["ranges"] = np.int64(0), np.zeros((0, 2), np.int64)
            a["n_post"], a["n_success"] = np.zeros_like(a["n_post"]), np.zeros_like(a["n_success"])
            a["n_jumps"] = np.int64(0)
        elif kind == "names_reversed":
            a["param_names"] = a["param_names"][::-1].copy()
        elif kind == "name_missing":
            a["param_names"], a["params"] = a["param_names"][1:].copy(), a["params"][1:].copy()
        elif kind == "seed_negative":
            a["seed"] = np.int64(-1)
        elif kind == "seed_fraction":
            a["seed"] = np.float64(1.5)
        elif kind == "n_success_increasing":
            a["n_success"] = a["n_success"][::-1].copy()
        elif kind == "n_post_not_from_n_success":
            a["n_post"] = a["n_post"].copy()
            a["n_post"][-1] -= 1
        elif kind == "ranges_short":
            a["ranges"] = np.array([[0, 300]], np.int64)
        elif kind == "ranges_overlap":
            a["ranges"] = np.array([[0, 250], [200, 350]], np.int64)
        elif kind == "ranges_malformed":
            a["ranges"] = np.array([0, 400, 7], np.int64)
        elif kind == "hi_float":
            a["hi"] = a["hi"].astype(float)
        elif kind == "lo_out_of_range":
            a["lo"] = a["lo"].copy()
            a["lo"][0, 0, 0] = 2**40
        elif kind == "sum_too_large":
            a["hi"] = a["hi"].copy()
            a["hi"][2, 0, 0] = 401
        elif kind == "end_condition_unknown":
            a["stats"] = np.array(json.dumps({**json.loads(str(a["stats"])), "end_condition": "done"}))
        elif kind == "target_se_without_target":
            a["stats"] = np.array(json.dumps({**json.loads(str(a["stats"])), "end_condition": "target_se"}))
        elif kind == "unknown_member":
            a["junk"] = np.arange(3)
        elif kind == "missing_member":
            del a["n_jumps"]
        return a

    return apply


INCONSISTENT = {
    "ntraj_negative": "ntraj",
    "n_post_above_ntraj": "n_post",
    "empty_with_sums": "hi",
    "names_reversed": "param_names",
    "name_missing": "param",
    "seed_negative": "seed",
    "seed_fraction": "seed",
    "n_success_increasing": "n_success",
    "n_post_not_from_n_success": "n_post",
    "ranges_short": "ranges",
    "ranges_overlap": "ranges",
    "ranges_malformed": "ranges",
    "hi_float": "dtype",
    "lo_out_of_range": "lo",
    "sum_too_large": "hi",
    "end_condition_unknown": "end_condition",
    "target_se_without_target": "target_se",
    "unknown_member": "junk",
    "missing_member": "n_jumps",
}


@pytest.mark.parametrize("kind", list(INCONSISTENT))
def test_inconsistent_file_refused_even_with_a_valid_checksum(tmp_path, good_bytes, kind):
    path = write(tmp_path / f"{kind}.npz", _inconsistent(kind)(members(good_bytes)), fix_checksum=True)
    msg = one_line_error(path, INCONSISTENT[kind])
    assert "Traceback" not in msg and "buffer" not in msg


def test_control_rewritten_file_with_recomputed_checksum_loads(tmp_path, good_bytes, small):
    # the helpers above change nothing by themselves: an unedited rewrite loads, bit for bit
    path = write(tmp_path / "same.npz", members(good_bytes), fix_checksum=True)
    assert load(path).sums.identical(small.sums)
    assert load(write(tmp_path / "same2.npz", members(good_bytes))).stats == small.stats


def _format_1(a: dict) -> dict:
    """The members a darkspin-result-1 file had (no checksum, no stats, no instruments, an interrupted flag)."""
    new = (
        "checksum",
        "stats",
        "n_kept",
        "record_counts",
        "postselect",
        "measurement_observable",
        "measurement_readout_error",
        "measurement_feedback",
        "measurement_has_feedback",
        "model_kind",
        "model_hamiltonian",
        "model_jump_operators",
        "model_labels",
    )
    old = {k: v for k, v in a.items() if k not in new}
    old["format"] = np.array("darkspin-result-1")
    old["interrupted"] = np.bool_(False)
    return old


def test_format_1_files_load_with_a_warning(tmp_path, good_bytes, small):
    path = write(tmp_path / "old.npz", _format_1(members(good_bytes)))
    with pytest.warns(UserWarning, match="no checksum"):
        old = load(path)
    assert old.seed == small.seed and old.protocol.same_as(small.protocol)
    for name in ("hi", "lo", "n_post", "n_success", "n_kept"):
        assert np.array_equal(getattr(old.sums, name), getattr(small.sums, name)), name
    assert old.sums.record_counts.size == 0  # not counted before instruments existed
    assert old.stats["end_condition"] == "ntraj"
    # ... and are still checked for consistency
    bad = _format_1(_inconsistent("n_post_above_ntraj")(members(good_bytes)))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        one_line_error(write(tmp_path / "old_bad.npz", bad), "n_post")


# ---- memory before work -------------------------------------------------------------------------------
def _npy_header(shape, descr="<i8") -> bytes:
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, {"descr": descr, "fortran_order": False, "shape": shape})
    return buf.getvalue()


def _peak_mb(fn) -> float:
    tracemalloc.start()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1] / 2**20
    finally:
        tracemalloc.stop()


def test_load_checks_declared_sizes_before_reading(tmp_path, good_bytes):
    # every member as written, except hi, whose header declares 1e11 elements (but holds 64 bytes)
    with zipfile.ZipFile(tmp_path / "h.npz", "w") as zf:
        for k, v in members(good_bytes).items():
            buf = io.BytesIO()
            np.lib.format.write_array(buf, np.asarray(v))
            zf.writestr(k + ".npy", _npy_header((10**11,)) + bytes(64) if k == "hi" else buf.getvalue())
    assert _peak_mb(lambda: one_line_error(tmp_path / "h.npz", "hi")) < 5


def test_load_never_reads_unknown_members(tmp_path, good_bytes):
    """A few hundred KB of deflated zeros that would unpack to 64 MB: refused without reading."""
    path = tmp_path / "bomb.npz"
    path.write_bytes(good_bytes)
    with (
        zipfile.ZipFile(path, "a", compression=zipfile.ZIP_DEFLATED) as zf,
        zf.open("extra.npy", "w", force_zip64=True) as fh,
    ):
        fh.write(_npy_header((8 * 2**20,)))
        chunk = bytes(2**20)
        for _ in range(64):
            fh.write(chunk)
    assert path.stat().st_size < 2**20
    assert _peak_mb(lambda: pytest.raises(ValueError, load, path)) < 5
    one_line_error(path, "extra")


def test_batches_are_generated_lazily(monkeypatch):
    """10**6 one-trajectory batches: the list of them alone would take ~100 MB."""

    def interrupt_at_once(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(SIM, "run_batch", interrupt_at_once)
    out = {}

    def run():
        with pytest.warns(RuntimeWarning, match="interrupted"):
            out["r"] = simulate(MODEL, PROTOCOL, 10**6, SEED, batch_size=1, progress=False)

    assert _peak_mb(run) < 10
    assert (out["r"].stats["end_condition"] == "interrupted") and out["r"].ntraj == 0


class CountingExecutor(cf.ThreadPoolExecutor):
    """A thread pool that records the most futures ever submitted and not yet finished."""

    def __init__(self, workers):
        super().__init__(workers)
        self.lock, self.pending, self.most, self.submitted = threading.Lock(), 0, 0, 0

    def submit(self, fn, *args, **kwargs):
        with self.lock:
            self.pending += 1
            self.submitted += 1
            self.most = max(self.most, self.pending)
        fut = super().submit(fn, *args, **kwargs)
        fut.add_done_callback(self._done)
        return fut

    def _done(self, fut):
        with self.lock:
            self.pending -= 1


def test_executor_keeps_a_bounded_number_of_batches_in_flight(monkeypatch):
    def cheap(model, protocol, seed, a, b, threads=None, spec=None):  # bookkeeping only: no kernel, no Numba threads
        empty = EnsembleSums.empty(protocol.times.size, protocol.rounds)
        return dataclasses.replace(empty, ntraj=b - a)

    monkeypatch.setattr(SIM, "run_batch", cheap)
    with CountingExecutor(2) as ex:
        r = simulate(MODEL, PROTOCOL, 3000, SEED, batch_size=10, executor=ex, progress=False)
    assert ex.submitted == 300 and r.ntraj == 3000 and r.ranges.tolist() == [[0, 3000]]
    assert 1 <= ex.most <= 4  # two per worker


def test_bounded_executor_is_still_bit_identical(small):
    with cf.ThreadPoolExecutor(1) as ex:
        r = simulate(MODEL, PROTOCOL, 400, SEED, batch_size=37, executor=ex, progress=False)
    assert r.sums.identical(small.sums)


def test_a_protocol_without_rounds_saves_and_loads(tmp_path):
    """Regression: the empty instrument stacks of a protocol without rounds had dtype float64, which the
    file format (complex observables, bool flags) refused on load."""
    protocol = Protocol("ud", (), np.linspace(0.0, 10.0, 3))
    mc = simulate(SpinPair(), protocol, 100, seed=1, progress=False)
    path = tmp_path / "no_rounds.npz"
    mc.save(path)
    again = load(path)
    assert again.sums.identical(mc.sums) and again.protocol.rounds == 0
