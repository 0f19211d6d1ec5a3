"""Run configs (analysis.config) and the model's input checks they rely on: explicit output times,
integral floats for integer keys, limits checked before any allocation, and messages that name the key
the user wrote and print plain numbers. All fast (no trajectories)."""

from __future__ import annotations

import math
import time

import numpy as np
import pytest

from darkspin.analysis.cli import main
from darkspin.analysis.cli.parser import positive_int
from darkspin.analysis.config import MAX_N_OUT, ConfigError, parse_config, plain_numbers
from darkspin.trajectories.model import exchange_from_bandwidth, phase_space


def _error(data: dict) -> str:
    with pytest.raises(ConfigError) as info:
        parse_config(data)
    message = str(info.value)
    assert "\n" not in message and "np." not in message, message
    return message


# ---- output times --------------------------------------------------------------------------------
def test_explicit_times():
    cfg = parse_config({"protocol": {"times": [0.0, 5.0, 20.0, 60.0], "measure_at": [20.0, 40.0]}})
    assert np.array_equal(cfg.protocol.times, [0.0, 5.0, 20.0, 60.0])
    assert cfg.t_final == 60.0 and cfg.n_out == 4 and cfg.times == (0.0, 5.0, 20.0, 60.0)
    assert cfg.protocol_dict()["times"] == [0.0, 5.0, 20.0, 60.0]
    # integers are times too
    assert np.array_equal(
        parse_config({"protocol": {"times": [0, 1, 2], "measure_at": [1]}}).protocol.times, [0.0, 1.0, 2.0]
    )


@pytest.mark.parametrize(
    "protocol, needles",
    [
        ({"times": [0.0, 1.0], "t_final": 1.0}, ["protocol.times and protocol.t_final exclude each other"]),
        ({"times": [0.0, 1.0], "n_out": 2}, ["protocol.times and protocol.n_out exclude each other"]),
        ({"times": [0.0, 2.0, 2.0], "measure_at": []}, ["protocol.times must be strictly increasing", "2.0 then 2.0"]),
        ({"times": [-1.0, 2.0], "measure_at": []}, ["protocol.times must be >= 0", "-1.0"]),
        ({"times": [5.0], "measure_at": []}, ["protocol.times must list 2 to"]),
        ({"times": "0..10", "measure_at": []}, ["protocol.times must be a list"]),
        ({"times": [0.0, 10.0], "measure_at": [20.0]}, ["protocol.measure_at", "the last of protocol.times", "20.0"]),
        # the key the user wrote, not the library's times[-1]
        (
            {"t_final": 60.0, "measure_at": [100.0]},
            ["protocol.measure_at must lie in [0, protocol.t_final] = [0, 60.0]", "got 100.0"],
        ),
        ({"measure_at": [300.0, 200.0]}, ["protocol.measure_at must be sorted"]),
    ],
)
def test_bad_times_name_the_key(protocol, needles):
    message = _error({"protocol": protocol})
    for needle in needles:
        assert needle in message, message
    assert "times[-1]" not in message


def test_n_out_limit_checked_before_allocating(monkeypatch):
    """n_out = 10**10 once ended in a MemoryError from np.linspace: now a message, and no array."""

    def no_linspace(*args, **kwargs):
        raise AssertionError("np.linspace called for a rejected n_out")

    monkeypatch.setattr(np, "linspace", no_linspace)
    for n_out in (10**10, 1e10, MAX_N_OUT + 1):
        t0 = time.perf_counter()
        message = _error({"protocol": {"n_out": n_out}})
        assert f"protocol.n_out must be an integer in [2, {MAX_N_OUT}]" in message
        assert time.perf_counter() - t0 < 1.0


# ---- integer keys ----------------------------------------------------------------------------------
def test_integral_floats_are_integers():
    cfg = parse_config(
        {
            "run": {"ntraj": 1e5, "seed": 7.0, "batch_size": 2e4, "max_ntraj": 1e6, "target_se": 0.01},
            "protocol": {"n_out": 101.0},
        }
    )
    assert (cfg.ntraj, cfg.seed, cfg.batch_size, cfg.max_ntraj, cfg.n_out) == (100000, 7, 20000, 1000000, 101)
    for value in (cfg.ntraj, cfg.seed, cfg.batch_size, cfg.max_ntraj, cfg.n_out):
        assert type(value) is int
    assert cfg.replace(ntraj=2e5).ntraj == 200000


