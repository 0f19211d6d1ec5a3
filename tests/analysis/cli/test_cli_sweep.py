"""``darkspin sweep`` end to end on a 2 x 3 grid, ``--set`` overrides for run / exact / sweep, and bad axes
or overrides as one line with exit status 2. Exact-only sweeps keep this to a few seconds; one small run
with trajectories checks the Monte Carlo columns and the resume."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import numpy as np
import pytest
from cli_calls import call as _call
from cli_calls import one_error_line as _one_error_line

import darkspin as ds
from darkspin.trajectories.operators import basis_state

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
STUDY = """
[protocol]
measure_at = [20.0, 40.0]
t_final = 60.0
n_out = 61

[run]
seed = 5

[sweep]
lam2 = [0.0126, 0.011]
readout_error = [0.0, 0.05, 0.1]
"""
SMALL_RUN = """
[protocol]
measure_at = [20.0, 40.0]
t_final = 60.0
n_out = 61
"""


def _read_csv(path: Path) -> list[dict]:
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def _singlet_post(rho) -> float:
    s = basis_state("S")
    return float(np.real(s.conj() @ rho @ s))


def _study(tmp_path: Path, text: str = STUDY, name: str = "study.toml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def _exact(lam2: float, eps: float, measure_at=(20.0, 40.0)):
    protocol = ds.Protocol("ud", measure_at, np.linspace(0.0, 60.0, 61), measurement=ds.Measurement("zz", eps))
    return ds.solve_master_equation(ds.SpinPair(lam2=lam2), protocol)


def test_sweep_writes_csv_summary_and_heatmaps(tmp_path):
    out = tmp_path / "out"
    status, stdout, stderr = _call(["sweep", _study(tmp_path), "--out", out])
    assert status == 0, stderr
    rows = _read_csv(out / "sweep.csv")
    assert list(rows[0]) == [
        "lam2",
        "readout_error",
        "fidelity_post",
        "yield",
        "p_success_1",
        "p_success_2",
        "concurrence_post",
    ]
    grid = [(lam, e) for lam in (0.0126, 0.011) for e in (0.0, 0.05, 0.1)]
    assert [(float(r["lam2"]), float(r["readout_error"])) for r in rows] == grid
    for row, (lam, e) in zip(rows, grid, strict=True):
        ex = _exact(lam, e)
        assert abs(float(row["fidelity_post"]) - _singlet_post(ex.rho_post[-1])) <= 1e-12
        assert abs(float(row["yield"]) - ex.p_cumulative[-1]) <= 1e-12
        assert abs(float(row["p_success_2"]) - ex.p_success[1]) <= 1e-12
    assert (out / "sweep.png").read_bytes()[:8] == PNG_SIGNATURE
    summary = json.loads((out / "summary.json").read_text())
    assert summary["points"] == 6 and summary["ntraj"] == 0 and summary["files"][-1] == "summary.json"
    assert summary["axes"] == {"lam2": ["0.0126", "0.011"], "readout_error": ["0.0", "0.05", "0.1"]}
    assert "fidelity_post" in stdout.splitlines()[0]


def test_sweep_with_trajectories_and_resume(tmp_path):
    out = tmp_path / "out"
    study = _study(tmp_path, STUDY.replace("readout_error = [0.0, 0.05, 0.1]", "readout_error = [0.05]"))
    status, _, stderr = _call(["sweep", study, "--out", out, "--ntraj", 1500, "--no-progress"])
    assert status == 0, stderr
    rows = _read_csv(out / "sweep.csv")
    assert len(rows) == 2 and all(int(r["mc_ntraj"]) == 1500 for r in rows)
    for r in rows:
        for q in ("fidelity_post", "yield", "p_success_1", "p_success_2"):
            z = abs(float(r[f"mc_{q}"]) - float(r[q])) / float(r[f"mc_{q}_se"])
            assert z < 5, (q, z)
    first = (out / "sweep.csv").read_text()
    # a rerun finds every point finished in points/ and writes the same table
    status, _, stderr = _call(["sweep", study, "--out", out, "--ntraj", 1500, "--no-progress"])
    assert status == 0, stderr
    assert (out / "sweep.csv").read_text() == first
    # a different ntraj is another sweep: refused, one line
    status, _, stderr = _call(["sweep", study, "--out", out, "--ntraj", 1000, "--no-progress"])
    assert status == 2 and "holds another sweep" in _one_error_line(stderr)


def test_one_axis_line_plot_and_set_override(tmp_path):
    out = tmp_path / "out"
    study = _study(tmp_path, STUDY.replace("lam2 = [0.0126, 0.011]\n", ""))
    status, _, stderr = _call(["sweep", study, "--out", out, "--set", "model.lam2=0.011"])
    assert status == 0, stderr
    rows = _read_csv(out / "sweep.csv")
    assert [float(r["readout_error"]) for r in rows] == [0.0, 0.05, 0.1]
    assert abs(float(rows[2]["fidelity_post"]) - _singlet_post(_exact(0.011, 0.1).rho_post[-1])) <= 1e-12
    assert (out / "sweep.png").read_bytes()[:8] == PNG_SIGNATURE


def test_set_overrides_change_exact_and_run(tmp_path):
    config = _study(tmp_path, SMALL_RUN, "run.toml")
    status, base, stderr = _call(["exact", config])
    assert status == 0, stderr
    status, changed, stderr = _call(["exact", config, "--set", "model.lam2=0.01", "--set", "protocol.measure_at=[30]"])
    assert status == 0, stderr
    assert base != changed
    ex = ds.solve_master_equation(ds.SpinPair(lam2=0.01), ds.Protocol("ud", [30.0], np.linspace(0.0, 60.0, 61)))
    assert f"{100 * ex.p_success[0]:.2f}%" in changed  # the table shows the new model's success probability
    assert "measure at [30.0]" in changed
    out = tmp_path / "run"
    status, _, stderr = _call(
        ["run", config, "--out", out, "--no-progress", "--set", "run.ntraj=400", "--set", "model.lam2=0.01"]
    )
    assert status == 0, stderr
    mc = ds.load(out / "result.npz")
    assert mc.ntraj == 400 and mc.model.lam2 == 0.01


@pytest.mark.parametrize(
    ("edit", "extra", "needle"),
    [
        (("lam2 = [0.0126, 0.011]", "lamda2 = [0.0126, 0.011]"), [], "unknown key 'sweep.lamda2'"),
        (("lam2 = [0.0126, 0.011]", "lam2 = []"), [], "axis 'lam2' is empty"),
        (("readout_error = [0.0, 0.05, 0.1]", "readout_error = [0.0, 1.5]"), [], "probability in [0, 1], got 1.5"),
        (("lam2 = [0.0126, 0.011]", "lam2 = [0.0126, -0.011]"), [], "lam2 must be >= 0, got -0.011"),
        (("lam2 = [0.0126, 0.011]", "lam2 = 0.0126"), [], "sweep.lam2 must be a list of values"),
        (("[sweep]", "[sweep]\npaired = true\nzip = true"), [], "sweep.paired or its older name sweep.zip, not both"),
        (("[sweep]", "[sweep]\npaired = 1"), [], "sweep.paired must be true or false, got 1"),
        (("", ""), ["--set", "model.lamda=1"], "unknown key 'model.lamda'"),
        (("", ""), ["--set", "modle.lam2=1"], "unknown section 'modle'"),
        (("", ""), ["--set", "model.lam2"], "--set expects section.key=value"),
        (("", ""), ["--set", "model.lam2=abc"], "model.lam2 must be a real number, got 'abc'"),
    ],
)
def test_bad_axes_and_overrides_one_line_exit_2(tmp_path, edit, extra, needle):
    out = tmp_path / "out"
    status, _, stderr = _call(["sweep", _study(tmp_path, STUDY.replace(*edit)), "--out", out, *extra])
    assert status == 2
    assert needle in _one_error_line(stderr)
    assert not out.exists()  # rejected before the output folder is made


@pytest.mark.parametrize("command", ["run", "exact"])
def test_bad_set_on_run_and_exact(tmp_path, command):
    status, _, stderr = _call([command, "--set", "protocol.measure_at=[100, 900]", "--out", tmp_path / "o"])
    assert status == 2
    assert "protocol.measure_at must lie in [0, protocol.t_final]" in _one_error_line(stderr)


@pytest.mark.parametrize(("option", "paired"), [("", False), ("paired = true", True), ("zip = true", True)])
def test_study_paired_option_and_its_older_name(tmp_path, option, paired):
    from darkspin.analysis.config_study import load_study

    study = load_study(_study(tmp_path, STUDY.replace("[sweep]", f"[sweep]\n{option}")))
    assert study.paired is paired


def test_study_without_sweep_section(tmp_path):
    status, _, stderr = _call(["sweep", _study(tmp_path, SMALL_RUN)])
    assert status == 2 and "no [sweep] section" in _one_error_line(stderr)


def test_summary_nan_is_null(tmp_path):
    out = tmp_path / "out"
    study = _study(tmp_path, STUDY.replace("readout_error = [0.0, 0.05, 0.1]", "rounds = [1, 2]"))
    status, _, stderr = _call(["sweep", study, "--out", out])
    assert status == 0, stderr
    summary = json.loads((out / "summary.json").read_text())
    assert summary["columns"]["p_success_2"][0] is None  # one round: no second round
    rows = _read_csv(out / "sweep.csv")
    assert math.isnan(float(rows[0]["p_success_2"])) and rows[0]["rounds"] == "1"


def test_cli_sweep_initial_error_names_the_sweep_key(tmp_path):
    study = tmp_path / "s.toml"
    study.write_text('[protocol]\nn_out = 11\n[sweep]\ninitial = ["ud", "qq"]\n')
    status, _, err = _call(["sweep", study, "--out", tmp_path / "out", "--no-progress"])
    assert status == 2
    err = err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("darkspin: ") and "sweep.initial[1]" in err[0], err
    assert not (tmp_path / "out").exists()
