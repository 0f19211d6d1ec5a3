"""Property-based tests (hypothesis): invariants that must hold for every valid model, initial state
and measurement schedule, and ValueError (naming the parameter) for every invalid input.

Example counts come from the hypothesis profile (tests/conftest.py): 'ci' by default, 'dev' for a
longer local run. Under 'ci' (100 examples) the file takes ~5 s on an idle 2-core machine, ~40 s
under heavy load (Numba cache warm); 'dev' (1000) takes ~1 minute.
"""

from __future__ import annotations

import concurrent.futures as cf
import math
import re
import warnings

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from darkspin.ensemble import simulate, solve_master_equation
from darkspin.ensemble.results.master_equation import PostSelectionUndefinedWarning
from darkspin.trajectories import Protocol, SpinPair, run_trajectory
from darkspin.trajectories.protocol import INITIAL_LABELS

# ---- ranges of the random valid inputs (energies in units of a common scale) -------------------
NU_RANGE = (0.2, 2.0)
V_RANGE = (0.0, 5.0)
T_RANGE = (0.0, 3.0)
LAM_RANGE = (0.0, 0.5)
ANGLE_RANGE = (-math.pi, math.pi)  # theta, phi
J_RANGE = (-1.0, 1.0)  # J_ex, J_DM
N_OUT_RANGE = (5, 30)  # output times per protocol
T_FINAL_RANGE = (0.5, 30.0)
MAX_ROUNDS = 6  # measurements per protocol

# ---- tolerances ------------------------------------------------------------------------------
TOL_STATE = 1e-12  # trace, hermiticity, lowest eigenvalue of exact states; trajectory norms
TOL_TRACE_PRESERVING = 1e-13  # |vec(I)^dag L| / max|L|
TOL_RESIDUAL = 1e-10  # jump-time root residuals
TOL_MC_STATE = 1e-10  # MC estimates: fixed-point sums round each term to 2^-40

FIELDS = ("nu", "V", "T", "lam1", "lam2", "theta", "phi", "J_ex", "J_DM")


def _examples(fraction: float) -> int:
    """A fraction of the active profile's max_examples (at least 3)."""
    return max(3, int(settings.default.max_examples * fraction))


def _finite(lo, hi):
    return st.floats(lo, hi, allow_nan=False, allow_infinity=False)


# ---- strategies --------------------------------------------------------------------------------
models = st.builds(
    SpinPair,
    nu=_finite(*NU_RANGE),
    V=_finite(*V_RANGE),
    T=_finite(*T_RANGE),
    lam1=_finite(*LAM_RANGE),
    lam2=_finite(*LAM_RANGE),
    theta=_finite(*ANGLE_RANGE),
    phi=_finite(*ANGLE_RANGE),
    J_ex=_finite(*J_RANGE),
    J_DM=_finite(*J_RANGE),
)


@st.composite
def pure_vectors(draw):
    """Normalised complex 4-vectors, shape (4,)."""
    x = np.array(draw(st.lists(_finite(-1, 1), min_size=8, max_size=8)))
    v = x[:4] + 1j * x[4:]
    n = np.linalg.norm(v)
    assume(n > 1e-2)
    return v / n


@st.composite
def mixed_states(draw):
    """Density matrices G G^dag / Tr of rank 1 to 4, shape (4, 4)."""
    rank = draw(st.integers(1, 4))
    x = np.array(draw(st.lists(_finite(-1, 1), min_size=8 * rank, max_size=8 * rank)))
    G = (x[: 4 * rank] + 1j * x[4 * rank :]).reshape(4, rank)
    rho = G @ G.conj().T
    tr = np.trace(rho).real
    assume(tr > 1e-2)
    return rho / tr


initial_states = st.one_of(st.sampled_from(INITIAL_LABELS), pure_vectors(), mixed_states())


