"""One measurement instrument: a +-1 observable, the detector's readout error, and feedback on the record.

A round draws the true outcome m = +-1 by the Born rule and projects with P_m = (1 + m A)/2; the
detector then reports the record r, which differs from m with probability eps_m; finally the unitary
U_r chosen by the record (feedback) acts. Averaged over what the experimenter cannot see, record r
applies the completely positive map

    rho -> U_r ( sum_m P(r | m) P_m rho P_m ) U_r^dag,

which is what the exact solver uses; the trajectory kernel samples m, then r, then applies U_r. Both
read the arrays of :meth:`Measurement.arrays`, so they cannot disagree about what a measurement means.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from .operators import kron

#: Tolerance on Hermiticity, on the +-1 spectrum of an observable and on the unitarity of a feedback.
OPERATOR_TOL = 1e-10

#: Named two-spin observables (d = 4), each with eigenvalues +-1 only.
NAMED_OBSERVABLES = {
    "zz": ("z", "z"),
    "xx": ("x", "x"),
    "yy": ("y", "y"),
    "z1": ("z", "1"),
    "z2": ("1", "z"),
}
#: Named two-spin feedback unitaries (d = 4).
NAMED_FEEDBACK = {"flip1": ("x", "1"), "flip2": ("1", "x")}

#: Record order in every per-record array: index 0 is record +1, index 1 is record -1.
RECORDS = (1, -1)


def _probability(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise ValueError(f"{name} must be a probability in [0, 1], got {value!r}")
    value = float(value)
    if not 0.0 <= value <= 1.0:  # also rejects NaN
        raise ValueError(f"{name} must be a probability in [0, 1], got {value}")
    return value


def _matrix(name: str, value: Any, dim: int | None) -> np.ndarray:
    if isinstance(value, (str, bytes)):
        raise ValueError(f"{name}: unknown name {value!r}")
    if np.asarray(value).dtype.kind not in "iufc":
        raise ValueError(f"{name} must be a (d, d) array of numbers, got dtype {np.asarray(value).dtype}")
    try:
        arr = np.array(value, dtype=complex)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a (d, d) complex array, got {value!r}") from None
    if arr.ndim != 2 or arr.shape[0] != arr.shape[1] or not 2 <= arr.shape[0] <= 64:
        raise ValueError(f"{name} must be a square (d, d) array with 2 <= d <= 64, got shape {arr.shape}")
    if dim is not None and arr.shape[0] != dim:
        raise ValueError(f"{name} must have shape ({dim}, {dim}) for this model, got {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} must contain finite numbers only")
    return arr


def check_observable(value: str | ArrayLike, dim: int | None = None) -> np.ndarray:
    """A Hermitian (d, d) operator with eigenvalues +1 and -1 only (named ones need d = 4).

    Parameters
    ----------
    value : str or array_like, shape (d, d)
        A name from NAMED_OBSERVABLES, or the operator.
    dim : int, optional
        The model's dimension d the operator must have; None accepts any d in [2, 64].

    Returns
    -------
    ndarray of complex128, shape (d, d)
        The operator, made exactly Hermitian.

    Raises
    ------
    ValueError
        For an unknown name, a wrong shape, non-finite entries, or a spectrum other than +-1.
    """
    if isinstance(value, str):
        if value not in NAMED_OBSERVABLES:
            raise ValueError(f"observable must be one of {sorted(NAMED_OBSERVABLES)} or a (d, d) array, got {value!r}")
        if dim not in (None, 4):
            raise ValueError(f"observable {value!r} is a two-spin operator (d = 4); this model has d = {dim}")
        return kron(*NAMED_OBSERVABLES[value])
    arr = _matrix("observable", value, dim)
    if np.max(np.abs(arr - arr.conj().T)) > OPERATOR_TOL:
        raise ValueError("observable must be Hermitian")
    arr = 0.5 * (arr + arr.conj().T)
    ev = np.linalg.eigvalsh(arr)
    bad = ev[np.minimum(np.abs(ev - 1.0), np.abs(ev + 1.0)) > 1e-8]
    if bad.size:
        raise ValueError(f"observable must have eigenvalues +1 and -1 only, found {float(bad[0]):.6g}")
    return arr


def check_unitary(name: str, value: str | ArrayLike, dim: int | None = None) -> np.ndarray:
    """A unitary (d, d) array, or a named one ('flip1', 'flip2', d = 4).

    Parameters
    ----------
    name : str
        The parameter's name in error messages.
    value : str or array_like, shape (d, d)
        A name from NAMED_FEEDBACK, or the unitary.
    dim : int, optional
        The dimension d it must have; None accepts any d in [2, 64].

    Returns
    -------
    ndarray of complex128, shape (d, d)

    Raises
    ------
    ValueError
        For an unknown name, a wrong shape, or |U^dag U - 1| > OPERATOR_TOL.
    """
    if isinstance(value, str):
        if value not in NAMED_FEEDBACK:
            raise ValueError(f"{name} must be one of {sorted(NAMED_FEEDBACK)} or a unitary (d, d) array, got {value!r}")
        if dim not in (None, 4):
            raise ValueError(f"{name} {value!r} is a two-spin operator (d = 4); this model has d = {dim}")
        return kron(*NAMED_FEEDBACK[value])
    arr = _matrix(name, value, dim)
    dev = float(np.max(np.abs(arr.conj().T @ arr - np.eye(arr.shape[0]))))
    if dev > OPERATOR_TOL:
        raise ValueError(f"{name} must be unitary (|U^dag U - 1| <= {OPERATOR_TOL:g}), got deviation {dev:.3g}")
    return arr


def _name_of(matrix: np.ndarray, named: Mapping[str, tuple[str, str]]) -> str | None:
    """The name of a named two-spin operator equal to ``matrix``, or None."""
    if matrix.shape != (4, 4):
        return None
    return next((n for n, ops in named.items() if np.array_equal(matrix, kron(*ops))), None)


class Measurement:
    """A projective +-1 measurement with readout error and feedback; immutable.

    observable:    'zz' (tau_z x tau_z, the paper's), 'xx', 'yy', 'z1' (tau_z on spin 1), 'z2', or a
                   Hermitian (d, d) array with eigenvalues +-1 only.
    readout_error: eps in [0, 1] for both outcomes, or (eps_plus, eps_minus) with
                   eps_plus = P(record -1 | true +1) and eps_minus = P(record +1 | true -1). A detector
                   that misses some double spin flips has eps_minus > 0, eps_plus = 0.
    feedback:      None, or a dict {record: unitary} with record +1 or -1 and the unitary a (d, d)
                   array or 'flip1' / 'flip2' (tau_x on spin 1 / 2), applied right after that record.

    The state follows the true outcome; the experimenter (and the post-selection rule) sees the record.

    Parameters
    ----------
    observable : str or array_like, shape (d, d)
        As above.
    readout_error : float or pair of float
        As above (probabilities, in [0, 1]).
    feedback : dict of int to (str or array_like of shape (d, d)), optional
        As above.

    Raises
    ------
    ValueError
        For any input outside the ranges above, naming it.

    Examples
    --------
    >>> import darkspin as ds
    >>> detector = ds.Measurement("zz", readout_error=(0.0, 0.1), feedback={+1: "flip1"})
    >>> detector.readout_error, detector.is_perfect
    ((0.0, 0.1), False)
    """

    __slots__ = ("_observable", "_name", "_eps", "_feedback", "_feedback_names", "_dim")

    def __init__(
        self,
        observable: str | ArrayLike = "zz",
        readout_error: float | Sequence[float] | ArrayLike = 0.0,
        feedback: Mapping[int, str | ArrayLike] | None = None,
    ) -> None:
        A = check_observable(observable)
        dim = A.shape[0]
        if isinstance(readout_error, (tuple, list)) or np.ndim(readout_error) > 0:
            if len(readout_error) != 2:  # type: ignore[arg-type]  # a sequence or array here
                raise ValueError(
                    f"readout_error must be a probability or a pair (eps_plus, eps_minus), got {readout_error!r}"
                )
            eps = (
                _probability("readout_error[0] (eps_plus)", readout_error[0]),  # type: ignore[index]
                _probability("readout_error[1] (eps_minus)", readout_error[1]),  # type: ignore[index]
            )
        else:
            e = _probability(
                "readout_error", readout_error.item() if isinstance(readout_error, np.ndarray) else readout_error
            )
            eps = (e, e)
        fb: dict[int, np.ndarray] = {}
        names: dict[int, str | None] = {}
        if feedback is not None:
            if not isinstance(feedback, dict):
                raise ValueError(f"feedback must be None or a dict {{record: unitary}}, got {feedback!r}")
            for record, U in feedback.items():
                if isinstance(record, bool) or record not in RECORDS:
                    raise ValueError(f"feedback keys must be records +1 or -1, got {record!r}")
                fb[int(record)] = check_unitary(f"feedback[{int(record):+d}]", U, dim)
                if isinstance(U, str):
                    names[int(record)] = U
        for a in [A, *fb.values()]:
            a.setflags(write=False)
        self._observable, self._eps, self._feedback, self._dim = A, eps, fb, dim
        self._name = observable if isinstance(observable, str) else _name_of(A, NAMED_OBSERVABLES)
        for r, U in fb.items():  # a reloaded instrument keeps its names
            names.setdefault(r, _name_of(U, NAMED_FEEDBACK))
        self._feedback_names = {r: n for r, n in names.items() if n is not None}

    # ---- read-only view ----
    @property
    def observable(self) -> np.ndarray:
        """The measured operator A, (d, d) complex128, read-only."""
        return self._observable

    @property
    def dim(self) -> int:
        """The dimension d of the operators."""
        return self._dim

    @property
    def readout_error(self) -> tuple[float, float]:
        """(eps_plus, eps_minus): P(record -1 | true +1), P(record +1 | true -1)."""
        return self._eps

    @property
    def feedback(self) -> dict[int, np.ndarray]:
        """{record: unitary (d, d)} for the records that trigger feedback."""
        return dict(self._feedback)

    def projectors(self) -> np.ndarray:
        """The outcome projectors.

        Returns
        -------
        ndarray of complex128, shape (2, d, d)
            P_+ = (1 + A)/2 and P_- = (1 - A)/2, in the order of RECORDS.
        """
        eye = np.eye(self._dim)
        return np.stack([0.5 * (eye + self._observable), 0.5 * (eye - self._observable)])

    def confusion(self) -> np.ndarray:
        """The detector's confusion matrix.

        Returns
        -------
        ndarray of float64, shape (2, 2)
            P(record r | true m), rows r and columns m in the order of RECORDS (+1, -1).
        """
        ep, em = self._eps
        return np.array([[1.0 - ep, em], [ep, 1.0 - em]])

    def unitaries(self) -> tuple[np.ndarray, np.ndarray]:
        """The feedback unitaries, in the order of RECORDS.

        Returns
        -------
        U : ndarray of complex128, shape (2, d, d)
            U_r (the identity for a record without feedback).
        has_feedback : ndarray of bool, shape (2,)
            Whether record r applies feedback.
        """
        eye = np.eye(self._dim, dtype=complex)
        U = np.stack([self._feedback.get(r, eye) for r in RECORDS])
        return U, np.array([r in self._feedback for r in RECORDS])

    def record_maps(self, rho: np.ndarray) -> np.ndarray:
        """The unnormalised post-measurement states of each record, (2, ..., d, d) for rho (..., d, d).

        rho_r = U_r (sum_m P(r | m) P_m rho P_m) U_r^dag; their traces are the record probabilities.

        Parameters
        ----------
        rho : ndarray, shape (..., d, d)
            Density matrices.

        Returns
        -------
        ndarray of complex128, shape (2, ..., d, d)
            rho_r for r in the order of RECORDS.
        """
        P = self.projectors()
        C = self.confusion()
        U, _ = self.unitaries()
        branches = np.stack([P[m] @ rho @ P[m] for m in range(2)])
        out = []
        for r in range(2):
            s = C[r, 0] * branches[0] + C[r, 1] * branches[1]
            out.append(U[r] @ s @ U[r].conj().T)
        return np.stack(out)

    @property
    def is_perfect(self) -> bool:
        """True when the readout error is zero for both outcomes."""
        return self._eps == (0.0, 0.0)

    # ---- identity and display ----
    def _key(self) -> tuple[bytes, tuple[float, float], tuple[tuple[int, bytes], ...]]:
        # adding +0 turns -0.0 into 0.0, so equal matrices have equal bytes
        fb = tuple((r, (self._feedback[r] + 0j).tobytes()) for r in sorted(self._feedback))
        return ((self._observable + 0j).tobytes(), self._eps, fb)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Measurement) and self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def describe(self) -> str:
        """One line: the observable, the readout error and the feedback.

        Returns
        -------
        str
        """
        obs = self._name or f"a {self._dim}x{self._dim} observable"
        ep, em = self._eps
        err = (
            "perfect readout"
            if self.is_perfect
            else (f"readout error {ep:g}" if ep == em else f"readout error eps+ {ep:g}, eps- {em:g}")
        )
        parts = [obs, err]
        for r in sorted(self._feedback, reverse=True):
            parts.append(f"on {r:+d} apply {self._feedback_names.get(r, 'a unitary')}")
        return ", ".join(parts)

    def __repr__(self) -> str:
        return f"Measurement({self.describe()})"

    def as_dict(self) -> dict[str, np.ndarray]:
        """Plain arrays for saving.

        Returns
        -------
        dict of str to ndarray
            observable (d, d) complex, readout_error (2,) float, feedback (2, d, d) complex (U_r in the
            order of RECORDS), has_feedback (2,) bool.
        """
        U, has = self.unitaries()
        return {
            "observable": np.array(self._observable),
            "readout_error": np.array(self._eps),
            "feedback": U,
            "has_feedback": has,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Measurement:
        """Inverse of :meth:`as_dict`.

        Parameters
        ----------
        data : Mapping
            The keys of :meth:`as_dict`.

        Returns
        -------
        Measurement

        Raises
        ------
        ValueError
            As the constructor.
        """
        fb = {r: data["feedback"][i] for i, r in enumerate(RECORDS) if bool(data["has_feedback"][i])}
        eps = [float(x) for x in data["readout_error"]]
        return cls(np.asarray(data["observable"]), (eps[0], eps[1]), fb or None)
