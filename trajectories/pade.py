"""The Schur + Pade path of the no-jump propagator: exp(-i T tau) of the triangular Schur factor by
scaling and squaring with the [13/13] Pade approximant (Higham 2005), the mean eigenvalue removed and the
squares normalised by powers of two so nothing overflows, and the diagonal and first superdiagonal
recomputed exactly after every squaring (Al-Mohy and Higham 2009). Backward stable at and near
exceptional points; see :mod:`.linalg` for the error analysis. All products are explicit loops in a fixed
order, so results do not depend on BLAS or on threads.
"""

from __future__ import annotations

import math

import numpy as np
import scipy.linalg
from numba import njit
from numpy.typing import ArrayLike

from .block_checks import _square_matrix

#: Higham (2005), Table 2.3: ||M||_1 up to which the [13/13] Pade approximant of exp(M) is accurate
#: to double precision (backward error <= 2^-53).
THETA_13 = 5.371920351148152

#: Coefficients b_0..b_13 of the [13/13] Pade approximant p(M) = sum b_k M^k, q(M) = p(-M) (Higham 2005).
PADE13 = np.array(
    [
        64764752532480000.0,
        32382376266240000.0,
        7771770303897600.0,
        1187353796428800.0,
        129060195264000.0,
        10559470521600.0,
        670442572800.0,
        33522128640.0,
        1323241920.0,
        40840800.0,
        960960.0,
        16380.0,
        182.0,
        1.0,
    ]
)

_LN2 = math.log(2.0)


@njit(cache=True)
def _matmul(A, B, C, upper):
    """C = A @ B for (n, n) complex; fixed summation order (no BLAS: thread- and machine-independent).

    upper: A and B are upper triangular (then so is C; only its upper triangle is touched).
    """
    n = A.shape[0]
    for i in range(n):
        j0 = i if upper else 0
        for j in range(j0, n):
            C[i, j] = 0j
        for k in range(j0, n):
            a = A[i, k]
            for j in range(k if upper else 0, n):
                C[i, j] += a * B[k, j]


@njit(cache=True)
def _lu_solve(Q, X, upper):
    """Overwrite X (n, n) with Q^-1 X by LU with partial pivoting (Q upper triangular: back substitution).

    Q is destroyed.
    """
    n = Q.shape[0]
    if not upper:
        for c in range(n):
            p = c
            best = abs(Q[c, c])
            for r in range(c + 1, n):
                v = abs(Q[r, c])
                if v > best:
                    best = v
                    p = r
            if p != c:
                for j in range(n):
                    t = Q[c, j]
                    Q[c, j] = Q[p, j]
                    Q[p, j] = t
                    t = X[c, j]
                    X[c, j] = X[p, j]
                    X[p, j] = t
            piv = Q[c, c]
            for r in range(c + 1, n):
                f = Q[r, c] / piv
                if f != 0:
                    for j in range(c + 1, n):
                        Q[r, j] -= f * Q[c, j]
                    for j in range(n):
                        X[r, j] -= f * X[c, j]
    for c in range(n - 1, -1, -1):
        piv = Q[c, c]
        for j in range(n):
            X[c, j] /= piv
        for r in range(c):
            f = Q[r, c]
            if f != 0:
                for j in range(n):
                    X[r, j] -= f * X[c, j]


@njit(cache=True)
def _normalise(X):
    """Scale X by 2^-e (exact) so that max|X_ij| lies in [0.5, 1); returns e (0 for X = 0)."""
    n = X.shape[0]
    big = 0.0
    for i in range(n):
        for j in range(n):
            v = abs(X[i, j])
            if v > big:
                big = v
    if big == 0.0 or not math.isfinite(big):
        return 0
    e = math.frexp(big)[1]
    f = math.ldexp(1.0, -e)
    for i in range(n):
        for j in range(n):
            X[i, j] *= f
    return e


@njit(cache=True)
def _exact_bands(Y, B, k, log2s):
    """Y = exp(2^k B) 2^-log2s for upper triangular B: overwrite the diagonal and first superdiagonal
    with their exact values (Al-Mohy and Higham 2009, Code Fragment 2.1), which squaring would
    otherwise accumulate rounding in."""
    n = Y.shape[0]
    f = math.ldexp(1.0, k)
    c = log2s * _LN2
    for i in range(n):
        Y[i, i] = np.exp(B[i, i] * f - c)
    for i in range(n - 1):
        a1 = B[i, i] * f
        a2 = B[i + 1, i + 1] * f
        t = B[i, i + 1] * f
        z = 0.5 * (a2 - a1)
        if abs(z.real) < 1.0:
            # exp((a1 + a2)/2) sinh(z)/z: no cancellation, and sinh cannot overflow here
            sz = np.sinh(z) / z if z != 0 else 1.0 + 0j
            Y[i, i + 1] = t * np.exp(0.5 * (a1 + a2) - c) * sz
        else:
            # |Re(a2 - a1)| >= 2: one exponential dominates, the difference is well conditioned
            Y[i, i + 1] = t * (np.exp(a2 - c) - np.exp(a1 - c)) / (a2 - a1)


