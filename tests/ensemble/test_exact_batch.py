"""The batched exact solver (solve_many) against the point-by-point solver, element by element.

Every comparison is to 1e-12 absolute on rho, rho_post, p_success, p_cumulative and record_probabilities,
with NaN in the same places; a point the batch cannot reproduce must have fallen back to the point solver
(then the two are identical). The tests also check that the fast path is actually taken where it should be.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import darkspin as ds
from darkspin.ensemble.exact import batch as exact_batch
from darkspin.ensemble.exact.batch import _solve_many, solve_many
from darkspin.ensemble.exact.solver import solve_master_equation
from darkspin.ensemble.results.master_equation import PostSelectionUndefinedWarning
from darkspin.trajectories.model import liouvillians

FIELDS = ("rho", "rho_post", "p_success", "p_cumulative", "record_probabilities")
TOL = 1e-12
PAPER = ds.Protocol("ud", [100.0, 200.0, 300.0, 400.0], np.linspace(0.0, 500.0, 11))


def deviation(a, b) -> float:
    """Largest elementwise |a - b| over FIELDS; inf if shapes or NaN positions differ."""
    worst = 0.0
    for f in FIELDS:
        x, y = getattr(a, f), getattr(b, f)
        if x.shape != y.shape or not np.array_equal(np.isnan(x), np.isnan(y)):
            return np.inf
        if x.size:
            worst = max(worst, float(np.nanmax(np.abs(x - y), initial=0.0)))
    return worst


def check_against_point_solver(models, protocols):
    """Solve in one batch; return (largest deviation from the point solver, fraction batched)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PostSelectionUndefinedWarning)
        # the point solver's own warning at nearly defective points (symmetric point, T = 0, V < nu)
        warnings.filterwarnings("ignore", "a step of length .* nearly defective", RuntimeWarning)
        results, batched = _solve_many(models, protocols)
        protocols = protocols if isinstance(protocols, list) else [protocols] * len(models)
        pts = zip(results, models, protocols, strict=True)
        worst = max(deviation(r, solve_master_equation(m, p)) for r, m, p in pts)
    return worst, batched.mean()


# ---- random points ------------------------------------------------------------------------------------


def random_pair(rng, symmetric=False) -> ds.SpinPair:
    lam1 = rng.uniform(0.003, 0.04)
    if symmetric:
        return ds.SpinPair(V=rng.uniform(0.5, 3), T=rng.choice([0.0, 0.2]), lam1=lam1, lam2=lam1)
    return ds.SpinPair(
        nu=rng.uniform(0.6, 1.4),
        V=rng.uniform(0.0, 3.0),
        T=float(rng.choice([0.0, rng.uniform(0.0, 0.8)])),
        lam1=lam1,
        lam2=rng.uniform(0.003, 0.04),
        theta=rng.uniform(-2, 2),
        phi=rng.uniform(-2, 2),
        J_ex=rng.normal(0, 0.05),
        J_DM=rng.normal(0, 0.05),
    )


def random_unitary(rng, d):
    return np.linalg.qr(rng.normal(size=(d, d)) + 1j * rng.normal(size=(d, d)))[0]


def random_measurement(rng, d) -> ds.Measurement:
    if d == 4 and rng.random() < 0.6:
        obs = str(rng.choice(["zz", "xx", "z1"]))
    else:
        U = random_unitary(rng, d)
        signs = np.where(rng.random(d) < 0.5, 1.0, -1.0)
        signs[:2] = (1.0, -1.0)
        obs = (U * signs) @ U.conj().T
    eps = (rng.uniform(0, 0.1), rng.uniform(0, 0.1)) if rng.random() < 0.5 else 0.0
    feedback = None
    if rng.random() < 0.3:
        feedback = {int(rng.choice([1, -1])): "flip1" if d == 4 else random_unitary(rng, d)}
    return ds.Measurement(obs, eps, feedback)


