"""Tests of the general-dimension no-jump propagator (trajectories/blocks.py, trajectories/linalg.py).

References are independent of the code under test: scipy.linalg.expm, an extended-precision
(long double, eps 1e-19) Taylor scaling-and-squaring written here, closed forms W exp(D) W^-1 for
matrices built from a known eigen-decomposition, and, for the 4 x 4 STM model, the existing
closed-form block_propagator (bit for bit). Errors are relative to ||U||_2 ||psi||_2 (a propagator
accurate in the operator norm of U). Runtime: a few seconds with the Numba cache warm.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.linalg

from darkspin.trajectories import SpinPair
from darkspin.trajectories.blocks import (
    KIND_DENSE,
    KIND_EIG,
    KIND_PAIR,
    KIND_SCALAR,
    BlockPropagator,
    apply_propagator,
    apply_propagator_work,
    block_propagator_matrix,
    find_blocks,
    make_block_propagator,
    off_block_ratio,
)
from darkspin.trajectories.linalg import (
    EIG_COND_MAX,
    MAX_DIM,
    dense_apply,
    eig_apply,
    eig_data,
    eig_matrix,
    expm_dense,
    schur_apply,
    schur_data,
)
from darkspin.trajectories.propagator import block_propagator

#: Required accuracy, relative to ||U|| ||psi||.
TOL = 1e-10
TAUS = (1e-6, 0.1, 1.0, 10.0, 100.0)


# ---- independent helpers -------------------------------------------------------------------------------


def _crandn(rng, *shape):
    return rng.normal(size=shape) + 1j * rng.normal(size=shape)


def _random_heff(rng, d: int, damping: float = 0.3) -> np.ndarray:
    """H - (i/2) Gamma with H Hermitian and Gamma = sum_k L_k^dag L_k (3 random L_k) positive semidefinite."""
    x = _crandn(rng, d, d)
    h = (x + x.conj().T) / (2 * math.sqrt(d))
    ls = _crandn(rng, 3, d, d) * (damping / math.sqrt(3 * d))
    gamma = np.einsum("kji,kjl->il", ls.conj(), ls)
    return h - 0.5j * gamma


def _near_defective(rng, n: int, eps: float) -> np.ndarray:
    """S (J + eps E) S^-1, J an n x n Jordan block, cond(S) = 3, damped just enough to be a valid H_eff.

    The eigenvalue of J is shifted down by the largest eigenvalue of the anti-Hermitian part (+0.01),
    so that part is negative definite: a no-jump generator whose propagator contracts.
    """
    q, _ = np.linalg.qr(_crandn(rng, n, n))
    s = q @ np.diag(np.linspace(1.0, 3.0, n))
    e = _crandn(rng, n, n)
    a = 0.4 * np.eye(n) + s @ (np.eye(n, k=1) + eps * e / np.linalg.norm(e, 2)) @ np.linalg.inv(s)
    top = np.linalg.eigvalsh((a - a.conj().T) / 2j).max()
    return a - 1j * (top + 0.01) * np.eye(n)


def _expm_longdouble(m: np.ndarray) -> np.ndarray:
    """exp(M) in long double: Taylor to 30 terms after scaling ||M||_1 below 1/4, then squaring."""
    m = np.asarray(m, dtype=np.clongdouble)
    nrm = float(np.abs(m).sum(axis=0).max())
    s = max(0, math.ceil(math.log2(nrm / 0.25))) if nrm > 0.25 else 0
    x = m / np.longdouble(2) ** s
    out = np.eye(m.shape[0], dtype=np.clongdouble)
    term = out.copy()
    for k in range(1, 30):
        term = term @ x / k
        out = out + term
    for _ in range(s):
        out = out @ out
    return out


def _rel_err(got, ref, u, psi) -> float:
    return float(np.linalg.norm(got - ref) / (np.linalg.norm(u, 2) * np.linalg.norm(psi)))


def _all_paths(a: np.ndarray, tau: float, psi: np.ndarray) -> dict[str, np.ndarray]:
    """exp(-i A tau) psi by every path of blocks.py and linalg.py (eig path without its conditioning gate)."""
    n = a.shape[0]
    res = {}
    lam, v, vinv, _ = eig_data(a)
    out = np.empty(n, complex)
    eig_apply(lam, v, vinv, tau, psi, out)
    res["eig_apply"] = out.copy()
    u = np.empty((n, n), complex)
    eig_matrix(lam, v, vinv, tau, u)
    res["eig_matrix"] = u @ psi
    dense_apply(a, tau, psi, out)
    res["dense_apply"] = out.copy()
    expm_dense(np.ascontiguousarray(-1j * a * tau), u)
    res["expm_dense"] = u @ psi
    t, q = schur_data(a)
    schur_apply(t, q, tau, psi, out)
    res["schur_apply"] = out.copy()
    for name, cmax in (("packed_eig", math.inf), ("packed_pade", 1.0)):
        bp = make_block_propagator(a, eig_cond_max=cmax)
        apply_propagator(bp, tau, psi, out)
        res[name] = out.copy()
    return res


# ---- find_blocks -----------------------------------------------------------------------------------------


def _expected_partition(sizes, perm):
    """(order, starts) for blocks of the given sizes in the original basis, after H' = H[perm][:, perm]."""
    block_of = np.repeat(np.arange(len(sizes)), sizes)  # original index -> block
    new_block = block_of[perm]  # new index i holds original index perm[i]
    blocks = sorted((sorted(np.flatnonzero(new_block == b).tolist()) for b in range(len(sizes))), key=min)
    order = np.array([i for blk in blocks for i in blk], np.int64)
    starts = np.concatenate([[0], np.cumsum([len(blk) for blk in blocks])]).astype(np.int64)
    return order, starts


