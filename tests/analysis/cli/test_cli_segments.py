"""[[protocol.segments]] and [[protocol.gates]] in a config, for run, exact, sweep and optimize (issue 21)."""

from __future__ import annotations

import numpy as np
import pytest
from cli_calls import call, one_error_line

import darkspin as ds
from darkspin.analysis.config import load_config

PULSED = """
[protocol]
measure_at = [20.0, 40.0]
t_final = 60.0
n_out = 7

[[protocol.segments]]
t = 30.0
lam1 = 0.05
lam2 = 0.05

[[protocol.gates]]
t = 25.0
gate = "rx12(pi/2)"

[[protocol.gates]]
t = 45.0
gate = [[1, 0, 0, 0], [0, 0, 1, 0], [0, 1, 0, 0], [0, 0, 0, 1]]

[run]
ntraj = 400
"""


def _write(tmp_path, text, name="pulsed.toml"):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_config_builds_the_protocol(tmp_path):
    cfg = load_config(_write(tmp_path, PULSED))
    p = cfg.protocol
    assert p.segment_at.tolist() == [30.0] and p.gate_at.tolist() == [25.0, 45.0]
    assert p.segments[0][1] == cfg.model.replace(lam1=0.05, lam2=0.05)
    swap = np.eye(4)[[0, 2, 1, 3]]
    assert np.array_equal(p.gate_unitaries[1], swap)
    ref = ds.Protocol(
        "ud", (20.0, 40.0), np.linspace(0, 60, 7), segments=p.segments, gates=[(25.0, "rx12(pi/2)"), (45.0, swap)]
    )
    assert p.same_as(ref)


@pytest.mark.parametrize(
    ("edit", "needle"),
    [
        (("t = 30.0", "t = 70.0"), r"protocol.segments[0] time must lie in [0, t_final] = [0, 60.0], got 70.0"),
        (("t = 45.0", "t = 15.0"), "protocol.gates times must be sorted (non-decreasing): gates[1] at t = 15.0"),
        (("[0, 0, 0, 1]]", "[0, 0, 0, 2]]"), "protocol.gates[1] must be unitary"),
        (("lam2 = 0.05", "lam3 = 0.05"), "unknown key 'protocol.segments[0].lam3'"),
        (('gate = "rx12(pi/2)"', 'gate = "rq1(1)"'), "protocol.gates[0] must be 'flip1', 'flip2', a rotation"),
    ],
)
@pytest.mark.parametrize("command", ["exact", "run", "sweep", "optimize"])
def test_bad_items_one_line_exit_2(tmp_path, edit, needle, command):
    text = PULSED.replace(*edit)
    if command == "sweep":
        text += '\n[sweep]\n"gate_angle[0]" = [0.5, 1.0]\n'
    cfg = _write(tmp_path, text)
    out = tmp_path / "out"
    argv = [command, cfg] + (["--out", out] if command in ("run", "sweep") else [])
    status, _, err = call(argv)
    assert status == 2
    assert needle in one_error_line(err)
    assert not out.exists()  # before any work


def test_exact_and_sweep_and_optimize_run(tmp_path):
    cfg = _write(tmp_path, PULSED + '\n[sweep]\n"gate_angle[0]" = [0.5, 1.0]\n"segment_at[0]" = [30.0, 35.0]\n')
    status, out, _ = call(["exact", _write(tmp_path, PULSED, "plain.toml")])
    assert status == 0 and "round" in out
    status, _, err = call(["sweep", cfg, "--out", tmp_path / "sw", "--no-progress"])
    assert status == 0, err
    assert (tmp_path / "sw" / "sweep.csv").read_text().count("\n") == 5
    opt = _write(tmp_path, PULSED + '\n[optimize]\nvary = "gate_at"\nstarts = 1\n', "opt.toml")
    status, out, err = call(["optimize", opt, "--no-progress"])
    assert status == 0, err
    assert "gate_at" in out and "trajectories vs exact" in out
