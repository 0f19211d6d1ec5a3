"""LindbladModel: validation, value semantics, the Liouvillian, plain arrays and QuTiP interop.

References are independent of the code under test: the Lindblad right-hand side is written out here,
SpinPair.liouvillian is built from the Kossakowski matrices (not from jump operators), and QuTiP builds
its own Liouvillian and integrates its own master equation.
"""

from __future__ import annotations

import io
import pickle
import subprocess
import sys

import numpy as np
import pytest
import scipy.linalg

from darkspin.trajectories.lindblad import (
    LindbladModel,
    density_matrix,
    liouvillian_from_qutip,
    liouvillian_to_qutip,
)
from darkspin.trajectories.model import SpinPair

ASYMMETRIC = SpinPair(lam1=0.05, lam2=0.02, T=0.3, theta=0.4, phi=0.3, J_ex=0.05, J_DM=0.03)


def lindblad_rhs(H: np.ndarray, jumps, rho: np.ndarray) -> np.ndarray:
    """-i[H, rho] + sum_k (L_k rho L_k^dag - {L_k^dag L_k, rho}/2), any (d, d) rho (not necessarily a state)."""
    out = -1j * (H @ rho - rho @ H)
    for L in jumps:
        Ld = L.conj().T
        out = out + L @ rho @ Ld - 0.5 * (Ld @ L @ rho + rho @ Ld @ L)
    return out


def random_model(rng: np.random.Generator, d: int, K: int, labels=None) -> LindbladModel:
    A = rng.normal(size=(d, d)) + 1j * rng.normal(size=(d, d))
    jumps = 0.3 * (rng.normal(size=(K, d, d)) + 1j * rng.normal(size=(K, d, d)))
    return LindbladModel(0.5 * (A + A.conj().T), jumps, labels)


def random_rho(rng: np.random.Generator, d: int) -> np.ndarray:
    g = rng.normal(size=(d, d)) + 1j * rng.normal(size=(d, d))
    rho = g @ g.conj().T
    return rho / np.trace(rho).real


H2 = np.array([[1.0, 0.5], [0.5, -1.0]], dtype=complex)
J2 = np.array([[[0.0, 0.0], [0.3, 0.0]]], dtype=complex)


# ---- validation ------------------------------------------------------------------------------------
def _big(d):
    return np.zeros((d, d))


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"hamiltonian": np.zeros((2, 3))}, r"hamiltonian must be a square \(d, d\) matrix with d in \[2, 64\]"),
        ({"hamiltonian": np.zeros(4)}, r"hamiltonian must be a square"),
        ({"hamiltonian": np.zeros((1, 1)), "jump_operators": []}, r"hamiltonian .*d in \[2, 64\], got d = 1"),
        ({"hamiltonian": _big(65), "jump_operators": []}, r"hamiltonian .*d in \[2, 64\], got d = 65"),
        ({"hamiltonian": [[0, 1], [0, 0]]}, r"hamiltonian must be Hermitian.*<= 1e-12"),
        ({"hamiltonian": [[np.nan, 0], [0, 0]]}, r"hamiltonian must contain finite"),
        ({"hamiltonian": [[np.inf, 0], [0, 0]]}, r"hamiltonian must contain finite"),
        ({"hamiltonian": [[True, False], [False, True]]}, r"hamiltonian must hold real or complex numbers"),
        ({"hamiltonian": "H"}, r"hamiltonian must hold numbers"),
        ({"hamiltonian": [[0, 1], [1]]}, r"hamiltonian must be an array of numbers"),
        ({"hamiltonian": [[2e12, 0], [0, 0]]}, r"hamiltonian entries must lie within \|x\| <= 1e\+12"),
        ({"jump_operators": np.zeros((1, 3, 3))}, r"jump_operators must have shape \(K, 2, 2\)"),
        ({"jump_operators": np.zeros((2, 2))}, r"jump_operators must have shape \(K, 2, 2\)"),
        ({"jump_operators": [np.zeros((2, 2)), np.zeros((3, 3))]}, r"jump_operators must be an array of numbers"),
        ({"jump_operators": [[[np.nan, 0], [0, 0]]]}, r"jump_operators must contain finite"),
        ({"jump_operators": [[[0, 0], [2e12j, 0]]]}, r"jump_operators entries must lie within \|x\| <= 1e\+12"),
        ({"jump_operators": np.zeros((1025, 2, 2))}, r"jump_operators may hold at most 1024"),
        ({"jump_operators": [np.eye(2)] * 1025}, r"jump_operators may hold at most 1024"),
        ({"jump_operators": [[[True, False], [False, True]]]}, r"jump_operators must hold real or complex"),
        ({"labels": ["a", "b"]}, r"labels must hold one string per jump operator \(1\), got 2"),
        ({"labels": [""]}, r"labels must be non-empty strings"),
        ({"labels": [3]}, r"labels must be non-empty strings"),
        ({"labels": "a"}, r"labels must be None or a sequence of 1 distinct non-empty strings"),
        ({"labels": 7}, r"labels must be None or a sequence"),
        ({"jump_operators": np.zeros((2, 2, 2)), "labels": ["a", "a"]}, r"labels must be distinct, got 'a'"),
    ],
)
def test_bad_input_raises_value_error_naming_the_parameter(kwargs, match):
    args = {"hamiltonian": H2, "jump_operators": J2, "labels": None, **kwargs}
    with pytest.raises(ValueError, match=match):
        LindbladModel(**args)