@pytest.mark.parametrize(
    "run, needle",
    [
        ({"ntraj": 1.5}, "run.ntraj must be an integer >= 1, got 1.5"),
        ({"ntraj": 0}, "run.ntraj must be an integer >= 1, got 0"),
        ({"ntraj": True}, "run.ntraj must be an integer >= 1, got True"),
        ({"ntraj": "100"}, "run.ntraj must be an integer >= 1, got '100'"),
        ({"ntraj": math.inf}, "run.ntraj must be an integer >= 1, got inf"),
        ({"seed": -1}, "run.seed must be an integer in [0, 2**64), got -1"),
        ({"seed": 2**64}, "run.seed must be an integer in [0, 2**64)"),
        # a float that large cannot hold the integer the user typed: refuse rather than change the seed
        ({"seed": 1.2345678901234567e19}, "too large to hold an integer exactly"),
        ({"batch_size": 0.5}, "run.batch_size must be an integer >= 1, got 0.5"),
        ({"ntraj": 1000, "max_ntraj": 10}, "run.max_ntraj must be >= run.ntraj = 1000, got 10"),
        ({"target_se": 0.0}, "run.target_se must be > 0, got 0.0"),
    ],
)
def test_bad_run_keys(run, needle):
    assert needle in _error({"run": run})


def test_command_line_counts_accept_integral_floats(tmp_path):
    status = main(["run", "--ntraj", "1.5", "--out", str(tmp_path)])
    assert status == 2
    assert positive_int("1e3") == 1000 and positive_int("2000") == 2000


# ---- model and bandwidth -----------------------------------------------------------------------------
@pytest.mark.parametrize(
    "model, needle",
    [
        ({"bandwidth": 1e300}, "model.bandwidth must be > 0 and <= 1e+12, got 1e+300"),  # once an OverflowError
        ({"bandwidth": 0.0}, "model.bandwidth must be > 0"),
        ({"bandwidth": 1.25}, "model.bandwidth must differ from |V|"),
        ({"bandwidth": 1e12, "lam1": 10.0, "lam2": 10.0}, "model.bandwidth = 1000000000000.0 gives J_ex ="),
        ({"bandwidth": 100.0, "J_ex": 0.1}, "model.bandwidth and model.J_ex exclude each other"),
        ({"bandwidth": 100.0, "lam1": 1e308}, "model.lam1 must lie within +-1e+12, got 1e+308"),
        ({"V": -1.0}, "model.V must be >= 0, got -1.0"),
    ],
)
def test_bad_model_keys(model, needle):
    assert needle in _error({"model": model})


def test_tiny_bandwidth_is_finite_and_right():
    """bandwidth = 1e-300 once raised 'math domain error' (Lambda^2 underflowed to 0)."""
    lam, V, g = 1e-300, 1.25, 0.0126
    J_ex, J_DM = exchange_from_bandwidth(g, g, V, lam)
    # Delta for Lambda << V, from the series of Eq. 6: Lambda (ln 16 + 2 ln(Lambda/V) - 2) + O(Lambda^3/V^2)
    delta = lam * (math.log(16.0) + 2 * math.log(lam / V) - 2.0)
    assert J_ex == pytest.approx(g / (4 * math.pi) * delta, rel=1e-12)
    assert J_DM == 0.0 and math.copysign(1.0, J_DM) == 1.0
    cfg = parse_config({"model": {"bandwidth": lam}})
    assert cfg.model.J_ex == J_ex and cfg.bandwidth == lam


@pytest.mark.parametrize(
    "args, needle",
    [
        ((1e308, 0.01, 1.0, 10.0), "lam1 must lie within"),  # once (inf, nan)
        ((0.01, 0.01, 1e300, 10.0), "V must lie within"),
        ((0.01, 0.01, 1.0, 1e300), "bandwidth must be > 0 and <= 1e+12"),
        ((0.01, 0.01, 1.0, -5.0), "bandwidth must be > 0"),
        ((np.float64(-1.0), 0.01, 1.0, 10.0), "lam1 must be >= 0, got -1.0"),
    ],
)
def test_exchange_from_bandwidth_bounds(args, needle):
    with pytest.raises(ValueError, match=None) as info:
        exchange_from_bandwidth(*args)
    assert needle in str(info.value) and "np." not in str(info.value)


