"""Jump times of a non-normal H_eff by stepping: a ladder of fixed-step propagators and a local Taylor root.

A model whose H_eff has a block on the Schur-Pade path (:mod:`.blocks`, kind 3) pays O(n^3) for every
evaluation of exp(-i H_eff tau) psi at a new tau, and the Newton search for a jump time needs several
of them per jump. This module replaces them with O(nnz) work per evaluation, without a time step in
the result: the jump time is still the root of ||exp(-i H_eff tau) psi||^2 = r to a relative residual
below the kernel's ROOT_TOL.

Precomputed once per plan (:func:`make_stepper`): a step h = STEP_THETA / ||H_eff||_2 and the ladder
P_j = exp(-i H_eff 2^j h), j = 0..J, with 2^J h at most the longest interval between events, each by
the Schur-Pade kernel (block by block, so exactly as accurate as the per-tau path); the generator
M = -i H_eff; and the jump operators, all in CSR form without their exact zeros.

Search (:func:`stepped_jump_time`), from psi over (0, span]: a binary descent on the ladder (the norm
decreases monotonically, d||psi||^2/dt = -<psi|Gamma|psi> <= 0) finds t0 with the crossing, or the
end of the span, within one step s <= h of t0, at one O(nnz(P_j)) product per level. On [t0, t0 + s]
the state is the degree-K Taylor polynomial phi(s) = sum_k (M^k psi(t0) / k!) s^k, whose K + 1
vectors cost K sparse products with M; after that each Newton iteration (safeguarded by bisection on
the bracket) evaluates phi and phi' by Horner in O(K d).

Error of the polynomial: with x = ||H_eff||_2 s <= STEP_THETA, the truncation is at most
sum_{k > K} x^k / k! times ||psi(t0)||, and K is the smallest degree for which that is <= 2^-53
(:func:`taylor_thresholds`; K = 18 for a full step). Within one step the norm falls by at most
e^(x) <= e, so the relative error of ||phi||^2 at the root is below ~1e-15, far below the root
tolerance 1e-13. The terms x^k / k! stay <= 1, so summing them cancels nothing. The ladder's own
error is the Schur-Pade kernel's (eps tau ||H_eff|| relative to ||U||, :mod:`.linalg`), and marching
adds one rounding of a contraction per level taken.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
from numba import njit

from .blocks import KIND_DENSE, BlockPropagator, apply_propagator
from .linalg import _matmul, expm_dense

#: ||H_eff||_2 h: the step of the ladder's lowest rung, in units of 1 / ||H_eff||_2.
STEP_THETA = 1.0
#: Largest Taylor degree tabulated (the full step needs 18).
MAX_TERMS = 40
#: At most this many rungs (2^J h covers any interval of a valid protocol long before).
MAX_LEVELS = 64
_UNIT_ROUNDOFF = 2.0**-53
_MAX_ROOT_ITER = 200


class Stepper(NamedTuple):
    """The stepping data of a plan (``h == 0.0``: the plan does not step; the arrays are then empty).

    h: the lowest rung's step (time unit); hnorm: ||H_eff||_2 (energy unit); theta (MAX_TERMS + 1,):
    theta[K] the largest ||H_eff||_2 s for which the degree-K Taylor polynomial is accurate;
    sp_ptr (K + 1 + L, d + 1) int64, sp_idx (nnz,) int64, sp_val (nnz,) complex128: a stack of CSR
    matrices sharing sp_idx and sp_val, rows 0..K-1 the jump operators L_k, row K the generator
    -i H_eff, rows K + 1 + j the rungs exp(-i H_eff 2^j h), j = 0..L-1.
    """

    h: float
    hnorm: float
    theta: np.ndarray
    sp_ptr: np.ndarray
    sp_idx: np.ndarray
    sp_val: np.ndarray


def taylor_thresholds(max_terms: int = MAX_TERMS) -> np.ndarray:
    """theta[K]: the largest x >= 0 with sum_{k > K} x^k / k! <= 2^-53, for K = 0..max_terms.

    Parameters
    ----------
    max_terms : int
        Largest degree, >= 0.

    Returns
    -------
    ndarray of float64, shape (max_terms + 1,)
        Increasing.
    """

    def tail(x: float, K: int) -> float:
        term = math.exp(sum(math.log(x / k) for k in range(1, K + 2))) if x > 0 else 0.0
        s, k = 0.0, K + 1
        while term > 1e-40 * max(s, 1e-300) or k < K + 3:
            s += term
            k += 1
            term *= x / k
        return s

    out = np.empty(max_terms + 1)
    for K in range(max_terms + 1):
        lo, hi = 0.0, 64.0
        for _ in range(200):
            mid = 0.5 * (lo + hi)
            if tail(mid, K) <= _UNIT_ROUNDOFF:
                lo = mid
            else:
                hi = mid
        out[K] = lo
    return out


_THETA = taylor_thresholds()


def propagator_matrix(prop: BlockPropagator, tau: float) -> np.ndarray:
    """exp(-i H_eff tau) as a (d, d) matrix, a Schur-Pade block in one exponential of its triangular T.

    Blocks of the other kinds are filled column by column from :func:`.blocks.apply_propagator`; a
    Schur-Pade block as Q exp(-i T tau) Q^H (loops in a fixed order: no BLAS).

    Parameters
    ----------
    prop : BlockPropagator
    tau : float
        >= 0 (time, inverse energy unit).

    Returns
    -------
    ndarray of complex128, shape (d, d)
    """
    d = prop.order.size
    U = np.zeros((d, d), np.complex128)
    e = np.zeros(d, np.complex128)
    col = np.empty(d, np.complex128)
    for b in range(prop.kind.size):
        idx = prop.order[prop.starts[b] : prop.starts[b + 1]]
        n = idx.size
        if prop.kind[b] == KIND_DENSE:
            o = prop.offsets[b]
            T = prop.coef[o : o + n * n].reshape(n, n)
            Q = np.ascontiguousarray(prop.coef[o + n * n : o + 2 * n * n].reshape(n, n))
            E = np.empty((n, n), np.complex128)
            expm_dense(np.ascontiguousarray(-1j * tau * T), E)
            QE = np.empty((n, n), np.complex128)
            _matmul(Q, E, QE, False)
            Ub = np.empty((n, n), np.complex128)
            _matmul(QE, np.ascontiguousarray(Q.conj().T), Ub, False)
            U[np.ix_(idx, idx)] = Ub
        else:
            for j in idx:
                e[j] = 1.0
                apply_propagator(prop, float(tau), e, col)
                e[j] = 0.0
                U[idx, j] = col[idx]
    return U


def _csr_stack(mats: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    d = mats[0].shape[0] if mats else 0
    ptr = np.zeros((len(mats), d + 1), np.int64)
    idx: list[np.ndarray] = []
    val: list[np.ndarray] = []
    nnz = 0
    for m, A in enumerate(mats):
        for i in range(d):
            (cols,) = np.nonzero(A[i])  # exact zeros only: skipping them changes no sum
            idx.append(cols.astype(np.int64))
            val.append(A[i, cols].astype(np.complex128))
            ptr[m, i] = nnz
            nnz += cols.size
        ptr[m, d] = nnz
    cat_i = np.concatenate(idx) if idx else np.zeros(0, np.int64)
    cat_v = np.concatenate(val) if val else np.zeros(0, np.complex128)
    return ptr, np.ascontiguousarray(cat_i, np.int64), np.ascontiguousarray(cat_v, np.complex128)


def no_stepper(d: int) -> Stepper:
    """The :class:`Stepper` of a plan that does not step (h = 0.0, empty arrays).

    Parameters
    ----------
    d : int
        State dimension.

    Returns
    -------
    Stepper
    """
    return Stepper(0.0, 0.0, _THETA, np.zeros((0, d + 1), np.int64), np.zeros(0, np.int64), np.zeros(0, complex))


def make_stepper(heff: np.ndarray, jumps: np.ndarray, prop: BlockPropagator, max_span: float) -> Stepper:
    """The stepping data of a plan: on when H_eff has a Schur-Pade block, else :func:`no_stepper`.

    Parameters
    ----------
    heff : ndarray of complex128, shape (d, d)
        H_eff (energy unit).
    jumps : ndarray of complex128, shape (K, d, d)
        The jump operators.
    prop : BlockPropagator
        Of heff (:func:`.blocks.make_block_propagator`).
    max_span : float
        The longest interval between two events (time unit), >= 0.

    Returns
    -------
    Stepper
    """
    d = heff.shape[0]
    if not np.any(prop.kind == KIND_DENSE):
        return no_stepper(d)
    hnorm = float(np.linalg.norm(heff, 2))
    if not (hnorm > 0.0 and math.isfinite(hnorm)):
        return no_stepper(d)
    h = STEP_THETA / hnorm
    levels = 1
    while levels < MAX_LEVELS and math.ldexp(h, levels) <= max_span:
        levels += 1
    rungs = [propagator_matrix(prop, math.ldexp(h, j)) for j in range(levels)]
    mats = [np.asarray(L, np.complex128) for L in jumps] + [-1j * np.asarray(heff, np.complex128)] + rungs
    return Stepper(h, hnorm, _THETA, *_csr_stack(mats))


# ---- the search (Numba) ---------------------------------------------------------------------------------


@njit(cache=True, inline="always")
def csr_matvec(ptr: np.ndarray, idx: np.ndarray, val: np.ndarray, x: np.ndarray, out: np.ndarray) -> None:
    """out = A x for one CSR matrix of a stack (ptr one row of sp_ptr).

    Parameters
    ----------
    ptr : ndarray of int64, shape (d + 1,)
    idx : ndarray of int64, shape (nnz,)
    val : ndarray of complex128, shape (nnz,)
    x : ndarray of complex128, shape (d,)
    out : ndarray of complex128, shape (d,)
        Written; must not alias x.
    """
    for i in range(out.size):
        acc = 0j
        for p in range(ptr[i], ptr[i + 1]):
            acc += val[p] * x[idx[p]]
        out[i] = acc


@njit(cache=True, inline="always")
def _norm2(v):
    s = 0.0
    for i in range(v.size):
        s += v[i].real ** 2
        s += v[i].imag ** 2
    return s


@njit(cache=True)
def _eval(V, K, s, phi, dphi, deriv):
    """phi = sum_k V[k] s^k and (deriv) dphi = sum_k k V[k] s^(k-1), by Horner."""
    for i in range(phi.size):
        a = V[K, i]
        b = K * V[K, i]
        for k in range(K - 1, -1, -1):
            a = a * s + V[k, i]
            if deriv and k > 0:
                b = b * s + k * V[k, i]
        phi[i] = a
        if deriv:
            dphi[i] = b if K > 0 else 0j


@njit(cache=True)
def stepped_jump_time(
    st_h: float,
    st_hnorm: float,
    theta: np.ndarray,
    sp_ptr: np.ndarray,
    sp_idx: np.ndarray,
    sp_val: np.ndarray,
    nk: int,
    psi: np.ndarray,
    r: float,
    span: float,
    phi: np.ndarray,
    tol: float,
) -> tuple[float, float, bool]:
    """The first tau in (0, span] with ||exp(-i H_eff tau) psi||^2 = r, if there is one.

    Parameters
    ----------
    st_h, st_hnorm, theta, sp_ptr, sp_idx, sp_val
        The fields of a :class:`Stepper` that steps (st_h > 0).
    nk : int
        Number K of jump operators at the head of the stack.
    psi : ndarray of complex128, shape (d,)
        The state at the start (not modified).
    r : float
        In (0, 1], the level of the squared norm.
    span : float
        >= 0 (time unit).
    phi : ndarray of complex128, shape (d,)
        Written: the state at the root, or at span when there is none.
    tol : float
        Relative residual |  ||phi||^2 / r - 1 | at which the root search stops.

    Returns
    -------
    tau : float
        The root (time unit), or span.
    resid : float
        Its relative residual (0.0 when there is no root).
    hit : bool
        Whether the norm reaches r within span.
    """
    d = psi.size
    nlev = sp_ptr.shape[0] - nk - 1
    cur = psi.copy()
    n_cur = _norm2(cur)
    t0 = 0.0
    known = -1.0  # end of the shortest rung seen to cross r (the root lies in [t0, known])
    j = nlev - 1
    while j >= 0:
        step = math.ldexp(st_h, j)
        end = t0 + step
        if end <= span and (known < 0.0 or end < known):
            csr_matvec(sp_ptr[nk + 1 + j], sp_idx, sp_val, cur, phi)
            n2 = _norm2(phi)
            if n2 >= r:
                for i in range(d):
                    cur[i] = phi[i]
                n_cur = n2
                t0 = end
                if known < 0.0:
                    continue  # the same rung again: only the fit test stops it
            else:
                known = end
        j -= 1
    s_end = (known if known >= 0.0 else span) - t0
    if s_end < 0.0:
        s_end = 0.0
    x = st_hnorm * s_end
    K = 0
    while K < theta.size - 1 and theta[K] < x:
        K += 1
    V = np.empty((K + 1, d), np.complex128)
    for i in range(d):
        V[0, i] = cur[i]
    for k in range(1, K + 1):
        csr_matvec(sp_ptr[nk], sp_idx, sp_val, V[k - 1], V[k])
        inv = 1.0 / k
        for i in range(d):
            V[k, i] *= inv
    dphi = np.empty(d, np.complex128)
    _eval(V, K, s_end, phi, dphi, False)
    n_end = _norm2(phi)
    if known < 0.0 and n_end >= r:
        return span, 0.0, False
    # Newton on g(s) = log ||phi(s)||^2 - log r, safeguarded by bisection on [lo, hi]
    logr = math.log(r)
    lo, hi = 0.0, s_end
    g_lo = math.log(n_cur) - logr
    g_hi = math.log(n_end) - logr if n_end > 0.0 else -math.inf
    s = s_end * g_lo / (g_lo - g_hi) if g_lo - g_hi > 0.0 and math.isfinite(g_hi) else 0.5 * s_end
    resid = 1.0
    for _ in range(_MAX_ROOT_ITER):
        if not (lo < s < hi):
            s = 0.5 * (lo + hi)
        _eval(V, K, s, phi, dphi, True)
        n2 = _norm2(phi)
        g = math.log(n2) - logr if n2 > 0.0 else -math.inf
        resid = abs(n2 / r - 1.0)
        if g > 0.0:
            lo = s
        else:
            hi = s
        if resid < tol or hi - lo <= 4e-16 * (t0 + hi):
            break
        dn = 0.0
        for i in range(d):
            dn += phi[i].real * dphi[i].real + phi[i].imag * dphi[i].imag
        dg = 2.0 * dn / n2 if n2 > 0.0 else 0.0
        s = s - g / dg if dg < 0.0 else 0.5 * (lo + hi)
    return t0 + s, resid, True
