"""Tests of analysis.measures against closed-form results for two qubits.

Expected values come from theory (Bell, product, Werner, pure and X states; local-unitary
invariance; the Verstraete et al. bound between concurrence and negativity) or from QuTiP's
independent implementation, never from the code under test.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from darkspin.analysis.measures import (
    concurrence,
    entanglement_of_formation,
    log_negativity,
    mutual_information,
    partial_trace,
    partial_transpose,
    populations,
    von_neumann_entropy,
)
from darkspin.trajectories.operators import basis_state

from reference import KET, SINGLET, T1, T2, T3, dm, random_rho, random_x_state, shannon
from reference import binary_entropy as h

#: Independent kets for the labels of darkspin.trajectories.operators.basis_state.
STATES = {**KET, "S": SINGLET, "T1": T1, "T2": T2, "T3": T3}

ATOL = 1e-10
MEASURES = [concurrence, entanglement_of_formation, log_negativity, mutual_information]

s2 = 1 / np.sqrt(2)
BELL = {
    "phi+": np.array([s2, 0, 0, s2], dtype=complex),
    "phi-": np.array([s2, 0, 0, -s2], dtype=complex),
    "psi+": np.array([0, s2, s2, 0], dtype=complex),
    "singlet": SINGLET,
}


# --- helpers (more in tests/reference.py) ----------------------------------------------------------


def random_ket(rng, n: int = 4) -> np.ndarray:
    v = rng.normal(size=n) + 1j * rng.normal(size=n)
    return v / np.linalg.norm(v)


def random_unitary(rng, n: int = 2) -> np.ndarray:
    q, r = np.linalg.qr(rng.normal(size=(n, n)) + 1j * rng.normal(size=(n, n)))
    return q * (np.diag(r) / np.abs(np.diag(r)))


def schmidt_probs(psi: np.ndarray) -> np.ndarray:
    """Squared Schmidt coefficients: singular values of the 2x2 coefficient matrix, squared."""
    return np.linalg.svd(psi.reshape(2, 2), compute_uv=False) ** 2


# --- Bell and product states -------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(BELL))
def test_bell_states_are_maximally_entangled(name):
    rho = dm(BELL[name])
    assert concurrence(rho) == pytest.approx(1.0, abs=ATOL)
    assert entanglement_of_formation(rho) == pytest.approx(1.0, abs=ATOL)
    assert log_negativity(rho) == pytest.approx(1.0, abs=ATOL)
    assert mutual_information(rho) == pytest.approx(2.0, abs=ATOL)


@pytest.mark.parametrize("label", ["uu", "ud", "du", "dd", "S", "T1", "T2", "T3"])
def test_operators_basis_state_matches_reference(label):
    np.testing.assert_array_equal(basis_state(label), STATES[label])


def test_singlet_triplet_states():
    rho = dm(STATES["S"])
    assert concurrence(rho) == pytest.approx(1.0, abs=ATOL)
    for label in ("T1", "T3"):
        assert concurrence(dm(STATES[label])) == pytest.approx(0.0, abs=ATOL)
    assert concurrence(dm(STATES["T2"])) == pytest.approx(1.0, abs=ATOL)


@pytest.mark.parametrize("label", ["uu", "ud", "du", "dd"])
def test_basis_product_states_are_uncorrelated(label):
    rho = dm(STATES[label])
    for f in MEASURES:
        assert f(rho) == pytest.approx(0.0, abs=ATOL), f.__name__


def test_random_product_pure_states_are_uncorrelated():
    rng = np.random.default_rng(1)
    for _ in range(25):
        rho = dm(np.kron(random_ket(rng, 2), random_ket(rng, 2)))
        for f in MEASURES:
            assert f(rho) == pytest.approx(0.0, abs=ATOL), f.__name__


def test_random_product_mixed_states_are_uncorrelated():
    rng = np.random.default_rng(2)
    for _ in range(25):
        rho = np.kron(random_rho(rng, n=2), random_rho(rng, n=2))
        for f in MEASURES:
            assert f(rho) == pytest.approx(0.0, abs=ATOL), f.__name__


# --- Werner states -----------------------------------------------------------------------------


@pytest.mark.parametrize("p", [0.0, 0.1, 0.25, 1 / 3, 0.34, 0.5, 0.7, 0.9, 0.999, 1.0])
def test_werner_states(p):
    rho = p * dm(STATES["S"]) + (1 - p) * np.eye(4) / 4
    c = max(0.0, (3 * p - 1) / 2)
    # T_B eigenvalues: (1 + p)/4 three times and (1 - 3p)/4 once, so the trace norm is
    # (1 + 3p)/2 above p = 1/3 and 1 below.
    en = np.log2((1 + 3 * p) / 2) if p > 1 / 3 else 0.0
    # Eigenvalues (1 + 3p)/4 once and (1 - p)/4 three times; both reduced states are I/2.
    mi = 2.0 - shannon([(1 + 3 * p) / 4] + 3 * [(1 - p) / 4])
    assert concurrence(rho) == pytest.approx(c, abs=ATOL)
    assert entanglement_of_formation(rho) == pytest.approx(h((1 + np.sqrt(1 - c**2)) / 2), abs=ATOL)
    assert log_negativity(rho) == pytest.approx(en, abs=ATOL)
    assert mutual_information(rho) == pytest.approx(mi, abs=ATOL)


def test_werner_partial_transpose_spectrum():
    p = 0.6
    rho = p * dm(STATES["S"]) + (1 - p) * np.eye(4) / 4
    eigs = np.sort(np.linalg.eigvalsh(partial_transpose(rho)))
    np.testing.assert_allclose(eigs, sorted([(1 - 3 * p) / 4] + 3 * [(1 + p) / 4]), atol=ATOL)


# --- pure states -------------------------------------------------------------------------------


@pytest.mark.parametrize("a", np.linspace(0, np.pi, 13))
def test_pure_states_cos_ud_sin_du(a):
    psi = np.cos(a) * STATES["ud"] + np.sin(a) * STATES["du"]
    rho = dm(psi)
    assert concurrence(rho) == pytest.approx(abs(np.sin(2 * a)), abs=ATOL)
    assert entanglement_of_formation(rho) == pytest.approx(h(np.cos(a) ** 2), abs=ATOL)
    assert log_negativity(rho) == pytest.approx(np.log2(1 + abs(np.sin(2 * a))), abs=ATOL)
    assert mutual_information(rho) == pytest.approx(2 * h(np.cos(a) ** 2), abs=ATOL)


def test_weakly_entangled_pure_states_keep_relative_accuracy():
    # E_F = h(cos^2 a) ~ a^2 log2(e / a^2) for small a, far below pytest's default abs=1e-12:
    # check relative accuracy, with h evaluated without cancellation (log cos^2 = log1p(-sin^2)).
    for a in (1e-3, 1e-5, 1e-7, 1e-9):
        rho = dm(np.cos(a) * STATES["ud"] + np.sin(a) * STATES["du"])
        assert concurrence(rho) == pytest.approx(abs(np.sin(2 * a)), rel=1e-9, abs=0)
        p, q = np.cos(a) ** 2, np.sin(a) ** 2
        expected = -(p * np.log1p(-q) + q * np.log(q)) / np.log(2)
        assert entanglement_of_formation(rho) == pytest.approx(expected, rel=1e-9, abs=0)


def test_random_pure_states():
    rng = np.random.default_rng(3)
    for _ in range(50):
        psi = random_ket(rng)
        rho = dm(psi)
        lam = schmidt_probs(psi)
        # Pure state: C = 2 |ad - bc|, E_F = entanglement entropy, ||rho^T_B||_1 = (sum sqrt lam)^2.
        c_pure = 2 * abs(psi[0] * psi[3] - psi[1] * psi[2])
        assert concurrence(rho) == pytest.approx(c_pure, abs=ATOL)
        assert entanglement_of_formation(rho) == pytest.approx(shannon(lam), abs=ATOL)
        assert log_negativity(rho) == pytest.approx(2 * np.log2(np.sqrt(lam).sum()), abs=ATOL)
        assert mutual_information(rho) == pytest.approx(2 * shannon(lam), abs=ATOL)


# --- mixed states ------------------------------------------------------------------------------


def assert_x_state_measures(values: dict, x: dict, atol: float = ATOL) -> None:
    """values: measure name -> value computed by the library; x: closed forms from reference.x_state."""
    for name, value in values.items():
        assert value == pytest.approx(x[name], abs=atol), name


def _measures(rho) -> dict:
    return {f.__name__: f(rho) for f in MEASURES}


def test_x_states_closed_form():
    rng = np.random.default_rng(4)
    for _ in range(50):
        x = random_x_state(rng)
        assert_x_state_measures(_measures(x["rho"]), x)
        assert von_neumann_entropy(x["rho"]) == pytest.approx(x["entropy"], abs=ATOL)
        np.testing.assert_allclose(np.linalg.eigvalsh(partial_transpose(x["rho"])), sorted(x["pt_eigs"]), atol=ATOL)


def test_local_unitaries_leave_measures_invariant():
    # every measure is invariant under u1 x u2: the rotated state keeps the X state's closed forms
    rng = np.random.default_rng(5)
    for _ in range(30):
        x = random_x_state(rng)
        u = np.kron(random_unitary(rng), random_unitary(rng))
        assert_x_state_measures(_measures(u @ x["rho"] @ u.conj().T), x)


def test_concurrence_negativity_relations_on_random_states():
    rng = np.random.default_rng(6)
    rhos = np.stack([random_rho(rng, rank=int(rng.integers(1, 5))) for _ in range(300)])
    c = concurrence(rhos)
    neg = 2.0 ** log_negativity(rhos) - 1  # ||rho^T_B||_1 - 1
    ef = entanglement_of_formation(rhos)
    assert np.all((c >= 0) & (c <= 1 + ATOL))
    assert np.all((ef >= -ATOL) & (ef <= 1 + ATOL))
    # Verstraete et al. (2001): for two qubits N = ||rho^T_B||_1 - 1 never exceeds C.
    assert np.all(c >= neg - ATOL)
    # Two qubits: entangled iff not PPT (Horodecki), so C > 0 exactly when N > 0.
    clear = (c > 1e-6) | (neg > 1e-6)
    assert np.array_equal((c > 1e-8)[clear], (neg > 1e-8)[clear])
    mi = mutual_information(rhos)
    assert np.all((mi >= -ATOL) & (mi <= 2 + ATOL))


def test_against_qutip():
    qutip = pytest.importorskip("qutip")
    rng = np.random.default_rng(7)
    for rank in (1, 2, 3, 4):
        for _ in range(10):
            rho = random_rho(rng, rank=rank)
            q = qutip.Qobj(rho, dims=[[2, 2], [2, 2]])
            # QuTiP takes square roots of the eigenvalues of R: only ~1e-8 for low rank.
            assert concurrence(rho) == pytest.approx(qutip.concurrence(q), abs=1e-7)
            ln = qutip.negativity(q, 1, method="eigenvalues", logarithmic=True)
            assert log_negativity(rho) == pytest.approx(ln, abs=1e-9)
            mi = qutip.entropy_mutual(q, 0, 1, base=2)
            assert mutual_information(rho) == pytest.approx(mi, abs=1e-9)


# --- robustness: Hermitisation, slight non-positivity ------------------------------------------


def test_anti_hermitian_part_is_ignored():
    rng = np.random.default_rng(8)
    for _ in range(10):
        x = random_x_state(rng)
        g = rng.normal(size=(4, 4)) + 1j * rng.normal(size=(4, 4))
        noisy = x["rho"] + 0.01 * (g - g.conj().T)  # anti-Hermitian
        assert_x_state_measures(_measures(noisy), x)
        expected_pops = [np.real(np.vdot(v, x["rho"] @ v)) for v in (SINGLET, T1, T2, T3)]
        np.testing.assert_allclose(populations(noisy), expected_pops, atol=ATOL)


def test_slightly_non_positive_input_is_accepted():
    rho = dm(BELL["singlet"]) + 1e-9 * np.diag([1.0, -1.0, 1.0, -1.0])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        values = [f(rho) for f in MEASURES]
    assert all(np.isfinite(values))
    # a 1e-9 perturbation of the singlet: C = E_F = E_N = 1 and S_12 = 2 up to ~1e-8
    np.testing.assert_allclose(values, [1.0, 1.0, 1.0, 2.0], atol=1e-6)


# --- stacks, NaN, validation -------------------------------------------------------------------


def test_stacks_give_each_matrix_its_closed_form():
    rng = np.random.default_rng(9)
    xs = [random_x_state(rng) for _ in range(15)]
    stack = np.stack([x["rho"] for x in xs]).reshape(3, 5, 4, 4)
    for f in MEASURES:
        out = f(stack)
        assert isinstance(out, np.ndarray) and out.shape == (3, 5), f.__name__
        expected = np.array([x[f.__name__] for x in xs]).reshape(3, 5)
        np.testing.assert_allclose(out, expected, rtol=0, atol=ATOL, err_msg=f.__name__)
    expected = np.array([x["entropy"] for x in xs]).reshape(3, 5)
    np.testing.assert_allclose(von_neumann_entropy(stack), expected, rtol=0, atol=ATOL)
    assert von_neumann_entropy(stack).shape == (3, 5)
    assert populations(stack).shape == (3, 5, 4)
    assert partial_trace(stack, 0).shape == (3, 5, 2, 2)
    assert partial_transpose(stack).shape == (3, 5, 4, 4)


def test_single_matrix_gives_float():
    for f in MEASURES + [von_neumann_entropy]:
        assert isinstance(f(np.eye(4) / 4), float), f.__name__


def test_empty_stack():
    for f in MEASURES:
        assert f(np.zeros((0, 4, 4))).shape == (0,)


def test_nan_matrices_give_nan_silently():
    rng = np.random.default_rng(10)
    xs = [random_x_state(rng) for _ in range(4)]
    stack = np.stack([x["rho"] for x in xs])
    stack[1] = np.nan  # as the exact solver marks an undefined post-selected state
    stack[2, 0, 3] = np.nan  # a single NaN entry poisons its matrix only
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for f in MEASURES + [von_neumann_entropy]:
            out = f(stack)
            assert np.isnan(out[1]) and np.isnan(out[2]), f.__name__
            assert np.isfinite(out[0]) and np.isfinite(out[3]), f.__name__
            name = "entropy" if f is von_neumann_entropy else f.__name__
            np.testing.assert_allclose(out[[0, 3]], [xs[0][name], xs[3][name]], rtol=0, atol=ATOL)
            assert np.isnan(f(np.full((4, 4), np.nan))), f.__name__
        pops = populations(stack)
    assert np.isnan(pops[1]).all() and np.isfinite(pops[0]).all()


@pytest.mark.parametrize("shape", [(3, 3), (4,), (4, 5), (2, 4, 3), (16,), ()])
def test_bad_shapes_raise(shape):
    bad = np.zeros(shape)
    for f in MEASURES + [populations, partial_transpose]:
        with pytest.raises(ValueError, match="rho"):
            f(bad)
    with pytest.raises(ValueError, match="rho"):
        partial_trace(bad, 0)


def test_infinite_or_non_numeric_input_raises():
    rho = np.eye(4) / 4
    rho[0, 1] = np.inf
    for f in MEASURES + [populations, partial_transpose, von_neumann_entropy]:
        with pytest.raises(ValueError, match="rho"):
            f(rho)
    with pytest.raises(ValueError, match="rho"):
        concurrence(np.full((4, 4), "a"))
    with pytest.raises(ValueError, match="rho"):
        von_neumann_entropy(np.zeros((2, 3)))


@pytest.mark.parametrize("keep", [2, -1, 0.0, True, "0"])
def test_partial_trace_rejects_bad_keep(keep):
    with pytest.raises(ValueError, match="keep"):
        partial_trace(np.eye(4) / 4, keep)


# --- populations, partial trace/transpose, entropy ---------------------------------------------


def test_populations():
    np.testing.assert_allclose(populations(dm(STATES["S"])), [1, 0, 0, 0], atol=ATOL)
    np.testing.assert_allclose(populations(dm(STATES["ud"])), [0.5, 0, 0.5, 0], atol=ATOL)
    np.testing.assert_allclose(populations(dm(STATES["du"])), [0.5, 0, 0.5, 0], atol=ATOL)
    np.testing.assert_allclose(populations(dm(STATES["uu"])), [0, 1, 0, 0], atol=ATOL)
    np.testing.assert_allclose(populations(dm(STATES["dd"])), [0, 0, 0, 1], atol=ATOL)
    np.testing.assert_allclose(populations(np.eye(4) / 4), [0.25] * 4, atol=ATOL)


def test_populations_of_random_states_are_real_and_sum_to_one():
    rng = np.random.default_rng(11)
    rhos = np.stack([random_rho(rng) for _ in range(20)])
    pops = populations(rhos)
    assert pops.shape == (20, 4) and np.isrealobj(pops)
    assert np.all(pops >= -ATOL)
    np.testing.assert_allclose(pops.sum(axis=-1), 1.0, atol=ATOL)


def test_partial_trace_and_transpose_of_products():
    rng = np.random.default_rng(12)
    a, b = random_rho(rng, n=2), random_rho(rng, n=2)
    b_unnormalised = 2.5 * b
    prod = np.kron(a, b_unnormalised)
    np.testing.assert_allclose(partial_trace(prod, 0), 2.5 * a, atol=ATOL)  # Tr_2(A x B) = A Tr B
    np.testing.assert_allclose(partial_trace(prod, 1), b_unnormalised, atol=ATOL)
    np.testing.assert_allclose(partial_transpose(prod), np.kron(a, b_unnormalised.T), atol=ATOL)


def test_partial_trace_of_entangled_state():
    c2, s2_ = np.cos(0.3) ** 2, np.sin(0.3) ** 2
    rho = dm(np.cos(0.3) * STATES["ud"] + np.sin(0.3) * STATES["du"])
    np.testing.assert_allclose(partial_trace(rho, 0), np.diag([c2, s2_]), atol=ATOL)
    np.testing.assert_allclose(partial_trace(rho, 1), np.diag([s2_, c2]), atol=ATOL)


@pytest.mark.parametrize("d", [1, 2, 3, 4, 8])
def test_von_neumann_entropy(d):
    assert von_neumann_entropy(np.eye(d) / d) == pytest.approx(np.log2(d), abs=ATOL)
    rng = np.random.default_rng(d)
    psi = random_ket(rng, d)
    assert von_neumann_entropy(dm(psi)) == pytest.approx(0.0, abs=ATOL)
    p = rng.dirichlet(np.ones(d))
    u = random_unitary(rng, d)
    assert von_neumann_entropy(u @ np.diag(p) @ u.conj().T) == pytest.approx(shannon(p), abs=ATOL)