def test_phase_space_bounds():
    with pytest.raises(ValueError, match="omega must lie within"):
        phase_space(1e300, 1.0, 0.0)
    with pytest.raises(ValueError, match="T must be >= 0"):
        phase_space(1.0, 1.0, -1.0)
    assert math.isfinite(phase_space(1e12, 1e12, 1e-300))


# ---- plain numbers -------------------------------------------------------------------------------------
def test_messages_print_plain_numbers():
    message = _error({"protocol": {"initial": [1.0, 1.0, 0.0, 0.0]}})  # not normalised: numpy computes the norm
    assert "protocol.initial" in message and "1.414" in message
    assert plain_numbers("got np.float64(1.5) and np.int64(3), np.True_") == "got 1.5 and 3, np.True_"


# ---- instruments and post-selection rules ---------------------------------------------------------
def test_instruments_from_the_protocol_section():
    import darkspin as ds

    cfg = parse_config(
        {
            "protocol": {
                "measure_at": [20.0, 40.0],
                "t_final": 60.0,
                "n_out": 7,
                "readout_error": [0.0, 0.1],
                "feedback": {"+1": "flip1"},
                "postselect": "last",
                "rounds": [{"observable": "xx"}, {}],
            }
        }
    )
    m1, m2 = cfg.protocol.measurements
    assert m1 == ds.Measurement("xx", (0.0, 0.1), {1: "flip1"})
    assert m2 == ds.Measurement("zz", (0.0, 0.1), {1: "flip1"})
    assert cfg.protocol.postselect == "last"
    # a matrix observable with [re, im] entries, and a matrix feedback
    cfg = parse_config(
        {
            "protocol": {
                "measure_at": [20.0],
                "observable": [[1, 0, 0, 0], [0, -1, 0, 0], [0, 0, -1, 0], [0, 0, 0, 1]],
                "feedback": {"-1": [[0, 1, 0, 0], [1, 0, 0, 0], [0, 0, 0, 1], [0, 0, 1, 0]]},
            }
        }
    )
    assert cfg.protocol.measurements[0] == ds.Measurement("zz", 0.0, {-1: "flip2"})
    assert "xx" not in cfg.protocol.describe() and "flip2" in cfg.protocol.describe()


@pytest.mark.parametrize(
    "protocol, needle",
    [
        ({"observable": "zx"}, "protocol.observable must be one of"),
        ({"observable": [[1, 0], [0, 2]]}, "protocol.observable must have eigenvalues +1 and -1 only, found 2"),
        ({"readout_error": 1.5}, "protocol.readout_error must be a probability in [0, 1], got 1.5"),
        ({"readout_error": [0.1, 0.2, 0.3]}, "protocol.readout_error must be a probability or a pair"),
        ({"feedback": {"+2": "flip1"}}, 'protocol.feedback keys must be records "+1" or "-1"'),
        ({"feedback": {"+1": [[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 2]]}}, "must be unitary"),
        ({"feedback": "flip1"}, "protocol.feedback must be a table"),
        ({"postselect": "-+-"}, "protocol.postselect pattern must have one character per round (2)"),
        ({"postselect": "-x"}, "protocol.postselect pattern may only contain"),
        ({"postselect": 3}, "protocol.postselect must be"),
        ({"rounds": [{}]}, "protocol.rounds must have one entry per measurement time (2), got 1"),
        ({"rounds": [{"observable": "xx"}, {"readout": 0.1}]}, "unknown key 'protocol.rounds[1].readout'"),
        ({"rounds": [{}, {"readout_error": -0.1}]}, "protocol.rounds[1].readout_error must be a probability"),
    ],
)
def test_bad_instruments_name_the_key(protocol, needle):
    message = _error({"protocol": {"measure_at": [20.0, 40.0], "t_final": 60.0, **protocol}})
    assert needle in message, message


def test_observable_of_another_dimension_is_named_as_written():
    message = _error({"protocol": {"measure_at": [20.0], "observable": [[1, 0], [0, -1]]}})
    assert message.startswith("config: protocol.observable acts on dimension 2"), message
