"""One measurement instrument: a +-1 observable, the detector's readout error, and feedback on the record.

A round draws the true outcome m = +-1 by the Born rule and projects with P_m = (1 + m A)/2; the
detector then reports the record r, which differs from m with probability eps_m; finally the unitary
U_r chosen by the record (feedback) acts. Averaged over what the experimenter cannot see, record r
applies the completely positive map

    rho -> U_r ( sum_m P(r | m) P_m rho P_m ) U_r^dag,

which is what the exact solver uses; the trajectory kernel samples m, then r, then applies U_r. Both
read the arrays of :meth:`Measurement.arrays`, so they cannot disagree about what a measurement means.

A general instrument gives Kraus operators M_{r,j} per record instead (:mod:`.kraus`); the projective
one is the case M_{r,m} = sqrt(P(r | m)) P_m, and :meth:`Measurement.weighted_kraus` and
:meth:`Measurement.superoperators` give every instrument in that one form (the exact solver's map).
Feedback may also depend on the post-selection rule machine's state before the round.

Length: one class with its checks, its read-only views in both forms (projective and Kraus) and its
saving; splitting the views from the class would only scatter one idea.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from . import sanity
from .kraus import check_kraus, weak_kraus
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


def check_feedback(
    feedback: Any, dim: int
) -> tuple[dict[int, np.ndarray], dict[tuple[int, int], np.ndarray], dict[int | tuple[int, int], str]]:
    """Feedback unitaries keyed by record, or by (record, rule state before the round).

    Parameters
    ----------
    feedback : dict, optional
        ``{record: U}`` or ``{(record, state): U}`` with record +1 or -1, state an int >= 0 (the
        post-selection rule machine's state before the round) and U a (d, d) unitary or a named one.
    dim : int
        The dimension d.

    Returns
    -------
    by_record : dict of int to ndarray, shape (d, d)
    by_history : dict of (int, int) to ndarray, shape (d, d)
    names : dict
        The names given for named unitaries, by key.

    Raises
    ------
    ValueError
        Naming 'feedback', for a key or unitary outside the ranges above.
    """
    fb: dict[int, np.ndarray] = {}
    hist: dict[tuple[int, int], np.ndarray] = {}
    names: dict[int | tuple[int, int], str] = {}
    if feedback is None:
        return fb, hist, names
    if not isinstance(feedback, dict):
        raise ValueError(f"feedback must be None or a dict {{record: unitary}}, got {feedback!r}")
    for key, U in feedback.items():
        if isinstance(key, tuple):
            if (
                len(key) != 2
                or isinstance(key[0], bool)
                or key[0] not in RECORDS
                or isinstance(key[1], bool)
                or not isinstance(key[1], (int, np.integer))
                or key[1] < 0
            ):
                raise ValueError(f"feedback keys must be records +1 or -1 or pairs (record, state >= 0), got {key!r}")
            k2 = (int(key[0]), int(key[1]))
            hist[k2] = check_unitary(f"feedback[({k2[0]:+d}, {k2[1]})]", U, dim)
            if isinstance(U, str):
                names[k2] = U
            continue
        if isinstance(key, bool) or key not in RECORDS:
            raise ValueError(f"feedback keys must be records +1 or -1 or pairs (record, state >= 0), got {key!r}")
        fb[int(key)] = check_unitary(f"feedback[{int(key):+d}]", U, dim)
        if isinstance(U, str):
            names[int(key)] = U
    for a in [*fb.values(), *hist.values()]:
        a.setflags(write=False)
    return fb, hist, names


class Measurement:
    """A +-1 measurement instrument (projective with readout error, or any Kraus operators) with feedback;
    immutable.

    observable:    'zz' (tau_z x tau_z, the paper's), 'xx', 'yy', 'z1' (tau_z on spin 1), 'z2', or a
                   Hermitian (d, d) array with eigenvalues +-1 only.
    readout_error: eps in [0, 1] for both outcomes, or (eps_plus, eps_minus) with
                   eps_plus = P(record -1 | true +1) and eps_minus = P(record +1 | true -1). A detector
                   that misses some double spin flips has eps_minus > 0, eps_plus = 0.
    feedback:      None, or a dict {record: unitary} with record +1 or -1 and the unitary a (d, d)
                   array or 'flip1' / 'flip2' (tau_x on spin 1 / 2), applied right after that record.
                   A key (record, state) applies its unitary only when the post-selection rule's machine
                   was in that state before the round (with the rule 'all', state 0 means "no +1 yet", so
                   {(+1, 0): 'flip1'} flips on the first +1 only); it overrides the plain record key.
    kraus:         None, or {+1: [M, ...], -1: [M, ...]}: a general instrument, record r and operator
                   M_{r,j} drawn with Born weight ||M_{r,j} psi||^2 (sum M^dag M = 1 within 1e-10).
                   Then observable must be None and readout_error 0 (fold them into the operators).
                   :meth:`weak` builds a weak measurement of a +-1 observable.

    The state follows the true outcome; the experimenter (and the post-selection rule) sees the record.
    For a Kraus instrument the true outcome is the record.

    Parameters
    ----------
    observable : str or array_like, shape (d, d), optional
        As above (None: 'zz', or no observable for a Kraus instrument).
    readout_error : float or pair of float
        As above (probabilities, in [0, 1]).
    feedback : dict of int or (int, int) to (str or array_like of shape (d, d)), optional
        As above.
    kraus : dict of int to sequence of array_like of shape (d, d), optional
        As above.

    Raises
    ------
    ValueError
        For any input outside the ranges above, naming it.

    Warns
    -----
    UnitSlipWarning
        Once per process, for a readout error above 1/2 (valid, but probably a slip).

    Examples
    --------
    >>> import darkspin as ds
    >>> detector = ds.Measurement("zz", readout_error=(0.0, 0.1), feedback={+1: "flip1"})
    >>> detector.readout_error, detector.is_perfect
    ((0.0, 0.1), False)
    """

    __slots__ = ("_observable", "_name", "_eps", "_feedback", "_feedback_names", "_dim", "_kraus", "_history")

    def __init__(
        self,
        observable: str | ArrayLike | None = None,
        readout_error: float | Sequence[float] | ArrayLike = 0.0,
        feedback: Mapping[Any, str | ArrayLike] | None = None,
        kraus: Mapping[int, Any] | None = None,
    ) -> None:
        self._kraus: tuple[tuple[np.ndarray, ...], tuple[np.ndarray, ...]] | None = None
        if kraus is not None:
            if observable is not None:
                raise ValueError("observable must be None for a Kraus instrument (kraus= gives the operators)")
            self._kraus = check_kraus(kraus)
            A = np.zeros((0, 0), complex)
            dim = self._kraus[0][0].shape[0] if self._kraus[0] else self._kraus[1][0].shape[0]
        else:
            A = check_observable("zz" if observable is None else observable)
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
        sanity.check_readout(*eps)
        if kraus is not None and eps != (0.0, 0.0):
            raise ValueError("readout_error must be 0 for a Kraus instrument (fold it into the operators)")
        fb, hist, given = check_feedback(feedback, dim)
        A.setflags(write=False)
        self._observable, self._eps, self._feedback, self._dim = A, eps, fb, dim
        self._history = hist
        if kraus is not None:
            self._name: str | None = "a Kraus instrument"
        else:
            self._name = (
                "zz"
                if observable is None
                else observable
                if isinstance(observable, str)
                else _name_of(A, NAMED_OBSERVABLES)
            )
        names: dict[Any, str | None] = dict(given)
        for key, U in [*fb.items(), *hist.items()]:  # a reloaded instrument keeps its names
            names.setdefault(key, _name_of(U, NAMED_FEEDBACK))
        self._feedback_names = {key: n for key, n in names.items() if n is not None}

    @classmethod
    def weak(
        cls, observable: str | ArrayLike, strength: float, feedback: Mapping[Any, str | ArrayLike] | None = None
    ) -> Measurement:
        """A weak measurement of a +-1 observable A with strength s in (0, 1] (s = 1: the projective one).

        Record +1 has Kraus operator M_+ = sqrt((1 + s)/2) P_+ + sqrt((1 - s)/2) P_-, record -1 the
        mirror image (see :func:`darkspin.trajectories.kraus.weak_kraus`): the record is right with
        probability (1 + s)/2 on an eigenstate, and the state is disturbed only as much as that reveals.

        Parameters
        ----------
        observable : str or array_like, shape (d, d)
            As for the constructor.
        strength : float
            s in (0, 1] (dimensionless).
        feedback : dict, optional
            As for the constructor.

        Returns
        -------
        Measurement
            A Kraus instrument.

        Raises
        ------
        ValueError
            Naming the parameter, for an observable that is not +-1 or a strength outside (0, 1].
        """
        A = check_observable(observable)
        name = observable if isinstance(observable, str) else _name_of(A, NAMED_OBSERVABLES)
        out = cls(kraus=weak_kraus(A, strength), feedback=feedback)
        out._name = f"weak {name or 'observable'} (strength {float(strength):g})"
        return out

    # ---- read-only view ----
    @property
    def observable(self) -> np.ndarray:
        """The measured operator A, (d, d) complex128, read-only; (0, 0) for a Kraus instrument."""
        return self._observable

    @property
    def dim(self) -> int:
        """The dimension d of the operators."""
        return self._dim

    @property
    def kind(self) -> str:
        """'projective' (an observable with readout error) or 'kraus'."""
        return "projective" if self._kraus is None else "kraus"

    @property
    def kraus(self) -> tuple[tuple[np.ndarray, ...], tuple[np.ndarray, ...]] | None:
        """The Kraus operators (record +1's, record -1's) of a Kraus instrument, without feedback; else None."""
        return self._kraus

    @property
    def readout_error(self) -> tuple[float, float]:
        """(eps_plus, eps_minus): P(record -1 | true +1), P(record +1 | true -1)."""
        return self._eps

    @property
    def feedback(self) -> dict[int, np.ndarray]:
        """{record: unitary (d, d)} for the records that trigger feedback."""
        return dict(self._feedback)

    @property
    def history_feedback(self) -> dict[tuple[int, int], np.ndarray]:
        """{(record, rule state before the round): unitary (d, d)}: feedback that depends on the history."""
        return dict(self._history)

    def projectors(self) -> np.ndarray:
        """The outcome projectors.

        Returns
        -------
        ndarray of complex128, shape (2, d, d)
            P_+ = (1 + A)/2 and P_- = (1 - A)/2, in the order of RECORDS (zeros for a Kraus instrument).
        """
        eye = np.eye(self._dim)
        if self._kraus is not None:
            return np.zeros((2, self._dim, self._dim), complex)
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

    def unitaries(self, state: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """The feedback unitaries, in the order of RECORDS.

        Parameters
        ----------
        state : int, optional
            The rule machine's state before the round: its (record, state) keys override (None: ignore them).

        Returns
        -------
        U : ndarray of complex128, shape (2, d, d)
            U_r (the identity for a record without feedback).
        has_feedback : ndarray of bool, shape (2,)
            Whether record r applies feedback.
        """
        eye = np.eye(self._dim, dtype=complex)
        pick = dict(self._feedback)
        if state is not None:
            pick.update({r: U for (r, s), U in self._history.items() if s == state})
        U = np.stack([pick.get(r, eye) for r in RECORDS])
        return U, np.array([r in pick for r in RECORDS])

    def weighted_kraus(self, state: int | None = None) -> list[list[tuple[float, np.ndarray]]]:
        """The instrument in Kraus form, feedback included: record r maps rho -> sum_j w_j K_j rho K_j^dag.

        A projective instrument gives K = U_r P_m with w = P(r | m) (terms with w = 0 left out); a Kraus
        instrument gives K = U_r M_{r,j} with w = 1.

        Parameters
        ----------
        state : int, optional
            As for :meth:`unitaries`.

        Returns
        -------
        list of 2 lists of (float, ndarray of complex128, shape (d, d))
            The terms of each record, in the order of RECORDS.
        """
        U, _ = self.unitaries(state)
        if self._kraus is not None:
            return [[(1.0, U[r] @ M) for M in self._kraus[r]] for r in range(2)]
        P, C = self.projectors(), self.confusion()
        return [[(float(C[r, j]), U[r] @ P[j]) for j in range(2) if C[r, j] != 0.0] for r in range(2)]

    def superoperators(self, state: int | None = None) -> np.ndarray:
        """The record maps as superoperators on row-major vec(rho).

        Parameters
        ----------
        state : int, optional
            As for :meth:`unitaries`.

        Returns
        -------
        ndarray of complex128, shape (2, d^2, d^2)
            sum_j w_j kron(K_j, conj(K_j)) per record, in the order of RECORDS.
        """
        d = self._dim
        maps = np.zeros((2, d * d, d * d), complex)
        for r, terms in enumerate(self.weighted_kraus(state)):
            for w, K in terms:
                maps[r] += w * np.kron(K, K.conj())
        return maps

    def record_maps(self, rho: np.ndarray, state: int | None = None) -> np.ndarray:
        """The unnormalised post-measurement states of each record, (2, ..., d, d) for rho (..., d, d).

        rho_r = U_r (sum_m P(r | m) P_m rho P_m) U_r^dag (a Kraus instrument: sum_j U_r M_j rho M_j^dag U_r^dag);
        their traces are the record probabilities.

        Parameters
        ----------
        rho : ndarray, shape (..., d, d)
            Density matrices.
        state : int, optional
            As for :meth:`unitaries`.

        Returns
        -------
        ndarray of complex128, shape (2, ..., d, d)
            rho_r for r in the order of RECORDS.
        """
        if self._kraus is not None or (state is not None and self._history):
            return np.stack(
                [
                    sum((w * (K @ rho @ K.conj().T) for w, K in terms), np.zeros_like(rho, dtype=complex))
                    for terms in self.weighted_kraus(state)
                ]
            )
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
    def _key(self) -> tuple[Any, ...]:
        # adding +0 turns -0.0 into 0.0, so equal matrices have equal bytes
        fb = tuple((r, (self._feedback[r] + 0j).tobytes()) for r in sorted(self._feedback))
        key: tuple[Any, ...] = ((self._observable + 0j).tobytes(), self._eps, fb)
        if self._kraus is not None or self._history:
            hist = tuple((k, (self._history[k] + 0j).tobytes()) for k in sorted(self._history))
            kr = None if self._kraus is None else tuple(tuple((M + 0j).tobytes() for M in ops) for ops in self._kraus)
            key += (hist, kr)
        return key

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
        parts = [obs] if self._kraus is not None else [obs, err]
        for r in sorted(self._feedback, reverse=True):
            parts.append(f"on {r:+d} apply {self._feedback_names.get(r, 'a unitary')}")
        for r, st in sorted(self._history, key=lambda k: (-k[0], k[1])):
            parts.append(f"on {r:+d} in rule state {st} apply {self._feedback_names.get((r, st), 'a unitary')}")
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
