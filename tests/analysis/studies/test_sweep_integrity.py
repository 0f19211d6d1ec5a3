"""A sweep folder's stored points are checked before they are trusted: an exact row edited by hand (valid
JSON, another number) or without its checksum is recomputed with a warning naming its file, and a Monte
Carlo point (.npz) edited the same way is refused by its own checksum (red-team issue "Nothing silent")."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest

import darkspin as ds

SHORT = ds.Protocol("ud", [20.0, 40.0], np.linspace(0.0, 60.0, 61))
AXES = {"lam2": [0.0126, 0.011], "readout_error": [0.0, 0.05]}


def _same(a: ds.SweepTable, b: ds.SweepTable) -> None:
    assert a.names == b.names
    for name in a.names:
        assert a[name].tobytes() == b[name].tobytes(), name


def _edit_json(path, change) -> None:
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data))  # still valid JSON: only a checksum can tell


def test_edited_exact_value_is_recomputed_and_named(tmp_path):
    first = ds.sweep(ds.SpinPair(), SHORT, AXES, directory=tmp_path, progress=False)
    file = tmp_path / "point-000001.json"
    _edit_json(file, lambda d: d["exact"].__setitem__("fidelity_post", 0.5))
    with pytest.warns(UserWarning, match=r"point-000001\.json.*checksum") as record:
        resumed = ds.sweep(ds.SpinPair(), SHORT, AXES, directory=tmp_path, progress=False)
    assert sum("point-" in str(w.message) for w in record) == 1  # only the edited file is named
    assert resumed["fidelity_post"][1] != 0.5
    _same(first, resumed)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # rewritten: the next resume trusts it silently
        _same(first, ds.sweep(ds.SpinPair(), SHORT, AXES, directory=tmp_path, progress=False))


def test_point_file_without_checksum_is_recomputed_and_named(tmp_path):
    first = ds.sweep(ds.SpinPair(), SHORT, AXES, directory=tmp_path, progress=False)
    file = tmp_path / "point-000002.json"

    def forge(d):
        d.pop("sha256", None)
        d["exact"]["yield"] = 0.25

    _edit_json(file, forge)
    with pytest.warns(UserWarning, match=r"point-000002\.json.*no checksum"):
        resumed = ds.sweep(ds.SpinPair(), SHORT, AXES, directory=tmp_path, progress=False)
    _same(first, resumed)


def test_edited_exact_value_with_trajectories_as_in_the_report(tmp_path):
    kwargs = dict(ntraj=2000, seed=1, directory=tmp_path, progress=False)
    first = ds.sweep(ds.SpinPair(), SHORT, AXES, **kwargs)
    _edit_json(tmp_path / "point-000001.json", lambda d: d["exact"].__setitem__("fidelity_post", 0.5))
    with pytest.warns(UserWarning, match=r"point-000001\.json"):
        resumed = ds.sweep(ds.SpinPair(), SHORT, AXES, **kwargs)
    _same(first, resumed)


def test_edited_monte_carlo_point_is_refused_naming_its_file(tmp_path):
    kwargs = dict(ntraj=500, seed=1, directory=tmp_path, progress=False)
    ds.sweep(ds.SpinPair(), SHORT, {"lam2": [0.0126, 0.011]}, **kwargs)
    file = tmp_path / "point-000001.npz"
    with np.load(file) as z:
        members = {k: z[k] for k in z.files}
    members["n_post"] = members["n_post"].copy()
    members["n_post"][-1] -= 1  # a plausible count, the old checksum kept
    with open(file, "wb") as fh:
        np.savez(fh, **members)
    with pytest.raises(ValueError, match=r"point-000001\.npz.*checksum"):
        ds.sweep(ds.SpinPair(), SHORT, {"lam2": [0.0126, 0.011]}, **kwargs)