@st.composite
def schedules(draw):
    """(times (n,), measure_at (rounds,)): a strictly increasing output grid ending at t_final and a
    sorted measurement schedule in [0, t_final], with repeats and points at 0, t_final and on the grid."""
    t_final = draw(_finite(*T_FINAL_RANGE))
    n = draw(st.integers(*N_OUT_RANGE))
    if draw(st.booleans()):
        start = draw(st.sampled_from([0.0, 0.1 * t_final]))
        times = np.linspace(start, t_final, n)
    else:
        inner = draw(st.lists(_finite(0.0, t_final), min_size=n - 1, max_size=n - 1, unique=True))
        times = np.unique(np.array(inner + [t_final]))
        assume(times[-1] == t_final and times.size >= N_OUT_RANGE[0])
    pool = st.one_of(_finite(0.0, t_final), st.just(0.0), st.just(t_final), st.sampled_from(list(times)))
    meas = draw(st.lists(pool, max_size=MAX_ROUNDS))
    if meas and draw(st.booleans()):
        meas.append(draw(st.sampled_from(meas)))  # a repeated instant
    return times, np.sort(np.array(meas, dtype=float))


@st.composite
def protocols(draw):
    times, meas = draw(schedules())
    return Protocol(draw(initial_states), meas, times)


def _solve(model, protocol):
    # post-selection may legitimately underflow (e.g. lam = 0 from |uu>): covered in test_edges
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PostSelectionUndefinedWarning)
        return solve_master_equation(model, protocol)


def _assert_density_matrices(rhos, tol):
    """Every (4, 4) matrix in rhos (n, 4, 4) has trace 1, is Hermitian and positive (to tol)."""
    np.testing.assert_allclose(np.trace(rhos, axis1=1, axis2=2), 1.0, rtol=0, atol=tol)
    assert np.max(np.abs(rhos - rhos.conj().transpose(0, 2, 1)), initial=0.0) <= tol
    lowest = np.linalg.eigvalsh(0.5 * (rhos + rhos.conj().transpose(0, 2, 1)))[:, 0]
    assert np.all(lowest >= -tol), lowest.min()


# ---- the exact solution ------------------------------------------------------------------------


@given(models)
def test_liouvillian_is_trace_preserving(model):
    L = model.liouvillian()
    # row-major vec: Tr rho = vec(I)^T vec(rho), so vec(I)^dag L must vanish
    left = np.eye(4).reshape(16) @ L
    assert np.max(np.abs(left)) <= TOL_TRACE_PRESERVING * max(np.max(np.abs(L)), 1.0)


@given(models, protocols())
def test_exact_solution_is_a_state_at_every_output(model, protocol):
    res = _solve(model, protocol)
    assert res.rho.shape == res.rho_post.shape == (protocol.times.size, 4, 4)
    assert np.all(np.isfinite(res.rho))
    _assert_density_matrices(res.rho, TOL_STATE)
    nan_rows = np.isnan(res.rho_post).any(axis=(1, 2))
    assert np.all(np.isnan(res.rho_post[nan_rows]))  # undefined means entirely NaN
    if protocol.rounds == 0:
        assert not nan_rows.any()
    # once undefined, rho_post stays undefined
    assert np.all(np.diff(nan_rows.astype(int)) >= 0)
    if (~nan_rows).any():
        _assert_density_matrices(res.rho_post[~nan_rows], TOL_STATE)
    p = res.p_success
    assert p.shape == res.p_cumulative.shape == (protocol.rounds,)
    ok = ~np.isnan(p)
    assert np.all((p[ok] >= 0) & (p[ok] <= 1))
    np.testing.assert_allclose(res.p_cumulative, np.cumprod(np.nan_to_num(p, nan=0.0)), rtol=1e-13, atol=0)
    assert np.all((res.p_cumulative >= 0) & (res.p_cumulative <= 1))


@given(models, protocols())
def test_exact_post_selected_state_before_first_round_is_rho(model, protocol):
    res = _solve(model, protocol)
    first = protocol.measure_at[0] if protocol.rounds else np.inf
    before = protocol.times < first
    np.testing.assert_array_equal(res.rho_post[before], res.rho[before])


# ---- single trajectories -----------------------------------------------------------------------


