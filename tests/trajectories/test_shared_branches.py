"""The shared-branch path of the ensemble sums (trajectories/branches.py) against the golden file and the plain path.

tests/data/golden_sums.npz holds the integer sums of :func:`sums_with_table` (default table) on nine cases (the paper's
protocol, the rare-jump regime, readout error with feedback and rules, mixed initial states,
distributions, a d = 8 LindbladModel), written before the shared path existed (tests/golden_sums_cases.py
says how); it is trusted only with the sha256 below. The plain path is :func:`sums_with_table` with
``table_rows = 0`` (every run evolves and sums all its outputs); a tiny table makes runs fall back to the
plain loop part-way, which must not change a bit either.
"""

from __future__ import annotations

import numpy as np
import pytest
from golden_sums_cases import DIST_NAMES, NAMES, NEW_DIST_NAMES, PATH, cases, digest, run_case

import darkspin as ds
from darkspin.trajectories.distributions import distribution_spec, no_distributions
from darkspin.trajectories.plan import compile_plan
from darkspin.trajectories.signatures import canonical
from darkspin.trajectories.sums_kernel import sums_with_table

GOLDEN_SHA256 = "52116b8583336a7d819c34c0812b46f837f36db81f9a374e4c8fa5cf332f5249"
CASES = cases()


@pytest.fixture(scope="module")
def golden() -> dict[str, np.ndarray]:
    assert digest(PATH) == GOLDEN_SHA256, "tests/data/golden_sums.npz changed: its checksum does not match"
    with np.load(PATH) as f:
        return {k: f[k] for k in f.files}


def _sums(model, protocol, dist, ntraj, seed, nchunks, table_rows):
    plan = canonical(compile_plan(model, protocol))  # the library's one signature: no extra compile
    d = plan.heff.shape[0]
    spec = distribution_spec(protocol, d, None if d == 4 else np.eye(d)[1]) if dist else no_distributions(d)
    spec = canonical(spec)
    abort, done = np.zeros(1, np.int64), np.zeros(nchunks, np.int64)
    out = sums_with_table(np.uint64(seed), 0, ntraj, nchunks, plan, spec, abort, done, table_rows)
    assert done.sum() == ntraj
    sums = dict(zip(NAMES, out[:6], strict=True))
    if dist:
        sums.update(zip(DIST_NAMES + NEW_DIST_NAMES, out[6], strict=True))
    return {k: np.asarray(v) for k, v in sums.items()}


@pytest.mark.parametrize("name", list(CASES))
def test_shared_path_equals_golden_file(golden, name):
    got = run_case(*CASES[name])
    keys = [k.split("/", 1)[1] for k in golden if k.startswith(name + "/")]
    assert sorted(keys) == sorted(k for k in got if k not in NEW_DIST_NAMES)
    for key in keys:
        np.testing.assert_array_equal(got[key], golden[f"{name}/{key}"], err_msg=f"{name}/{key}")


