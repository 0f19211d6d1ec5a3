"""Kraus instruments, monitored windows and feedback on the rule state (issue 22): their checks, their
plain-data form, and the trajectory kernel's edge cases (eta = 0 never clicks, a window of length 0
gives -1, a Kraus projector draws records with the projector's law).
"""

from __future__ import annotations

import numpy as np
import pytest

import darkspin as ds
from darkspin.trajectories.kraus import weak_kraus
from darkspin.trajectories.protocol import Protocol

ZZ = np.diag([1.0, -1.0, -1.0, 1.0]).astype(complex)


def one_line(exc: pytest.ExceptionInfo) -> str:
    text = str(exc.value)
    assert "\n" not in text
    return text


@pytest.mark.parametrize(
    ("kwargs", "words"),
    [
        ({"efficiency": 1.5}, "efficiency must be in [0, 1]"),
        ({"efficiency": -0.1}, "efficiency must be in [0, 1]"),
        ({"dark_rate": -1.0}, "dark_rate must be >= 0"),
        ({"duration": -2.0}, "duration must be >= 0"),
        ({"threshold": 0}, "threshold"),
        ({"channels": [True]}, "channels"),
        ({"channels": []}, "channels"),
    ],
)
def test_monitor_rejects_bad_input(kwargs, words):
    args = {"channels": ["dephasing[0]"], "duration": 10.0} | kwargs
    with pytest.raises(ValueError) as exc:
        ds.Monitor(**args)
    assert words in one_line(exc)


def test_unknown_channel_fails_before_any_work():
    p = ds.Protocol("ud", (100.0,), np.linspace(0, 200, 3), measurement=ds.Monitor(["nope"], 10.0))
    for run in (
        lambda: ds.solve_master_equation(ds.SpinPair(), p),
        lambda: ds.run_trajectories(ds.SpinPair(), p, 10, seed=1),
    ):
        with pytest.raises(ValueError) as exc:
            run()
        assert "no channel 'nope'" in one_line(exc)
    p5 = ds.Protocol("ud", (100.0,), np.linspace(0, 200, 3), measurement=ds.Monitor([5], 10.0))
    with pytest.raises(ValueError) as exc:
        ds.solve_master_equation(ds.SpinPair(), p5)
    assert "index 5 is out of range" in one_line(exc)


def test_overlapping_windows_and_late_windows_are_rejected():
    mon = ds.Monitor(["dephasing[0]"], 60.0)
    with pytest.raises(ValueError) as exc:
        ds.Protocol("ud", (100.0, 150.0), np.linspace(0, 300, 4), measurement=mon)
    assert "overlaps round 2" in one_line(exc)
    with pytest.raises(ValueError) as exc:
        ds.Protocol("ud", (100.0, 100.0), np.linspace(0, 300, 4), measurement=[ds.Measurement(), mon])
    assert "overlaps round 1" in one_line(exc)
    with pytest.raises(ValueError) as exc:
        ds.Protocol("ud", (280.0,), np.linspace(0, 300, 4), measurement=mon)
    assert "after the last output time" in one_line(exc)
    # back to back is fine: [100, 160) then [160, 220)
    p = ds.Protocol("ud", (100.0, 160.0), np.linspace(0, 300, 4), measurement=mon)
    assert np.array_equal(p.record_times, [160.0, 220.0])


def test_kraus_rejects_bad_input():
    P = [np.diag([1.0, 0, 0, 1]), np.diag([0, 1.0, 1, 0])]
    with pytest.raises(ValueError) as exc:
        ds.Measurement(kraus={1: [P[0]], -1: [0.9 * P[1]]})
    assert "must be complete" in one_line(exc)
    with pytest.raises(ValueError) as exc:
        ds.Measurement(kraus={1: [P[0]], -1: [np.eye(3)]})
    assert "must have shape (4, 4)" in one_line(exc)
    with pytest.raises(ValueError) as exc:
        ds.Measurement(kraus={1: [P[0]]})
    assert "exactly the records" in one_line(exc)
    with pytest.raises(ValueError) as exc:
        ds.Measurement("zz", kraus={1: [P[0]], -1: [P[1]]})
    assert "observable must be None" in one_line(exc)
    with pytest.raises(ValueError) as exc:
        ds.Measurement(readout_error=0.1, kraus={1: [P[0]], -1: [P[1]]})
    assert "readout_error must be 0" in one_line(exc)
    k3 = {1: [np.diag([1.0, 0, 0])], -1: [np.diag([0, 1.0, 1])]}
    with pytest.raises(ValueError) as exc:
        ds.Protocol("ud", (1.0,), (0.0, 2.0), measurement=ds.Measurement(kraus=k3))
    assert "dimension 3" in one_line(exc)
    for s in (0.0, 1.5, True):
        with pytest.raises(ValueError) as exc:
            ds.Measurement.weak("zz", s)
        assert "strength must be a real number in (0, 1]" in one_line(exc)
    with pytest.raises(ValueError) as exc:
        ds.Protocol("ud", (1.0,), (0.0, 2.0), measurement=ds.Measurement(feedback={(1, 2): "flip1"}))
    assert "rule state 2 does not exist" in one_line(exc)
    with pytest.raises(ValueError) as exc:
        ds.Measurement(feedback={(1, -1): "flip1"})
    assert "pairs (record, state >= 0)" in one_line(exc)


