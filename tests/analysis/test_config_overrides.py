"""``--set`` text must hold exactly one TOML value (the rest used to be dropped without a word)."""

from __future__ import annotations

import numpy as np
import pytest
from cli_calls import call, one_error_line

import darkspin as ds
from darkspin.analysis.config import ConfigError, parse_override

MODEL = ds.SpinPair()
PROTOCOL = ds.Protocol("ud", [100.0, 200.0], np.linspace(0.0, 500.0, 3))


# ---- B. --set takes exactly one TOML value ------------------------------------------------------
@pytest.mark.parametrize(
    "text",
    [
        "model.lam2=0.01\nmodel.V=2",
        "model.lam2=0.01\r\nmodel.V=2",
        "model.V=2\nV=3",  # a duplicate of the value's own key, not TOML: must not become a string
        "protocol.postselect=last\nmodel.V=2",  # not TOML either: a plain string only on one line
    ],
)
def test_override_with_more_than_one_value_is_refused(text):
    with pytest.raises(ConfigError, match="exactly one TOML value") as info:
        parse_override(text)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("model.lam2=0.01", 0.01),
        ("protocol.postselect=last", "last"),
        ('protocol.postselect="last"', "last"),
        ("protocol.measure_at=[100,\n200]", [100, 200]),  # one value over two lines
        ("model.V=2 # a comment", 2),
    ],
)
def test_override_single_value_still_parses(text, value):
    assert parse_override(text)[2] == value


@pytest.mark.parametrize("command", ["exact", "run", "sweep"])
def test_cli_set_with_two_values_exits_2_with_one_line(command, tmp_path):
    # small runs, so that the unfixed code (which ran them) is quick too
    config = tmp_path / "config.toml"
    config.write_text("[protocol]\nmeasure_at = [20.0]\nt_final = 40.0\nn_out = 5\n[run]\nntraj = 20\n")
    if command == "sweep":
        config.write_text(config.read_text() + "[sweep]\nlam2 = [0.0126, 0.011]\n")
    argv = [command, config, "--set", "model.lam2=0.01\nmodel.V=2"]
    if command != "exact":
        argv += ["--out", tmp_path / "out", "--no-progress"]
    status, _, err = call(argv)
    assert status == 2
    assert "exactly one TOML value" in one_error_line(err)
    assert not (tmp_path / "out").exists()