@given(models, protocols(), st.integers(0, 2**64 - 1), st.integers(0, 2**20))
def test_single_trajectory_invariants(model, protocol, seed, index):
    tr = run_trajectory(model, protocol, seed, index)
    n = protocol.times.size
    assert tr.states.shape == (n, 4) and tr.post.shape == (n,)
    norms = np.sum(np.abs(tr.states) ** 2, axis=1)
    assert np.max(np.abs(norms - 1.0)) <= TOL_STATE
    jt = tr.jump_times
    assert np.all(np.diff(jt) > 0)
    if jt.size:
        assert 0 < jt[0] and jt[-1] <= protocol.t_final
        assert np.max(tr.jump_residuals) < TOL_RESIDUAL
    assert jt.shape == tr.jump_channels.shape == tr.jump_residuals.shape == (len(tr.jump_labels),)
    assert np.all((tr.jump_channels >= 0) & (tr.jump_channels < len(tr.labels)))
    assert tuple(tr.labels[k] for k in tr.jump_channels) == tuple(tr.jump_labels)
    if len(model.jump_operators()) == 0:
        assert jt.size == 0
    assert tr.outcomes.shape == (protocol.rounds,)
    assert set(np.unique(tr.outcomes)) <= {-1, 1}
    # post-selected: every round up to (and at) the output time had outcome -1
    for i, t in enumerate(protocol.times):
        done = tr.outcomes[protocol.measure_at <= t]
        assert tr.post[i] == bool(np.all(done == -1))
    # an output at a measurement instant shows the projected state of the last round there
    for i, t in enumerate(protocol.times):
        rounds_here = np.flatnonzero(protocol.measure_at == t)
        if rounds_here.size:
            kept = (1, 2) if tr.outcomes[rounds_here[-1]] == -1 else (0, 3)
            dropped = [k for k in range(4) if k not in kept]
            assert np.all(tr.states[i, dropped] == 0)
            # a repeated measurement at the same instant repeats the outcome
            assert np.all(tr.outcomes[rounds_here] == tr.outcomes[rounds_here[0]])


# ---- ensembles ---------------------------------------------------------------------------------


@settings(max_examples=_examples(0.2))
@given(models, protocols(), st.integers(0, 2**64 - 1))
def test_simulate_with_fixed_seed_is_deterministic(model, protocol, seed):
    a = simulate(model, protocol, 50, seed, progress=False)
    b = simulate(model, protocol, 50, seed, progress=False)
    c = simulate(model, protocol, 50, seed, progress=False, batch_size=7)  # other split, same sums
    assert a.sums.identical(b.sums) and a.sums.identical(c.sums)
    assert a.seed == seed and a.ntraj == 50
    np.testing.assert_array_equal(a.rho, b.rho)
    # estimates are states; p_cumulative is the success fraction
    _assert_density_matrices(a.rho, TOL_MC_STATE)
    defined = a.n_post > 0
    assert np.all(np.isnan(a.rho_post[~defined]))
    if defined.any():
        _assert_density_matrices(a.rho_post[defined], TOL_MC_STATE)
    np.testing.assert_array_equal(a.p_cumulative, a.n_success / 50)
    assert np.all(np.diff(a.n_success) <= 0) and np.all(np.diff(a.n_post) <= 0)


# ---- invalid input -----------------------------------------------------------------------------


def _names(message: str, name: str) -> bool:
    return re.search(rf"(?<![A-Za-z0-9_]){re.escape(name)}(?![A-Za-z0-9_])", message) is not None


def _non_numeric_text():
    def numeric(s):
        try:
            float(s)
            return True
        except ValueError:
            return False

    return st.text(max_size=6).filter(lambda s: not numeric(s))


# SpinPair and simulate reject every str (numeric or not); Protocol: see test_protocol_rejects_numeric_strings
not_a_number = st.one_of(
    st.just(float("nan")),
    st.just(float("inf")),
    st.just(-float("inf")),
    st.just(np.float64("nan")),
    st.text(max_size=6),
    st.none(),
    st.complex_numbers(allow_nan=False, allow_infinity=False, min_magnitude=1e-3),
    st.just([1.0]),
    st.just(True),
)