@pytest.mark.parametrize("seed", range(8))
def test_find_blocks_recovers_permuted_partition(seed):
    rng = np.random.default_rng(seed)
    d = int(rng.integers(2, 20))
    cuts = np.sort(rng.choice(np.arange(1, d), size=int(rng.integers(0, d - 1)), replace=False))
    sizes = np.diff(np.concatenate([[0], cuts, [d]]))
    h = scipy.linalg.block_diag(*[_crandn(rng, k, k) for k in sizes])
    perm = rng.permutation(d)
    hp = h[np.ix_(perm, perm)]
    order, starts = find_blocks(hp)
    exp_order, exp_starts = _expected_partition(sizes, perm)
    assert order.dtype == starts.dtype == np.int64
    np.testing.assert_array_equal(order, exp_order)
    np.testing.assert_array_equal(starts, exp_starts)
    assert off_block_ratio(hp, order, starts) == 0.0
    # noise below tol * max|H| off the blocks is ignored; above it, it links blocks
    noise = 1e-16 * np.abs(hp).max() * _crandn(rng, d, d) / 3
    order2, starts2 = find_blocks(hp + noise)
    np.testing.assert_array_equal(order2, exp_order)
    np.testing.assert_array_equal(starts2, exp_starts)
    assert 0 < off_block_ratio(hp + noise, order2, starts2) <= 1e-14
    assert find_blocks(hp + noise, tol=0.0)[1].tolist() == [0, d]


