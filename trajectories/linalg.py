"""Small dense linear algebra for the no-jump propagator: exp(-i A tau) of one n x n block A (n <= 64).

A block of H_eff = H - (i/2) sum_k L_k^dag L_k is in general not normal, and near exceptional points
(EPs) it is nearly defective. :mod:`.blocks` picks, per block, one of these kernels:

2 x 2 closed form (:func:`pair_propagator`): cosh/sinh of the half-splitting with a series for small
    arguments, exact at and near EPs; the same operations as ``propagator.block_propagator``.
Eigen path (:func:`eig_data`, :func:`eig_apply`): U psi = V diag(exp(-i lam tau)) V^-1 psi, O(n^2) per
    application after one O(n^3) decomposition (numpy, once per model). Its error relative to ||U|| is
    about cond(V) * eps * (n + tau ||A||): the rounding of the two products, and the eigen-residual
    A V - V Lambda = O(eps ||A|| ||V||), which acts as a perturbation of A of size cond(V) eps ||A|| and
    grows linearly in tau (the semigroup is a contraction). With cond(V) <= ``EIG_COND_MAX`` (1e3) that
    stays below 1e-10 for tau ||A|| up to ~ 1e3 (measured: 1e-12 at tau = 100).
Schur + Pade path (:func:`schur_data`, :func:`schur_apply`, :func:`expm_dense`): near an EP cond(V)
    grows like eps_EP^-(m-1)/m for an m-fold EP, and the eigen path loses all accuracy. The complex
    Schur form A = Q T Q^H (numpy, once per model) and scaling and squaring with the [13/13] Pade
    approximant on the triangular -i T tau (Higham 2005) are backward stable at and near EPs;
    O(n^3 (7 + s) / 3) per application with s = ceil(log2(||T tau||_1 / theta_13)) squarings. The
    triangular form matters for accuracy deep in the decay: squaring a non-normal exp in a full basis
    cancels terms far larger than the result (measured: a 6 x 6 near-Jordan block decayed to
    ||U|| = 1e-25 loses 1e-8 in its own basis, 1e-10 in Schur form, at its conditioning); and it lets the
    diagonal and first superdiagonal be recomputed exactly after every squaring (Al-Mohy and Higham 2009).

Overflow. Eigenvalues of a valid H_eff have Im lam <= 0 (its anti-Hermitian part -Gamma/2 is negative
semidefinite), so every exp(-i lam tau) has modulus <= 1. The Pade path first removes the mean
eigenvalue mu = tr(M)/n (exact for uniform damping; fewer squarings) and keeps the squares normalised
by powers of two (exact), carrying the scale as a logarithm; the factor exp(mu + L ln 2) is applied
once at the end, so nothing overflows while the true U is finite, for any tau.

Squaring error. For a valid H_eff every exp(-i A t) is a contraction, and the shift and normalisation
only multiply the squares by scalars, so each squaring at most doubles the error (relative to that
scalar) and adds n eps: after s squarings ~ 2^s n eps ~ n eps tau ||A||_1 / theta_13, the order of
the conditioning of exp itself (a perturbation dA moves a contraction exp(-i A tau) by up to
tau ||dA||). So the error relative to ||U|| is ~ eps tau ||A|| as long as the decay is uniform; a
non-uniform decay of U by a factor D can amplify it by up to D, which the Schur form and the exact
bands keep far smaller in practice (measured above). No cap on tau is needed: the error grows
linearly in tau ||A||, as the conditioning does (measured: 4e-11 at tau ||A|| = 2e5).

The numba functions do no input validation beyond tau >= 0 (they sit on the trajectory hot path);
psi and out must not alias. All matrix products are explicit loops in a fixed order, so results do
not depend on BLAS or on threads.

The kernels live in :mod:`.pair_closed_form`, :mod:`.eig_path` and :mod:`.pade` (their shared input
check in :mod:`.block_checks`); this module keeps the error analysis that chooses between them in one
place, and every name importable from here.
"""

from __future__ import annotations

from .block_checks import MAX_DIM as MAX_DIM
from .block_checks import _square_matrix as _square_matrix
from .eig_path import EIG_COND_MAX as EIG_COND_MAX
from .eig_path import _eig_decompose as _eig_decompose
from .eig_path import eig_apply as eig_apply
from .eig_path import eig_data as eig_data
from .eig_path import eig_matrix as eig_matrix
from .pade import PADE13 as PADE13
from .pade import THETA_13 as THETA_13
from .pade import _matmul as _matmul
from .pade import _schur_block as _schur_block
from .pade import dense_apply as dense_apply
from .pade import expm_dense as expm_dense
from .pade import schur_apply as schur_apply
from .pade import schur_data as schur_data
from .pair_closed_form import pair_propagator as pair_propagator
