"""No-jump propagator exp(-i H_eff tau) for any dimension d <= 64, applied block by block.

The state space splits into the invariant blocks of H_eff (connected components of its off-diagonal
sparsity graph, :func:`find_blocks`), and each block A (n x n) is exponentiated by the cheapest kernel
of :mod:`.linalg` that is still accurate (its module docstring gives the error analysis):

kind 0, n = 1: exp(-i a tau), closed form.
kind 1, n = 2: the closed form :func:`.linalg.pair_propagator`, exact at and near exceptional points;
    the same operations as ``block_propagator``, so a 4 x 4 S_z-conserving H_eff gives bit-identical
    results.
kind 2, n >= 3, eigenvector matrix well conditioned, cond_2(V) <= ``EIG_COND_MAX`` (1e3): the eigen
    path, O(n^2) per application.
kind 3, n >= 3, otherwise: the complex Schur form and scaling and squaring with the [13/13] Pade
    approximant, backward stable at and near exceptional points.

:func:`make_block_propagator` packs the blocks' data into a :class:`BlockPropagator` once per model;
:func:`apply_propagator` applies it on the trajectory hot path (no input validation beyond tau >= 0;
psi and out must not alias).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numba import njit
from numpy.typing import ArrayLike

from .checks import check_real
from .linalg import EIG_COND_MAX, _eig_decompose, _schur_block, _square_matrix, pair_propagator, schur_data

#: Off-block elements of H_eff at or below this fraction of max|H_eff| are rounding, not structure.
BLOCK_TOL = 1e-14

#: Block kinds of :class:`BlockPropagator`.
KIND_SCALAR, KIND_PAIR, KIND_EIG, KIND_DENSE = 0, 1, 2, 3


def _check_tol(tol: float) -> float:
    return check_real("tol", tol, 0.0, 1.0, high_open=True)


def find_blocks(heff: ArrayLike, tol: float = BLOCK_TOL) -> tuple[np.ndarray, np.ndarray]:
    """Invariant blocks of H_eff: connected components of its off-diagonal sparsity graph.

    Indices i != j are linked when |H_ij| or |H_ji| exceeds tol * max|H|; elements at or below that are
    treated as zero. Example: the S_z-conserving 4 x 4 H_eff gives order [0, 1, 2, 3], starts [0, 1, 3, 4].

    Parameters
    ----------
    heff : array_like, shape (d, d)
        Complex, 1 <= d <= 64, finite (energy unit).
    tol : float
        Relative threshold, in [0, 1).

    Returns
    -------
    order : ndarray of int64, shape (d,)
        The indices block by block, ascending within a block, blocks sorted by their smallest index.
    starts : ndarray of int64, shape (nblocks + 1,)
        Offsets into order, block b being order[starts[b]:starts[b + 1]].

    Raises
    ------
    ValueError
        Naming 'heff' or 'tol', for a matrix that is not finite and square with 1 <= d <= 64, or tol
        outside [0, 1).
    """
    h = _square_matrix(heff, "heff")
    tol = _check_tol(tol)
    a = np.abs(h)
    big = a > tol * a.max()
    adj = big | big.T
    np.fill_diagonal(adj, False)
    d = h.shape[0]
    seen = np.zeros(d, bool)
    order: list[int] = []
    starts = [0]
    for i in range(d):  # blocks come out sorted by their smallest index
        if seen[i]:
            continue
        seen[i] = True
        stack, comp = [i], [i]
        while stack:
            for k in np.flatnonzero(adj[stack.pop()] & ~seen):
                seen[k] = True
                stack.append(int(k))
                comp.append(int(k))
        order.extend(sorted(comp))
        starts.append(len(order))
    return np.array(order, np.int64), np.array(starts, np.int64)


def off_block_ratio(heff: ArrayLike, order: ArrayLike, starts: ArrayLike) -> float:
    """Largest |H_ij| with i, j in different blocks, relative to max|H| (0.0 for H = 0).

    A matrix is block diagonal in that partition to within tol when the result is <= tol.

    Parameters
    ----------
    heff : array_like, shape (d, d)
        Complex, 1 <= d <= 64, finite.
    order : array_like of int, shape (d,)
        As returned by :func:`find_blocks`: a permutation of range(d).
    starts : array_like of int, shape (nblocks + 1,)
        As returned by :func:`find_blocks`: strictly increasing from 0 to d.

    Returns
    -------
    float
        In [0, 1].

    Raises
    ------
    ValueError
        Naming 'heff', 'order' or 'starts'.
    """
    h = _square_matrix(heff, "heff")
    d = h.shape[0]
    order = np.asarray(order)
    starts = np.asarray(starts)
    if order.shape != (d,) or not np.array_equal(np.sort(order), np.arange(d)):
        raise ValueError(f"order must be a permutation of range({d})")
    if starts.ndim != 1 or starts.size < 2 or starts[0] != 0 or starts[-1] != d or np.any(np.diff(starts) <= 0):
        raise ValueError(f"starts must increase strictly from 0 to {d}")
    label = np.empty(d, np.int64)
    for b in range(starts.size - 1):
        label[order[starts[b] : starts[b + 1]]] = b
    a = np.abs(h)
    scale = a.max()
    off = a[label[:, None] != label[None, :]]
    if scale == 0.0 or off.size == 0:
        return 0.0
    return float(off.max() / scale)


# ---- the packed block propagator ---------------------------------------------------------------------


class BlockPropagator(NamedTuple):
    """exp(-i H_eff tau) for every tau, as plain arrays (a NamedTuple numba accepts; no jitclass).

    Block b holds the indices order[starts[b]:starts[b + 1]] (n of them) and the coefficients
    coef[offsets[b]:offsets[b + 1]]:
        kind 0 (n = 1): [a];  kind 1 (n = 2): [A00, A01, A10, A11];
        kind 2 (eigen): lam (n), then V and V^-1 row-major (n^2 each);
        kind 3 (Schur + Pade): T then Q row-major (n^2 each), A = Q T Q^H.
    """

    order: np.ndarray  #: (d,) int64, indices grouped by block (see find_blocks)
    starts: np.ndarray  #: (nblocks + 1,) int64, block offsets into order
    kind: np.ndarray  #: (nblocks,) int64, KIND_SCALAR, KIND_PAIR, KIND_EIG or KIND_DENSE
    offsets: np.ndarray  #: (nblocks + 1,) int64, block offsets into coef
    coef: np.ndarray  #: (ncoef,) complex128, the blocks' data
    cond: np.ndarray  #: (nblocks,) float64, cond_2(V) of blocks with n >= 3 (inf: eig failed), nan for n <= 2
    max_block: int  #: largest block size n (length of the workspace of apply_propagator_work)


def make_block_propagator(
    heff: ArrayLike, tol: float = BLOCK_TOL, eig_cond_max: float = EIG_COND_MAX
) -> BlockPropagator:
    """Precompute exp(-i H_eff tau) block by block (numpy side; once per model).

    Blocks come from :func:`find_blocks` with tol (the off-block elements at or below tol * max|H| are
    dropped). Blocks of size 1 and 2 use the closed forms; larger ones the eigen path when
    cond_2(V) <= eig_cond_max, else the Pade path. Use with :func:`apply_propagator`.

    Parameters
    ----------
    heff : array_like, shape (d, d)
        Complex, 1 <= d <= 64, finite (energy unit).
    tol : float
        In [0, 1), as for :func:`find_blocks`.
    eig_cond_max : float
        >= 1; inf forces the eigen path, 1 in practice forces the Pade path.

    Returns
    -------
    BlockPropagator

    Raises
    ------
    ValueError
        Naming 'heff', 'tol' or 'eig_cond_max'.
    """
    h = _square_matrix(heff, "heff")
    eig_cond_max = float(eig_cond_max)
    if not eig_cond_max >= 1.0:
        raise ValueError(f"eig_cond_max must be >= 1, got {eig_cond_max!r}")
    order, starts = find_blocks(h, tol)
    nb = starts.size - 1
    kind = np.empty(nb, np.int64)
    cond = np.full(nb, np.nan)
    parts: list[np.ndarray] = []
    for b in range(nb):
        idx = order[starts[b] : starts[b + 1]]
        A = np.ascontiguousarray(h[np.ix_(idx, idx)])
        n = idx.size
        if n == 1:
            kind[b] = KIND_SCALAR
            parts.append(A.ravel())
        elif n == 2:
            kind[b] = KIND_PAIR
            parts.append(A.ravel())
        else:
            lam, V, Vinv, c = _eig_decompose(A)
            cond[b] = c
            if c <= eig_cond_max:
                kind[b] = KIND_EIG
                parts.append(np.concatenate([lam, V.ravel(), Vinv.ravel()]))
            else:
                kind[b] = KIND_DENSE
                T, Q = schur_data(A)
                parts.append(np.concatenate([T.ravel(), Q.ravel()]))
    offsets = np.zeros(nb + 1, np.int64)
    offsets[1:] = np.cumsum([p.size for p in parts])
    coef = np.ascontiguousarray(np.concatenate(parts), dtype=np.complex128)
    return BlockPropagator(order, starts, kind, offsets, coef, cond, int(np.diff(starts).max()))


@njit(cache=True)
def apply_propagator_work(bp: BlockPropagator, tau: float, psi: np.ndarray, out: np.ndarray, work: np.ndarray) -> None:
    """out = exp(-i H_eff tau) psi with a caller-owned workspace (no allocation unless a Pade block).

    Parameters
    ----------
    bp : BlockPropagator
    tau : float
        >= 0 (time, inverse energy unit).
    psi : ndarray of complex128, shape (d,)
    out : ndarray of complex128, shape (d,)
        Written; must not alias psi.
    work : ndarray of complex128, shape (>= bp.max_block,)
        Scratch.

    Raises
    ------
    ValueError
        If tau < 0 or NaN.
    """
    if not tau >= 0.0:
        raise ValueError("tau must be >= 0")
    order, starts, kind, offsets, coef = bp.order, bp.starts, bp.kind, bp.offsets, bp.coef
    for blk in range(kind.size):
        s = starts[blk]
        n = starts[blk + 1] - s
        o = offsets[blk]
        k = kind[blk]
        if k == KIND_SCALAR:
            i = order[s]
            out[i] = np.exp(-1j * coef[o] * tau) * psi[i]
        elif k == KIND_PAIR:
            i0 = order[s]
            i1 = order[s + 1]
            u00, u01, u10, u11 = pair_propagator(coef[o], coef[o + 1], coef[o + 2], coef[o + 3], tau)
            out[i0] = u00 * psi[i0] + u01 * psi[i1]
            out[i1] = u10 * psi[i0] + u11 * psi[i1]
        elif k == KIND_EIG:
            ov = o + n
            oi = ov + n * n
            for r in range(n):
                acc = 0j
                row = oi + r * n
                for j in range(n):
                    acc += coef[row + j] * psi[order[s + j]]
                work[r] = np.exp(-1j * coef[o + r] * tau) * acc
            for i in range(n):
                acc = 0j
                row = ov + i * n
                for r in range(n):
                    acc += coef[row + r] * work[r]
                out[order[s + i]] = acc
        else:
            _schur_block(coef, o, n, order, s, tau, psi, out)


@njit(cache=True)
def apply_propagator(bp: BlockPropagator, tau: float, psi: np.ndarray, out: np.ndarray) -> None:
    """out = exp(-i H_eff tau) psi for the H_eff packed in bp (:func:`make_block_propagator`).

    Allocates a workspace of bp.max_block; see :func:`apply_propagator_work` to avoid it.

    Parameters
    ----------
    bp : BlockPropagator
    tau : float
        >= 0 (time, inverse energy unit).
    psi : ndarray of complex128, shape (d,)
    out : ndarray of complex128, shape (d,)
        Written; must not alias psi.

    Raises
    ------
    ValueError
        If tau < 0 or NaN.
    """
    work = np.empty(bp.max_block, np.complex128)
    apply_propagator_work(bp, tau, psi, out, work)


def block_propagator_matrix(bp: BlockPropagator, tau: float) -> np.ndarray:
    """exp(-i H_eff tau) as a matrix, column by column via :func:`apply_propagator`.

    Parameters
    ----------
    bp : BlockPropagator
    tau : float
        >= 0 (time, inverse energy unit).

    Returns
    -------
    ndarray of complex128, shape (d, d)

    Raises
    ------
    ValueError
        If tau < 0 or NaN.
    """
    d = bp.order.size
    U = np.empty((d, d), np.complex128)
    e = np.zeros(d, np.complex128)
    col = np.empty(d, np.complex128)
    for j in range(d):
        e[:] = 0
        e[j] = 1
        apply_propagator(bp, float(tau), e, col)
        U[:, j] = col
    return U
