"""Bad segments, gates and drives: one ValueError naming the item, before any work (issue 21)."""

from __future__ import annotations

import math

import numpy as np
import pytest

import darkspin as ds
from darkspin.trajectories.drives import drive_segments

PAIR = ds.SpinPair()
TIMES = np.linspace(0.0, 10.0, 11)


def _protocol(**kw):
    return ds.Protocol("ud", (5.0,), TIMES, **kw)


@pytest.mark.parametrize(
    ("kw", "message"),
    [
        ({"segments": [(11.0, PAIR)]}, r"segments\[0\] time must lie in \[0, t_final\]"),
        ({"segments": [(-1.0, PAIR)]}, r"segments\[0\] time must lie in \[0, t_final\]"),
        ({"segments": [(4.0, PAIR), (2.0, PAIR)]}, r"segments times must be strictly increasing: segments\[1\]"),
        ({"segments": [(1.0, ds.LindbladModel(np.eye(2), []))]}, r"segments\[0\] model has dimension 2"),
        ({"segments": [(1.0, "pair")]}, r"segments\[0\] model must be a SpinPair or a LindbladModel"),
        ({"segments": [(math.nan, PAIR)]}, r"segments\[0\] time must lie"),
        ({"gates": [(1.0, 2 * np.eye(4))]}, r"gates\[0\] must be unitary"),
        ({"gates": [(1.0, "flip3")]}, r"gates\[0\] must be 'flip1', 'flip2', a rotation"),
        ({"gates": [(1.0, "rx3(pi)")]}, r"gates\[0\] must be 'flip1'"),
        ({"gates": [(1.0, "rx1(p/2)")]}, r"gates\[0\]: angle 'p/2'"),
        ({"gates": [(1.0, ("rx1", math.inf))]}, r"gates\[0\]: the angle of 'rx1' must be finite"),
        ({"gates": [(3.0, "flip1"), (2.0, "flip2")]}, r"gates times must be sorted .*gates\[1\]"),
        ({"gates": [(12.0, "flip1")]}, r"gates\[0\] time must lie in \[0, t_final\]"),
        ({"gates": [(1.0, np.eye(2))]}, r"gates\[0\] must have shape \(4, 4\)"),
        ({"gates": "flip1"}, r"gates must be a list of \(time, item\) pairs"),
    ],
)
def test_bad_protocol_items(kw, message):
    with pytest.raises(ValueError, match=message):
        _protocol(**kw)


def test_drive_returning_nan_names_the_term_and_time():
    terms = [(lambda t: 1.0, np.zeros((4, 4))), (lambda t: math.nan if t > 2 else 0.0, np.eye(4))]
    with pytest.raises(ValueError, match=r"drive term 1: f\(2\.5\) returned nan"):
        drive_segments(PAIR, terms, 0.0, 5.0, 5)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (([(lambda t: 1.0, np.eye(3))], 0.0, 1.0, 2), r"drive term 0: H_j must be a finite \(4, 4\) array"),
        (([(lambda t: 1.0, np.triu(np.ones((4, 4))))], 0.0, 1.0, 2), "drive term 0: H_j must be Hermitian"),
        (([(1.0, np.eye(4))], 0.0, 1.0, 2), "drive term 0 must be a pair"),
        (([(lambda t: 1.0, np.eye(4))], 1.0, 1.0, 2), "drive t1 must be > 1"),
        (([(lambda t: 1.0, np.eye(4))], 0.0, 1.0, 0), "drive steps must be"),
        (([(lambda t: "a", np.eye(4))], 0.0, 1.0, 1), r"drive term 0: f\(0\.5\) must return a real number"),
    ],
)
def test_bad_drive(args, message):
    with pytest.raises(ValueError, match=message):
        drive_segments(PAIR, *args)


def test_protocol_round_trip_keeps_segments_and_gates():
    p = _protocol(segments=[(2.0, PAIR.replace(lam1=0.03))], gates=[(3.0, "ry1(pi/3)"), (3.0, "flip2")])
    q = ds.Protocol.from_dict(p.as_dict())
    assert q.same_as(p)
    assert not q.same_as(_protocol(segments=[(2.5, PAIR.replace(lam1=0.03))], gates=p.gates))
    assert not q.same_as(_protocol(segments=p.segments, gates=[(3.0, "ry1(pi/3)")]))


def test_order_at_equal_times():
    p = _protocol(segments=[(5.0, PAIR)], gates=[(5.0, "flip1"), (5.0, "flip2")])
    t, kind, idx = p.events()
    at = t == 5.0
    # segment switch, gates in list order, measurement, output
    assert kind[at].tolist() == [2, 3, 3, 0, 1]
    assert idx[at].tolist() == [1, 0, 1, 0, 5]
