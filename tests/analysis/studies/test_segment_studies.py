"""Sweeps over segment and gate parameters, and schedules over gate times (issue 21)."""

from __future__ import annotations

import numpy as np
import pytest

import darkspin as ds

PAIR = ds.SpinPair.paper_fig3_right()
RETRACTED = PAIR.replace(lam1=0.006, lam2=0.006)


def _protocol(angle: float = 0.5, t_switch: float = 150.0, t_gate: float = 250.0) -> ds.Protocol:
    return ds.Protocol(
        "ud",
        (100.0, 200.0, 300.0),
        np.linspace(0.0, 400.0, 9),
        segments=[(t_switch, RETRACTED)],
        gates=[(t_gate, ("rx12", angle))],
    )


def test_sweep_over_gate_angle_and_switch_time_matches_point_solves():
    base = _protocol()
    table = ds.sweep(PAIR, base, {"gate_angle[0]": [0.0, 1.0], "segment_at[0]": [120.0, 180.0]})
    fid = table["fidelity_post"]
    k = 0
    for angle in (0.0, 1.0):
        for t in (120.0, 180.0):
            exact = ds.solve_master_equation(PAIR, _protocol(angle, t))
            assert fid[k] == pytest.approx(exact.population("S").value_post[-1].real, abs=1e-12)
            k += 1
    assert len(set(np.round(fid, 9))) == 4  # every axis changes the answer


def test_sweep_segment_field_and_bad_item_axes():
    table = ds.sweep(PAIR, _protocol(), {"segment_lam1[0]": [0.006, 0.02]})
    exact = ds.solve_master_equation(
        PAIR,
        ds.Protocol(
            "ud",
            (100.0, 200.0, 300.0),
            np.linspace(0, 400, 9),
            segments=[(150.0, PAIR.replace(lam1=0.02, lam2=0.006))],
            gates=[(250.0, ("rx12", 0.5))],
        ),
    )
    assert table["fidelity_post"][1] == pytest.approx(exact.population("S").value_post[-1].real, abs=1e-12)
    with pytest.raises(ValueError, match=r"axis 'gate_at\[3\]': the protocol has 1 gates, so there is no item 3"):
        ds.sweep(PAIR, _protocol(), {"gate_at[3]": [1.0]})
    with pytest.raises(ValueError, match=r"segments\[0\] time must lie in \[0, t_final\]"):
        ds.sweep(PAIR, _protocol(), {"segment_at[0]": [500.0]})


def test_optimize_gate_time_beats_the_start():
    p = _protocol(angle=1.2, t_gate=350.0)
    sched = ds.optimize_schedule(PAIR, p, vary="gate_at", objective="fidelity", starts=2, t_max=400.0)
    assert sched.protocol.gate_at.shape == (1,)
    own = ds.solve_master_equation(PAIR, p).population("S").value_post[-1].real
    best = ds.solve_master_equation(PAIR, sched.protocol).population("S").value_post[-1].real
    assert best == pytest.approx(sched.fidelity, abs=1e-12)
    assert best >= own
    assert np.array_equal(sched.protocol.measure_at, p.measure_at)
    with pytest.raises(ValueError, match="vary='gate_at' needs a protocol with gates"):
        ds.optimize_schedule(PAIR, ds.Protocol.paper(11), vary="gate_at")


def test_optimize_measurement_times_keeps_segments():
    sched = ds.optimize_schedule(PAIR, _protocol(), starts=1, objective="yield")
    assert sched.protocol.segments == _protocol().segments
    assert np.array_equal(sched.protocol.gate_unitaries, _protocol().gate_unitaries)
