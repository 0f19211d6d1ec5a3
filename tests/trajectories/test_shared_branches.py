"""The shared-branch path of the ensemble sums (trajectories/branches.py) against the golden file and the plain path.

tests/data/golden_sums.npz holds the integer sums of :func:`ensemble_sums` on nine cases (the paper's
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
