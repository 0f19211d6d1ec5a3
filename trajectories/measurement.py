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

The named operators and the checks of observables, unitaries and feedback tables are in
:mod:`.instrument_operators` (importable from here too); what every instrument shares (feedback views,
identity, description of the feedback) in :mod:`.instrument_base`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from . import sanity
from .instrument_base import FeedbackInstrument
from .instrument_operators import NAMED_FEEDBACK as NAMED_FEEDBACK
from .instrument_operators import NAMED_OBSERVABLES as NAMED_OBSERVABLES
from .instrument_operators import OPERATOR_TOL as OPERATOR_TOL
from .instrument_operators import RECORDS as RECORDS
from .instrument_operators import _name_of
from .instrument_operators import check_feedback as check_feedback
from .instrument_operators import check_observable as check_observable
from .instrument_operators import check_unitary as check_unitary
from .kraus import check_kraus, weak_kraus


def _probability(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise ValueError(f"{name} must be a probability in [0, 1], got {value!r}")
    value = float(value)
    if not 0.0 <= value <= 1.0:  # also rejects NaN
        raise ValueError(f"{name} must be a probability in [0, 1], got {value}")
    return value


class Measurement(FeedbackInstrument):
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
        return self._picked_unitaries(state, self._dim)

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
        fb, hist = self._feedback_key()
        key: tuple[Any, ...] = ((self._observable + 0j).tobytes(), self._eps, fb)
        if self._kraus is not None or self._history:
            kr = None if self._kraus is None else tuple(tuple((M + 0j).tobytes() for M in ops) for ops in self._kraus)
            key += (hist, kr)
        return key

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
        return ", ".join(parts + self._feedback_parts())

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