@njit(cache=True, inline="always")
def _combine(out, add, c6, c4, c2, c0, B6, B4, B2):
    """out = (out if add else 0) + c6 B6 + c4 B4 + c2 B2 + c0 I, the Pade polynomials' shared step."""
    n = out.shape[0]
    for i in range(n):
        for j in range(n):
            x = c6 * B6[i, j] + c4 * B4[i, j] + c2 * B2[i, j]
            out[i, j] = out[i, j] + x if add else x
        out[i, i] += c0


@njit(cache=True)
def _expm_work(M, out, w, upper):
    """exp(M) into out; w (7, n, n) complex scratch; upper: M is upper triangular. See expm_dense."""
    n = M.shape[0]
    b = PADE13
    B, B2, B4, B6, T1, T2, T3 = w[0], w[1], w[2], w[3], w[4], w[5], w[6]
    for m in range(7):
        for i in range(n):
            for j in range(n):
                w[m, i, j] = 0j
    mu = 0j
    for i in range(n):
        mu += M[i, i]
    mu /= n
    for i in range(n):
        for j in range(n):
            B[i, j] = M[i, j]
        B[i, i] -= mu
    norm1 = 0.0
    for j in range(n):
        col = 0.0
        for i in range(n):
            col += abs(B[i, j])
        norm1 = max(norm1, col)
    s = 0
    if norm1 > THETA_13:
        s = max(0, int(math.ceil(math.log2(norm1 / THETA_13))))
        while math.ldexp(norm1, -s) > THETA_13:  # guard the rounding of log2
            s += 1
        f = math.ldexp(1.0, -s)
        for i in range(n):
            for j in range(n):
                B[i, j] *= f
    _matmul(B, B, B2, upper)
    _matmul(B2, B2, B4, upper)
    _matmul(B2, B4, B6, upper)
    # odd part U = B [B6 (b13 B6 + b11 B4 + b9 B2) + b7 B6 + b5 B4 + b3 B2 + b1 I]
    _combine(T1, False, b[13], b[11], b[9], 0.0, B6, B4, B2)
    _matmul(B6, T1, T2, upper)
    _combine(T2, True, b[7], b[5], b[3], b[1], B6, B4, B2)
    _matmul(B, T2, T1, upper)  # T1 = U
    # even part V = B6 (b12 B6 + b10 B4 + b8 B2) + b6 B6 + b4 B4 + b2 B2 + b0 I
    _combine(T2, False, b[12], b[10], b[8], 0.0, B6, B4, B2)
    _matmul(B6, T2, T3, upper)
    _combine(T3, True, b[6], b[4], b[2], b[0], B6, B4, B2)
    # (V - U) X = V + U
    for i in range(n):
        for j in range(n):
            out[i, j] = T3[i, j] + T1[i, j]
            T2[i, j] = T3[i, j] - T1[i, j]
    _lu_solve(T2, out, upper)
    # exp(B 2^s) = X^(2^s), kept as 2^L Y with max|Y| in [0.5, 1): exact rescaling, no overflow
    log2s = float(_normalise(out))
    if upper:
        _exact_bands(out, B, 0, log2s)
    for k in range(1, s + 1):
        _matmul(out, out, T1, upper)
        log2s = 2.0 * log2s + _normalise(T1)
        for i in range(n):
            for j in range(n):
                out[i, j] = T1[i, j]
        if upper:
            _exact_bands(out, B, k, log2s)
    # combine exponents: e^mu and 2^L may overflow or underflow separately
    f = np.exp(mu + log2s * _LN2)
    for i in range(n):
        for j in range(n):
            out[i, j] *= f


@njit(cache=True)
def _is_upper(M):
    n = M.shape[0]
    for i in range(1, n):
        for j in range(i):
            if M[i, j] != 0:
                return False
    return True


@njit(cache=True)
def expm_dense(M: np.ndarray, out: np.ndarray) -> None:
    """out = exp(M) by scaling and squaring with the [13/13] Pade approximant (Higham 2005).

    Shifts M by mu = tr(M)/n, scales by 2^-s so that ||M - mu||_1 <= theta_13, solves
    q(B) X = p(B) by LU with partial pivoting, squares s times keeping the scale as a power of two,
    and multiplies by exp(mu + scale) once: no overflow while exp(M) is finite. Backward stable at
    and near exceptional points, where an eigen-decomposition is not (module docstring: squaring
    error). An upper triangular M (a Schur form) takes a faster path that also recomputes the
    diagonal and first superdiagonal exactly after every squaring (Al-Mohy and Higham 2009).
    Allocates 7 n^2 complex scratch.

    Parameters
    ----------
    M : ndarray of complex128, shape (n, n)
        n <= 64 (for a block, M = -i A tau).
    out : ndarray of complex128, shape (n, n)
        Written; must not alias M.
    """
    n = M.shape[0]
    w = np.empty((7, n, n), np.complex128)
    _expm_work(M, out, w, _is_upper(M))


