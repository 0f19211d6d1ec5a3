"""The superoperators the two-spin Liouvillian is a linear combination of:
L = nu Hnu + J_ex Hex + J_DM Hdm + sum_s sum_ab K_s[a, b] D_s,ab, none of them depending on a parameter, so
building L is a few vectorised sums instead of ~60 small krons per model. Row-major vec(rho).
"""

from __future__ import annotations

import numpy as np

from .bath import _SECTOR_OPS, SECTORS
from .operators import kron


def _dissipator(Aa: np.ndarray, Ab: np.ndarray) -> np.ndarray:
    """rho -> Aa rho Ab^dag - {Ab^dag Aa, rho}/2 on row-major vec(rho); (16, 16)."""
    eye = np.eye(4)
    AbA = Ab.conj().T @ Aa
    return np.kron(Aa, Ab.conj()) - 0.5 * np.kron(AbA, eye) - 0.5 * np.kron(eye, AbA.T)


def _hamiltonian_super(h: np.ndarray) -> np.ndarray:
    eye = np.eye(4)
    return -1j * (np.kron(h, eye) - np.kron(eye, h.T))


def _build_basis() -> np.ndarray:
    terms = [
        _hamiltonian_super(0.5 * (kron("z", "1") + kron("1", "z"))),
        _hamiltonian_super(-(kron("x", "x") + kron("y", "y") + kron("z", "z"))),
        _hamiltonian_super(kron("x", "y") - kron("y", "x")),
    ]
    for s in SECTORS:
        op = _SECTOR_OPS[s][0]
        A = (kron(op, "1"), kron("1", op))
        terms += [_dissipator(A[a], A[b]) for a in range(2) for b in range(2)]
    basis = np.stack(terms).reshape(len(terms), 256)
    basis.setflags(write=False)
    return basis


#: (15, 256) complex: the superoperators multiplying nu, J_ex, J_DM and K_s[a, b] (s in SECTORS, ab row-major).
_BASIS = _build_basis()


def _sparse_terms(basis: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The non-zero entries of the basis, grouped by Liouvillian entry: (entries, segment starts, term j,
    value). Summing each entry's terms in this fixed order makes L independent of how many pairs are built
    at once (a BLAS product is not: its kernels round differently for different batch sizes)."""
    e, j = np.nonzero(basis.T)
    starts = np.flatnonzero(np.diff(e, prepend=-1))
    return e[starts], starts, j, basis.T[e, j]


_TERMS = _sparse_terms(_BASIS)