def random_protocol(rng, d) -> ds.Protocol:
    R = int(rng.integers(0, 6))
    t_final = rng.uniform(50, 600)
    grid = np.linspace(0, t_final, 31)
    times = np.sort(rng.choice(grid, int(rng.integers(1, 9)), replace=False))
    times[-1] = t_final
    # measurement times on the output grid (measure, then output) and off it; sometimes two at once
    measure_at = np.sort(rng.choice(np.concatenate([times, rng.uniform(0, t_final, R)]), R))
    if R > 1 and rng.random() < 0.3:
        measure_at[1] = measure_at[0]
    rule = str(rng.choice(["all", "last", "none", "pattern"]))
    if rule == "pattern":
        rule = "".join(rng.choice(list("-+?"), R))
    if d == 4 and rng.random() < 0.7:
        initial = str(rng.choice(["ud", "uu", "T2", "S", "du"]))
    else:
        psi = rng.normal(size=d) + 1j * rng.normal(size=d)
        initial = psi / np.linalg.norm(psi)
    meas = random_measurement(rng, d) if rng.random() < 0.5 else [random_measurement(rng, d) for _ in range(R)]
    return ds.Protocol(initial, measure_at, times, measurement=meas, postselect=rule)


def random_lindblad(rng, d) -> ds.LindbladModel:
    H = rng.normal(size=(d, d)) + 1j * rng.normal(size=(d, d))
    H = 0.5 * (H + H.conj().T) * rng.uniform(0.1, 1.0)
    K = int(rng.integers(0, 4))
    jumps = (rng.normal(size=(K, d, d)) + 1j * rng.normal(size=(K, d, d))) * rng.uniform(0.01, 0.2)
    if K and rng.random() < 0.4:
        jumps = jumps * np.triu(np.ones((d, d)), 1)  # lowering only: sparse, partly unreachable
    return ds.LindbladModel(H, jumps)


# ---- the paper's protocol ---------------------------------------------------------------------------------


def test_paper_point_and_a_sweep_around_it_take_the_fast_path():
    rng = np.random.default_rng(1)
    models = [ds.SpinPair()] + [
        ds.SpinPair().replace(
            lam2=rng.uniform(0.005, 0.03),
            T=rng.uniform(0, 0.5),
            theta=rng.uniform(-1, 1),
            phi=rng.uniform(-1, 1),
            J_DM=rng.normal(0, 0.02),
        )
        for _ in range(40)
    ]
    worst, fraction = check_against_point_solver(models, PAPER)
    assert worst < TOL
    assert fraction == 1.0  # every point of the paper's sweep is batched


def test_the_comparison_detects_a_wrong_point():
    # sensitivity of the check itself: a model 1e-7 away gives a deviation far above TOL
    a = solve_many([ds.SpinPair()], PAPER)[0]
    b = solve_master_equation(ds.SpinPair(lam2=0.0126 * (1 + 1e-7)), PAPER)
    assert deviation(a, b) > 100 * TOL


def test_random_spin_pairs_and_schedules():
    rng = np.random.default_rng(2)
    models = [random_pair(rng, symmetric=rng.random() < 0.2) for _ in range(90)]
    protocols = [random_protocol(rng, 4) for _ in models]
    worst, fraction = check_against_point_solver(models, protocols)
    assert worst < TOL
    assert fraction > 0.6


def test_random_lindblad_models():
    rng = np.random.default_rng(3)
    dims = rng.integers(3, 9, size=24)
    models = [random_lindblad(rng, int(d)) for d in dims]
    protocols = [random_protocol(rng, int(d)) for d in dims]
    worst, fraction = check_against_point_solver(models, protocols)
    assert worst < TOL
    assert fraction > 0.3


def test_rules_readout_errors_and_feedback_on_the_paper_schedule():
    rng = np.random.default_rng(4)
    models = [random_pair(rng) for _ in range(6)]
    for rule in ("all", "last", "none", "-?+-"):
        for meas in (
            ds.Measurement("zz", (0.02, 0.05)),
            ds.Measurement("zz", 0.03, feedback={1: "flip1"}),
            ds.Measurement("xx", 0.01),
        ):
            p = ds.Protocol("ud", PAPER.measure_at, PAPER.times, measurement=meas, postselect=rule)
            worst, fraction = check_against_point_solver(models, p)
            assert worst < TOL, (rule, meas)
            assert fraction == 1.0, (rule, meas)


# ---- structure: reachable coordinates, grouping, independence of the other points ------------------------------


def test_exact_zeros_outside_the_reachable_coordinates():
    # the tau_z x tau_z protocol from |ud> never reaches the coherences between |uu> and the rest
    res = solve_many([ds.SpinPair(lam2=0.01, T=0.2)], PAPER)[0]
    point = solve_master_equation(ds.SpinPair(lam2=0.01, T=0.2), PAPER)
    for rho in (res.rho, res.rho_post):
        assert np.all(rho[:, 0, 1:] == 0) and np.all(rho[:, 1:, 0] == 0)
    assert np.max(np.abs(point.rho[:, 0, 1:])) < 1e-15  # the point solver's subspace basis leaves rounding


