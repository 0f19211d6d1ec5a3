"""Models several tests build: an operator on one spin of a chain, the Heisenberg chain in a graded field,
the three-spin chain with collective decay, and the driven damped cavity truncated at d levels.

Written once here (tests/ is on sys.path) so every test builds exactly the same arrays; the single-spin
matrices come from :mod:`reference`.
"""

from __future__ import annotations

import math

import numpy as np

import darkspin as ds

from reference import SM, SX, SY, SZ


def chain(n: int, op: np.ndarray, site: int) -> np.ndarray:
    """``op`` on spin ``site`` of an n-spin chain (first spin first), identities elsewhere: (2**n, 2**n)."""
    out = np.array([[1.0 + 0j]])
    for j in range(n):
        out = np.kron(out, op if j == site else np.eye(2))
    return out


def heisenberg_chain(n: int) -> np.ndarray:
    """H = sum_j (1 + 0.1 j)/2 Z_j + 0.3 sum_j (X_j X_j+1 + Y_j Y_j+1 + Z_j Z_j+1), (2**n, 2**n)."""
    H = sum(0.5 * (1.0 + 0.1 * j) * chain(n, SZ, j) for j in range(n))
    for j in range(n - 1):
        H = H + 0.3 * sum(chain(n, P, j) @ chain(n, P, j + 1) for P in (SX, SY, SZ))
    return np.asarray(H)


def three_spin_chain() -> ds.LindbladModel:
    """Heisenberg chain of three spins with a field, collective decay and dephasing of the middle spin (d = 8)."""
    n = 3
    collective = math.sqrt(0.2) * sum(chain(n, SM, j) for j in range(n))
    dephasing = math.sqrt(0.05) * chain(n, SZ, 1)
    return ds.LindbladModel(heisenberg_chain(n), [collective, dephasing], ["collective decay", "dephasing 2"])


def cavity(
    d: int, drive: float = 1.0, kappa: float = 1.0, start: int = 0, t_final: float = 30.0, n_out: int = 61
) -> tuple[ds.LindbladModel, ds.Protocol]:
    """H = E (a + a^dag), L = sqrt(kappa) a truncated at d levels, from Fock state ``start``, no rounds,
    ``n_out`` output times on [0, t_final]."""
    a = np.diag(np.sqrt(np.arange(1.0, d)), 1).astype(complex)
    model = ds.LindbladModel(drive * (a + a.conj().T), [math.sqrt(kappa) * a], ["emission"])
    psi = np.zeros(d, complex)
    psi[start] = 1.0
    return model, ds.Protocol(psi, (), np.linspace(0.0, t_final, n_out), postselect="none")