def test_hermitian_tolerance_is_relative_and_storage_exactly_hermitian():
    for scale in (1e-3, 1.0, 1e6):  # tolerance 1e-12 * max(1, max|H|)
        tol = 1e-12 * max(1.0, 1.5 * scale)
        H = scale * np.array([[1.0, 1.5], [1.5, -1.0]], dtype=complex)
        ok = H.copy()
        ok[0, 1] += 0.5 * tol
        m = LindbladModel(ok, [])
        h = m.hamiltonian()
        assert np.array_equal(h, h.conj().T)
        assert np.max(np.abs(h - ok)) <= tol
        bad = H.copy()
        bad[0, 1] += 2 * tol
        with pytest.raises(ValueError, match="hamiltonian must be Hermitian"):
            LindbladModel(bad, [])
    # a diagonal with a tiny imaginary part is within tolerance, and is stored real
    m = LindbladModel(np.diag([1.0 + 1e-13j, 2.0]), [])
    assert np.all(np.diag(m.hamiltonian()).imag == 0)


def test_accepted_inputs_and_closed_system():
    H3 = np.diag([0.0, 1.0, 2.0])
    for jumps in ([], (), np.zeros((0, 3, 3))):
        m = LindbladModel(H3, jumps)
        assert m.n_channels == 0 and m.jump_operators().shape == (0, 3, 3) and m.jump_labels() == []
    m = LindbladModel(np.eye(64), [np.eye(64)])  # the largest dimension, integer entries
    assert m.dim == 64 and m.jump_labels() == ["L0"]
    m = LindbladModel(H2, [J2[0], J2[0].T, J2[0] * 1j], labels=("down", "up", np.str_("phase")))
    assert m.jump_labels() == ["down", "up", "phase"] and all(type(s) is str for s in m.jump_labels())
    assert m.jump_operators().dtype == np.complex128 and m.hamiltonian().dtype == np.complex128


def test_qobj_passed_to_the_constructor_points_to_from_qutip():
    qutip = pytest.importorskip("qutip")
    with pytest.raises(ValueError, match="hamiltonian .*from_qutip"):
        LindbladModel(qutip.sigmaz(), [])
    with pytest.raises(ValueError, match="jump_operators .*from_qutip"):
        LindbladModel(H2, [qutip.sigmam()])


# ---- value semantics ---------------------------------------------------------------------------------
def test_immutable_and_copies():
    H = H2.copy()
    J = J2.copy()
    m = LindbladModel(H, J)
    H[0, 0] = 99.0
    J[0, 1, 0] = 99.0
    assert m.hamiltonian()[0, 0] == 1.0 and m.jump_operators()[0, 1, 0] == 0.3  # inputs were copied
    h = m.hamiltonian()
    h[0, 0] = 42.0
    m.jump_operators()[0] += 1.0
    m.jump_labels().append("x")
    assert m == LindbladModel(H2, J2)  # what the getters return is a copy
    with pytest.raises(AttributeError):
        m._h = H2
    with pytest.raises(AttributeError):
        m.extra = 1
    with pytest.raises(AttributeError):
        del m._labels
    with pytest.raises(ValueError):  # the stored arrays are read-only even when reached directly
        m._h[0, 0] = 5.0


