"""The two-spin STM model of docs/physics.md: parameters, Hamiltonian, Kossakowski matrices, jumps, Liouvillian.

Units: hbar = k_B = 1. Energies, rates and temperature share one unit (the Larmor frequency nu in the
presets); times are in its inverse.

The electron bath (phase space, exchange from the bandwidth) is in :mod:`.bath`, the fixed superoperators
the Liouvillian is built from in :mod:`.pair_superoperators`.
"""

from __future__ import annotations

import dataclasses
import math
import operator
from collections.abc import Iterable, Sequence
from typing import Any, ClassVar

import numpy as np

from . import sanity
from .bath import _SECTOR_KAPPA, _SECTOR_OPS, _check_finite, _phase_space, _sector_rates
from .bath import MAX_PARAM as MAX_PARAM
from .bath import SECTORS as SECTORS
from .bath import exchange_from_bandwidth as exchange_from_bandwidth
from .bath import phase_space as phase_space
from .lindblad import LindbladModel
from .operators import kron
from .pair_superoperators import _TERMS

#: Relative size below which a Kossakowski eigenvalue is a zero-rate channel (dropped).
RANK_TOL = 1e-12


def _coherences(phi: float | np.ndarray, theta: float | np.ndarray) -> dict[str, Any]:
    """The coherence factor c of each sector's Kossakowski matrix (floats or arrays of phi, theta):
    lowering e^{i phi} cos(theta/2), raising e^{-i phi} cos(theta/2), dephasing cos(phi) cos(theta/2)."""
    cos_half = np.cos(np.multiply(theta, 0.5))
    return {
        "lowering": np.exp(1j * np.asarray(phi)) * cos_half,
        "raising": np.exp(-1j * np.asarray(phi)) * cos_half,
        "dephasing": np.cos(phi) * cos_half + 0j,
    }


#: Field names per SpinPair class (dataclasses.fields is slow enough to matter in sweeps).
_FIELDS: dict[type, tuple[str, ...]] = {}


