"""A callable schedule objective that returns NaN or +-inf is refused, naming itself and the schedule
(it used to be scored -inf, and +inf was reported as -inf)."""

from __future__ import annotations

import math

import numpy as np
import pytest

import darkspin as ds

MODEL = ds.SpinPair()
PROTOCOL = ds.Protocol("ud", [100.0, 200.0], np.linspace(0.0, 500.0, 3))


# ---- A. a broken objective callable is refused, naming itself and the schedule -------------------
@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_non_finite_callable_objective_raises(bad):
    def broken_objective(result) -> float:
        return bad

    with pytest.raises(ValueError, match=r"broken_objective.*finite.*measure_at=\[") as info:
        ds.optimize_schedule(MODEL, PROTOCOL, objective=broken_objective, starts=1)
    assert repr(bad) in str(info.value)


def test_callable_objective_non_finite_somewhere_names_those_times():
    # finite for early first rounds, NaN past t = 150: the search must stop there, not skip it
    def picky(result) -> float:
        return math.nan if result.protocol.measure_at[0] > 150.0 else float(result.p_cumulative[-1])

    with pytest.raises(ValueError, match=r"'picky'.*nan.*measure_at=\[(1[5-9]\d|[2-4]\d\d)"):
        ds.optimize_schedule(MODEL, PROTOCOL, objective=picky, starts=3)
