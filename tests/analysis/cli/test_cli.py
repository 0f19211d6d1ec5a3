"""The darkspin command line: each command end to end, its files, and one-line errors with exit codes.

A short protocol (2 rounds, t_final = 60, 2000 trajectories in batches of 500) keeps this fast: ~30-40 s
in all on a busy 2-core machine once Numba's cache is warm (the subprocess tests pay ~3 s of imports each).
"""

from __future__ import annotations

import errno
import json
import math
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from cli_calls import call as _call
from cli_calls import one_error_line as _one_error_line
from cli_calls import start_run as _start_run

import darkspin.ensemble
from darkspin.analysis.report import SUMMARY_KEYS
from darkspin.ensemble import load
from darkspin.ensemble.exact import solver as master_equation_module
from darkspin.ensemble.montecarlo import simulation as simulate_module
from darkspin.ensemble.results.monte_carlo import MonteCarloResult

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
SMALL = """
[protocol]
measure_at = [20.0, 40.0]
t_final = 60.0
n_out = 61

[run]
ntraj = 2000
seed = 7
batch_size = 500
"""


def _check_png(path: Path) -> None:
    data = path.read_bytes()
    assert data[:8] == PNG_SIGNATURE, path
    assert len(data) > 1024, path


@pytest.fixture(scope="module")
def small_config(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("cfg") / "small.toml"
    path.write_text(SMALL)
    return path


@pytest.fixture(scope="module")
def small_run(small_config, tmp_path_factory):
    out = tmp_path_factory.mktemp("run") / "out"
    status, stdout, stderr = _call(["run", small_config, "--out", out, "--no-progress"])
    return status, stdout, stderr, out


# ---- run ---------------------------------------------------------------------------------------
def test_run_writes_every_file(small_run):
    status, stdout, stderr, out = small_run
    assert status == 0, stderr
    assert "Traceback" not in stderr
    for name in ("protocol.png", "trajectories.png", "postselection.png"):
        _check_png(out / name)
    result = load(out / "result.npz")
    assert result.ntraj == 2000 and result.seed == 7 and not (result.stats["end_condition"] == "interrupted")
    text = (out / "postselection.txt").read_text()
    assert "concurrence_post_exact" in text and "eof_post" in text and "verdict" in text
    assert "verdict" in stdout and "p_success" in stdout


def test_run_summary_has_documented_keys(small_run):
    *_, out = small_run
    summary = json.loads((out / "summary.json").read_text())
    assert set(SUMMARY_KEYS) <= set(summary)
    assert summary["protocol"] == {
        "initial": "ud",
        "measure_at": [20.0, 40.0],
        "t_final": 60.0,
        "n_out": 61,
        "postselect": "all",
        "instruments": "every round: zz, perfect readout; post-select runs whose every record is -1",
        "readout_error": [[0.0, 0.0], [0.0, 0.0]],
    }
    assert summary["model"]["V"] == 1.25 and summary["ntraj"] == 2000 and summary["seed"] == 7
    assert summary["interrupted"] is False and summary["n_jumps"] > 0
    assert {"verdict", "max_z", "max_trace_distance"} <= set(summary["comparison"])
    cols = summary["postselection"]["columns"]
    for name in (
        "p_success",
        "p_success_exact",
        "concurrence_post",
        "concurrence_post_exact",
        "eof_post",
        "eof_post_exact",
    ):
        assert len(cols[name]) == 2, name
    # trajectories and master equation of the same protocol: binomial z of each round below 5
    for k, n, p in zip(cols["successes"], cols["attempts"], cols["p_success_exact"], strict=True):
        assert abs(k - n * p) / math.sqrt(n * p * (1 - p)) < 5


@pytest.mark.subprocess
def test_run_pdf_and_python_m(small_config, tmp_path):
    """A real process (python -m analysis.cli): exit 0, no traceback, figures in the asked format."""
    out = tmp_path / "pdf"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "darkspin.analysis.cli",
            "run",
            str(small_config),
            "--ntraj",
            "1000",
            "--out",
            str(out),
            "--format",
            "pdf",
            "--no-progress",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    for name in ("protocol.pdf", "trajectories.pdf", "postselection.pdf"):
        assert (out / name).read_bytes()[:5] == b"%PDF-"
    assert json.loads((out / "summary.json").read_text())["ntraj"] == 1000


# ---- show --------------------------------------------------------------------------------------
def test_show_reloads_a_run(small_run, tmp_path):
    *_, out = small_run
    status, stdout, stderr = _call(["show", out / "result.npz", "--out", tmp_path / "show"])
    assert status == 0, stderr
    assert "2000 trajectories, seed 7" in stdout and "verdict" in stdout
    _check_png(tmp_path / "show" / "protocol.png")


def test_show_rejects_corrupt_and_truncated_files(small_run, tmp_path):
    *_, out = small_run
    garbage = tmp_path / "garbage.npz"
    garbage.write_bytes(b"not a zip file at all" * 10)
    truncated = tmp_path / "truncated.npz"
    data = (out / "result.npz").read_bytes()
    truncated.write_bytes(data[: len(data) // 2])
    for path in (garbage, truncated, tmp_path / "missing.npz"):
        status, _, stderr = _call(["show", path])
        assert status == 2
        assert str(path) in _one_error_line(stderr)


# ---- exact, steady, spectra ------------------------------------------------------------------------
def test_exact_default_table():
    status, stdout, stderr = _call(["exact"])
    assert status == 0, stderr
    rows = [line.split() for line in stdout.splitlines() if re.match(r"\s+\d+\s+\d+", line)]
    assert [r[0] for r in rows] == ["1", "2", "3", "4"]
    p_cum = [float(r[3].rstrip("%")) / 100 for r in rows]
    # the dark singlet (weight 1/2 in |ud>) always passes: P(all -1) decreases towards 1/2, never below
    assert all(a > b >= 0.5 for a, b in zip(p_cum, p_cum[1:], strict=False))
    assert p_cum[-1] < 0.505


def _p_c(stdout: str, which: str) -> float:
    return float(re.search(rf"p_c {which}:\s+([0-9.]+)", stdout).group(1))


@pytest.mark.parametrize("V", [2.5, 1.25])
def test_steady_critical_weight(V, tmp_path):
    status, stdout, stderr = _call(["steady", "--V", V, "--out", tmp_path])
    assert status == 0, stderr
    x2 = (1.0 / V) ** 2
    expected = (1 - x2) / (2 * (1 - x2 / 3))  # docs/physics.md check 4, written out independently
    assert _p_c(stdout, "from the states") == pytest.approx(expected, abs=1e-5)
    assert _p_c(stdout, "closed form") == pytest.approx(expected, abs=1e-5)
    if V == 1.25:
        assert expected == pytest.approx(0.2288, abs=1e-4)  # the paper's number
    _check_png(tmp_path / "steady.png")


def test_spectra_peaks_at_predicted_lines(tmp_path):
    status, stdout, stderr = _call(["spectra", "--out", tmp_path])
    assert status == 0, stderr
    _check_png(tmp_path / "spectra.png")
    line = next(s for s in stdout.splitlines() if s.startswith("exchange only  C2"))
    found = [float(x) for x in line.split()[6:]]
    # Fig. 2 caption, phi = 0: C2 peaks at nu, 4 J_ex - nu, 4 J_ex + nu with nu = 1, J_ex = 2
    assert found == pytest.approx([1.0, 7.0, 9.0], abs=0.01)


# ---- bad input: one line, exit 2, no traceback -----------------------------------------------------
@pytest.mark.parametrize(
    "text, needle",
    [
        ("[model]\nlamda1 = 0.01\n", "model.lamda1"),
        ("[run]\nntraj = -5\n", "run.ntraj"),
        ("[model]\nV = -1.0\n", "model.V"),
        ("[protocol]\nmeasure_at = [600.0]\n", "protocol.measure_at"),
        ("[model\nV = 1\n", "not valid TOML"),
    ],
)
def test_bad_config_is_one_line(text, needle, tmp_path):
    cfg = tmp_path / "bad.toml"
    cfg.write_text(text)
    for command in ("run", "exact"):
        status, _, stderr = _call([command, cfg, "--out", tmp_path / "o"] if command == "run" else [command, cfg])
        assert status == 2
        assert needle in _one_error_line(stderr)
    assert not (tmp_path / "o" / "result.npz").exists()


def test_missing_config_and_bad_arguments(tmp_path):
    status, _, stderr = _call(["run", tmp_path / "nope.toml"])
    assert status == 2 and "nope.toml" in _one_error_line(stderr)
    for argv in (["run", "--ntraj", "-3"], ["run", "--ntraj", "many"], ["run", "--seed", "-1"], ["frobnicate"], []):
        status, _, stderr = _call(argv)
        assert status == 2, argv
        _one_error_line(stderr)


@pytest.mark.subprocess
def test_console_script_bad_config(tmp_path):
    """The installed `darkspin` script: exit 2, one line, no traceback."""
    cfg = tmp_path / "bad.toml"
    cfg.write_text("[model]\nlamda1 = 0.01\n")
    exe = Path(sys.executable).with_name("darkspin")
    if not exe.exists():
        pytest.skip("darkspin console script not installed next to the interpreter")
    proc = subprocess.run([str(exe), "run", str(cfg)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert "unknown key 'model.lamda1'" in _one_error_line(proc.stderr)


def test_missing_dask_is_one_line(small_config, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "dask.distributed", None)  # import raises ImportError
    status, _, stderr = _call(["run", small_config, "--workers", "2", "--out", tmp_path, "--no-progress"])
    assert status == 2
    assert "pip install darkspin[distributed]" in _one_error_line(stderr)


# ---- output problems -------------------------------------------------------------------------------
def test_unwritable_output_fails_before_simulating(small_config, tmp_path, monkeypatch):
    # we may be root (permission bits ignored), so use a path below a regular file
    blocker = tmp_path / "file.txt"
    blocker.write_text("x")
    work = []

    def spy(name, real):
        def call(*args, **kwargs):
            work.append(name)
            return real(*args, **kwargs)

        return call

    # what the command really calls, looked up at call time: the exact solver, simulate (as the package
    # exports it) and run_batch (every batch, and the kernels' warm-up)
    monkeypatch.setattr(
        master_equation_module,
        "solve_master_equation",
        spy("solve_master_equation", master_equation_module.solve_master_equation),
    )
    monkeypatch.setattr(darkspin.ensemble, "simulate", spy("simulate", darkspin.ensemble.simulate))
    monkeypatch.setattr(simulate_module, "run_batch", spy("run_batch", simulate_module.run_batch))
    status, _, stderr = _call(["run", small_config, "--out", blocker / "sub", "--no-progress"])
    assert status == 2
    assert "file.txt" in _one_error_line(stderr)
    assert work == []
    # the spies do see a run that gets going
    status, _, stderr = _call(["run", small_config, "--ntraj", 500, "--out", tmp_path / "ok", "--no-progress"])
    assert status == 0, stderr
    assert {"solve_master_equation", "simulate", "run_batch"} <= set(work)


def test_disk_full_keeps_finished_batches(small_config, tmp_path, monkeypatch):
    real_save = MonteCarloResult.save
    calls = []

    def save(self, path):
        calls.append(self.ntraj)
        if len(calls) >= 2:  # the first batch is written, then the disk is full
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real_save(self, path)

    monkeypatch.setattr(MonteCarloResult, "save", save)
    out = tmp_path / "full"
    status, _, stderr = _call(["run", small_config, "--out", out, "--no-progress"])
    assert status == 1
    assert "No space left on device" in _one_error_line(stderr)
    assert load(out / "result.npz").ntraj == 500


def test_ctrl_c_saves_finished_batches(small_config, tmp_path, monkeypatch):
    real_run_batch = simulate_module.run_batch

    def run_batch(*args, **kwargs):
        if args[3:5] == (1000, 1500):  # the third batch
            raise KeyboardInterrupt
        return real_run_batch(*args, **kwargs)

    monkeypatch.setattr(simulate_module, "run_batch", run_batch)
    out = tmp_path / "int"
    status, _, stderr = _call(["run", small_config, "--out", out, "--no-progress"])
    assert status == 130
    line = _one_error_line(stderr)
    assert line == f"darkspin: interrupted: 1000 trajectories saved to {out / 'result.npz'}"
    result = load(out / "result.npz")
    assert result.ntraj == 1000 and (result.stats["end_condition"] == "interrupted")
    assert np.array_equal(result.ranges, [[0, 1000]])
    summary = json.loads((out / "summary.json").read_text())
    assert summary["interrupted"] is True and summary["ntraj"] == 1000


RESUMABLE = """
[protocol]
measure_at = [100.0, 200.0]
t_final = 300.0
n_out = 31

[run]
ntraj = 1000000
seed = 11
batch_size = 20000
"""


def _saved_count(path: Path) -> int:
    try:
        return load(path).ntraj
    except ValueError:  # not there yet
        return 0


@pytest.mark.subprocess
def test_sigint_then_rerun_resumes_bit_identical(tmp_path, monkeypatch):
    """A real Ctrl-C in the middle of a run, then the same command again: it says it resumes, runs only
    the missing trajectories, and ends bit-identical to an uninterrupted run with the same seed. While
    the first run works, a second run into the same folder is refused."""
    cfg = tmp_path / "resumable.toml"
    cfg.write_text(RESUMABLE)
    out = tmp_path / "out"
    result_path = out / "result.npz"
    proc = _start_run(cfg, out)
    try:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline and proc.poll() is None and _saved_count(result_path) < 40000:
            time.sleep(0.05)
        assert proc.poll() is None, proc.stderr.read()
        # two runs, one folder: the second stops at once, before any work
        status, _, stderr = _call(["run", cfg, "--out", out, "--no-progress"])
        assert status == 2 and "in use by another darkspin command" in _one_error_line(stderr)
        proc.send_signal(signal.SIGINT)
        _, stderr = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, stderr
    line = _one_error_line(stderr)
    n = int(re.search(r"interrupted: (\d+) trajectories saved to", line).group(1))
    saved = load(result_path)
    assert (
        (saved.stats["end_condition"] == "interrupted")
        and saved.ntraj == n
        and 40000 <= n < 1_000_000
        and int(np.diff(saved.ranges, axis=1).sum()) == n  # finished batches and finished runs of the last
    )

    ran = []
    real_run_batch = simulate_module.run_batch

    def run_batch(model, protocol, seed, start, stop, threads=None, spec=None):
        ran.append((start, stop))
        return real_run_batch(model, protocol, seed, start, stop, threads, spec)

    monkeypatch.setattr(simulate_module, "run_batch", run_batch)
    status, stdout, stderr = _call(["run", cfg, "--out", out, "--no-progress"])
    assert status == 0, stderr
    assert f"resuming from result.npz: {n} of 1000000 trajectories done" in stdout
    batches = [r for r in ran if r != (0, 1)]  # (0, 1): the kernels' warm-up, summed nowhere
    assert sum(b - a for a, b in batches) == 1_000_000 - n
    assert all(a >= b0 or b <= a0 for a, b in batches for a0, b0 in saved.ranges)  # none ran twice
    resumed = load(result_path)
    assert resumed.ntraj == 1_000_000 and not (resumed.stats["end_condition"] == "interrupted")
    summary = json.loads((out / "summary.json").read_text())
    assert summary["resumed_from"] == n and summary["ntraj"] == 1_000_000 and summary["interrupted"] is False

    monkeypatch.setattr(simulate_module, "run_batch", real_run_batch)
    reference = darkspin.ensemble.simulate(
        resumed.model, resumed.protocol, 1_000_000, 11, batch_size=50000, progress=False, distributions=True
    )
    assert resumed.sums.identical(reference.sums)


# ---- one folder, one run; a rerun never loses saved work ---------------------------------------
def _copy_result(small_run, folder: Path) -> Path:
    *_, out = small_run
    folder.mkdir()
    (folder / "result.npz").write_bytes((out / "result.npz").read_bytes())
    return folder / "result.npz"


def test_rerun_with_fewer_trajectories_keeps_the_saved_ones(small_run, small_config, tmp_path):
    path = _copy_result(small_run, tmp_path / "more")
    before = load(path)
    status, stdout, stderr = _call(["run", small_config, "--ntraj", 1000, "--out", tmp_path / "more", "--no-progress"])
    assert status == 0, stderr
    assert "already holds 2000 trajectories (1000 asked): nothing left to run" in stdout
    after = load(path)
    assert after.ntraj == 2000 and after.sums.identical(before.sums)
    assert json.loads((tmp_path / "more" / "summary.json").read_text())["ntraj"] == 2000


def test_second_ctrl_c_never_lowers_the_saved_count(small_run, small_config, tmp_path, monkeypatch):
    """A rerun interrupted in its first new batch keeps everything saved before (the red team once saw
    20 000 left where 95 000 had been saved)."""
    path = _copy_result(small_run, tmp_path / "again")
    before = load(path)

    def run_batch(model, protocol, seed, start, stop, threads=None, spec=None):
        if (start, stop) != (0, 1):  # let the warm-up through; interrupt the first real batch
            raise KeyboardInterrupt
        return real_run_batch(model, protocol, seed, start, stop, threads, spec)

    real_run_batch = simulate_module.run_batch
    monkeypatch.setattr(simulate_module, "run_batch", run_batch)
    status, _, stderr = _call(["run", small_config, "--ntraj", 4000, "--out", tmp_path / "again", "--no-progress"])
    assert status == 130
    assert "interrupted: 2000 trajectories saved" in _one_error_line(stderr)
    after = load(path)
    assert after.ntraj == 2000 and after.sums.identical(before.sums) and (after.stats["end_condition"] == "interrupted")


@pytest.mark.parametrize(
    "config_text, extra, needle",
    [
        (SMALL, ["--seed", 8], "run.seed (or --seed) is 7 there, 8 here"),
        (SMALL + "[model]\nV = 1.3\n", [], "model.V is 1.25 there, 1.3 here"),
        (SMALL.replace("n_out = 61", "n_out = 31"), [], "the output times differ"),
        (SMALL.replace("[20.0, 40.0]", "[20.0, 50.0]"), [], "protocol.measure_at is [20.0, 40.0] there"),
    ],
)
def test_rerun_with_another_config_is_refused(small_run, tmp_path, config_text, extra, needle):
    path = _copy_result(small_run, tmp_path / "other")
    data = path.read_bytes()
    cfg = tmp_path / "other.toml"
    cfg.write_text(config_text)
    status, _, stderr = _call(["run", cfg, *extra, "--out", tmp_path / "other", "--no-progress"])
    assert status == 2
    line = _one_error_line(stderr)
    assert needle in line and "use another --out" in line and str(path) in line
    assert path.read_bytes() == data  # left alone
    assert not (tmp_path / "other" / "summary.json").exists()


def test_unreadable_result_in_out_is_refused(small_config, tmp_path):
    out = tmp_path / "junk"
    out.mkdir()
    (out / "result.npz").write_bytes(b"not a zip file at all")
    status, _, stderr = _call(["run", small_config, "--out", out, "--no-progress"])
    assert status == 2
    assert "cannot be resumed" in _one_error_line(stderr)
    assert (out / "result.npz").read_bytes() == b"not a zip file at all"


def test_locked_folder_is_refused(small_run, small_config, tmp_path):
    """Another command holding the folder's lock: run and show --out stop at once, writing nothing."""
    fcntl = pytest.importorskip("fcntl")
    out = tmp_path / "busy"
    out.mkdir()
    with open(out / ".darkspin.lock", "a") as fh:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        for argv in (
            ["run", small_config, "--out", out, "--no-progress"],
            ["show", small_run[3] / "result.npz", "--out", out],
        ):
            status, _, stderr = _call(argv)
            assert status == 2, argv
            assert "in use by another darkspin command" in _one_error_line(stderr)
        assert sorted(p.name for p in out.iterdir()) == [".darkspin.lock"]
    # once released, the folder is usable again
    status, _, stderr = _call(["run", small_config, "--ntraj", 500, "--out", out, "--no-progress"])
    assert status == 0, stderr


# ---- Ctrl-C while the kernels compile --------------------------------------------------------------
# Numba compiles (NUMBA_CACHE_DIR empty) or loads the kernels first. A KeyboardInterrupt raised inside
# that lands in llvmlite's ctypes callbacks and finalizers, which print a traceback and swallow it: the
# run then went on to exit 0 (2 of 8 tries in the red team's hands).
_INJECT = """
import os, signal, sys
from numba.core import codegen

hook = codegen.CPUCodeLibrary._object_compiled_hook.__func__

def first_object_compiled(cls, ll_module, buf):
    os.kill(os.getpid(), signal.SIGINT)  # Ctrl-C exactly inside llvmlite's ctypes callback
    return hook(cls, ll_module, buf)

codegen.CPUCodeLibrary._object_compiled_hook = classmethod(first_object_compiled)
from darkspin.analysis.cli import main
raise SystemExit(main(sys.argv[1:]))
"""


def _sigint_default():
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@pytest.mark.subprocess
def test_ctrl_c_inside_compilation_callback_exits_130(small_config, tmp_path):
    out = tmp_path / "out"
    env = dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path / "numba-cache"))
    proc = subprocess.run(
        [sys.executable, "-c", _INJECT, "run", str(small_config), "--out", str(out), "--no-progress"],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
        preexec_fn=_sigint_default,
    )
    assert proc.returncode == 130, proc.stderr
    assert _one_error_line(proc.stderr) == "darkspin: interrupted (while compiling the kernels; nothing was written)"
    assert not (out / "result.npz").exists()


@pytest.mark.subprocess
def test_ctrl_c_while_compiling_exits_130(small_config, tmp_path):
    """Real SIGINTs at a few moments of a cold compilation (once Numba has written its first cache file,
    so the process is past its imports): exit 130 and one line every time."""
    for k, extra in enumerate((0.0, 1.0, 2.0)):
        cache = tmp_path / f"numba-cache-{k}"
        cache.mkdir()
        env = dict(os.environ, NUMBA_CACHE_DIR=str(cache))
        proc = _start_run(small_config, tmp_path / f"out-{k}", env=env)
        try:
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline and proc.poll() is None and not any(cache.rglob("*.nb*")):
                time.sleep(0.05)
            time.sleep(extra)
            assert proc.poll() is None, proc.stderr.read()
            proc.send_signal(signal.SIGINT)
            _, stderr = proc.communicate(timeout=120)
        finally:
            if proc.poll() is None:
                proc.kill()
        assert proc.returncode == 130, (extra, stderr)
        assert _one_error_line(stderr).startswith("darkspin: interrupted"), extra


# ---- output that cannot be written ---------------------------------------------------------------
def test_disk_full_while_saving_a_figure_names_it(tmp_path, monkeypatch):
    from matplotlib.figure import Figure

    def savefig(self, fname, *args, **kwargs):  # writes a little, then the disk is full
        if isinstance(fname, (str, os.PathLike)):
            with open(fname, "wb") as fh:
                fh.write(PNG_SIGNATURE)
        else:
            fname.write(PNG_SIGNATURE)
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(Figure, "savefig", savefig)
    out = tmp_path / "full"
    status, _, stderr = _call(["steady", "--out", out])
    assert status == 1
    line = _one_error_line(stderr)
    assert str(out / "steady.png") in line and "No space left on device" in line
    assert sorted(p.name for p in out.iterdir()) == [".darkspin.lock"]  # no truncated figure, no temp file


@pytest.mark.subprocess
def test_closed_stdout_pipe_ends_quietly():
    """`darkspin exact | head -0`: the reader is gone before the first line; no message, exit 141."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "darkspin.analysis.cli", "exact"], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    proc.stdout.close()
    stderr = proc.stderr.read()
    proc.wait(timeout=120)
    assert proc.returncode == 141, stderr
    assert stderr == b""


def test_exact_figures_from_the_exact_solution_alone(tmp_path):
    status, stdout, stderr = _call(["exact", "--figures", "--out", tmp_path / "ex"])
    assert status == 0, stderr
    _check_png(tmp_path / "ex" / "protocol.png")
    assert f"wrote {tmp_path / 'ex' / 'protocol.png'}" in stdout


# ---- instruments and rules ---------------------------------------------------------------------------
INSTRUMENTS = SMALL.replace(
    "[run]",
    """readout_error = [0.0, 0.1]
feedback = { "+1" = "flip1" }
postselect = "last"
rounds = [{ observable = "xx" }, {}]

[run]""",
)


def test_run_with_instruments_prints_and_saves_them(tmp_path):
    cfg = tmp_path / "inst.toml"
    cfg.write_text(INSTRUMENTS)
    out = tmp_path / "out"
    status, stdout, stderr = _call(["run", cfg, "--out", out, "--no-progress"])
    assert status == 0, stderr
    rule = (
        "Rounds: round 1: xx, readout error eps+ 0, eps- 0.1, on +1 apply flip1; round 2: zz, readout error "
        "eps+ 0, eps- 0.1, on +1 apply flip1; post-select runs whose latest record is -1"
    )
    assert rule in stdout and "record counts: G =" in stdout
    summary = json.loads((out / "summary.json").read_text())
    assert summary["protocol"]["postselect"] == "last"
    assert summary["comparison"]["records"]["dof"] >= 1
    saved = load(out / "result.npz")
    assert saved.protocol.postselect == "last" and saved.record_counts.sum() == saved.ntraj
    assert saved.protocol.measurements[0].readout_error == (0.0, 0.1)
    status, stdout, _ = _call(["exact", cfg])
    assert status == 0 and rule in stdout
    # the same folder with another rule or another readout error: refused, nothing run, file untouched
    before = (out / "result.npz").read_bytes()
    for change in (('postselect = "last"', 'postselect = "all"'), ("[0.0, 0.1]", "[0.0, 0.2]")):
        other = tmp_path / "other.toml"
        other.write_text(INSTRUMENTS.replace(*change))
        status, stdout, stderr = _call(["run", other, "--out", out, "--no-progress"])
        line = _one_error_line(stderr)
        assert status == 2 and "holds another run" in line and ("postselect" in line or "instruments" in line)
        assert (out / "result.npz").read_bytes() == before