@dataclasses.dataclass(frozen=True)
class SpinPair:
    """Immutable, validated parameters of two spins under an STM bias (docs/physics.md).

    Fields (floats, one energy unit, each within +-1e12; defaults: the paper's Fig. 3 right point in
    units of nu):
        nu     Larmor frequency, >= 0
        V      bias voltage, >= 0 (only |V| enters)
        T      electron temperature, >= 0 (0: the paper's limit)
        lam1, lam2   dimensionless tunnelling couplings, >= 0
        theta, phi   spin-orbit angles of spin 2 (radians, any finite value)
        J_ex, J_DM   bath-induced exchange and Dzyaloshinskii-Moriya couplings (any finite value)

    Raises
    ------
    ValueError
        Naming the field, for a value that is not a finite real within +-1e12 (or negative where >= 0).

    Parameters
    ----------
    nu : float
        Larmor frequency, the energy unit of the presets (> 0).
    V : float
        Bias voltage (energy).
    T : float
        Temperature (energy, k_B = 1; >= 0).
    lam1, lam2 : float
        Dimensionless tip couplings of spin 1 and spin 2 (>= 0).
    theta, phi : float
        Polar and azimuthal angle of the tip polarisation (radians).
    J_ex, J_DM : float
        Exchange and Dzyaloshinskii-Moriya couplings (energy); see :func:`exchange_from_bandwidth`.

    Examples
    --------
    >>> import darkspin as ds
    >>> pair = ds.SpinPair()
    >>> pair.hamiltonian().shape, pair.jump_labels()[:1]
    ((4, 4), ...)
    """

    nu: float = 1.0
    V: float = 1.25
    T: float = 0.0
    lam1: float = 0.0126
    lam2: float = 0.0126
    theta: float = 0.0
    phi: float = 0.0
    J_ex: float = 0.024
    J_DM: float = 0.0

    NONNEGATIVE: ClassVar[tuple[str, ...]] = ("nu", "V", "T", "lam1", "lam2")
    #: Hilbert-space dimension (two spins).
    dim: ClassVar[int] = 4

    def __post_init__(self) -> None:
        names = _FIELDS.get(type(self))
        if names is None:
            names = _FIELDS[type(self)] = tuple(f.name for f in dataclasses.fields(self))
        for name in names:
            value = getattr(self, name)
            # the common case first (sweeps build thousands of pairs): a float within the bounds
            if type(value) is float and -MAX_PARAM <= value <= MAX_PARAM:
                if value >= 0 or name not in self.NONNEGATIVE:
                    continue
            value = _check_finite(name, value)
            if name in self.NONNEGATIVE and value < 0:
                raise ValueError(f"{name} must be >= 0, got {value!r}")
            if abs(value) > MAX_PARAM:
                # beyond this, rates overflow the propagators into NaN instead of failing loudly
                raise ValueError(f"{name} must lie within +-{MAX_PARAM:g}, got {value!r}")
            object.__setattr__(self, name, value)
        sanity.check_pair(self.nu, self.V, self.T, self.rates()[0])

    def rates(self) -> tuple[float, float]:
        """The largest single-spin rate and the sum of every channel's rate.

        Returns
        -------
        largest : float
            max over sectors s and spins i of kappa_s F_s lam_i (rate unit), the decay rate of one spin.
        total : float
            sum over sectors of kappa_s F_s (lam1 + lam2), the trace of the Kossakowski matrices: the
            sum of every channel's rate (rate unit).
        """
        most, every = _sector_rates(self.nu, abs(self.V), self.T)
        return most * max(self.lam1, self.lam2), every * (self.lam1 + self.lam2)

    # ---- presets -------------------------------------------------------------------------------
    @classmethod
    def paper_fig3_right(cls) -> SpinPair:
        """Fig. 3 right: symmetric point, V = 1.25 nu, lam = 0.0126, J_ex = 0.024 nu, T = 0.

        Returns
        -------
        SpinPair
        """
        return cls()

    @classmethod
    def paper_fig3_left(cls) -> SpinPair:
        """Fig. 3 left: the steady-state family at the symmetric point with V = 2.5 nu.

        Returns
        -------
        SpinPair
        """
        return cls(V=2.5)

    @classmethod
    def paper_fig2(cls, with_dm: bool = False) -> SpinPair:
        """Fig. 2 in units of nu: nu = 0.1 V, lam1 = 0.01, lam2 = 0.009, J_ex = 0.2 V.

        Parameters
        ----------
        with_dm : bool
            Add J_DM = 0.2 V with phi = pi/4.

        Returns
        -------
        SpinPair
        """
        if with_dm:
            return cls(V=10.0, lam1=0.01, lam2=0.009, phi=math.pi / 4, J_ex=2.0, J_DM=2.0)
        return cls(V=10.0, lam1=0.01, lam2=0.009, J_ex=2.0)

    def replace(self, **changes: float) -> SpinPair:
        """A copy with some fields changed (validated again).

        Parameters
        ----------
        **changes : float
            New values of fields, by name.

        Returns
        -------
        SpinPair

        Raises
        ------
        TypeError
            For an unknown field.
        ValueError
            For a value out of range.
        """
        fields = self.__dict__
        if type(self) is not SpinPair or not fields.keys() >= changes.keys():
            return dataclasses.replace(self, **changes)  # its TypeError names an unknown field
        return SpinPair(**{**fields, **changes})

    def as_dict(self) -> dict[str, float]:
        """The fields by name.

        Returns
        -------
        dict of str to float
            Energy unit; angles in radians.
        """
        return dataclasses.asdict(self)

    # ---- physics -------------------------------------------------------------------------------
    @property
    def is_symmetric_point(self) -> bool:
        """lam1 == lam2, theta == phi == 0 and J_DM == 0: the singlet is exactly dark.

        (A DM term, which Eq. 7 ties to phi != 0, mixes S with T2 and ends the darkness.)
        """
        return self.lam1 == self.lam2 and self.theta == 0.0 and self.phi == 0.0 and self.J_DM == 0.0

    def hamiltonian(self) -> np.ndarray:
        """H = (nu/2)(tau_z 1 + 1 tau_z) - J_ex tau_1.tau_2 + J_DM (tau_1x tau_2y - tau_1y tau_2x).

        Returns
        -------
        ndarray of complex128, shape (4, 4)
            H in energy units.
        """
        h = 0.5 * self.nu * (kron("z", "1") + kron("1", "z"))
        h -= self.J_ex * (kron("x", "x") + kron("y", "y") + kron("z", "z"))
        h += self.J_DM * (kron("x", "y") - kron("y", "x"))
        return h

    def kossakowski(self) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """The Kossakowski matrices of the secular sectors.

        Returns
        -------
        dict of str to (ndarray, ndarray)
            Per sector of SECTORS: (K, A) with K (2, 2) complex the Kossakowski matrix (a rate) and
            A (2, 4, 4) complex = (A_1, A_2).
        """
        coherence = _coherences(self.phi, self.theta)
        g12 = math.sqrt(self.lam1 * self.lam2)
        out: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        for s in SECTORS:
            op, sign = _SECTOR_OPS[s]
            rate = _SECTOR_KAPPA[s] * phase_space(sign * self.nu, self.V, self.T)
            c = coherence[s]
            K = rate * np.array([[self.lam1, g12 * c], [g12 * np.conj(c), self.lam2]], dtype=complex)
            A = np.stack([kron(op, "1"), kron("1", op)])
            out[s] = (K, A)
        return out

    def _channels(self) -> list[tuple[str, np.ndarray]]:
        chans = []
        for s, (K, A) in self.kossakowski().items():
            mu, vec = np.linalg.eigh(K)
            scale = max(float(np.max(np.abs(mu))), 0.0)
            order = np.argsort(mu)[::-1]  # strongest first
            for j, k in enumerate(order):
                if scale == 0.0 or mu[k] <= RANK_TOL * scale:
                    continue
                L = math.sqrt(mu[k]) * (vec[0, k] * A[0] + vec[1, k] * A[1])
                chans.append((f"{s}[{j}]", L))
        return chans

    def jump_operators(self) -> np.ndarray:
        """Jump operators L_k = sqrt(mu_k)(v_k1 A_1 + v_k2 A_2) from each sector's K = sum mu v v^dag.

        This fixes the unraveling: eigenvectors of the Kossakowski matrices (collective operators at the
        symmetric point), strongest first within a sector, channels with mu_k <= 1e-12 max(mu) dropped.

        Returns
        -------
        ndarray of complex128, shape (K, 4, 4)
            sqrt(rate) units; K = 0 gives shape (0, 4, 4).
        """
        chans = self._channels()
        if not chans:
            return np.zeros((0, 4, 4), dtype=complex)
        return np.stack([L for _, L in chans])

    def jump_labels(self) -> list[str]:
        """Names of the channels of :meth:`jump_operators`.

        Returns
        -------
        list of str, length K
            'sector[j]' with j = 0 the stronger one.
        """
        return [name for name, _ in self._channels()]

    def liouvillian(self) -> np.ndarray:
        """Superoperator (16, 16) complex acting on rho.reshape(16) (row-major, numpy's C order).

        With that vectorisation vec(A X B) = (A kron B^T) vec(X). Built from the Kossakowski matrices
        directly, so it does not depend on the choice of unraveling (see :func:`liouvillians`).

        Returns
        -------
        ndarray of complex128, shape (16, 16)
            Rate unit.
        """
        return liouvillians([self])[0]

    def effective_hamiltonian(self) -> np.ndarray:
        """The no-jump generator H_eff = H - (i/2) sum_k L_k^dag L_k.

        Returns
        -------
        ndarray of complex128, shape (4, 4)
        """
        jumps = self.jump_operators()
        gamma = np.einsum("kji,kjl->il", jumps.conj(), jumps)
        return self.hamiltonian() - 0.5j * gamma

    def to_lindblad(self) -> LindbladModel:
        """This model as a :class:`LindbladModel`: the same H, jump operators and labels (d = 4).

        Returns
        -------
        LindbladModel

        Raises
        ------
        ValueError
            If an entry of H or L_k exceeds 1e12 in magnitude (LindbladModel's bound), which only
            parameters within a factor of a few of MAX_PARAM produce (e.g. |J_ex| or |J_DM| > 5e11).
        """
        return LindbladModel(self.hamiltonian(), self.jump_operators(), self.jump_labels())

    def to_qutip(self, dims: Sequence[int] | Sequence[Sequence[int]] | None = None) -> tuple[Any, list[Any]]:
        """(H, c_ops) as qutip.Qobj with two-spin tensor dims (see :meth:`LindbladModel.to_qutip`).

        Parameters
        ----------
        dims : sequence of int, optional
            Subsystem dimensions (default [2, 2]).

        Returns
        -------
        H : qutip.Qobj
        c_ops : list of qutip.Qobj

        Raises
        ------
        ImportError
            If QuTiP is not installed.
        """
        return self.to_lindblad().to_qutip(dims)

    def eigenenergies(self) -> dict[str, float]:
        """Closed-form Eq. 9 energies (the J_DM-rotated singlet/triplet).

        Returns
        -------
        dict of str to float
            Keys 'S', 'T1', 'T2', 'T3' (energy unit).
        """
        j = math.hypot(self.J_ex, self.J_DM)
        return {"S": 2 * j + self.J_ex, "T1": self.nu - self.J_ex, "T2": -2 * j + self.J_ex, "T3": -self.nu - self.J_ex}


