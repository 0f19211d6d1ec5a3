"""The compact print of a sweep table and table.show; derived axes; per-unit-time columns."""

from __future__ import annotations

import numpy as np
import pytest

import darkspin as ds
from darkspin.analysis.studies.per_time import PerUnitTime
from darkspin.ensemble.results.table import ColumnError

MODEL = ds.SpinPair()
PROTOCOL = ds.Protocol("ud", [100.0, 200.0, 300.0], np.linspace(0.0, 400.0, 9))


@pytest.fixture(scope="module")
def mc_table() -> ds.SweepTable:
    return ds.sweep(MODEL, PROTOCOL, {"lam2": [0.0126, 0.011], "readout_error": [0.0, 0.1]}, ntraj=300, seed=5)


def test_print_is_compact_and_says_what_it_leaves_out(mc_table: ds.SweepTable) -> None:
    text = str(mc_table)
    lines = text.splitlines()
    assert len(mc_table.names) > 30
    assert lines[0].split()[:4] == ["lam2", "readout_error", "fidelity_post", "yield"]
    assert "mc_fidelity_post [95%]" in lines[0] and "mc_yield [95%]" in lines[0]
    assert "p_success_1" not in lines[0] and "mc_concurrence_post" not in text.split("\n(")[0]
    assert max(len(line) for line in lines[:-1]) < 120  # was about 600 characters a line
    hidden = len(mc_table.names) - len(mc_table.compact_columns())
    assert lines[-1].startswith(f"({hidden} more columns: table.show()")
    # each cell 'value [lo, hi]' shows the interval columns themselves
    row = lines[1]
    lo, hi = mc_table["mc_yield_lo"][0], mc_table["mc_yield_hi"][0]
    assert f"{mc_table['mc_yield'][0]:.6g} [{lo:.6g}, {hi:.6g}]" in row


def test_show_prints_chosen_columns_and_patterns(mc_table: ds.SweepTable, capsys: pytest.CaptureFixture) -> None:
    mc_table.show(["lam2", "mc_p_success_*"])
    out = capsys.readouterr().out.splitlines()
    header = out[0].split()
    assert header[0] == "lam2" and all(h.startswith("mc_p_success_") for h in header[1:])
    assert len(header) == 1 + 4 * 3 and len(out) == 1 + len(mc_table)
    mc_table.show()
    assert capsys.readouterr().out.splitlines()[0].split() == mc_table.names
    with pytest.raises(ColumnError, match="no column matches 'nope'"):
        mc_table.show("nope")


def test_exact_table_print_has_no_interval_columns() -> None:
    table = ds.sweep(MODEL, PROTOCOL, {"lam2": [0.0126, 0.011]})
    lines = str(table).splitlines()
    assert lines[0].split() == ["lam2", "fidelity_post", "yield"]
    assert lines[1].split() == [
        f"{table['lam2'][0]:.6g}",
        f"{table['fidelity_post'][0]:.6g}",
        f"{table['yield'][0]:.6g}",
    ]


def _lam2_and_exchange(ratio: float) -> dict[str, float]:
    lam2 = ratio * MODEL.lam1
    return {"lam2": lam2, "J_ex": ds.exchange_from_bandwidth(MODEL.lam1, lam2, MODEL.V, 10.0)[0]}


