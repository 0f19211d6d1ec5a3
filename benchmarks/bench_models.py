"""Models several benchmarks build: an operator on one spin of a chain, the Heisenberg chain in a graded
field, the three-spin chain (d = 8), the n-spin chain of exact_scaling.py and the driven damped cavity.

Benchmarks run as scripts from this folder, so ``from bench_models import ...`` finds this file.
"""

from __future__ import annotations

import math

import numpy as np

import darkspin as ds

SX = np.array([[0, 1], [1, 0]], complex)
SY = np.array([[0, -1j], [1j, 0]], complex)
SZ = np.diag([1.0 + 0j, -1.0])
SM = np.array([[0, 0], [1, 0]], complex)  # |down><up| with up = index 0


def site(n: int, op: np.ndarray, j: int) -> np.ndarray:
    """op on spin j of an n-spin chain (first spin first)."""
    out = np.array([[1.0 + 0j]])
    for i in range(n):
        out = np.kron(out, op if i == j else np.eye(2))
    return out


def heisenberg_chain(n: int) -> np.ndarray:
    """H = sum_j (1 + 0.1 j)/2 Z_j + 0.3 sum_j (X_j X_j+1 + Y_j Y_j+1 + Z_j Z_j+1), (2**n, 2**n)."""
    H = sum(0.5 * (1.0 + 0.1 * j) * site(n, SZ, j) for j in range(n))
    for j in range(n - 1):
        H = H + 0.3 * sum(site(n, P, j) @ site(n, P, j + 1) for P in (SX, SY, SZ))
    return np.asarray(H)


def three_spin_chain() -> ds.LindbladModel:
    """Three spins (d = 8): the Heisenberg chain, collective decay and dephasing of the middle spin."""
    collective = math.sqrt(0.2) * sum(site(3, SM, j) for j in range(3))
    return ds.LindbladModel(
        heisenberg_chain(3), [collective, math.sqrt(0.05) * site(3, SZ, 1)], ["collective decay", "dephasing 2"]
    )


def cavity(d: int = 32, drive: float = 1.0, kappa: float = 1.0) -> tuple[ds.LindbladModel, ds.Protocol]:
    """The driven damped cavity of issue 20, truncated at d: (model, protocol) from |0>, 61 outputs on [0, 30]."""
    a = np.diag(np.sqrt(np.arange(1.0, d)), 1).astype(complex)
    model = ds.LindbladModel(drive * (a + a.conj().T), [math.sqrt(kappa) * a], ["emission"])
    psi = np.zeros(d, complex)
    psi[0] = 1.0
    return model, ds.Protocol(psi, (), np.linspace(0.0, 30.0, 61), postselect="none")


def spin_chain(n: int) -> tuple[ds.LindbladModel, ds.Protocol]:
    """The benchmark's n-spin chain (d = 2**n) and its protocol (parity of spins 1 and 2 in 4 rounds)."""
    H = heisenberg_chain(n)
    jumps = [
        math.sqrt(0.05) * sum(site(n, SM, j) for j in range(n)),
        math.sqrt(0.1) * site(n, SM, 0),
        math.sqrt(0.02) * sum(site(n, SZ, j) for j in range(n)),
        math.sqrt(0.05) * site(n, SZ, n // 2),
    ]
    model = ds.LindbladModel(H, jumps, ["collective decay", "decay 1", "collective dephasing", "dephasing mid"])
    psi1 = np.array([math.cos(0.4), math.sin(0.4) * np.exp(0.3j)])
    psi = np.array([1.0 + 0j])
    for _ in range(n):
        psi = np.kron(psi, psi1)
    parity = site(n, SZ, 0) @ site(n, SZ, 1)
    protocol = ds.Protocol(
        psi, (2.0, 4.0, 6.0, 8.0), np.linspace(0.0, 10.0, 101), measurement=ds.Measurement(parity, 0.02)
    )
    return model, protocol