def test_dark_singlet_from_a_triplet_start_is_reproduced_or_left_to_the_point_solver():
    # at the symmetric point the singlet is dark; from T2 the point solver keeps it exactly empty. A long
    # post-selection divides by a tiny yield: the batch must agree or fall back, never differ
    models = [ds.SpinPair(), ds.SpinPair(lam2=0.0127), ds.SpinPair(T=0.3)]
    for rounds in (3, 40):
        p = ds.Protocol("T2", np.arange(1, rounds + 1) * 20.0, np.linspace(0, 20.0 * rounds + 20, 5))
        worst, _ = check_against_point_solver(models, p)
        assert worst < TOL


def test_mixed_protocols_are_grouped_and_returned_in_order():
    rng = np.random.default_rng(5)
    pairs = [random_pair(rng) for _ in range(8)]
    others = [random_lindblad(rng, 3), random_lindblad(rng, 5)]
    protocols = [
        PAPER,
        ds.Protocol("ud", [50.0], np.linspace(0, 100, 3)),
        ds.Protocol("uu", [], [10.0, 20.0]),
        ds.Protocol("ud", PAPER.measure_at, PAPER.times, postselect="last"),
        PAPER,
        ds.Protocol("ud", [10.0, 300.0, 300.0, 420.0], PAPER.times),  # another order of events
        ds.Protocol("du", [0.0, 100.0], [0.0, 100.0, 150.0], measurement=ds.Measurement("zz", 0.1)),
        PAPER,
    ]
    models = pairs + others
    protocols = protocols + [random_protocol(rng, 3), random_protocol(rng, 5)]
    results, batched = _solve_many(models, protocols)
    for r, m, p in zip(results, models, protocols, strict=True):
        assert r.model is m and r.protocol is p
        assert deviation(r, solve_master_equation(m, p)) < TOL
    assert batched[:8].all()


def test_a_points_result_does_not_depend_on_the_other_points():
    rng = np.random.default_rng(6)
    models = [random_pair(rng) for _ in range(12)]
    together = solve_many(models, PAPER)
    for i in (0, 5, 11):
        alone = solve_many([models[i]], PAPER)[0]
        mixed = solve_many([models[(i + 1) % 12], models[i], ds.SpinPair(T=0.4)], PAPER)[1]
        for f in FIELDS:
            assert np.array_equal(getattr(alone, f), getattr(together[i], f))
            assert np.array_equal(getattr(mixed, f), getattr(together[i], f))


# ---- falling back ---------------------------------------------------------------------------------------------


def two_level(omega: float, gamma: float = 0.2) -> ds.LindbladModel:
    """A driven, decaying two-level system; exceptional point of the Liouvillian at omega = gamma / 4."""
    return ds.LindbladModel(0.5 * omega * np.array([[0, 1], [1, 0]]), [np.sqrt(gamma) * np.array([[0, 0], [1, 0]])])


def test_exceptional_point_falls_back():
    p = ds.Protocol([1.0, 0.0], [3.0, 6.0], np.linspace(0, 10, 6), measurement=ds.Measurement(np.diag([1.0, -1.0])))
    models = [two_level(0.05), two_level(0.05 * (1 + 1e-9)), two_level(0.3)]
    results, batched = _solve_many(models, p)
    assert batched.tolist() == [False, False, True]
    for r, m in zip(results, models, strict=True):
        assert deviation(r, solve_master_equation(m, p)) < TOL


def test_undefined_post_selection_falls_back_with_the_point_solvers_warning():
    p = ds.Protocol("ud", [0.0, 10.0], [0.0, 5.0, 10.0], postselect="+-")  # |ud> never gives +1
    with pytest.warns(PostSelectionUndefinedWarning, match="round 1"):
        results, batched = _solve_many([ds.SpinPair(), ds.SpinPair(lam2=0.01)], p)
    assert not batched.any()
    assert np.all(np.isnan(results[0].rho_post[1:]))