def test_find_blocks_special_matrices():
    rng = np.random.default_rng(1)
    for d in (1, 2, 7, MAX_DIM):
        order, starts = find_blocks(_crandn(rng, d, d))
        assert order.tolist() == list(range(d)) and starts.tolist() == [0, d]
        order, starts = find_blocks(np.diag(_crandn(rng, d)))
        assert order.tolist() == list(range(d)) and starts.tolist() == list(range(d + 1))
    # zero matrix: no edges
    assert find_blocks(np.zeros((3, 3)))[1].tolist() == [0, 1, 2, 3]
    # a chain links through intermediate indices; a one-way element links too
    chain = np.diag(np.ones(5)) + np.diag(np.ones(4), 1)
    assert find_blocks(chain)[1].tolist() == [0, 5]
    one_way = np.eye(4, dtype=complex)
    one_way[3, 0] = 0.5
    order, starts = find_blocks(one_way)
    assert order.tolist() == [0, 3, 1, 2] and starts.tolist() == [0, 2, 3, 4]
    # the STM H_eff: |uu>, {|ud>, |du>}, |dd>
    for model in (SpinPair(), SpinPair(lam1=0.3, lam2=0.1, T=0.4, theta=0.5, phi=0.2, J_DM=0.01)):
        order, starts = find_blocks(model.effective_hamiltonian())
        assert order.tolist() == [0, 1, 2, 3] and starts.tolist() == [0, 1, 3, 4]
    # a partition that cuts a block is detected
    h = scipy.linalg.block_diag(_crandn(rng, 2, 2), _crandn(rng, 3, 3))
    assert off_block_ratio(h, np.arange(5), np.array([0, 1, 2, 5])) > 0.01


def test_find_blocks_rejects_bad_input():
    with pytest.raises(ValueError, match="heff"):
        find_blocks(np.zeros((3, 4)))
    with pytest.raises(ValueError, match="heff"):
        find_blocks(np.zeros((MAX_DIM + 1, MAX_DIM + 1)))
    with pytest.raises(ValueError, match="heff"):
        find_blocks(np.array([[1.0, np.nan], [0.0, 1.0]]))
    with pytest.raises(ValueError, match="tol"):
        find_blocks(np.eye(3), tol=-1e-3)
    with pytest.raises(ValueError, match="order"):
        off_block_ratio(np.eye(3), np.array([0, 0, 1]), np.array([0, 3]))
    with pytest.raises(ValueError, match="starts"):
        off_block_ratio(np.eye(3), np.arange(3), np.array([0, 2]))
    with pytest.raises(ValueError, match="eig_cond_max"):
        make_block_propagator(np.eye(3), eig_cond_max=0.5)
    bp = make_block_propagator(np.eye(3))
    with pytest.raises(ValueError, match="tau"):
        apply_propagator(bp, -1.0, np.ones(3, complex), np.empty(3, complex))


# ---- accuracy against expm -----------------------------------------------------------------------------


@pytest.mark.parametrize("d", [3, 5, 8, 16])
def test_all_paths_match_expm_on_random_heff(d):
    rng = np.random.default_rng(100 + d)
    a = _random_heff(rng, d)
    assert eig_data(a)[3]  # generic: well-conditioned eigenvectors
    assert make_block_propagator(a).kind.tolist() == [KIND_EIG]
    psi = _crandn(rng, d)
    for tau in TAUS:
        u = scipy.linalg.expm(-1j * a * tau)
        for name, got in _all_paths(a, tau, psi).items():
            assert _rel_err(got, u @ psi, u, psi) < TOL, (name, tau)
        # a deliberately wrong propagator (A^T for A) fails the same comparison
        if tau >= 0.1:
            wrong = _all_paths(np.ascontiguousarray(a.T), tau, psi)
            for name, got in wrong.items():
                assert _rel_err(got, u @ psi, u, psi) > 1e3 * TOL, (name, tau)


@pytest.mark.parametrize("n", [3, 4])
@pytest.mark.parametrize("eps", [1e-8, 1e-10])
def test_near_defective_blocks(n, eps):
    rng = np.random.default_rng(int(n + 1e3 * -math.log10(eps)))
    a = _near_defective(rng, n, eps)
    assert np.linalg.eigvalsh((a - a.conj().T) / 2j).max() < 0  # valid H_eff: U contracts
    lam, v, vinv, ok = eig_data(a)
    assert not ok and np.linalg.cond(v) > EIG_COND_MAX
    bp = make_block_propagator(a)
    assert bp.kind.tolist() == [KIND_DENSE]
    psi = _crandn(rng, n)
    for tau in TAUS:
        u = scipy.linalg.expm(-1j * a * tau)
        u_ld = _expm_longdouble(-1j * a.astype(np.clongdouble) * tau)
        ref_ld = np.array(u_ld @ psi.astype(np.clongdouble), dtype=complex)
        paths = _all_paths(a, tau, psi)
        for name in ("dense_apply", "expm_dense", "schur_apply", "packed_pade"):
            assert _rel_err(paths[name], u @ psi, u, psi) < TOL, (name, tau)
            assert _rel_err(paths[name], ref_ld, u, psi) < TOL, (name, tau)
        out = np.empty(n, complex)
        apply_propagator(bp, tau, psi, out)
        assert np.array_equal(out, paths["packed_pade"])