def test_a_derived_axis_gives_the_hand_written_table() -> None:
    ratios = [0.8, 0.9, 1.0]
    derived = ds.sweep(
        MODEL, PROTOCOL, {"lam2/lam1": ds.DerivedAxis(ratios, _lam2_and_exchange), "readout_error": [0.0, 0.1]}
    )
    by_hand = []
    for r in ratios:
        fields = _lam2_and_exchange(r)
        by_hand.append(
            ds.sweep(MODEL, PROTOCOL, {"lam2": [fields["lam2"]], "J_ex": [fields["J_ex"]], "readout_error": [0.0, 0.1]})
        )
    assert derived.names[:4] == ["lam2/lam1", "readout_error", "lam2", "J_ex"]
    assert derived["lam2/lam1"].tolist() == [0.8, 0.8, 0.9, 0.9, 1.0, 1.0]
    for name in by_hand[0].names:
        joined = np.concatenate([t[name] for t in by_hand])
        np.testing.assert_array_equal(derived[name], joined, err_msg=name)
    # the paired sweep over the same fields is the same table too
    fields = [_lam2_and_exchange(r) for r in ratios]
    paired = ds.sweep(
        MODEL, PROTOCOL, {"lam2": [f["lam2"] for f in fields], "J_ex": [f["J_ex"] for f in fields]}, paired=True
    )
    one = ds.sweep(MODEL, PROTOCOL, {"ratio": ds.DerivedAxis(ratios, _lam2_and_exchange)})
    for name in paired.names:
        np.testing.assert_array_equal(one[name], paired[name], err_msg=name)
    assert "J_ex" in str(one).splitlines()[0]  # the fields it sets are shown in the compact print


def test_derived_axis_errors_name_the_axis() -> None:
    with pytest.raises(ValueError, match="axis 'r': fields\\(1\\) sets unknown fields \\['lam3'\\]"):
        ds.sweep(MODEL, PROTOCOL, {"r": ds.DerivedAxis([1], lambda r: {"lam3": r})})
    with pytest.raises(ValueError, match="which are axes of their own"):
        ds.sweep(MODEL, PROTOCOL, {"r": ds.DerivedAxis([1], lambda r: {"lam2": 0.01}), "lam2": [0.01]})
    with pytest.raises(ValueError, match="axis 'r', value 1 \\(-1\\): lam2 must be >= 0"):
        ds.sweep(MODEL, PROTOCOL, {"r": ds.DerivedAxis([-1], lambda r: {"lam2": r})})
    with pytest.raises(ValueError, match="values is empty"):
        ds.DerivedAxis([], lambda r: {})


def test_per_time_columns_against_solve_master_equation() -> None:
    rates = [PerUnitTime("good_pairs", overhead=50.0), PerUnitTime("fidelity_gain"), PerUnitTime("yield", 50.0)]
    table = ds.sweep(MODEL, ds.Protocol.paper(11), {"rounds": [0, 1, 2, 4]}, spacing=100.0, per_time=rates)
    for i, R in enumerate([0, 1, 2, 4]):
        times = np.linspace(0.0, 500.0, 11)
        res = ds.solve_master_equation(MODEL, ds.Protocol("ud", 100.0 * np.arange(1, R + 1), times))
        singlet = np.array([0, 1, -1, 0]) / np.sqrt(2)
        F = float(np.real(singlet @ res.rho_post[-1] @ singlet))
        Y = float(res.p_cumulative[-1]) if R else 1.0
        last = 100.0 * R if R else 500.0  # no rounds: the run lasts until the final output time
        assert table["duration"][i] == last and table["duration_50"][i] == last + 50
        assert table["good_pairs_per_time"][i] == pytest.approx(Y * F / (last + 50), rel=1e-9)
        assert table["fidelity_gain_per_time"][i] == pytest.approx((F - 0.5) / last, rel=1e-9, abs=1e-15)
        assert table["yield_per_time"][i] == pytest.approx(Y / (last + 50), rel=1e-9)
        assert rates[0](res) == pytest.approx(Y * F / (last + 50), rel=1e-9)
    with pytest.raises(ValueError, match="per_time\\[0\\] must be a PerUnitTime"):
        ds.sweep(MODEL, PROTOCOL, {"lam2": [0.01]}, per_time=["good_pairs"])
    with pytest.raises(ValueError, match="overhead"):
        PerUnitTime("yield", overhead=-1.0)
    with pytest.raises(ValueError, match="quantity must be one of"):
        PerUnitTime("pairs")
