"""``darkspin sweep`` on a full disk names the file it could not write (as ``run`` does), and a new start
removes the temporary files a killed save left in its output and points folders: only files named with
atomic.TEMPORARY_PREFIX, older than the start, directly in those folders (red-team issue "Nothing silent")."""

from __future__ import annotations

import errno
import importlib
import os
import time

from cli_calls import call as _call
from cli_calls import one_error_line as _one_error_line

from darkspin.ensemble import MonteCarloResult, load
from darkspin.ensemble.montecarlo.atomic import TEMPORARY_PREFIX

storage_module = importlib.import_module("darkspin.analysis.studies.storage")

STUDY = """
[protocol]
measure_at = [20.0, 40.0]
t_final = 60.0
n_out = 61

[run]
seed = 5

[sweep]
lam2 = [0.0126, 0.011]
"""


def _study(tmp_path):
    path = tmp_path / "study.toml"
    path.write_text(STUDY)
    return path


def _disk_full(*args, **kwargs):
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))  # as a low-level write raises it: no file named


def test_disk_full_saving_a_monte_carlo_point_names_the_file(tmp_path, monkeypatch):
    real_save = MonteCarloResult.save

    def save(self, path):
        if os.path.basename(path) == "point-000001.npz":  # point 0 is written, then the disk is full
            _disk_full()
        return real_save(self, path)

    monkeypatch.setattr(MonteCarloResult, "save", save)
    out = tmp_path / "full"
    status, _, stderr = _call(["sweep", _study(tmp_path), "--ntraj", 300, "--out", out, "--no-progress"])
    assert status == 1
    line = _one_error_line(stderr)
    assert str(out / "points" / "point-000001.npz") in line and "No space left on device" in line
    assert load(out / "points" / "point-000000.npz").ntraj == 300  # the finished point is kept


def test_disk_full_saving_an_exact_point_names_the_file(tmp_path, monkeypatch):
    real_write = storage_module.atomic_write

    def write(path, content):
        if os.path.basename(path).startswith("point-"):  # the manifest is written, then the disk is full
            _disk_full()
        return real_write(path, content)

    monkeypatch.setattr(storage_module, "atomic_write", write)
    out = tmp_path / "full"
    status, _, stderr = _call(["sweep", _study(tmp_path), "--out", out, "--no-progress"])
    assert status == 1
    line = _one_error_line(stderr)
    assert str(out / "points" / "point-000000.json") in line and "No space left on device" in line


def _touch(path, age_s: float) -> None:
    path.write_bytes(b"half a file")
    t = time.time() - age_s
    os.utime(path, (t, t))


def test_a_new_start_removes_stale_temporary_files(tmp_path):
    out = tmp_path / "out"
    status, _, stderr = _call(["sweep", _study(tmp_path), "--out", out])
    assert status == 0, stderr
    points = out / "points"
    stale = [
        points / f"{TEMPORARY_PREFIX}point-000001.npz.0a1b2c3d.part",  # left by a kill -9 in a save
        out / f"{TEMPORARY_PREFIX}sweep.csv.4e5f6a7b.part",
    ]
    for path in stale:
        _touch(path, 3600)
    kept = [
        points / "notes.part",  # not ours
        out / f"keep{TEMPORARY_PREFIX}x.part",  # the prefix must start the name
        points / f"{TEMPORARY_PREFIX}point-000000.npz.89abcdef.part",  # newer than the start: in use
    ]
    for path in kept[:2]:
        _touch(path, 3600)
    _touch(kept[2], -3600)
    inner = points / "inner"
    inner.mkdir()
    deeper = inner / f"{TEMPORARY_PREFIX}other.part"  # only the folders themselves, not below them
    _touch(deeper, 3600)
    folder_named_so = out / f"{TEMPORARY_PREFIX}folder"
    folder_named_so.mkdir()
    status, _, stderr = _call(["sweep", _study(tmp_path), "--out", out])
    assert status == 0, stderr
    assert not any(p.exists() for p in stale)
    assert all(p.exists() for p in kept) and deeper.exists() and folder_named_so.is_dir()
    assert "removed 2 temporary files" in stderr  # said, not silent
    for path in stale:
        assert path.name in stderr