@st.composite
def bad_spin_pair(draw):
    """(kwargs, name) with one invalid SpinPair field."""
    name = draw(st.sampled_from(FIELDS))
    bad = not_a_number
    if name in SpinPair.NONNEGATIVE:
        bad = st.one_of(not_a_number, st.floats(max_value=-1e-300, allow_nan=False, allow_infinity=False))
    return {name: draw(bad)}, name


@given(bad_spin_pair())
def test_spin_pair_bad_input_raises_value_error_naming_it(case):
    kwargs, name = case
    with pytest.raises(ValueError) as info:
        SpinPair(**kwargs)
    assert _names(str(info.value), name), str(info.value)


def _random_unitary(draw):
    x = np.array(draw(st.lists(_finite(-1, 1), min_size=32, max_size=32)))
    G = (x[:16] + 1j * x[16:]).reshape(4, 4) + 3 * np.eye(4)  # well conditioned
    q, _ = np.linalg.qr(G)
    return q


@st.composite
def bad_initial(draw):
    """Invalid ``initial`` values of many kinds."""
    kind = draw(
        st.sampled_from(["shape", "unnormalised", "non_hermitian", "nonfinite", "negative", "trace", "text", "other"])
    )
    if kind == "shape":
        shape = draw(
            st.sampled_from(
                [(), (3,), (5,), (16,), (1, 4), (4, 1), (2, 2), (3, 3), (4, 5), (4, 4, 1), (1, 4, 4), (2, 4, 4)]
            )
        )
        size = int(np.prod(shape))
        x = np.array(draw(st.lists(_finite(-1, 1), min_size=size, max_size=size)))
        return x.reshape(shape)
    if kind == "unnormalised":
        v = draw(pure_vectors())
        factor = draw(st.one_of(_finite(0.0, 0.999), _finite(1.001, 100.0)))
        return v * factor
    if kind == "non_hermitian":
        rho = draw(mixed_states())
        i, j = draw(st.sampled_from([(i, j) for i in range(4) for j in range(4) if i != j]))
        rho = rho.copy()
        rho[i, j] += draw(st.one_of(_finite(1e-6, 1.0), _finite(-1.0, -1e-6))) * draw(st.sampled_from([1, 1j]))
        return rho
    if kind == "nonfinite":
        base = draw(st.one_of(pure_vectors(), mixed_states())).copy()
        idx = draw(st.integers(0, base.size - 1))
        base.reshape(-1)[idx] = draw(st.sampled_from([np.nan, np.inf, -np.inf, complex(np.nan, 0)]))
        return base
    if kind == "negative":
        a = draw(_finite(1e-6, 1.0))
        U = _random_unitary(draw)
        return U @ np.diag([1 + a, -a, 0, 0]) @ U.conj().T
    if kind == "trace":
        rho = draw(mixed_states())
        return rho * draw(st.one_of(_finite(0.0, 0.999), _finite(1.001, 10.0)))
    if kind == "text":
        return draw(_non_numeric_text().filter(lambda s: s not in INITIAL_LABELS))
    return draw(st.sampled_from([None, object(), {"a": 1}, ["a", "b", "c", "d"], True, 1.0 + 0j]))


@st.composite
def bad_times(draw, name):
    """Invalid output grids (name='times') or measurement schedules (name='measure_at'); the other is valid."""
    kind = draw(
        st.sampled_from(
            ["unsorted", "negative", "nonfinite", "two_d", "text", "other"]
            + (["out_of_range"] if name == "measure_at" else ["repeated", "empty"])
        )
    )
    base = sorted(draw(st.lists(_finite(0.0, 10.0), min_size=2, max_size=8, unique=True)))
    if kind == "unsorted":
        i = draw(st.integers(0, len(base) - 2))
        base[i], base[i + 1] = base[i + 1], base[i]
        return base
    if kind == "negative":
        return [draw(st.floats(max_value=-1e-300, allow_nan=False, allow_infinity=False))] + base
    if kind == "nonfinite":
        base.insert(draw(st.integers(0, len(base))), draw(st.sampled_from([np.nan, np.inf, -np.inf])))
        return base
    if kind == "two_d":
        rows, cols = draw(st.integers(1, 4)), draw(st.integers(2, 4))
        x = np.sort(np.array(draw(st.lists(_finite(0.0, 10.0), min_size=rows * cols, max_size=rows * cols))))
        return x.reshape(cols, rows) if draw(st.booleans()) else x.reshape(rows, cols)
    if kind == "text":
        return draw(st.one_of(_non_numeric_text(), st.lists(_non_numeric_text(), min_size=1, max_size=3)))
    if kind == "out_of_range":  # beyond the final output time 10
        return base[:-1] + [10.0 + draw(_finite(1e-9, 100.0))]
    if kind == "repeated":
        i = draw(st.integers(0, len(base) - 1))
        return sorted(base + [base[i]])
    if kind == "empty":
        return []
    return draw(st.sampled_from([[1j, 2.0], [0.0, None], {"a": 1}, [object()], [[0.0], [1.0, 2.0]]]))