def test_tiny_yields_are_batched_where_the_probe_allows_and_fall_back_where_it_does_not():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PostSelectionUndefinedWarning)
        # 200 rounds of the paper's rule: yield 1e-10, but the post-selected state converges and stays accurate
        long = ds.Protocol("ud", np.arange(1, 201) * 30.0, [0.0, 6030.0])
        m = ds.SpinPair(lam2=0.03, T=0.3)
        results, batched = _solve_many([m], long)
        assert batched[0] and results[0].p_cumulative[-1] < 1e-9
        assert deviation(results[0], solve_master_equation(m, long)) < TOL
        # from the triplet T2 near the symmetric point, 40 rounds leave a yield of ~1e-6 whose state is
        # rounding-dominated in the batch's basis: the probe sends these points to the point solver
        t2 = ds.Protocol("T2", np.arange(1, 41) * 20.0, np.linspace(0, 820, 5))
        models = [ds.SpinPair(), ds.SpinPair(lam2=0.0127), ds.SpinPair(lam2=0.0127, T=0.3)]
        results, batched = _solve_many(models, t2)
        assert not batched.any()
        for r, m in zip(results, models, strict=True):
            assert deviation(r, solve_master_equation(m, t2)) == 0.0


def test_badly_balanced_liouvillian_is_decomposed_again():
    # T > 0 with V < nu: raising rates ~e^-40 next to rates ~1e-2; LAPACK's balancing spoils the eigenvectors
    m = ds.SpinPair(nu=1.4, V=0.14, T=0.03, lam1=0.027, lam2=0.003, theta=-1.0, phi=-1.0, J_ex=0.034, J_DM=0.019)
    models = [m, m.replace(T=0.02), m.replace(V=0.5, T=0.01)]
    worst, fraction = check_against_point_solver(models, PAPER)
    assert worst < TOL
    assert fraction > 0.5


def test_large_dimensions_go_point_by_point():
    rng = np.random.default_rng(7)
    d = exact_batch.MAX_BATCH_DIM + 1
    m = random_lindblad(rng, d)
    p = ds.Protocol(np.eye(d)[0], [], [0.0, 1.0])
    results, batched = _solve_many([m], p)
    assert not batched[0]
    assert deviation(results[0], solve_master_equation(m, p)) == 0.0


# ---- the batched Liouvillian builder ----------------------------------------------------------------------------


def test_liouvillians_equal_the_single_builder_and_the_jump_operators():
    rng = np.random.default_rng(8)
    pairs = [random_pair(rng) for _ in range(20)] + [ds.SpinPair(), ds.SpinPair(nu=0.0, V=0.0, T=0.0)]
    stacked = liouvillians(pairs)
    assert stacked.shape == (len(pairs), 16, 16)
    for L, m in zip(stacked, pairs, strict=True):
        assert np.array_equal(L, m.liouvillian())
        assert np.max(np.abs(L - m.to_lindblad().liouvillian())) < 1e-13 * max(1.0, np.max(np.abs(L)))
    with pytest.raises(ValueError, match=r"pairs\[1\]"):
        liouvillians([ds.SpinPair(), ds.SpinPair().to_lindblad()])


# ---- bad input -------------------------------------------------------------------------------------------------


@pytest.fixture
def no_solve(monkeypatch):
    """Any solving fails loudly: bad input must be rejected before the first point is solved."""

    def forbidden(*args, **kwargs):
        raise AssertionError("a point was solved: the input should have been rejected first")

    monkeypatch.setattr(exact_batch, "solve_master_equation", forbidden)
    monkeypatch.setattr(exact_batch, "_solve_group", forbidden)


@pytest.mark.parametrize(
    "models, protocols, match",
    [
        ([], PAPER, "models must hold at least one model"),
        (ds.SpinPair(), PAPER, "models must be a sequence"),
        ([ds.SpinPair()] * 3, [PAPER] * 2, r"protocols must be one Protocol or one per model \(3\), got 2"),
        ([ds.SpinPair()] * 2, [PAPER, "ud"], r"protocols\[1\] must be a Protocol"),
        ([ds.SpinPair(), "not a model"], PAPER, r"models\[1\]"),
        (
            [ds.SpinPair(), two_level(0.1)],
            PAPER,
            r"models\[1\] has dimension 2 but the initial state of protocols\[1\]",
        ),
        ([ds.SpinPair()], "paper", "protocols must be a Protocol"),
    ],
)
def test_bad_input_is_rejected_before_any_work(no_solve, models, protocols, match):
    with pytest.raises(ValueError, match=match):
        solve_many(models, protocols)


def test_public_names():
    assert ds.solve_many is solve_many
    assert "solve_many" in ds.__all__ and "solve_many" in ds.ensemble.__all__
