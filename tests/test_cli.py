"""The darkspin command line: each command end to end, its files, and one-line errors with exit codes.

A short protocol (2 rounds, t_final = 60, 2000 trajectories in batches of 500) keeps this fast: ~30-40 s
in all on a busy 2-core machine once Numba's cache is warm (the subprocess tests pay ~3 s of imports each).
"""

from __future__ import annotations

import contextlib
import errno
import io
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

import darkspin.ensemble
from darkspin.analysis.cli import main
from darkspin.analysis.report import SUMMARY_KEYS
from darkspin.ensemble import load
from darkspin.ensemble import master_equation as master_equation_module
from darkspin.ensemble import simulation as simulate_module
from darkspin.ensemble.result import MonteCarloResult

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


def _call(argv) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        status = main([str(a) for a in argv])
    return status, out.getvalue(), err.getvalue()


def _one_error_line(err: str) -> str:
    lines = err.strip("\n").splitlines()
    assert len(lines) == 1, f"expected one line on stderr, got {err!r}"
    assert "Traceback" not in err
    assert lines[0].startswith("darkspin: ")
    return lines[0]


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
    assert result.ntraj == 2000 and result.seed == 7 and not result.interrupted
    text = (out / "postselection.txt").read_text()
    assert "concurrence_post_exact" in text and "eof_post" in text and "verdict" in text
    assert "verdict" in stdout and "p_success" in stdout


def test_run_summary_has_documented_keys(small_run):
    *_, out = small_run
    summary = json.loads((out / "summary.json").read_text())
    assert set(SUMMARY_KEYS) <= set(summary)
    assert summary["protocol"] == {"initial": "ud", "measure_at": [20.0, 40.0], "t_final": 60.0, "n_out": 61}
    assert summary["model"]["V"] == 1.25 and summary["ntraj"] == 2000 and summary["seed"] == 7
    assert summary["interrupted"] is False and summary["n_jumps"] > 0
    assert {"verdict", "max_z", "max_trace_distance"} <= set(summary["comparison"])
    cols = summary["postselection"]["columns"]
    for name in ("p_success", "p_success_exact", "concurrence_post", "concurrence_post_exact",
                 "eof_post", "eof_post_exact"):
        assert len(cols[name]) == 2, name
    # trajectories and master equation of the same protocol: binomial z of each round below 5
    for k, n, p in zip(cols["successes"], cols["attempts"], cols["p_success_exact"]):
        assert abs(k - n * p) / math.sqrt(n * p * (1 - p)) < 5


def test_run_pdf_and_python_m(small_config, tmp_path):
    """A real process (python -m analysis.cli): exit 0, no traceback, figures in the asked format."""
    out = tmp_path / "pdf"
    proc = subprocess.run([sys.executable, "-m", "darkspin.analysis.cli", "run", str(small_config), "--ntraj", "1000",
                           "--out", str(out), "--format", "pdf", "--no-progress"],
                          capture_output=True, text=True, timeout=300)
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
    assert all(a > b >= 0.5 for a, b in zip(p_cum, p_cum[1:]))
    assert p_cum[-1] < 0.505


def _p_c(stdout: str, which: str) -> float:
    return float(re.search(rf"p_c {which}:\s+([0-9.]+)", stdout).group(1))


@pytest.mark.parametrize("V", [2.5, 1.25])
def test_steady_critical_weight(V, tmp_path):
    status, stdout, stderr = _call(["steady", "--V", V, "--out", tmp_path])
    assert status == 0, stderr
    x2 = (1.0 / V) ** 2
    expected = (1 - x2) / (2 * (1 - x2 / 3))  # physics.md check 4, written out independently
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
@pytest.mark.parametrize("text, needle", [
    ("[model]\nlamda1 = 0.01\n", "model.lamda1"),
    ("[run]\nntraj = -5\n", "run.ntraj"),
    ("[model]\nV = -1.0\n", "model.V"),
    ("[protocol]\nmeasure_at = [600.0]\n", "protocol.measure_at"),
    ("[model\nV = 1\n", "not valid TOML"),
])
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
    for argv in (["run", "--ntraj", "-3"], ["run", "--ntraj", "many"], ["run", "--seed", "-1"],
                 ["frobnicate"], []):
        status, _, stderr = _call(argv)
        assert status == 2, argv
        _one_error_line(stderr)


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
    monkeypatch.setattr(master_equation_module, "solve_master_equation",
                        spy("solve_master_equation", master_equation_module.solve_master_equation))
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
    assert result.ntraj == 1000 and result.interrupted
    assert np.array_equal(result.ranges, [[0, 1000]])
    summary = json.loads((out / "summary.json").read_text())
    assert summary["interrupted"] is True and summary["ntraj"] == 1000


def test_real_sigint_in_a_process(tmp_path):
    """A real Ctrl-C (SIGINT) in the middle of a long run: exit 130, one line, finished batches kept."""
    # big batches: the signal then mostly lands inside a Numba kernel, the case that once leaked a
    # SystemError instead of a KeyboardInterrupt
    cfg = tmp_path / "big_batches.toml"
    cfg.write_text(SMALL.replace("batch_size = 500", "batch_size = 20000"))
    out = tmp_path / "sigint"
    result_path = out / "result.npz"
    proc = subprocess.Popen(
        [sys.executable, "-m", "darkspin.analysis.cli", "run", str(cfg), "--ntraj", "100000000",
         "--out", str(out), "--no-progress"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        # a background shell may hand us SIGINT ignored; the child must see the default
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                if load(result_path).ntraj >= 40000:  # at least two batches are in
                    break
            except ValueError:
                pass
            time.sleep(0.2)
        assert proc.poll() is None, proc.stderr.read()
        proc.send_signal(signal.SIGINT)
        _, stderr = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, stderr
    line = _one_error_line(stderr)
    n = int(re.search(r"interrupted: (\d+) trajectories saved to", line).group(1))
    result = load(result_path)
    assert result.interrupted and result.ntraj == n >= 40000 and n % 20000 == 0
