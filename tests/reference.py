"""Independent references for the tests, written from docs/physics.md; imports nothing from darkspin.

Everything a test compares the library with lives here once: the Pauli and ladder matrices, the
basis and singlet-triplet states, the measurement projectors, the phase space g and F, the
Hamiltonian and Kossakowski matrices built from the table of docs/physics.md, a Lindblad
superoperator built from jump operators, two-qubit state helpers, and the z-scores that compare a
Monte Carlo estimate with an exact value in units of its standard error.

Conventions (docs/physics.md): basis |uu>, |ud>, |du>, |dd>, first spin first, |u> = (1, 0),
tau_z|u> = +|u>, tau_- = |d><u|, tau_+ = |u><d|; rho is vectorised row-major, rho.reshape(16).
Parameter sets ``p`` are mappings or objects with the fields nu, V, T, lam1, lam2, theta, phi,
J_ex, J_DM (a SpinPair works, read attribute by attribute).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping

import numpy as np

# ---- single-spin operators and states -----------------------------------------------------------
I2 = np.eye(2, dtype=complex)
SX = np.array([[0, 1], [1, 0]], dtype=complex)
SY = np.array([[0, -1j], [1j, 0]], dtype=complex)
SZ = np.array([[1, 0], [0, -1]], dtype=complex)
SM = np.array([[0, 0], [1, 0]], dtype=complex)  # tau_- = |d><u|
SP = np.array([[0, 1], [0, 0]], dtype=complex)  # tau_+ = |u><d|
UP = np.array([1, 0], dtype=complex)
DN = np.array([0, 1], dtype=complex)


def k1(a: np.ndarray) -> np.ndarray:
    """a x 1: a (2, 2) operator on spin 1, as (4, 4)."""
    return np.kron(a, I2)


def k2(a: np.ndarray) -> np.ndarray:
    """1 x a: a (2, 2) operator on spin 2, as (4, 4)."""
    return np.kron(I2, a)


# ---- two-spin states and projectors ---------------------------------------------------------------
KET = {"uu": np.kron(UP, UP), "ud": np.kron(UP, DN), "du": np.kron(DN, UP), "dd": np.kron(DN, DN)}
SINGLET = (KET["ud"] - KET["du"]) / math.sqrt(2)
T1, T2, T3 = KET["uu"], (KET["ud"] + KET["du"]) / math.sqrt(2), KET["dd"]
D = np.outer(SINGLET, SINGLET.conj())  # dark-state projector d = |S><S| (Eq. 10)
P_MINUS = np.diag([0, 1, 1, 0]).astype(complex)  # tau_z x tau_z = -1: success
P_PLUS = np.diag([1, 0, 0, 1]).astype(complex)  # tau_z x tau_z = +1


def dm(psi) -> np.ndarray:
    """|psi><psi| (4, 4) of a ket (4,)."""
    psi = np.asarray(psi, dtype=complex)
    return np.outer(psi, psi.conj())


def singlet_population(rho) -> np.ndarray:
    """<S|rho|S> of rho (..., 4, 4), real (...)."""
    return np.real(np.einsum("i,...ij,j->...", SINGLET.conj(), np.asarray(rho), SINGLET))


def partial_transpose_2(rho: np.ndarray) -> np.ndarray:
    """Transpose on spin 2: <i1 i2|rho|j1 j2> -> <i1 j2|rho|j1 i2>; (4, 4)."""
    return rho.reshape(2, 2, 2, 2).transpose(0, 3, 2, 1).reshape(4, 4)


def random_rho(rng: np.random.Generator, rank: int = 4, n: int = 4) -> np.ndarray:
    """A density matrix G G^dag / Tr (n, n) of the given rank, G complex Gaussian."""
    g = rng.normal(size=(n, rank)) + 1j * rng.normal(size=(n, rank))
    rho = g @ g.conj().T
    return rho / np.trace(rho).real


# ---- phase space (docs/physics.md, Dissipator) -----------------------------------------------------
def g(x: float, T: float) -> float:
    """g(x) = x / (1 - exp(-x/T)); g(0) = T; g(x) = max(x, 0) at T = 0 (same unit as x)."""
    if T == 0:
        return max(x, 0.0)
    if x == 0:
        return T
    if x > 0:
        return x / -math.expm1(-x / T)
    return x * math.exp(x / T) / math.expm1(x / T)  # x < 0: no overflow of exp(-x/T)


def F(omega: float, V: float, T: float) -> float:
    """Electron phase space F(omega) = g(omega + V) + g(omega - V) for a process releasing omega."""
    return g(omega + V, T) + g(omega - V, T)


# ---- the model, from the table of docs/physics.md -------------------------------------------------
FIELDS = ("nu", "V", "T", "lam1", "lam2", "theta", "phi", "J_ex", "J_DM")


def params(p) -> dict[str, float]:
    """The nine model parameters of p (a mapping, or an object with those attributes) as floats."""
    return {k: float(p[k] if isinstance(p, Mapping) else getattr(p, k)) for k in FIELDS}


def hamiltonian(p) -> np.ndarray:
    """H = (nu/2)(tau_z 1 + 1 tau_z) - J_ex tau_1.tau_2 + J_DM (tau_1x tau_2y - tau_1y tau_2x); (4, 4)."""
    p = params(p)
    dot = np.kron(SX, SX) + np.kron(SY, SY) + np.kron(SZ, SZ)
    cross_z = np.kron(SX, SY) - np.kron(SY, SX)
    return 0.5 * p["nu"] * (k1(SZ) + k2(SZ)) - p["J_ex"] * dot + p["J_DM"] * cross_z


def kossakowski(p) -> list[tuple[str, np.ndarray, tuple[np.ndarray, np.ndarray]]]:
    """Per sector (name, K (2, 2), (A_1, A_2) (4, 4) each), K = kappa F(omega) [[lam1, g c], [g c*, lam2]]."""
    p = params(p)
    c = math.cos(p["theta"] / 2)
    g12 = math.sqrt(p["lam1"] * p["lam2"])
    table = [
        ("lowering", SM, p["nu"], 0.5, np.exp(1j * p["phi"]) * c),
        ("raising", SP, -p["nu"], 0.5, np.exp(-1j * p["phi"]) * c),
        ("dephasing", SZ, 0.0, 0.25, math.cos(p["phi"]) * c),
    ]
    out = []
    for name, op, omega, kappa, cs in table:
        K = kappa * F(omega, p["V"], p["T"]) * np.array([[p["lam1"], g12 * cs], [g12 * np.conj(cs), p["lam2"]]])
        out.append((name, K, (k1(op), k2(op))))
    return out


def lindblad_rhs(H: np.ndarray, jumps, rho: np.ndarray) -> np.ndarray:
    """-i[H, rho] + sum_k (L_k rho L_k^dag - {L_k^dag L_k, rho}/2) for (4, 4) rho."""
    out = -1j * (H @ rho - rho @ H)
    for L in jumps:
        LdL = L.conj().T @ L
        out = out + L @ rho @ L.conj().T - 0.5 * (LdL @ rho + rho @ LdL)
    return out


def kossakowski_rhs(p, rho: np.ndarray) -> np.ndarray:
    """The master equation of docs/physics.md in Kossakowski form (no unraveling chosen); (4, 4)."""
    H = hamiltonian(p)
    out = -1j * (H @ rho - rho @ H)
    for _, K, A in kossakowski(p):
        for a in range(2):
            for b in range(2):
                Ab = A[b].conj().T
                out = out + K[a, b] * (A[a] @ rho @ Ab - 0.5 * (Ab @ A[a] @ rho + rho @ Ab @ A[a]))
    return out


def decay_operator(p) -> np.ndarray:
    """sum_k L_k^dag L_k = sum_s sum_ab K^s_ab A_b^dag A_a (the same for every unraveling); (4, 4)."""
    out = np.zeros((4, 4), dtype=complex)
    for _, K, A in kossakowski(p):
        for a in range(2):
            for b in range(2):
                out += K[a, b] * (A[b].conj().T @ A[a])
    return out


def superoperator(func: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    """Matrix (16, 16) of a linear map on (4, 4) matrices, acting on the row-major rho.reshape(16)."""
    M = np.zeros((16, 16), dtype=complex)
    for k in range(16):
        E = np.zeros(16, dtype=complex)
        E[k] = 1.0
        M[:, k] = func(E.reshape(4, 4)).reshape(16)
    return M


# ---- Monte Carlo against exact: z-scores ------------------------------------------------------------
#: Absolute slack for the fixed-point sums (each trajectory's |psi><psi| is rounded to 2^-40).
FLOOR = 1e-10


def element_z(est, se, exact, n) -> np.ndarray:
    """|est - exact| / se_eff elementwise, se_eff = sqrt(se^2 + 1/n^2), n trajectories behind each element.

    est, se, exact: arrays of one shape (...); n: a number or an array broadcasting over the leading
    axes. se is the sample standard error of the (complex) mean, so |complex deviation| / se is a fair
    z. The 1/n term is the one-trajectory resolution: the sample se cannot see paths so rare that no
    trajectory took them, and one trajectory changes an element by at most 1/n. A deviation within
    FLOOR counts as zero. z <= 5 means |dev| <= 5 se_eff + FLOOR.
    """
    est, se, exact = np.asarray(est), np.asarray(se), np.asarray(exact)
    n = np.asarray(n, float)
    n = n.reshape(n.shape + (1,) * (est.ndim - n.ndim))
    se_eff = np.sqrt(se**2 + 1.0 / n**2)
    return np.maximum(np.abs(est - exact) - FLOOR, 0.0) / se_eff


def binomial_z(successes, trials, p) -> np.ndarray:
    """|k - N p| / sqrt(N p (1 - p)) per entry; a deterministic p (0 or 1) gets sd 1e-3, so any miss fails."""
    k, trials, p = (np.asarray(x, float) for x in (successes, trials, p))
    sd = np.sqrt(trials * p * (1.0 - p))
    return np.abs(k - trials * p) / np.maximum(sd, 1e-3)


# ---- two-qubit measures with closed forms: X states --------------------------------------------------
def binary_entropy(x: float) -> float:
    """h(x) in bits, h(0) = h(1) = 0."""
    return float(sum(-q * math.log2(q) for q in (x, 1 - x) if q > 0))


def shannon(probs) -> float:
    """Shannon entropy in bits of a probability vector."""
    return float(sum(-q * math.log2(q) for q in probs if q > 0))


def x_state(a: float, b: float, c: float, d: float, z: complex, w: complex) -> dict:
    """The X state with diagonal (a, b, c, d), <uu|rho|dd> = z, <ud|rho|du> = w, and its measures.

    Requires |z|^2 <= a d and |w|^2 <= b c. Returns rho (4, 4) and, in closed form (bits): concurrence
    2 max(0, |z| - sqrt(bc), |w| - sqrt(ad)); the partial-transpose eigenvalues (T_B swaps the roles of
    z and w); log negativity log2 sum|eig|; E_F = h((1 + sqrt(1 - C^2))/2); the von Neumann entropy
    from the eigenvalues of the two 2 x 2 blocks; the mutual information S(rho_1) + S(rho_2) - S(rho)
    with the diagonal reduced states.
    """
    rho = np.diag([a, b, c, d]).astype(complex)
    rho[0, 3], rho[3, 0] = z, np.conj(z)
    rho[1, 2], rho[2, 1] = w, np.conj(w)
    conc = 2 * max(0.0, abs(z) - math.sqrt(b * c), abs(w) - math.sqrt(a * d))

    def pair(x, y, off):
        r = math.sqrt(((x - y) / 2) ** 2 + abs(off) ** 2)
        return [(x + y) / 2 + r, (x + y) / 2 - r]

    pt_eigs = pair(a, d, w) + pair(b, c, z)
    eigs = pair(a, d, z) + pair(b, c, w)
    entropy = shannon([max(e, 0.0) for e in eigs])
    mi = shannon([a + b, c + d]) + shannon([a + c, b + d]) - entropy
    return {
        "rho": rho,
        "concurrence": conc,
        "pt_eigs": pt_eigs,
        "entropy": entropy,
        "log_negativity": math.log2(sum(abs(e) for e in pt_eigs)),
        "entanglement_of_formation": binary_entropy((1 + math.sqrt(max(1 - conc**2, 0.0))) / 2),
        "mutual_information": mi,
    }


def random_x_state(rng: np.random.Generator) -> dict:
    """A random X state (see x_state) with uniform diagonal weights and random coherences."""
    a, b, c, d = rng.dirichlet(np.ones(4))
    z = rng.uniform(0, 1) * math.sqrt(a * d) * np.exp(1j * rng.uniform(0, 2 * math.pi))
    w = rng.uniform(0, 1) * math.sqrt(b * c) * np.exp(1j * rng.uniform(0, 2 * math.pi))
    return x_state(a, b, c, d, z, w)


# ---- post-selection rules ----------------------------------------------------------------------
def rule_accepts(rule: str, records) -> bool:
    """Is a run with these records (+-1, rounds so far) post-selected? Written from the rule's definition."""
    if not records or rule == "none":
        return True
    if rule == "all":
        return all(r == -1 for r in records)
    if rule == "last":
        return records[-1] == -1
    return all(c == "?" or (c == "-") == (r == -1) for c, r in zip(rule, records, strict=False))