@njit(cache=True)
def dense_apply(a: np.ndarray, tau: float, psi: np.ndarray, out: np.ndarray) -> None:
    """out = exp(-i A tau) psi via :func:`expm_dense`.

    Parameters
    ----------
    a : ndarray of complex128, shape (n, n)
    tau : float
        >= 0 (time, inverse energy unit).
    psi : ndarray of complex128, shape (n,)
    out : ndarray of complex128, shape (n,)
        Written; must not alias psi.

    Raises
    ------
    ValueError
        If tau < 0 or NaN.
    """
    if not tau >= 0.0:
        raise ValueError("tau must be >= 0")
    n = a.shape[0]
    M = np.empty((n, n), np.complex128)
    for i in range(n):
        for j in range(n):
            M[i, j] = -1j * a[i, j] * tau
    U = np.empty((n, n), np.complex128)
    expm_dense(M, U)
    for i in range(n):
        acc = 0j
        for j in range(n):
            acc += U[i, j] * psi[j]
        out[i] = acc


def schur_data(a: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """Complex Schur form A = Q T Q^H of one block, for :func:`schur_apply`.

    Parameters
    ----------
    a : array_like, shape (n, n)
        Complex, 1 <= n <= 64, finite.

    Returns
    -------
    T : ndarray of complex128, shape (n, n)
        Upper triangular; its strictly lower triangle is exactly zero.
    Q : ndarray of complex128, shape (n, n)
        Unitary. Both C-contiguous.

    Raises
    ------
    ValueError
        Naming 'a'.
    """
    A = _square_matrix(a, "a")
    T, Q = scipy.linalg.schur(A, output="complex")
    T = np.triu(T)
    return np.ascontiguousarray(T, dtype=np.complex128), np.ascontiguousarray(Q, dtype=np.complex128)


@njit(cache=True)
def _schur_block(coef, o, n, order, s, tau, psi, out):
    """Pade block: coef[o:] holds T then Q (row-major); out[order[s:s+n]] = Q exp(-i T tau) Q^H psi[...]."""
    oq = o + n * n
    y = np.empty(n, np.complex128)
    for r in range(n):
        acc = 0j
        for j in range(n):
            acc += np.conj(coef[oq + j * n + r]) * psi[order[s + j]]
        y[r] = acc
    M = np.zeros((n, n), np.complex128)
    for i in range(n):
        for j in range(i, n):
            M[i, j] = -1j * coef[o + i * n + j] * tau
    U = np.empty((n, n), np.complex128)
    w = np.empty((7, n, n), np.complex128)
    _expm_work(M, U, w, True)
    z = np.empty(n, np.complex128)
    for i in range(n):
        acc = 0j
        for j in range(i, n):
            acc += U[i, j] * y[j]
        z[i] = acc
    for i in range(n):
        acc = 0j
        for r in range(n):
            acc += coef[oq + i * n + r] * z[r]
        out[order[s + i]] = acc


@njit(cache=True)
def schur_apply(T: np.ndarray, Q: np.ndarray, tau: float, psi: np.ndarray, out: np.ndarray) -> None:
    """out = Q exp(-i T tau) Q^H psi = exp(-i A tau) psi for the Schur form of :func:`schur_data`.

    The triangular form keeps the squares free of the cancellation a non-normal block suffers in its
    own basis, so the error relative to ||U|| stays small far into the decay (module docstring).

    Parameters
    ----------
    T, Q : ndarray of complex128, shape (n, n)
        From :func:`schur_data`.
    tau : float
        >= 0 (time, inverse energy unit).
    psi : ndarray of complex128, shape (n,)
    out : ndarray of complex128, shape (n,)
        Written; must not alias psi.

    Raises
    ------
    ValueError
        If tau < 0 or NaN.
    """
    if not tau >= 0.0:
        raise ValueError("tau must be >= 0")
    n = T.shape[0]
    coef = np.empty(2 * n * n, np.complex128)
    for i in range(n):
        for j in range(n):
            coef[i * n + j] = T[i, j]
            coef[n * n + i * n + j] = Q[i, j]
    order = np.arange(n)
    _schur_block(coef, 0, n, order, 0, tau, psi, out)