def test_weak_measurement_operators():
    for s in (0.2, 0.7, 1.0):
        kr = weak_kraus(ZZ, s)
        Mp, Mm = kr[1][0], kr[-1][0]
        assert np.allclose(Mp.conj().T @ Mp + Mm.conj().T @ Mm, np.eye(4), atol=1e-14)
        # on an eigenstate of +1 the record +1 has probability (1 + s)/2
        assert abs(np.linalg.norm(Mp @ np.eye(4)[0]) ** 2 - (1 + s) / 2) < 1e-14
    strong = weak_kraus(ZZ, 1.0)
    assert np.array_equal(strong[1][0], 0.5 * (np.eye(4) + ZZ))


def test_projective_instrument_in_kraus_form():
    m = ds.Measurement("zz", (0.1, 0.2), {1: "flip1"})
    rho = np.full((4, 4), 0.1) + np.diag([0.3, 0.1, 0.1, 0.1])
    via_kraus = np.stack([sum(w * K @ rho @ K.conj().T for w, K in terms) for terms in m.weighted_kraus()])
    assert np.allclose(via_kraus, m.record_maps(rho), atol=1e-15)
    assert m.kind == "projective" and ds.Measurement.weak("zz", 0.5).kind == "kraus"


def test_instruments_survive_saving():
    mon = ds.Monitor(["dephasing[0]", 1], 20.0, 0.7, 0.01, 2, feedback={(1, 0): "flip1"})
    weak = ds.Measurement.weak("zz", 0.3, feedback={-1: "flip2"})
    p = ds.Protocol("ud", (100.0, 200.0, 300.0), np.linspace(0, 400, 5), measurement=[mon, weak, mon])
    q = Protocol.from_dict(p.as_dict())
    assert q.same_as(p)
    assert q.measurements[0] is q.measurements[2]


def records_of(protocol, ntraj=400, seed=5):
    return ds.run_trajectories(ds.SpinPair(lam1=0.2, lam2=0.2), protocol, ntraj, seed=seed).records


def test_kernel_eta_zero_never_clicks_and_zero_window_is_minus():
    times = np.linspace(0.0, 30.0, 7)
    never = ds.Protocol("uu", (2.0, 12.0), times, measurement=ds.Monitor(["dephasing[0]"], 8.0, efficiency=0.0))
    assert np.all(records_of(never) == -1)
    empty = ds.Protocol("uu", (2.0, 12.0), times, measurement=ds.Monitor(["dephasing[0]"], 0.0, dark_rate=50.0))
    assert np.all(records_of(empty) == -1)
    # the negative control: a sure detector on |uu> clicks in most runs
    sure = ds.Protocol("uu", (2.0, 12.0), times, measurement=ds.Monitor(["dephasing[0]"], 8.0, efficiency=1.0))
    assert np.mean(records_of(sure)[:, 0] == 1) > 0.5
    # dark clicks alone: P(+1) = 1 - exp(-r D) with eta = 0
    dark = ds.Protocol("ud", (2.0,), times, measurement=ds.Monitor([0], 8.0, efficiency=0.0, dark_rate=0.1))
    hits = np.sum(records_of(dark, 4000)[:, 0] == 1)
    p = 1 - np.exp(-0.8)
    assert abs(hits - 4000 * p) < 5 * np.sqrt(4000 * p * (1 - p))
