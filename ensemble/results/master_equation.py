"""The exact solver's result: the protocol's states and probabilities from the master equation.

Plain data (see :mod:`.protocol_result`); :mod:`darkspin.ensemble.exact.solver` fills it. The exact jump
statistics are free functions of the model and protocol (``ds.no_jump_probability``, ``ds.mean_jumps``);
the result keeps the older attribute spellings working through functions the solver hands it, so this
module imports nothing from the solver.
"""

from __future__ import annotations

import dataclasses
import functools
import warnings
from collections import OrderedDict
from collections.abc import Callable

import numpy as np

from ...trajectories.operators import singlet_population
from ...trajectories.plan import Model
from ...trajectories.protocol import Protocol
from ..statistics.intervals import CONFIDENCE
from .postselection import FORMATS, PostSelectionTable, inverse, pick, round_end_indices
from .protocol_result import ProtocolResult

#: (no_jump_probability(model, protocol, times), mean_jumps(model, protocol)): the exact jump statistics
JumpStatistics = tuple[Callable[..., np.ndarray], Callable[..., np.ndarray]]


class PostSelectionUndefinedWarning(RuntimeWarning):
    """The post-selected state can no longer be trusted: rho_post is NaN from the named round on.

    Examples
    --------
    >>> import warnings
    >>> import numpy as np
    >>> import darkspin as ds
    >>> frozen = ds.LindbladModel(np.zeros((4, 4)), [])  # nothing happens: |uu> always records +1
    >>> never = ds.Protocol("uu", [1.0], [0.0, 1.0, 2.0], postselect="all")  # keep runs that record -1
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     exact = ds.solve_master_equation(frozen, never)
    >>> any(issubclass(w.category, ds.PostSelectionUndefinedWarning) for w in caught)
    True
    """


def _deprecated(old: str, new: str) -> None:
    warnings.warn(f"{old} is deprecated; use {new}", DeprecationWarning, stacklevel=3)


