"""Monte Carlo with segments and gates against the exact solver, in units of its own standard error (issue 21).

Each statistical test has a negative control: the exact answer of a deliberately wrong protocol (the
switch at another time) fails the same test on the same runs.
"""

from __future__ import annotations

import numpy as np
import pytest

import darkspin as ds

PAIR = ds.SpinPair.paper_fig3_right()
FAST = PAIR.replace(lam1=0.04, lam2=0.04)  # the tip closer: about 10x the rates
TIMES = np.linspace(0.0, 500.0, 51)
MEAS = ds.Measurement("zz", readout_error=0.02)


def _protocol(switch: float = 250.0, **kw) -> ds.Protocol:
    return ds.Protocol(
        "ud",
        (100.0, 200.0, 300.0, 400.0),
        TIMES,
        measurement=MEAS,
        segments=[(switch, FAST), (350.0, PAIR)],
        gates=[(150.0, "rx12(pi/2)"), (300.0, ("ry1", 0.4))],
        **kw,
    )


@pytest.mark.statistical
def test_monte_carlo_matches_exact_with_segments_and_gates():
    p = _protocol()
    mc = ds.simulate(PAIR, p, ntraj=40_000, seed=2101, distributions=True)
    good = ds.compare(mc, ds.solve_master_equation(PAIR, p), threshold=5.0)
    assert good.consistent, good.verdict
    assert good.jumps is not None  # the jump statistics were tested too
    # the negative control: the same runs against a protocol whose switch comes 30 time units later
    bad = ds.compare(mc, ds.solve_master_equation(PAIR, _protocol(switch=280.0)), threshold=5.0)
    assert not bad.consistent


@pytest.mark.statistical
def test_ten_identical_segments_are_consistent():
    plain = ds.Protocol("ud", (100.0, 200.0, 300.0, 400.0), TIMES, measurement=MEAS)
    split = ds.Protocol(
        "ud", plain.measure_at, TIMES, measurement=MEAS, segments=[(t, PAIR) for t in np.linspace(20, 470, 10)]
    )
    mc = ds.simulate(PAIR, split, ntraj=40_000, seed=2102)
    exact = ds.solve_master_equation(PAIR, plain)
    assert ds.compare(mc, exact, threshold=5.0).consistent
    # the negative control: one of the ten segments carries the faster rates
    wrong = ds.Protocol("ud", plain.measure_at, TIMES, measurement=MEAS, segments=[(20.0, FAST), (65.0, PAIR)])
    assert not ds.compare(mc, ds.solve_master_equation(PAIR, wrong), threshold=5.0).consistent


def test_identity_gate_and_same_model_segment_at_an_event_change_nothing():
    plain = ds.Protocol("ud", (100.0, 200.0, 300.0, 400.0), TIMES, measurement=MEAS)
    same = ds.Protocol(
        "ud", plain.measure_at, TIMES, measurement=MEAS, segments=[(200.0, PAIR)], gates=[(300.0, np.eye(4))]
    )
    a = ds.simulate(PAIR, plain, ntraj=2_000, seed=7)
    b = ds.simulate(PAIR, same, ntraj=2_000, seed=7)
    # at existing event times no interval is split: the runs are the same, bit for bit
    assert np.array_equal(a.rho, b.rho)
    assert np.array_equal(a.rho_post, b.rho_post)
    assert np.array_equal(a.n_success, b.n_success)


def test_run_trajectories_follow_the_gate():
    """A flip at t = 0 of |ud> is |dd>: every run starts out of the S_z = 0 sector."""
    p = ds.Protocol("ud", (), np.linspace(0.0, 1.0, 3), gates=[(0.0, "flip1")])
    runs = ds.run_trajectories(PAIR, p, ntraj=20, seed=3, keep=("states",))
    assert np.allclose(np.abs(runs.states[:, 0, 3]), 1.0)


@pytest.mark.statistical
def test_generic_path_with_segments_of_other_block_layouts():
    """d = 3, dense blocks in one segment and a diagonal H_eff in another: the kernel's generic body."""
    rng = np.random.default_rng(5)
    A = rng.standard_normal((3, 3)) + 1j * rng.standard_normal((3, 3))
    dense = ds.LindbladModel(0.5 * (A + A.conj().T), 0.4 * (rng.standard_normal((2, 3, 3)) + 0j))
    diag = ds.LindbladModel(np.diag([0.0, 1.0, 2.5]), [np.sqrt(0.3) * np.eye(3)[[1, 2, 0]]])
    U = np.linalg.qr(rng.standard_normal((3, 3)) + 1j * rng.standard_normal((3, 3)))[0]
    obs = np.diag([1.0, -1.0, -1.0])

    def protocol(t_switch: float) -> ds.Protocol:
        return ds.Protocol(
            [1.0, 0.0, 0.0],
            (1.0, 2.5),
            np.linspace(0.0, 4.0, 21),
            measurement=ds.Measurement(obs, readout_error=0.05),
            postselect="last",
            segments=[(t_switch, diag), (3.0, dense)],
            gates=[(2.0, U)],
        )

    mc = ds.simulate(dense, protocol(0.5), ntraj=40_000, seed=2103)
    assert ds.compare(mc, ds.solve_master_equation(dense, protocol(0.5)), threshold=5.0).consistent
    assert not ds.compare(mc, ds.solve_master_equation(dense, protocol(0.8)), threshold=5.0).consistent