@pytest.mark.parametrize("name", list(CASES))
@pytest.mark.parametrize(("nchunks", "table_rows"), [(1, 0), (5, 0), (1, -1), (4, -1), (3, 40), (2, 250)])
def test_shared_path_equals_plain_path(golden, name, nchunks, table_rows):
    model, protocol, dist, ntraj, seed, _ = CASES[name]
    got = _sums(model, protocol, dist, ntraj // 4, seed, nchunks, table_rows)
    plain = _sums(model, protocol, dist, ntraj // 4, seed, 2, 0)
    for key, value in plain.items():
        np.testing.assert_array_equal(got[key], value, err_msg=key)


def test_golden_sums_are_not_trivial(golden):
    # the cases exercise jumps, several branches and post-selection (a check on the file, not the code)
    assert golden["rare/n_jumps"] > 0 and golden["paper/n_jumps"] > golden["rare/n_jumps"]
    n = golden["readout_feedback_last/record_counts"]
    assert np.count_nonzero(n) > 4
    assert golden["mixed/n_success"].min() > 0


def test_broken_sums_differ_from_golden(golden):
    # negative control: one run fewer, or another seed, must not pass the bit-for-bit comparison
    model, protocol, dist, ntraj, seed, nchunks = CASES["paper"]
    fewer = _sums(model, protocol, dist, ntraj - 1, seed, nchunks, -1)
    assert not np.array_equal(fewer["acc"], golden["paper/acc"])
    other = _sums(model, protocol, dist, ntraj, seed + 1, nchunks, -1)
    assert not np.array_equal(other["acc"], golden["paper/acc"])


def test_simulate_same_bits_on_any_thread_count():
    protocol = ds.Protocol.paper(51)
    a = ds.simulate(ds.SpinPair(lam1=0.01, lam2=0.01), protocol, 3000, seed=5, progress=False, batch_threads=1)
    b = ds.simulate(ds.SpinPair(lam1=0.01, lam2=0.01), protocol, 3000, seed=5, progress=False, batch_threads=2)
    np.testing.assert_array_equal(a.rho, b.rho)
    np.testing.assert_array_equal(a.rho_post, b.rho_post)


def _two_operator_kraus():
    # record +1: P+ kept with weight 0.7 or flipped on spin 1 with 0.3 (two children per record)
    P_plus = np.diag([1.0, 0.0, 0.0, 1.0]).astype(complex)
    P_minus = np.eye(4) - P_plus
    flip1 = np.kron(np.array([[0, 1], [1, 0]]), np.eye(2)).astype(complex)
    return ds.Measurement(kraus={+1: [np.sqrt(0.7) * P_plus, np.sqrt(0.3) * flip1 @ P_plus], -1: [P_minus]})


def _timed_cases():
    # segments and gates are deterministic events of the shared path when the segments share a block
    # layout (every SpinPair does); readout error, feedback and Kraus operators make several branches per round
    pair = ds.SpinPair()
    other = ds.SpinPair(lam1=0.03, lam2=0.01, J_ex=0.02)
    m = ds.Measurement("zz", readout_error=0.05, feedback={+1: "flip1"})
    return {
        "segments+gates": (
            pair,
            ds.Protocol(
                "ud", [100, 200, 300, 400], np.linspace(0, 500, 51), measurement=m,
                segments=[(50.0, other), (150.0, pair), (250.0, other), (400.0, pair)],
                gates=[(120.0, "flip1"), (200.0, ("ry12", np.pi / 3)), (330.0, np.eye(4))],
            ),
        ),
        "weak-kraus+feedback": (
            pair,
            ds.Protocol(
                "ud", [100, 200, 300], np.linspace(0, 400, 41),
                measurement=ds.Measurement.weak("zz", 0.6, feedback={+1: "flip1"}),
            ),
        ),
        "kraus-two-operators": (
            pair,
            ds.Protocol("ud", [100, 200, 300], np.linspace(0, 400, 41), measurement=_two_operator_kraus()),
        ),
        "switch-at-round": (
            pair,
            ds.Protocol("ud", [100, 200], np.linspace(0, 300, 31), segments=[(100.0, other)], gates=[(200.0, "flip2")]),
        ),
    }  # fmt: skip


TIMED = _timed_cases()


@pytest.mark.parametrize("name", list(TIMED))
@pytest.mark.parametrize(("dist", "nchunks", "table_rows"), [(False, 1, -1), (True, 3, -1), (False, 2, 25)])
def test_shared_path_with_segments_and_gates_equals_plain_path(name, dist, nchunks, table_rows):
    from darkspin.trajectories.branches import shareable

    model, protocol = TIMED[name]
    assert shareable(compile_plan(model, protocol))  # the walk is really taken
    got = _sums(model, protocol, dist, 3000, 11, nchunks, table_rows)
    plain = _sums(model, protocol, dist, 3000, 11, 2, 0)
    assert plain["n_jumps"] > 0
    for key, value in plain.items():
        np.testing.assert_array_equal(got[key], value, err_msg=key)


def test_segments_of_another_block_layout_run_the_plain_path():
    from darkspin.trajectories.branches import shareable

    rng = np.random.default_rng(3)
    H = rng.normal(size=(4, 4)) + 1j * rng.normal(size=(4, 4))
    dense = ds.LindbladModel(H + H.conj().T, [0.2 * rng.normal(size=(4, 4))])
    protocol = ds.Protocol("ud", [100], np.linspace(0, 200, 11), segments=[(50.0, dense)])
    assert not shareable(compile_plan(ds.SpinPair(), protocol))