@pytest.mark.parametrize("n", [3, 4])
def test_defective_block_defeats_the_eigen_path(n):
    """At an exact Jordan block the eigen path is wrong by far more than TOL; the Pade path is not."""
    rng = np.random.default_rng(7)
    a = _near_defective(rng, n, 0.0)
    psi = _crandn(rng, n)
    assert not eig_data(a)[3]
    for tau in (0.1, 1.0, 10.0):
        u = scipy.linalg.expm(-1j * a * tau)
        paths = _all_paths(a, tau, psi)
        assert _rel_err(paths["eig_apply"], u @ psi, u, psi) > 1e2 * TOL
        assert _rel_err(paths["packed_pade"], u @ psi, u, psi) < TOL
        out = np.empty(n, complex)
        apply_propagator(make_block_propagator(a), tau, psi, out)  # default: picks the Pade path
        assert _rel_err(out, u @ psi, u, psi) < TOL


def test_eig_data_threshold():
    rng = np.random.default_rng(3)
    for eps in (1e-1, 1e-3, 1e-5):
        a = _near_defective(rng, 3, eps)
        _, v, _, ok = eig_data(a, cond_max=300.0)
        assert ok == (np.linalg.cond(v) <= 300.0)
        cond = make_block_propagator(a, eig_cond_max=300.0).cond[0]
        assert cond == pytest.approx(np.linalg.cond(v), rel=1e-6)


def test_mixed_blocks_in_a_permuted_heff():
    """Blocks of sizes 1, 2, 3, 4 (near defective) and 5, shuffled: each gets its kind, U matches expm."""
    rng = np.random.default_rng(21)
    blocks = [_random_heff(rng, 1), _random_heff(rng, 2), _random_heff(rng, 3), _near_defective(rng, 4, 1e-9)]
    blocks.append(_random_heff(rng, 5))
    h = scipy.linalg.block_diag(*blocks)
    d = h.shape[0]
    perm = rng.permutation(d)
    hp = h[np.ix_(perm, perm)]
    bp = make_block_propagator(hp)
    assert isinstance(bp, BlockPropagator)
    sizes = np.diff(bp.starts)
    expected_kind = {1: KIND_SCALAR, 2: KIND_PAIR, 3: KIND_EIG, 4: KIND_DENSE, 5: KIND_EIG}
    assert sorted(sizes.tolist()) == [1, 2, 3, 4, 5]
    assert [expected_kind[k] for k in sizes] == bp.kind.tolist()
    assert bp.max_block == 5 and bp.coef.dtype == np.complex128
    psi = _crandn(rng, d)
    out = np.empty(d, complex)
    work = np.empty(bp.max_block, complex)
    out_w = np.empty(d, complex)
    for tau in TAUS:
        u = scipy.linalg.expm(-1j * hp * tau)
        apply_propagator(bp, tau, psi, out)
        assert _rel_err(out, u @ psi, u, psi) < TOL, tau
        apply_propagator_work(bp, tau, psi, out_w, work)
        assert np.array_equal(out, out_w)
        full = block_propagator_matrix(bp, tau)
        assert np.abs(full - u).max() < TOL * np.abs(u).max()
    # the wrong model (transposed H_eff) fails the same comparison
    apply_propagator(make_block_propagator(np.ascontiguousarray(hp.T)), 1.0, psi, out)
    u = scipy.linalg.expm(-1j * hp)
    assert _rel_err(out, u @ psi, u, psi) > 1e3 * TOL