def test_hash_and_equality_by_content():
    a = LindbladModel([[1, 0.5], [0.5, -1]], [[[0, 0], [0.3, 0]]])
    b = LindbladModel(np.array([[1 + 0j, 0.5], [0.5, -1]]), (np.array([[0.0, 0.0], [0.3, 0.0]]),))
    c = LindbladModel(np.array([[1.0, 0.5], [0.5, -1.0]], dtype=np.complex64), np.asarray(J2), labels=["L0"])
    assert a == b == c and hash(a) == hash(b) == hash(c) and len({a, b, c}) == 1
    # -0.0 and 0.0 are the same number: equal models, equal hashes
    zneg = LindbladModel([[1.0, -0.0], [-0.0, -1.0]], [[[-0.0, -0.0], [0.3, -0.0j]]])
    zpos = LindbladModel([[1.0, 0.0], [0.0, -1.0]], [[[0.0, 0.0], [0.3, 0.0]]])
    assert zneg == zpos and hash(zneg) == hash(zpos)
    # any difference in content makes them differ
    assert a != LindbladModel(H2, J2, labels=["down"])
    assert a != LindbladModel(H2 * 1.0000001, J2)
    assert a != LindbladModel(H2, J2 * 1.0000001)
    assert a != LindbladModel(H2, np.concatenate([J2, J2]))
    assert a != LindbladModel(np.eye(3), [])
    assert a != "a model" and (a == 3) is False


def test_repr_is_short():
    m = LindbladModel(H2, J2, ["decay"])
    assert repr(m) == "LindbladModel(d=2, K=1, labels=['decay'])"
    big = LindbladModel(np.eye(8), np.zeros((40, 8, 8)))
    text = repr(big)
    assert text.startswith("LindbladModel(d=8, K=40, labels=['L0',") and "..." in text and len(text) < 120


def test_pickle_round_trip():
    m = LindbladModel(H2, J2, ["decay"])
    m2 = pickle.loads(pickle.dumps(m))
    assert m2 == m and hash(m2) == hash(m)


# ---- physics ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("sp", [SpinPair(), ASYMMETRIC], ids=["default", "asymmetric"])
def test_spinpair_to_lindblad(sp):
    m = sp.to_lindblad()
    assert m.dim == 4 and m.n_channels == len(sp.jump_labels())
    assert np.array_equal(m.hamiltonian(), sp.hamiltonian())
    assert np.array_equal(m.jump_operators(), sp.jump_operators())
    assert m.jump_labels() == sp.jump_labels()
    # SpinPair builds its Liouvillian from the Kossakowski matrices, ours comes from the jump operators
    assert np.max(np.abs(m.liouvillian() - sp.liouvillian())) < 1e-13
    assert np.max(np.abs(m.effective_hamiltonian() - sp.effective_hamiltonian())) < 1e-15


@pytest.mark.parametrize("d, K", [(2, 1), (3, 2), (5, 0), (6, 4)])
def test_liouvillian_and_effective_hamiltonian_against_the_rhs(d, K):
    rng = np.random.default_rng(100 * d + K)
    m = random_model(rng, d, K)
    L = m.liouvillian()
    assert L.shape == (d * d, d * d) and L.dtype == np.complex128
    H, jumps = m.hamiltonian(), m.jump_operators()
    for _ in range(3):  # arbitrary complex matrices: the map is linear on all of them, not only states
        X = rng.normal(size=(d, d)) + 1j * rng.normal(size=(d, d))
        expected = lindblad_rhs(H, jumps, X).reshape(-1)  # row-major vectorisation
        assert np.max(np.abs(L @ X.reshape(-1) - expected)) < 1e-12 * max(1.0, np.max(np.abs(expected)))
    G = sum((Lk.conj().T @ Lk for Lk in jumps), np.zeros((d, d), dtype=complex))
    assert np.max(np.abs(m.effective_hamiltonian() - (H - 0.5j * G))) < 1e-13


