"""Bad input is refused by name before any work (issue 10): sizes and ranges of the protocol, run
options, path arguments, run_trajectory's log size; messages print plain numbers; resume checks the
model, protocol and seed by content."""

from __future__ import annotations

import dataclasses
import importlib
import math

import numpy as np
import pytest

from darkspin.ensemble import simulate
from darkspin.ensemble.montecarlo.files import load
from darkspin.trajectories import Protocol, SpinPair, run_trajectory
from darkspin.trajectories import protocol as protocol_module

SIM = importlib.import_module("darkspin.ensemble.montecarlo.simulation")

MODEL = SpinPair(lam1=0.2, lam2=0.2)
PROTOCOL = Protocol("ud", (5.0, 10.0), np.linspace(0.0, 15.0, 31))
SEED = 20240611


def plain(exc_info) -> str:
    msg = str(exc_info.value)
    assert "np." not in msg and "array(" not in msg and "\n" not in msg, msg
    return msg


# ---- the protocol -----------------------------------------------------------------------------------
def test_protocol_limits_are_documented_constants():
    assert protocol_module.MAX_OUTPUTS == 100_000 and protocol_module.MAX_ROUNDS == 100_000
    assert protocol_module.MAX_TIME == 1e12
    for name in ("MAX_OUTPUTS", "MAX_ROUNDS", "MAX_TIME"):
        assert name in (Protocol.__doc__ or "")


def test_output_grid_and_rounds_are_bounded():
    n = protocol_module.MAX_OUTPUTS
    Protocol("ud", (), np.arange(n, dtype=float))  # the limit itself is fine
    with pytest.raises(ValueError, match="times") as info:
        Protocol("ud", (), np.arange(n + 1, dtype=float))
    assert f"{n:_}" in plain(info) or str(n) in plain(info)
    m = protocol_module.MAX_ROUNDS
    with pytest.raises(ValueError, match="measure_at"):
        Protocol("ud", np.zeros(m + 1), [0.0, 1.0])


@pytest.mark.parametrize("name", ["times", "measure_at"])
def test_times_are_bounded(name):
    big = protocol_module.MAX_TIME
    Protocol("ud", (big,), [0.0, big])
    kwargs = (
        {"times": [0.0, 1.0, 2 * big], "measure_at": (1.0,)}
        if name == "times"
        else {"times": [0.0, 1.0], "measure_at": (0.5, 2 * big)}
    )
    with pytest.raises(ValueError, match=name) as info:
        Protocol("ud", **kwargs)
    assert "1e+12" in plain(info)


@pytest.mark.parametrize(
    "kwargs,name",
    [
        ({"times": [True, 2.0]}, "times"),
        ({"times": [0, True]}, "times"),
        ({"times": np.array([False, True])}, "times"),
        ({"times": (0.0, np.bool_(True))}, "times"),
        ({"measure_at": [True], "times": [0.0, 2.0]}, "measure_at"),
        ({"initial": [True, 0, 0, 0]}, "initial"),
    ],
)
def test_booleans_are_not_times(kwargs, name):
    with pytest.raises(ValueError, match=name):
        Protocol(**{"initial": "ud", "measure_at": (), "times": [0.0, 1.0], **kwargs})


def test_protocol_messages_print_plain_numbers():
    with pytest.raises(ValueError, match="times") as info:
        Protocol("ud", (), np.array([-1.0, 2.0]))
    assert "-1.0" in plain(info)
    with pytest.raises(ValueError, match="finite") as info:
        Protocol("ud", (), np.array([0.0, np.inf]))
    plain(info)
    with pytest.raises(ValueError, match="normalised") as info:
        Protocol(np.array([1.0, 1.0, 0, 0]), (), [0.0, 1.0])
    plain(info)
    with pytest.raises(ValueError, match="trace") as info:
        Protocol(np.diag([1.0, 1.0, 0, 0]), (), [0.0, 1.0])
    plain(info)
    with pytest.raises(ValueError, match="positive") as info:
        Protocol(np.diag([1.5, -0.5, 0, 0]), (), [0.0, 1.0])
    plain(info)


# ---- run options ------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "kwargs,match",
    [
        (dict(ntraj=2**63), "ntraj"),
        (dict(ntraj=2**62 + 1), "ntraj"),
        (dict(target_se=0.1, max_ntraj=2**63), "max_ntraj"),
        (dict(target_se=1e-300), "target_se"),
        (dict(target_se=5e-11), "target_se"),
        (dict(progress="no"), "progress"),
        (dict(progress=1), "progress"),
        (dict(progress=None), "progress"),
        (dict(save=5), "save"),
        (dict(save=b"run.npz"), "save"),
        (dict(save=bytearray(b"r")), "save"),
        (dict(resume=5), "resume"),
        (dict(resume=b"run.npz"), "resume"),
        (dict(ntraj=np.int64(-1)), "got -1"),
        (dict(seed=np.int64(-1)), "got -1"),
        (dict(target_se=np.float64(-1.0)), "got -1.0"),
    ],
)
def test_bad_options_rejected_before_work(no_work, kwargs, match):
    args = {"ntraj": 100, "seed": SEED, "progress": False, **kwargs}
    with pytest.raises(ValueError, match=match) as info:
        simulate(MODEL, PROTOCOL, **args)
    plain(info)


