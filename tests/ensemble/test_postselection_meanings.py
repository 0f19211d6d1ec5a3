"""The post-selection table says what p_cumulative and end_time mean under its rule."""

from __future__ import annotations

import numpy as np
import pytest

import darkspin as ds
from darkspin.ensemble.results.postselection import column_meanings

TIMES = np.linspace(0.0, 400.0, 9)


@pytest.mark.parametrize(
    "rule, meaning",
    [
        ("all", "p_cumulative: P(records of rounds 1..k all -1)"),
        ("last", "p_cumulative: P(record of round k is -1), whatever the earlier records"),
        ("none", "p_cumulative: 1 (rule 'none' keeps every run)"),
        ("?--", "p_cumulative: P(records of rounds 1..k match the first k characters of '?--')"),
    ],
)
def test_printed_table_names_the_columns_for_its_rule(rule: str, meaning: str) -> None:
    protocol = ds.Protocol("ud", [100.0, 200.0, 300.0], TIMES, postselect=rule)
    text = str(ds.solve_master_equation(ds.SpinPair(), protocol).postselection())
    assert meaning in text
    assert "end_time: output time where singlet_post is read: the last before round k + 1" in text
    others = {"all", "last", "none"} - {rule}
    assert all(column_meanings(o)["p_cumulative"] not in text for o in others)


def test_last_rule_p_cumulative_is_the_last_record_alone() -> None:
    """What the 'last' line says, checked: p_cumulative of 'last' equals P(record k = -1), which is the
    'all' rule's p_cumulative for a one-round protocol ending at round k's time."""
    model = ds.SpinPair()
    table = ds.solve_master_equation(model, ds.Protocol("ud", [100.0, 200.0], TIMES, postselect="last")).postselection()
    pattern = ds.solve_master_equation(model, ds.Protocol("ud", [100.0, 200.0], TIMES, postselect="?-")).postselection()
    assert table["p_cumulative"][1] == pytest.approx(pattern["p_cumulative"][1], rel=1e-12)
    strict = ds.solve_master_equation(model, ds.Protocol("ud", [100.0, 200.0], TIMES, postselect="all")).postselection()
    assert table["p_cumulative"][1] > strict["p_cumulative"][1] + 0.01  # 'last' keeps runs 'all' drops