def test_a_broken_liouvillian_fails_the_rhs_check():
    """The RHS comparison above distinguishes the row-major matrix from its column-major twin."""
    rng = np.random.default_rng(7)
    m = random_model(rng, 3, 2)
    X = rng.normal(size=(3, 3)) + 1j * rng.normal(size=(3, 3))
    expected = lindblad_rhs(m.hamiltonian(), m.jump_operators(), X).reshape(-1)
    wrong = liouvillian_to_qutip(m.liouvillian())  # the same map in the other vectorisation
    assert np.max(np.abs(wrong @ X.reshape(-1) - expected)) > 0.1


# ---- plain arrays --------------------------------------------------------------------------------------
@pytest.mark.parametrize("K", [0, 3])
def test_as_arrays_from_arrays_bit_exact_through_npz(K):
    rng = np.random.default_rng(11 + K)
    A = rng.normal(size=(5, 5)) + 1j * rng.normal(size=(5, 5))
    H = A + A.conj().T
    H[0, 1] = H[1, 0] = -0.0  # signed zeros and values that are not round in binary
    H[2, 2] = np.pi / 3
    jumps = rng.normal(size=(K, 5, 5)) / 3 + 1j * rng.normal(size=(K, 5, 5)) / 7
    if K:
        jumps[0, 0, 0] = -0.0
    m = LindbladModel(H, jumps, [f"chan {k} é" for k in range(K)] if K else None)
    arrays = m.as_arrays()
    assert set(arrays) == {"hamiltonian", "jump_operators", "labels"}
    assert arrays["labels"].dtype.kind == "U" and arrays["labels"].shape == (K,)
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    buf.seek(0)
    with np.load(buf, allow_pickle=False) as loaded:
        m2 = LindbladModel.from_arrays(loaded)
    assert m2 == m and hash(m2) == hash(m)
    assert m2.hamiltonian().tobytes() == m.hamiltonian().tobytes()
    assert m2.jump_operators().tobytes() == m.jump_operators().tobytes()
    assert m2.jump_labels() == m.jump_labels()
    m3 = LindbladModel.from_arrays(m2.as_arrays())  # and again: a fixed point
    assert m3.hamiltonian().tobytes() == m.hamiltonian().tobytes()


def test_from_arrays_bad_input():
    arrays = LindbladModel(H2, J2).as_arrays()
    with pytest.raises(ValueError, match=r"arrays is missing the key\(s\) \['labels'\]"):
        LindbladModel.from_arrays({k: v for k, v in arrays.items() if k != "labels"})
    with pytest.raises(ValueError, match="arrays must be a mapping"):
        LindbladModel.from_arrays([1, 2])
    with pytest.raises(ValueError, match=r"arrays\['labels'\] must be a 1-d unicode array"):
        LindbladModel.from_arrays({**arrays, "labels": np.array([1])})


# ---- density matrices --------------------------------------------------------------------------------
def test_density_matrix_from_vectors_and_matrices():
    rng = np.random.default_rng(3)
    psi = rng.normal(size=3) + 1j * rng.normal(size=3)
    psi /= np.linalg.norm(psi)
    rho = density_matrix(psi, 3)
    assert rho.shape == (3, 3) and rho.dtype == np.complex128 and not rho.flags.writeable
    assert np.max(np.abs(rho - np.outer(psi, psi.conj()))) < 1e-15
    r = random_rho(rng, 5)
    out = density_matrix(r, 5)
    assert np.max(np.abs(out - r)) < 1e-15 and not out.flags.writeable
    assert np.array_equal(density_matrix([1, 0], 2), np.diag([1.0, 0.0]).astype(complex))


@pytest.mark.parametrize(
    "initial, dim, match",
    [
        ([1, 0, 0], 2, r"initial must be a vector \(2,\) or a density matrix \(2, 2\)"),
        ([1, 1], 2, r"initial state vector must be normalised"),
        ([[0.5, 0.5], [0, 0.5]], 2, r"initial density matrix must be Hermitian"),
        (np.diag([0.6, 0.6]), 2, r"initial density matrix must have trace 1"),
        (np.diag([1.5, -0.5]), 2, r"initial density matrix must be positive semidefinite"),
        ([np.nan, 0], 2, r"initial must contain finite"),
        ("ud", 4, r"initial must hold numbers"),
        ([True, False], 2, r"initial must hold real or complex"),
        ([1, 0], 1, r"dim must be an integer in \[2, 64\]"),
        ([1, 0], 2.0, r"dim must be an integer"),
        ([1, 0], True, r"dim must be an integer"),
    ],
)
def test_density_matrix_bad_input(initial, dim, match):
    with pytest.raises(ValueError, match=match):
        density_matrix(initial, dim)


