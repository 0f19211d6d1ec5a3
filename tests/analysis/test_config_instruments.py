"""The config keys of issue 22: [protocol] monitor = {...}, kraus (arrays from a .npz file or inline),
strength (a weak measurement), feedback keys "+1@s"; one-line messages naming the key; a monitored run
through the command line saves a result that loads back with its instruments."""

from __future__ import annotations

import numpy as np
import pytest
from cli_calls import call, one_error_line

import darkspin as ds
from darkspin.analysis.config import ConfigError, parse_config

MON = {"channels": ["dephasing[0]"], "duration": 50.0, "efficiency": 0.9, "dark_rate": 1e-4, "threshold": 2}


def _error(protocol: dict) -> str:
    with pytest.raises(ConfigError) as info:
        parse_config({"protocol": protocol})
    message = str(info.value)
    assert "\n" not in message
    return message


def test_monitor_kraus_strength_and_history_feedback():
    cfg = parse_config({"protocol": {"monitor": MON, "feedback": {"+1@0": "flip1"}}})
    m = cfg.protocol.measurements[0]
    assert isinstance(m, ds.Monitor) and m.threshold == 2 and m.efficiency == 0.9
    assert set(m.history_feedback) == {(1, 0)}
    weak = parse_config({"protocol": {"strength": 0.4}}).protocol.measurements[0]
    assert weak == ds.Measurement.weak("zz", 0.4)
    P = [np.diag([1.0, 0, 0, 1]).tolist(), np.diag([0.0, 1, 1, 0]).tolist()]
    inline = parse_config({"protocol": {"kraus": {"+1": [P[0]], "-1": [P[1]]}}}).protocol.measurements[0]
    assert inline == ds.Measurement(kraus={1: [np.array(P[0])], -1: [np.array(P[1])]})
    per = parse_config({"protocol": {"rounds": [{"monitor": MON}, {}, {}, {}]}}).protocol.measurements
    assert isinstance(per[0], ds.Monitor) and per[1] == ds.Measurement()


def test_kraus_from_a_file(tmp_path, monkeypatch):
    kr = ds.Measurement.weak("zz", 0.6).kraus
    np.savez(tmp_path / "k.npz", plus=np.stack(kr[0]), minus=np.stack(kr[1]))
    monkeypatch.chdir(tmp_path)
    m = parse_config({"protocol": {"kraus": "k.npz"}}).protocol.measurements[0]
    assert m == ds.Measurement.weak("zz", 0.6)
    np.savez(tmp_path / "bad.npz", plus=np.stack(kr[0]), minus=0.5 * np.stack(kr[1]))
    assert "must be complete" in _error({"kraus": "bad.npz"})
    assert "no file 'nope.npz'" in _error({"kraus": "nope.npz"})


@pytest.mark.parametrize(
    ("protocol", "needle"),
    [
        ({"monitor": MON | {"efficiency": 1.5}}, "protocol.monitor.efficiency must be in [0, 1]"),
        ({"monitor": MON | {"dark_rate": -1}}, "protocol.monitor.dark_rate must be >= 0"),
        ({"monitor": MON | {"duration": -1}}, "protocol.monitor.duration must be >= 0"),
        ({"monitor": MON | {"speed": 1}}, "unknown key 'protocol.monitor.speed'"),
        ({"monitor": {"duration": 5.0}}, "protocol.monitor.channels is required"),
        ({"monitor": MON | {"duration": 150.0}}, "overlaps round 2"),
        ({"monitor": MON, "kraus": "k.npz"}, "protocol.monitor and protocol.kraus exclude each other"),
        ({"monitor": MON, "observable": "xx"}, "protocol.monitor excludes protocol.observable"),
        ({"strength": 0.0}, "protocol.strength must be a real number in (0, 1]"),
        ({"feedback": {"+1@x": "flip1"}}, '"+1@s" with a rule state s >= 0'),
        ({"feedback": {"+1@5": "flip1"}}, "rule state 5 does not exist"),
    ],
)
def test_bad_instrument_keys_name_the_key(protocol, needle):
    assert needle in _error(protocol)


def test_monitored_run_through_the_command_line(tmp_path):
    cfg = tmp_path / "mon.toml"
    cfg.write_text(
        "[model]\nlam1 = 0.2\nlam2 = 0.2\n[protocol]\nmeasure_at = [1.0, 3.0]\nt_final = 6.0\nn_out = 7\n"
        'monitor = { channels = ["dephasing[0]"], duration = 1.5, efficiency = 0.8 }\n[run]\nntraj = 500\nseed = 3\n'
    )
    status, _, err = call(["run", cfg, "--out", tmp_path / "out", "--no-progress"])
    assert status == 0, err
    result = ds.load(tmp_path / "out" / "result.npz")
    assert result.protocol.measurements[0] == ds.Monitor(["dephasing[0]"], 1.5, efficiency=0.8)
    bad = tmp_path / "bad.toml"
    bad.write_text('[protocol]\nmonitor = { channels = ["nope"], duration = 5.0 }\n')
    status, _, err = call(["run", bad, "--out", tmp_path / "o2", "--no-progress"])
    assert status == 2 and "no channel 'nope'" in one_error_line(err)