@given(
    st.one_of(
        bad_initial().map(lambda v: ("initial", v)),
        bad_times("times").map(lambda v: ("times", v)),
        bad_times("measure_at").map(lambda v: ("measure_at", v)),
    )
)
def test_protocol_bad_input_raises_value_error_naming_it(case):
    name, value = case
    args = {"initial": "ud", "measure_at": [1.0, 2.0], "times": np.linspace(0.0, 10.0, 11)}
    if name == "times":
        args["measure_at"] = []
    args[name] = value
    with pytest.raises(ValueError) as info:
        Protocol(**args)
    assert _names(str(info.value), name), str(info.value)


@pytest.mark.parametrize(
    "name, value",
    [
        ("times", "5"),
        ("times", ["0", "5"]),
        ("measure_at", "1"),
        ("measure_at", b"1"),
        ("initial", ["1", "0", "0", "0"]),
    ],
)
def test_protocol_rejects_numeric_strings(name, value):
    args = {"initial": "ud", "measure_at": [1.0], "times": [0.0, 5.0]}
    args[name] = value
    with pytest.raises(ValueError, match=name):
        Protocol(**args)


_SMALL_MODEL = SpinPair()
_SMALL_PROTOCOL = Protocol("ud", [1.0], [0.0, 1.0, 2.0])


@st.composite
def bad_simulate_args(draw):
    """(kwargs, name) for simulate with one invalid argument."""
    name = draw(st.sampled_from(["ntraj", "seed", "batch_size", "target_se", "max_ntraj", "executor"]))
    not_int = st.one_of(
        _finite(-10.0, 10.0).filter(lambda x: x != int(x)),
        st.just(float("nan")),
        st.text(max_size=6),
        st.just(True),
        st.just(1 + 0j),
        st.just([3]),
    )
    kwargs = {"ntraj": 10}
    if name == "ntraj":
        kwargs["ntraj"] = draw(st.one_of(st.integers(max_value=0), not_int, st.none()))
    elif name == "seed":
        kwargs["seed"] = draw(st.one_of(st.integers(max_value=-1), st.integers(min_value=2**64), not_int))
    elif name == "batch_size":
        kwargs["batch_size"] = draw(st.one_of(st.integers(max_value=0), not_int))
    elif name == "target_se":
        kwargs["target_se"] = draw(
            st.one_of(
                st.floats(max_value=0.0, allow_nan=False),
                st.just(float("nan")),
                st.just(float("inf")),
                st.text(max_size=6),
                st.just(True),
                st.just(1j),
            )
        )
    elif name == "max_ntraj":
        kwargs["target_se"] = 0.01
        kwargs["max_ntraj"] = draw(st.one_of(st.integers(max_value=9), not_int))
    else:
        kwargs["executor"] = draw(st.sampled_from(["threads", 4, object(), cf.Future(), print]))
    return kwargs, name


@given(bad_simulate_args())
def test_simulate_bad_input_raises_value_error_naming_it(case):
    kwargs, name = case
    with pytest.raises(ValueError) as info:
        simulate(_SMALL_MODEL, _SMALL_PROTOCOL, progress=False, **kwargs)
    assert _names(str(info.value), name), str(info.value)