def test_density_matrix_from_qobj():
    qutip = pytest.importorskip("qutip")
    ket = (qutip.basis([2, 2], [0, 1]) - qutip.basis([2, 2], [1, 0])).unit()
    rho = density_matrix(ket, 4)
    assert np.max(np.abs(rho - ket.proj().full())) < 1e-15
    mixed = qutip.rand_dm(6, seed=1)
    assert np.max(np.abs(density_matrix(mixed, 6) - mixed.full())) < 1e-15
    with pytest.raises(ValueError, match="initial must be a ket or a density matrix"):
        density_matrix(ket.dag(), 4)
    with pytest.raises(ValueError, match="initial must be a ket or a density matrix"):
        density_matrix(qutip.spre(qutip.qeye(2)), 2)
    with pytest.raises(ValueError, match=r"initial must be a vector \(8,\)"):
        density_matrix(ket, 8)


# ---- QuTiP -------------------------------------------------------------------------------------------
@pytest.mark.subprocess
def test_importing_the_module_does_not_import_qutip():
    code = (
        "import sys, numpy as np\n"
        "import darkspin\n"
        "from darkspin.trajectories.lindblad import LindbladModel, density_matrix\n"
        "from darkspin.trajectories.model import SpinPair\n"
        "m = SpinPair().to_lindblad(); m.liouvillian(); density_matrix([1, 0, 0, 0], 4)\n"
        "assert 'qutip' not in sys.modules, 'qutip was imported'\n"
        "print('ok')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr


def test_to_qutip_without_qutip_raises_import_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "qutip", None)  # makes `import qutip` raise ImportError
    with pytest.raises(ImportError, match="pip install qutip"):
        LindbladModel(H2, J2).to_qutip()


def test_to_qutip_dims():
    pytest.importorskip("qutip")
    assert LindbladModel(np.eye(8), []).to_qutip()[0].dims == [[2, 2, 2], [2, 2, 2]]
    assert LindbladModel(np.eye(2), []).to_qutip()[0].dims == [[2], [2]]
    assert LindbladModel(np.eye(6), []).to_qutip()[0].dims == [[6], [6]]
    m = LindbladModel(np.eye(6), [np.eye(6)])
    H, c_ops = m.to_qutip(dims=[2, 3])
    assert H.dims == [[2, 3], [2, 3]] and c_ops[0].dims == [[2, 3], [2, 3]]
    assert m.to_qutip(dims=[[3, 2], [3, 2]])[0].dims == [[3, 2], [3, 2]]
    assert m.to_qutip(dims=np.array([6]))[0].dims == [[6], [6]]
    for bad in ([2, 2], [[2, 3], [3, 2]], [0, 6], [2.0, 3.0], [True, 6], "6", 6, []):
        with pytest.raises(ValueError, match="dims must be positive integers whose product is d = 6"):
            m.to_qutip(dims=bad)


@pytest.mark.parametrize("case", ["default", "asymmetric", "random3", "closed5"])
def test_qutip_liouvillian_matches(case):
    qutip = pytest.importorskip("qutip")
    rng = np.random.default_rng(5)
    m = {
        "default": SpinPair().to_lindblad(),
        "asymmetric": ASYMMETRIC.to_lindblad(),
        "random3": random_model(rng, 3, 2),
        "closed5": random_model(rng, 5, 0),
    }[case]
    H, c_ops = m.to_qutip()
    Lq = qutip.liouvillian(H, c_ops)
    assert np.max(np.abs(liouvillian_from_qutip(Lq) - m.liouvillian())) < 1e-13
    assert np.max(np.abs(liouvillian_to_qutip(m.liouvillian()) - Lq.full())) < 1e-13
    # the vectorisations themselves, through QuTiP's own operator_to_vector
    d = m.dim
    X = rng.normal(size=(d, d)) + 1j * rng.normal(size=(d, d))
    Xq = qutip.Qobj(X, dims=H.dims)
    ours = (m.liouvillian() @ X.reshape(-1)).reshape(d, d)
    theirs = qutip.vector_to_operator(Lq * qutip.operator_to_vector(Xq)).full()
    assert np.max(np.abs(ours - theirs)) < 1e-12 * max(1.0, np.max(np.abs(ours)))