def test_smallest_target_se_is_accepted():
    assert SIM.MIN_TARGET_SE == 1e-10
    assert SIM.check_options(10, None, 1e-10, None)[2] == 1e-10


def test_numpy_bool_progress_is_fine(capsys):
    r = simulate(MODEL, PROTOCOL, 20, SEED, progress=np.bool_(False))
    assert r.ntraj == 20 and capsys.readouterr().err == ""


@pytest.mark.parametrize("path", [5, None, b"x.npz", 1.5])
def test_load_path_type(path):
    with pytest.raises(ValueError, match="path") as info:
        load(path)
    plain(info)


@pytest.mark.parametrize("path", [5, None, b"x.npz"])
def test_result_save_path_type(path):
    r = simulate(MODEL, PROTOCOL, 20, SEED, progress=False)
    with pytest.raises(ValueError, match="path"):
        r.save(path)


def test_goal_growth_with_undefined_standard_error():
    """One trajectory has no standard error (NaN): growing the goal must not overflow."""
    r = simulate(MODEL, PROTOCOL, 1, SEED, batch_size=1, target_se=0.3, target="max", max_ntraj=200, progress=False)
    assert r.stats["end_condition"] == "target_se" and 1 < r.ntraj <= 200


def test_unreachable_figure_of_merit_runs_to_max_ntraj():
    """|uu> always measures +1: nothing is ever post-selected, the target cannot be met."""
    never = Protocol("uu", (1.0,), [0.0, 2.0])
    with pytest.warns(RuntimeWarning, match="max_ntraj"):
        r = simulate(SpinPair(lam1=0.0, lam2=0.0), never, 10, SEED, target_se=0.1, max_ntraj=300, progress=False)
    assert r.ntraj == 300 and r.n_post[-1] == 0
    assert r.stats["end_condition"] == "max_ntraj" and r.stats["achieved_se"] is None


# ---- run_trajectory ---------------------------------------------------------------------------------
@pytest.mark.parametrize("max_jumps", [1.5, "3", 10**12, -1, True, None, 10**7 + 1])
def test_max_jumps_is_a_bounded_integer(max_jumps):
    with pytest.raises(ValueError, match="max_jumps") as info:
        run_trajectory(MODEL, PROTOCOL, 1, max_jumps=max_jumps)
    plain(info)


def test_max_jumps_limits_the_log():
    full = run_trajectory(MODEL, PROTOCOL, 3)
    assert full.jump_times.size > 2
    none = run_trajectory(MODEL, PROTOCOL, 3, max_jumps=0)
    two = run_trajectory(MODEL, PROTOCOL, 3, max_jumps=np.int64(2))
    assert none.jump_times.size == 0 and np.array_equal(two.jump_times, full.jump_times[:2])
    assert np.array_equal(none.states, full.states)  # the log size never changes the trajectory


def test_run_trajectory_messages_print_plain_numbers():
    with pytest.raises(ValueError, match="seed") as info:
        run_trajectory(MODEL, PROTOCOL, np.int64(-3))
    assert "-3" in plain(info)


# ---- resume checks content -------------------------------------------------------------------------
@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    path = tmp_path_factory.mktemp("resume") / "r.npz"
    simulate(MODEL, PROTOCOL, 200, SEED, progress=False, save=path)
    return path


@dataclasses.dataclass(frozen=True)
class Shifted(SpinPair):
    pass


@pytest.mark.parametrize("change", ["signed_zero", "subclass", "seed", "times", "protocol_subclass"])
def test_resume_checks_content(saved, no_work, change):
    model, protocol, seed = MODEL, PROTOCOL, None
    if change == "signed_zero":  # equal as numbers, different bits: could change the stream's sums
        model = MODEL.replace(J_DM=-0.0)
    elif change == "subclass":
        model = Shifted(lam1=0.2, lam2=0.2)
    elif change == "seed":
        seed = SEED + 1
    elif change == "times":
        protocol = Protocol("ud", (5.0, 10.0), np.linspace(0.0, 15.0, 31) * (1 + 1e-15))
    else:

        @dataclasses.dataclass(frozen=True, eq=False)
        class P(Protocol):
            pass

        protocol = P("ud", (5.0, 10.0), PROTOCOL.times)
    with pytest.raises(ValueError, match="resume") as info:
        simulate(model, protocol, 400, seed, resume=saved, progress=False)
    plain(info)


def test_resume_same_content_different_objects_runs(saved):
    model = SpinPair(**MODEL.as_dict())
    protocol = Protocol(np.array(PROTOCOL.rho0), list(PROTOCOL.measure_at), list(PROTOCOL.times))
    r = simulate(model, protocol, 300, resume=saved, progress=False)
    assert r.ntraj == 300 and r.seed == SEED
    assert r.sums.identical(simulate(MODEL, PROTOCOL, 300, SEED, progress=False).sums)
    assert math.isfinite(r.population("S").se[-1])
