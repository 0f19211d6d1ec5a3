"""Steady states of a model: a basis of its Liouvillian's kernel, and for a two-dimensional kernel the two
extreme stationary density matrices."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from scipy.sparse.linalg import eigs

from ...trajectories.operators import singlet_population
from ...trajectories.plan import Model, check_model
from .state_propagation import sparse_liouvillian

#: From this dimension the kernel is found by shift-invert Arnoldi on the sparse Liouvillian (the dense
#: SVD costs ~d^6: ~5-30 s at d = 32); a Liouvillian with more than SPARSE_FILL of its entries nonzero
#: is solved densely up to DENSE_MAX_DIM and refused above it (hours), before any work.
SPARSE_KERNEL_DIM = 16
SPARSE_FILL = 0.05
DENSE_MAX_DIM = 32
#: Kernel dimensions the sparse path resolves; a larger kernel falls back to the dense SVD.
SPARSE_KERNEL_MAX = 6


def _kernel_vectors(model: Model, tol: float) -> np.ndarray:
    """Rows (k, d^2) spanning the kernel of the model's Liouvillian (singular values <= tol * the largest)."""
    d = check_model(model)
    if d >= SPARSE_KERNEL_DIM:
        jumps = np.asarray(model.jump_operators(), complex).reshape(-1, d, d)
        L = sparse_liouvillian(np.asarray(model.effective_hamiltonian(), complex), jumps)
        sparse = L.nnz <= SPARSE_FILL * d**4
        if not sparse and d > DENSE_MAX_DIM:
            raise ValueError(
                f"steady_states of a d = {d} model with a dense Liouvillian ({L.nnz} nonzero entries) would "
                f"take hours: d must be <= {DENSE_MAX_DIM} unless H and the jump operators are sparse"
            )
        if sparse:
            null = _sparse_kernel(L, tol)
            if null is not None:
                return null
            if d > DENSE_MAX_DIM:
                raise ValueError(
                    f"the Liouvillian's kernel has dimension >= {SPARSE_KERNEL_MAX} and d = {d} > {DENSE_MAX_DIM}: "
                    "too large for the dense SVD"
                )
    Ld = np.asarray(model.liouvillian(), complex)
    _, s, vh = np.linalg.svd(Ld)
    return vh[s <= tol * max(s[0], 1e-300)].conj()


def _sparse_kernel(L: sp.csr_matrix, tol: float) -> np.ndarray | None:
    """Kernel rows (k, D) of a sparse L by shift-invert Arnoldi near 0; None when the kernel may have more
    than SPARSE_KERNEL_MAX - 1 dimensions."""
    D = L.shape[0]
    scale = max(float(abs(L).sum(axis=0).max()), 1e-300)
    k = min(SPARSE_KERNEL_MAX, D - 2)
    lam, vecs = eigs(L, k=k, sigma=-1e-9 * scale, which="LM", tol=0.0)
    # the kernel's eigenvalues are rounding-level; the next ones are decay rates
    null = vecs[:, np.abs(lam) <= tol * scale].T
    if null.shape[0] >= k:
        return None
    q, _ = np.linalg.qr(null.T)
    return q.T


def _kernel_hermitian_basis(null: np.ndarray, d: int) -> np.ndarray:
    """Hilbert-Schmidt-orthonormal Hermitian basis (k, d, d) of the kernel spanned by the rows of null (k, d^2)."""
    mats = [v.reshape(d, d) for v in null]
    herm = [0.5 * (m + m.conj().T) for m in mats] + [0.5j * (m - m.conj().T) for m in mats]
    vecs = np.array([np.concatenate([h.real.ravel(), h.imag.ravel()]) for h in herm])
    u, sv, w = np.linalg.svd(vecs, full_matrices=False)
    w = w[sv > 1e-8 * sv[0]]
    return np.array([(x[: d * d] + 1j * x[d * d :]).reshape(d, d) for x in w])


def _segment_extremes(A: np.ndarray, B: np.ndarray) -> list[np.ndarray]:
    """End points of {A + s B >= 0} for Hermitian A (trace 1) and B (trace 0)."""
    w, v = np.linalg.eigh(A @ A + B @ B)
    U = v[:, w > 1e-10 * w[-1]]  # common support of the family
    a, b = U.conj().T @ A @ U, U.conj().T @ B @ U

    def lmin(s: float) -> float:
        return np.linalg.eigvalsh(a + s * b)[0]

    from scipy.optimize import minimize_scalar  # imported here: it costs ~0.3 s at start-up

    # an interior point: maximise the concave lowest eigenvalue
    scale = 1.0 / np.maximum(np.linalg.norm(b, 2), 1e-300)
    s0 = minimize_scalar(lambda s: -lmin(s), bracket=(-scale, scale)).x
    c = a + s0 * b
    cw, cv = np.linalg.eigh(c)
    c_isqrt = cv @ np.diag(1 / np.sqrt(cw)) @ cv.conj().T
    mu = np.linalg.eigvalsh(c_isqrt @ b @ c_isqrt)
    ends = [s0 - 1 / mu[-1], s0 - 1 / mu[0]]
    states = []
    for s in ends:
        rho = A + s * B
        rho = 0.5 * (rho + rho.conj().T)
        states.append(rho / np.trace(rho).real)
    return states


def steady_states(model: Model, tol: float = 1e-10) -> np.ndarray:
    """A basis of the Liouvillian's kernel, shape (k, d, d), for any model (SpinPair, LindbladModel).

    k = 1: the unique steady state. k = 2 (e.g. the symmetric point): the two extreme steady states,
    i.e. the end points of the segment of stationary density matrices (for the STM pair: the triplet
    state rho_tr and the dark state d, in order of increasing singlet population; for other models in
    order of increasing population of the first basis state). k > 2 (e.g. no coupling): a
    Hilbert-Schmidt-orthonormal Hermitian basis of the kernel, not all of which are states.
    ``tol`` is the relative singular-value threshold that defines the kernel.

    Parameters
    ----------
    model : SpinPair or LindbladModel
        The model.
    tol : float
        Relative singular-value threshold of the kernel, in (0, 1).

    Returns
    -------
    numpy.ndarray, shape (k, d, d)
        The steady states (or kernel basis) described above, complex128.

    Raises
    ------
    ValueError
        For a tol outside (0, 1), or a dense model too large for the solver (d > 32 without the sparse path).

    Examples
    --------
    >>> import darkspin as ds
    >>> states = ds.steady_states(ds.SpinPair())  # the symmetric point: two extreme steady states
    >>> states.shape
    (2, 4, 4)
    """
    d = check_model(model)
    basis = _kernel_hermitian_basis(_kernel_vectors(model, tol), d)
    traces = np.array([np.trace(b).real for b in basis])
    if len(basis) == 1:
        return (basis[0] / traces[0])[None]
    if len(basis) == 2:
        # A: the element with trace 1; B: the traceless combination
        i = int(np.argmax(np.abs(traces)))
        A = basis[i] / traces[i]
        other = basis[1 - i]
        B = other - np.trace(other).real * A
        ends = _segment_extremes(A, B)
        ends.sort(key=lambda r: singlet_population(r) if r.shape == (4, 4) else r[0, 0].real)
        return np.array(ends)
    return basis