def test_liouvillian_conversion_is_an_exact_involution_and_validates():
    rng = np.random.default_rng(9)
    M = rng.normal(size=(9, 9)) + 1j * rng.normal(size=(9, 9))
    assert np.array_equal(liouvillian_from_qutip(liouvillian_to_qutip(M)), M)
    assert np.array_equal(liouvillian_to_qutip(M)[1 * 3 + 0, 2 * 3 + 1], M[0 * 3 + 1, 1 * 3 + 2])
    with pytest.raises(ValueError, match=r"L must be a \(d\^2, d\^2\) superoperator with d in \[2, 64\]"):
        liouvillian_to_qutip(np.zeros((5, 5)))
    with pytest.raises(ValueError, match=r"L must be a \(d\^2, d\^2\) superoperator"):
        liouvillian_from_qutip(np.zeros((4, 8)))
    with pytest.raises(ValueError, match=r"L must be a \(d\^2, d\^2\) superoperator"):
        liouvillian_from_qutip(np.zeros((1, 1)))
    with pytest.raises(ValueError, match="L must contain finite"):
        liouvillian_from_qutip(np.full((4, 4), np.nan))
    qutip = pytest.importorskip("qutip")
    with pytest.raises(ValueError, match="L must be a superoperator"):
        liouvillian_from_qutip(qutip.qeye(4))
    with pytest.raises(ValueError, match="L must be in QuTiP's 'super' representation"):
        liouvillian_from_qutip(qutip.to_choi(qutip.spre(qutip.sigmaz())))


def test_from_qutip_round_trip_and_inputs():
    qutip = pytest.importorskip("qutip")
    m = ASYMMETRIC.to_lindblad()
    H, c_ops = m.to_qutip()
    assert LindbladModel.from_qutip(H, c_ops, labels=m.jump_labels()) == m
    assert LindbladModel.from_qutip(H, c_ops) == LindbladModel(m.hamiltonian(), m.jump_operators())
    # plain arrays, mixed lists, a (K, d, d) array, a single operator, no operators
    assert LindbladModel.from_qutip(m.hamiltonian(), m.jump_operators(), m.jump_labels()) == m
    mixed = [c_ops[0].full(), *c_ops[1:]]
    assert LindbladModel.from_qutip(H, mixed, m.jump_labels()) == m
    one = LindbladModel.from_qutip(qutip.sigmaz(), qutip.sigmam())
    assert one == LindbladModel(np.diag([1.0, -1.0]), [[[0, 0], [1, 0]]])
    assert LindbladModel.from_qutip(qutip.sigmaz(), []).n_channels == 0


def test_from_qutip_rejects_non_operators():
    qutip = pytest.importorskip("qutip")
    H = qutip.tensor(qutip.sigmaz(), qutip.qeye(2))
    with pytest.raises(ValueError, match="H must be an operator, got a superoperator"):
        LindbladModel.from_qutip(qutip.liouvillian(H, []), [])
    with pytest.raises(ValueError, match="H must be an operator, got a ket"):
        LindbladModel.from_qutip(qutip.basis(4, 0), [])
    with pytest.raises(ValueError, match=r"c_ops\[1\] must be an operator, got a ket"):
        LindbladModel.from_qutip(H, [qutip.qeye([2, 2]), qutip.basis([2, 2], [0, 0])])
    with pytest.raises(ValueError, match=r"c_ops\[0\] must be an operator, got a bra"):
        LindbladModel.from_qutip(H, [qutip.basis([2, 2], [0, 0]).dag()])
    with pytest.raises(ValueError, match=r"c_ops\[0\] must be an operator, got a superoperator"):
        LindbladModel.from_qutip(H, [qutip.spre(qutip.sigmaz())])
    with pytest.raises(
        ValueError, match=r"c_ops\[0\] has dims \[\[4\], \[4\]\], but H has dims \[\[2, 2\], \[2, 2\]\]"
    ):
        LindbladModel.from_qutip(H, [qutip.qeye(4)])
    with pytest.raises(ValueError, match=r"c_ops must all have the same shape"):
        LindbladModel.from_qutip(np.eye(4), [np.eye(4), np.eye(2)])
    with pytest.raises(ValueError, match=r"jump_operators must have shape \(K, 4, 4\)"):
        LindbladModel.from_qutip(np.eye(4), [qutip.qeye(2)])
    with pytest.raises(ValueError, match=r"c_ops\[1\] has dims \[\[4\], \[4\]\], but c_ops\[0\] has dims"):
        LindbladModel.from_qutip(np.eye(4), [H, qutip.qeye(4)])
    with pytest.raises(ValueError, match=r"c_ops must be a sequence of operators"):
        LindbladModel.from_qutip(H, 3)


