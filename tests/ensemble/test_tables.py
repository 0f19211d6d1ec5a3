"""PostSelectionTable and SweepTable share one base (ensemble.results.table.Table): the same access,
errors and exports, operation by operation."""

from __future__ import annotations

import json
import math
import sys

import numpy as np
import pytest

from darkspin.analysis.studies import SweepTable
from darkspin.ensemble.results.postselection import PostSelectionTable
from darkspin.ensemble.results.table import ColumnError, Table

COLUMNS = {"round": [1, 2, 3], "p_success": [0.5, math.nan, math.inf], "label": ["a", "b", "c"]}


def _tables() -> list[Table]:
    return [
        PostSelectionTable(COLUMNS, {"p_success": ".2%"}, {"kind": "exact", "confidence": 0.95}),
        SweepTable(["label"], COLUMNS, {"points": 3, "paired": False}),
    ]


@pytest.fixture(params=["PostSelectionTable", "SweepTable"])
def table(request) -> Table:
    return {type(t).__name__: t for t in _tables()}[request.param]


def test_both_are_tables():
    assert all(isinstance(t, Table) for t in _tables())


def test_access(table):
    assert table.names == ["round", "p_success", "label"] and len(table) == 3
    assert "round" in table and "nope" not in table
    assert table["round"].tolist() == [1, 2, 3] and table["label"].tolist() == ["a", "b", "c"]
    assert list(table.columns) == table.names
    with pytest.raises(ValueError, match="read-only"):
        table["round"][0] = 7
    with pytest.raises(TypeError):
        table.columns["round"] = np.zeros(3)


def test_unknown_column(table):
    for error in (ColumnError, KeyError, ValueError):
        with pytest.raises(error, match=r"^no column 'nope'; columns are \['round', 'p_success', 'label'\]$"):
            table["nope"]


def test_bad_columns_rejected():
    for cls, args in ((PostSelectionTable, ()), (SweepTable, (["a"],))):
        with pytest.raises(ValueError, match="column 'b' has 2 rows, expected 3"):
            cls(*args, {"a": [1, 2, 3], "b": [1, 2]})
        with pytest.raises(ValueError, match=r"column 'a' must be 1-d, got shape \(1, 2\)"):
            cls(*args, {"a": [[1, 2]]})


def test_rows(table):
    rows = table.rows()
    assert rows[0] == {"round": 1, "p_success": 0.5, "label": "a"}
    assert math.isnan(rows[1]["p_success"]) and rows[2]["p_success"] == math.inf


def test_dict_and_json_round_trip(table):
    d = table.to_dict()
    assert d["columns"] == {"round": [1, 2, 3], "p_success": [0.5, None, "inf"], "label": ["a", "b", "c"]}
    back = type(table).from_dict(json.loads(table.to_json(allow_nan=False)))
    assert type(back) is type(table) and back.names == table.names and back.meta == table.meta
    assert back.formats == table.formats and str(back) == str(table)
    for name in table.names:
        np.testing.assert_array_equal(back[name], table[name])
    with pytest.raises(ValueError, match=f"data is not a {type(table).__name__} dict"):
        type(table).from_dict({"meta": {}})


def test_csv(table, tmp_path):
    text = table.to_csv(tmp_path / "t.csv")
    assert (tmp_path / "t.csv").read_text() == text
    assert text == "round,p_success,label\n1,0.5,a\n2,nan,b\n3,inf,c\n"


def test_pandas(table):
    pd = pytest.importorskip("pandas")
    frame = table.to_pandas()
    assert isinstance(frame, pd.DataFrame) and list(frame.columns) == table.names


def test_pandas_missing(table, monkeypatch):
    monkeypatch.setitem(sys.modules, "pandas", None)
    with pytest.raises(ImportError, match=f"{type(table).__name__}.to_pandas needs pandas.*pip install pandas"):
        table.to_pandas()


def test_display(table):
    lines = [line for line in str(table).splitlines() if line.split()[0] in ("round", "1", "2", "3")]
    assert len(lines) == 4 and lines[0].split()[:2] == ["round", "p_success"]
    # every column starts where its header does; NaN is shown as '-', infinity as 'inf'
    start = lines[0].index("p_success")
    assert [line[start:].split()[0] for line in lines[1:]] in (["0.5", "-", "inf"], ["50.00%", "-", "inf"])
