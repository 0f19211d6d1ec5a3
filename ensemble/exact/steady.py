"""Steady states of a model: a basis of its Liouvillian's kernel, and for a two-dimensional kernel the two
extreme stationary density matrices."""

from __future__ import annotations

import math

import numpy as np

from ...trajectories.operators import singlet_population
from ...trajectories.plan import Model, check_model


def _kernel_hermitian_basis(L: np.ndarray, tol: float) -> np.ndarray:
    """Hilbert-Schmidt-orthonormal Hermitian basis (k, d, d) of the kernel of L (d^2, d^2)."""
    d = math.isqrt(L.shape[0])
    _, s, vh = np.linalg.svd(L)
    null = vh[s <= tol * max(s[0], 1e-300)].conj()
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
    """
    check_model(model)
    basis = _kernel_hermitian_basis(np.asarray(model.liouvillian(), complex), tol)
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