def _three_spin_chain(qutip):
    """A Heisenberg chain of 3 spins with fields, decay on every spin and dephasing on the first."""
    sz, sx, sy, sm, one = qutip.sigmaz(), qutip.sigmax(), qutip.sigmay(), qutip.sigmam(), qutip.qeye(2)

    def site(op, i):
        ops = [one, one, one]
        ops[i] = op
        return qutip.tensor(ops)

    fields = (1.0, 0.7, -0.4)
    H = sum(0.5 * h * site(sz, i) for i, h in enumerate(fields))
    for i, J in ((0, 0.3), (1, -0.2)):
        H = H + J * sum(site(s, i) * site(s, i + 1) for s in (sx, sy, sz))
    H = H + 0.15 * (site(sx, 0) * site(sy, 2) - site(sy, 0) * site(sx, 2))  # a DM-like long-range term
    c_ops = [np.sqrt(g) * site(sm, i) for i, g in enumerate((0.1, 0.05, 0.2))]
    c_ops.append(np.sqrt(0.08) * site(sz, 0))
    return H, c_ops


def test_model_built_in_qutip_converts():
    qutip = pytest.importorskip("qutip")
    H, c_ops = _three_spin_chain(qutip)
    m = LindbladModel.from_qutip(H, c_ops, ["decay1", "decay2", "decay3", "dephase1"])
    assert m.dim == 8 and m.n_channels == 4
    # qutip.tensor orders factors as np.kron does: sigma_- on spin 1 is kron(sm, 1, 1)
    sm = np.array([[0, 0], [1, 0]], dtype=complex)
    assert np.array_equal(m.jump_operators()[0], np.sqrt(0.1) * np.kron(np.kron(sm, np.eye(2)), np.eye(2)))
    Lq = qutip.liouvillian(H, c_ops)
    assert np.max(np.abs(liouvillian_from_qutip(Lq) - m.liouvillian())) < 1e-13
    H2q, c2 = m.to_qutip()
    assert H2q.dims == H.dims and (H2q - H).norm() < 1e-14
    assert all((a - b).norm() < 1e-14 for a, b in zip(c2, c_ops, strict=True))


def test_mesolve_agrees_with_the_exact_propagator():
    qutip = pytest.importorskip("qutip")
    H, c_ops = _three_spin_chain(qutip)
    m = LindbladModel.from_qutip(H, c_ops)
    rng = np.random.default_rng(21)
    rho0 = density_matrix(random_rho(rng, 8), 8)
    times = np.array([0.0, 0.4, 1.3, 3.7])
    Hq, c_ops_q = m.to_qutip()
    rho0_q = qutip.Qobj(rho0, dims=[[2, 2, 2], [2, 2, 2]])
    res = qutip.mesolve(Hq, rho0_q, times, c_ops=c_ops_q, options={"atol": 1e-13, "rtol": 1e-11, "nsteps": 100_000})
    L = m.liouvillian()
    # the same check fails for a model that lacks the dephasing channel
    L_wrong = LindbladModel(m.hamiltonian(), m.jump_operators()[:3]).liouvillian()
    worst = worst_wrong = 0.0
    for t, state in zip(times, res.states, strict=True):
        exact = (scipy.linalg.expm(L * t) @ rho0.reshape(-1)).reshape(8, 8)
        worst = max(worst, float(np.max(np.abs(state.full() - exact))))
        wrong = (scipy.linalg.expm(L_wrong * t) @ rho0.reshape(-1)).reshape(8, 8)
        worst_wrong = max(worst_wrong, float(np.max(np.abs(state.full() - wrong))))
    assert worst < 1e-9, worst
    assert worst_wrong > 1e-3, worst_wrong