@dataclasses.dataclass(frozen=True, eq=False)
class MasterEquationResult(ProtocolResult):
    """Exact protocol solution (n output times, R rounds).

    times (n,); rho (n, d, d): unconditional state (the instruments applied, records averaged over);
    rho_post (n, d, d): the state of the runs post-selected by the protocol's rule, normalised (NaN
    where undefined); p_success (R,): probability that a run post-selected before round k is still
    post-selected after it (for the rule 'all': the conditional success probability of round k);
    p_cumulative (R,): probability that a run is post-selected after round k;
    record_probabilities (2**R,): probability of each record string, index sum_k 2**k [r_k = +1]
    (empty when R > 16).

    Attributes
    ----------
    model, protocol
        What was solved.
    times : numpy.ndarray, shape (n,)
        Output times.
    rho, rho_post : numpy.ndarray, shape (n, d, d), complex128
        The unconditional and the post-selected state.
    p_success, p_cumulative : numpy.ndarray, shape (R,)
        Per-round and cumulative success probabilities.
    record_probabilities : numpy.ndarray, shape (2**R,)
        Probability of each record string.

    Examples
    --------
    >>> import darkspin as ds
    >>> exact = ds.solve_master_equation(ds.SpinPair(), ds.Protocol.paper(n_out=11))
    >>> [round(float(p), 4) for p in exact.p_success]
    [0.5703, 0.894, 0.9833, 0.9976]
    """

    model: Model
    protocol: Protocol
    times: np.ndarray
    rho: np.ndarray
    rho_post: np.ndarray
    p_success: np.ndarray
    p_cumulative: np.ndarray
    record_probabilities: np.ndarray = dataclasses.field(default_factory=lambda: np.zeros(0))
    #: the solver's jump statistics, behind the deprecated attributes below (None: not available)
    _jump_statistics: JumpStatistics | None = dataclasses.field(default=None, repr=False)

    @property
    def stats(self) -> dict:
        """How the result was obtained: ``{'end_condition': 'exact'}`` (dict; the key Monte Carlo results have too)."""
        return {"end_condition": "exact"}

    def postselection(self, confidence: float = CONFIDENCE) -> PostSelectionTable:
        """Per-round post-selection statistics, exact: no counts and no error bars.

        Parameters
        ----------
        confidence : float
            Accepted for the same call as on a Monte Carlo result; exact values have no intervals.

        Returns
        -------
        PostSelectionTable
            Columns round, time, p_success, p_cumulative, attempts_per_success, end_time and, for two
            spins, singlet_post (the singlet population of rho_post at the end of each round; NaN where
            undefined). Times in the model's inverse energy unit.

        Examples
        --------
        >>> import darkspin as ds
        >>> exact = ds.solve_master_equation(ds.SpinPair(), ds.Protocol.paper(n_out=11))
        >>> table = exact.postselection()
        >>> [round(float(p), 4) for p in table["p_cumulative"]]
        [0.5703, 0.5099, 0.5014, 0.5002]
        """
        protocol = self.protocol
        idx = round_end_indices(protocol)
        pc = np.asarray(self.p_cumulative, float)
        cols = OrderedDict(
            [
                ("round", np.arange(1, protocol.rounds + 1)),
                ("time", np.array(protocol.record_times, float)),
                ("p_success", np.asarray(self.p_success, float)),
                ("p_cumulative", pc),
                ("attempts_per_success", inverse(pc)),
                ("end_time", pick(protocol.times, idx)),
            ]
        )
        if protocol.rho0.shape[0] == 4:  # the singlet exists for two spins
            cols["singlet_post"] = pick(singlet_population(self.rho_post), idx)
        return PostSelectionTable(
            cols, FORMATS, {"kind": "exact", "rule": protocol.postselect, "instruments": protocol.describe()}
        )

    def _jumps(self) -> JumpStatistics:
        if self._jump_statistics is None:
            raise AttributeError("this result carries no jump statistics; use ds.no_jump_probability(model, protocol)")
        return self._jump_statistics

    @functools.cached_property
    def _p_no_jump(self) -> np.ndarray:
        return self._jumps()[0](self.model, self.protocol)

    @functools.cached_property
    def _mean_jumps(self) -> np.ndarray:
        return self._jumps()[1](self.model, self.protocol)

    @property
    def p_no_jump(self) -> np.ndarray:
        """Deprecated: use ``ds.no_jump_probability(result.model, result.protocol)``.

        Returns
        -------
        numpy.ndarray
            P(a run has not jumped by t) at each output time, (n,).
        """
        _deprecated("MasterEquationResult.p_no_jump", "ds.no_jump_probability(result.model, result.protocol)")
        return self._p_no_jump

    def no_jump_probability(self, times: np.ndarray | list[float]) -> np.ndarray:
        """Deprecated: use ``ds.no_jump_probability(result.model, result.protocol, times)``.

        Parameters
        ----------
        times : array_like
            Non-decreasing times >= 0, (m,), in the model's inverse energy unit.

        Returns
        -------
        numpy.ndarray
            P(a run has not jumped by t) at each time, (m,).

        Raises
        ------
        AttributeError
            If the result carries no jump statistics (it was not made by ``ds.solve_master_equation``).
        ValueError
            If ``times`` are not finite, non-decreasing and >= 0.
        """
        _deprecated(
            "MasterEquationResult.no_jump_probability(times)",
            "ds.no_jump_probability(result.model, result.protocol, times)",
        )
        return self._jumps()[0](self.model, self.protocol, times)

    @property
    def mean_jumps(self) -> np.ndarray:
        """Deprecated: use ``ds.mean_jumps(result.model, result.protocol)``.

        Returns
        -------
        numpy.ndarray
            Mean number of jumps per run in each channel by each output time, (n, K).
        """
        _deprecated("MasterEquationResult.mean_jumps", "ds.mean_jumps(result.model, result.protocol)")
        return self._mean_jumps