# ---- the Liouvillian as a linear combination of fixed superoperators ------------------------------------
# L = nu Hnu + J_ex Hex + J_DM Hdm + sum_s sum_ab K_s[a, b] D_s,ab, where the superoperators depend on no
# parameter: building L is a few vectorised sums instead of ~60 small krons per model.


def liouvillians(pairs: Iterable[SpinPair]) -> np.ndarray:
    """Liouvillians of many :class:`SpinPair` s at once: (N, 16, 16) complex, element n equal to the one
    ``pairs[n].liouvillian()`` returns (same vectorisation; SpinPair.liouvillian calls this).

    pairs: a sequence of N >= 0 SpinPair instances (ValueError naming 'pairs' otherwise). Cost: a few
    microseconds per pair (the superoperators multiplying each parameter are built once, at import).

    Parameters
    ----------
    pairs : iterable of SpinPair

    Returns
    -------
    ndarray of complex128, shape (N, 16, 16)

    Raises
    ------
    ValueError
        Naming 'pairs[i]', if an element is not a SpinPair.
    """
    pairs = list(pairs)
    for i, p in enumerate(pairs):
        if not isinstance(p, SpinPair):
            raise ValueError(f"pairs[{i}] must be a SpinPair, got {type(p).__name__}")
    N = len(pairs)
    if N == 0:
        return np.zeros((0, 16, 16), complex)
    names = ("nu", "V", "T", "lam1", "lam2", "theta", "phi", "J_ex", "J_DM")
    get = operator.attrgetter(*names)
    nu, V, T, lam1, lam2, theta, phi, J_ex, J_DM = np.array([get(p) for p in pairs], dtype=float).T
    g12 = np.sqrt(lam1 * lam2)
    coherence = _coherences(phi, theta)
    coef = np.empty((N, 15), complex)
    coef[:, 0], coef[:, 1], coef[:, 2] = nu, J_ex, J_DM
    for j, s in enumerate(SECTORS):
        sign = _SECTOR_OPS[s][1]
        # the scalar formula per pair: bit for bit the rates of SpinPair.kossakowski
        triples = zip((sign * nu).tolist(), np.abs(V).tolist(), T.tolist(), strict=True)
        rate = _SECTOR_KAPPA[s] * np.array([_phase_space(*x) for x in triples])
        c = coherence[s]
        k = 3 + 4 * j
        coef[:, k] = rate * lam1
        coef[:, k + 1] = rate * (g12 * c)
        coef[:, k + 2] = rate * (g12 * np.conj(c))
        coef[:, k + 3] = rate * lam2
    entries, starts, terms, values = _TERMS
    L = np.zeros((N, 256), complex)
    L[:, entries] = np.add.reduceat(coef[:, terms] * values, starts, axis=1)
    return L.reshape(N, 16, 16)