def test_no_overflow_at_long_times():
    """A dark eigenvalue (Im = 0) beside fast-decaying ones: U stays O(1) for any tau. Naive shifting by
    the mean eigenvalue would grow like e^{0.5 tau}, and e^{m tau} cosh(w)-style products overflow."""
    rng = np.random.default_rng(5)
    w = _crandn(rng, 5, 5)
    w /= np.linalg.norm(w, axis=0)
    lam = np.array([0.7, -0.3 - 0.001j, 0.2 - 0.5j, 1.1 - 2.0j, -0.9 - 0.05j])
    a = w @ np.diag(lam) @ np.linalg.inv(w)
    psi = _crandn(rng, 5)
    norm_a = np.linalg.norm(a, 2)
    for cmax in (EIG_COND_MAX, 1.0):
        bp = make_block_propagator(a, eig_cond_max=cmax)
        out = np.empty(5, complex)
        for tau in (1e3, 1e5, 1e7):
            u = w @ np.diag(np.exp(-1j * lam * tau)) @ np.linalg.inv(w)
            apply_propagator(bp, tau, psi, out)
            assert np.all(np.isfinite(out))
            # the conditioning of exp(-i A tau) itself: an error eps ||A|| in A moves U by ~ tau eps ||A||
            bound = max(TOL, 100 * np.linalg.cond(w) * tau * norm_a * np.finfo(float).eps)
            assert _rel_err(out, u @ psi, u, psi) < bound, (cmax, tau)


def test_triangular_overscaling_example():
    """Upper triangular [[1, 1e6], [0, -1]] (||M|| >> its eigenvalues: 18 squarings). The triangular path
    recomputes the diagonal and superdiagonal exactly after each squaring (Al-Mohy and Higham 2009);
    without that, squaring alone loses ~1e-11 here. Compared element by element with long double."""
    cases = [
        np.array([[1.0, 1e6], [0.0, -1.0]], complex),
        np.array([[-0.05 - 1j, 1e4], [0.0, -0.1 + 2j]]),
        30 * np.array([[-1e-3j, 100, 50], [0, -0.5 - 2j, 30], [0, 0, -1]]),
    ]
    for m in cases:
        out = np.empty_like(m)
        expm_dense(m, out)
        ref = np.array(_expm_longdouble(m), dtype=complex)
        nz = ref != 0
        assert np.all(out[~nz] == 0)
        assert np.max(np.abs(out[nz] - ref[nz]) / np.abs(ref[nz])) < 1e-13


# ---- the 4 x 4 STM model ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "model",
    [
        SpinPair(),
        SpinPair(lam1=0.3, lam2=0.1, T=0.4, theta=0.5, phi=0.2, J_DM=0.01),
        # theta = pi, J_ex = (g1 - g2)/8: the S_z = 0 block is defective (_ep_model in test_kernel.py)
        SpinPair(lam1=0.05, lam2=0.01, theta=math.pi, J_ex=0.005, J_DM=0.0),
    ],
)
def test_stm_bit_identical_to_block_propagator(model):
    heff = model.effective_hamiltonian()
    bp = make_block_propagator(heff)
    assert bp.order.tolist() == [0, 1, 2, 3] and bp.starts.tolist() == [0, 1, 3, 4]
    assert bp.kind.tolist() == [KIND_SCALAR, KIND_PAIR, KIND_SCALAR]
    rng = np.random.default_rng(9)
    out = np.empty(4, complex)
    # both branches of the closed form (series below |z| = 0.09) and long times
    for tau in [0.0, 1e-9, 1e-3, 0.3, 1.0, 2.5, 7.0, 30.0, 150.0, 1e3, 1e5]:
        psi = _crandn(rng, 4)
        apply_propagator(bp, tau, psi, out)
        u0, b00, b01, b10, b11, u3 = block_propagator(heff, tau)
        by_hand = np.array([u0 * psi[0], b00 * psi[1] + b01 * psi[2], b10 * psi[1] + b11 * psi[2], u3 * psi[3]])
        assert out.tobytes() == by_hand.tobytes(), tau
