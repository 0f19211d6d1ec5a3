"""Monte Carlo results: the exact sums of a run, the estimates they give, and why the run ended.

Plain data (see :mod:`.protocol_result`). The file format that stores a result is
:mod:`darkspin.ensemble.montecarlo.files`; ``result.save(path)`` is written there (this module imports no
file code, so results stay at the bottom of the ensemble layer).

Length: the result's fields, its estimators and their standard errors are one plain-data class;
saving and loading live in ensemble/montecarlo/files.py.
"""

from __future__ import annotations

import math
import os
import warnings
from collections import OrderedDict
from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import ArrayLike

from ...trajectories.operators import basis_state
from ...trajectories.plan import Model
from ...trajectories.protocol import Protocol
from ...trajectories.segments import channel_labels
from ..statistics.intervals import CONFIDENCE, mean_interval, standard_error_floor, wilson_interval
from .postselection import FORMATS, PostSelectionTable, inverse, pick, round_end_indices
from .protocol_result import Expectation, ProtocolResult

if TYPE_CHECKING:
    from ..montecarlo.distributions import Distributions
    from ..montecarlo.sums import EnsembleSums

#: Why a run ended: ran its ntraj (no target_se); met target_se; stopped at max_ntraj short of
#: target_se; interrupted (Ctrl-C, or a file saved while the run was still going).
END_CONDITIONS = ("ntraj", "target_se", "max_ntraj", "interrupted")
#: What target_se applies to: the figure of merit, the post-selected singlet population at the final
#: output time ("final_post"), or the largest singlet standard error, unconditional and post-selected,
#: over all output times ("max").
TARGETS = ("final_post", "max")
#: Most trajectories a run may hold (start indices and int64 sums stay far from overflow).
MAX_NTRAJ = 2**62
_STATS_KEYS = ("end_condition", "target", "target_se", "max_ntraj")

#: writes a result to a path and returns the path as a str; set by darkspin.ensemble.montecarlo.files,
#: which owns the file format (importing the ensemble package always imports it)
_writer: Callable[[MonteCarloResult, str | os.PathLike[str]], str] | None = None


def set_writer(writer: Callable[[MonteCarloResult, str | os.PathLike[str]], str]) -> None:
    """Install the function behind :meth:`MonteCarloResult.save` (the file format's ``save``).

    Parameters
    ----------
    writer : callable
        ``writer(result, path) -> str``.
    """
    global _writer
    _writer = writer


def check_target(target: object) -> str:
    """``target`` (what target_se applies to) if it is one of TARGETS, else ValueError."""
    if not isinstance(target, str) or target not in TARGETS:
        shown = target.item() if isinstance(target, np.generic) else target
        raise ValueError(f"target must be one of {TARGETS}, got {shown!r}")
    return str(target)


class MonteCarloResult(ProtocolResult):
    """Trajectory estimates of the protocol, shaped like :class:`MasterEquationResult`.

    Attributes (n output times, R rounds):
        times (n,); rho, rho_post (n, 4, 4) complex estimates (rho_post NaN where no trajectory is
        post-selected); rho_se, rho_post_se (n, 4, 4) real standard errors of the complex elements;
        p_success (R,) = n_kept[k] / n_success[k-1] (ntraj for k = 0): of the runs post-selected
        before round k, the fraction still post-selected after it; p_cumulative (R,) = n_success / ntraj;
        n_success (R,) runs post-selected after round k; n_kept (R,); record_counts (2**R,) runs per
        record string, index sum_k 2**k [r_k = +1] (empty beyond 16 rounds); n_post (n,); ntraj; seed;
        n_jumps; ranges (k, 2) the trajectory index ranges
        [start, stop) summed; distributions (a :class:`Distributions`, or None unless the run was made
        with ``distributions=True``); stats (dict, JSON-ready, see below). The singlet population and
        its exact standard error: ``population("S")`` (the fields singlet, singlet_se, singlet_post and
        singlet_post_se are deprecated).

    stats: ``end_condition`` (one of END_CONDITIONS: why the run ended), ``target`` (one of TARGETS:
    what target_se applies to), ``target_se`` (float or None), ``max_ntraj`` (the cap used with
    target_se, else None) and ``achieved_se``, the standard error ``target`` refers to in this
    result, floored as in :meth:`target_error` (None where undefined, e.g. fewer than 2 post-selected
    trajectories). Only the first four are stored; achieved_se is recomputed from the sums.

    Parameters
    ----------
    model : SpinPair or LindbladModel
        The model simulated.
    protocol : Protocol
        The protocol simulated.
    sums : EnsembleSums
        The exact integer sums over the runs.
    seed : int
        The run's seed.
    ranges : array_like of int, shape (k, 2), optional
        The trajectory index ranges [start, stop) summed (default [[0, ntraj]]).
    interrupted : bool
        Deprecated spelling of ``end_condition="interrupted"``.
    end_condition : str, optional
        Why the run ended (one of END_CONDITIONS).
    target : str
        What target_se applies to (one of TARGETS).
    target_se, max_ntraj : float or int, optional
        The stopping settings used.

    Examples
    --------
    >>> import darkspin as ds
    >>> mc = ds.simulate(ds.SpinPair(), ds.Protocol.paper(n_out=11), ntraj=500, seed=1, progress=False)
    >>> mc.ntraj, mc.rho.shape, mc.stats["end_condition"]
    (500, (11, 4, 4), 'ntraj')
    """

    def __init__(
        self,
        model: Model,
        protocol: Protocol,
        sums: EnsembleSums,
        seed: int,
        ranges: ArrayLike | None = None,
        interrupted: bool = False,
        *,
        end_condition: str | None = None,
        target: str = "final_post",
        target_se: float | None = None,
        max_ntraj: int | None = None,
    ) -> None:
        self.model, self.protocol, self.sums, self.seed = model, protocol, sums, int(seed)
        self.ranges = np.zeros((0, 2), np.int64) if ranges is None else _normalise_ranges(ranges)
        self.times = protocol.times
        (
            self.rho,
            self.rho_se,
            self.rho_post,
            self.rho_post_se,
            self._singlet,
            self._singlet_se,
            self._singlet_post,
            self._singlet_post_se,
        ) = sums.estimates()
        self.ntraj = sums.ntraj
        self.n_jumps = sums.n_jumps
        self.n_post = sums.n_post
        self.n_success = sums.n_success
        self.n_kept = sums.n_kept
        self.record_counts = sums.record_counts
        self.distributions: Distributions | None = sums.distributions(
            protocol, channel_labels(model, protocol.segments)
        )
        prev = np.concatenate([[sums.ntraj], sums.n_success[:-1]]).astype(float)
        with np.errstate(invalid="ignore", divide="ignore"):
            # of the runs post-selected before round k, the fraction still post-selected after it
            self.p_success = np.where(prev > 0, sums.n_kept / prev, np.nan)
            self.p_cumulative = (
                sums.n_success / float(sums.ntraj) if sums.ntraj else np.full(sums.n_success.shape, np.nan)
            )
        if end_condition is None:
            end_condition = "interrupted" if interrupted else "ntraj"
        elif interrupted and end_condition != "interrupted":
            raise ValueError(f"an interrupted result cannot have end_condition {end_condition!r}")
        stats = {"end_condition": end_condition, "target": target, "target_se": target_se, "max_ntraj": max_ntraj}
        self._stats = _check_stats(stats, self)

    @property
    def stats(self) -> dict:
        """Why the run ended and how close it came to its target (a fresh JSON-ready dict; keys in the class doc)."""
        achieved = self.target_error(self._stats["target"])
        return {**self._stats, "achieved_se": achieved if math.isfinite(achieved) else None}

    @property
    def interrupted(self) -> bool:
        """Deprecated: use ``result.stats["end_condition"] == "interrupted"``.

        Returns
        -------
        bool
            True if the run did not end by its own condition (Ctrl-C, or a file saved mid-run).
        """
        warnings.warn(
            'MonteCarloResult.interrupted is deprecated; use result.stats["end_condition"] == "interrupted"',
            DeprecationWarning,
            stacklevel=2,
        )
        return self._stats["end_condition"] == "interrupted"

    def population(self, state: str | ArrayLike) -> Expectation:
        """<v|rho|v> and <v|rho_post|v> on the output grid for a named two-spin state or a vector v.

        For the singlet of two spins (d = 4 and ``state`` the label "S" or a vector v with
        |<S|v>| = 1 within 1e-12) the values are the kernel's own per-run sums of the singlet
        population, and the standard errors their exact sample standard errors. Any other state goes
        through :meth:`expect`, whose standard errors are a conservative bound.

        Parameters
        ----------
        state : str or array_like
            A label ('uu', 'ud', 'du', 'dd', 'S', 'T1', 'T2', 'T3'; d = 4 only) or a normalised
            complex vector v, shape (d,).

        Returns
        -------
        Expectation
            value and value_post (n,) complex (value_post NaN where no run is post-selected); se and
            se_post (n,) real standard errors (NaN where fewer than 2 runs contribute, for the singlet).

        Raises
        ------
        ValueError
            If ``state`` is a label while d != 4, an unknown label, or not a finite normalised (d,)
            vector.

        Examples
        --------
        >>> import darkspin as ds
        >>> mc = ds.simulate(ds.SpinPair(), ds.Protocol.paper(n_out=11), ntraj=200, seed=1, progress=False)
        >>> singlet = mc.population("S")
        >>> singlet.value.shape, round(float(singlet.value_post[-1].real), 3), float(singlet.se_post[-1])
        ((11,), 1.0, 0.0)
        """
        if self.dim == 4 and _is_singlet(state):
            return Expectation(
                self._singlet.astype(complex),
                self._singlet_post.astype(complex),
                self._singlet_se.copy(),
                self._singlet_post_se.copy(),
            )
        return super().population(state)

    @property
    def singlet(self) -> np.ndarray:
        """Deprecated: use ``result.population("S").value.real``.

        Returns
        -------
        ndarray of float64, shape (n,)
            The unconditional singlet population at the output times.
        """
        _warn_singlet("singlet", "value.real")
        return self._singlet

    @property
    def singlet_se(self) -> np.ndarray:
        """Deprecated: use ``result.population("S").se``.

        Returns
        -------
        ndarray of float64, shape (n,)
            The exact sample standard error of :attr:`singlet` (NaN below 2 runs).
        """
        _warn_singlet("singlet_se", "se")
        return self._singlet_se

    @property
    def singlet_post(self) -> np.ndarray:
        """Deprecated: use ``result.population("S").value_post.real``.

        Returns
        -------
        ndarray of float64, shape (n,)
            The post-selected singlet population (NaN where no run is post-selected).
        """
        _warn_singlet("singlet_post", "value_post.real")
        return self._singlet_post

    @property
    def singlet_post_se(self) -> np.ndarray:
        """Deprecated: use ``result.population("S").se_post``.

        Returns
        -------
        ndarray of float64, shape (n,)
            The exact sample standard error of :attr:`singlet_post` (NaN below 2 post-selected runs).
        """
        _warn_singlet("singlet_post_se", "se_post")
        return self._singlet_post_se

    def __repr__(self) -> str:
        return (
            f"MonteCarloResult(ntraj={self.ntraj}, seed={self.seed}, rounds={self.protocol.rounds}, "
            f"outputs={self.times.size}, end_condition={self._stats['end_condition']!r})"
        )

    def max_singlet_se(self) -> float:
        """Largest standard error of the singlet population, unconditional and post-selected.

        Returns
        -------
        float
            The largest finite sample standard error over all output times (population units, in [0, 1]);
            inf if none is finite. Unlike :meth:`target_error` it is not floored at 1/n.

        Examples
        --------
        >>> import darkspin as ds
        >>> mc = ds.simulate(ds.SpinPair(), ds.Protocol.paper(n_out=11), ntraj=200, seed=1, progress=False)
        >>> round(mc.max_singlet_se(), 4)
        0.0352
        """
        both = np.concatenate([self._singlet_se, self._singlet_post_se])
        both = both[np.isfinite(both)]
        return float(both.max()) if both.size else float("inf")

    def target_error(self, target: str = "final_post") -> float:
        """The standard error that ``target_se`` applies to (inf where undefined), floored at 1/n.

        Each standard error counts as at least :func:`standard_error_floor` of its number of runs n,
        1/n: the standard error had one of the n runs been at the far end of [0, 1]. A sample
        standard error below it has collapsed (e.g. no post-selected run has jumped yet, so the sample
        variance is ~0) and cannot stop a run: a target_se is met only with n > 1 / target_se runs
        behind the estimate. (The printed intervals, :func:`mean_interval`, guard the same case with
        a half-width of at least z^2/n.)

        Parameters
        ----------
        target : str
            "final_post", the post-selected singlet population at the final output time (the
            protocol's figure of merit; n = n_post[-1]), or "max", the largest over all output times
            of the unconditional (n = ntraj) and post-selected (n = n_post) singlet standard errors.

        Returns
        -------
        float
            max(se, 1/n) (for "max": the largest of those); inf where no standard error is defined.

        Raises
        ------
        ValueError
            If ``target`` is not one of TARGETS.

        Examples
        --------
        No post-selected run has jumped, so the sample standard error at the end is 0 and the floor
        1/n_post = 1/111 counts:

        >>> import darkspin as ds
        >>> mc = ds.simulate(ds.SpinPair(), ds.Protocol.paper(n_out=11), ntraj=200, seed=1, progress=False)
        >>> float(mc.population("S").se_post[-1]), int(mc.n_post[-1]), round(mc.target_error(), 4)
        (0.0, 111, 0.009)
        """
        return self._target_errors(target)[1]

    def _target_errors(self, target: str) -> tuple[float, float]:
        """(sample standard error, floored standard error) that ``target`` refers to; inf where undefined."""
        if check_target(target) == "max":
            se = np.concatenate([self._singlet_se, self._singlet_post_se]).astype(float)
            n = np.concatenate([np.full(self._singlet_se.shape, self.ntraj), self.n_post]).astype(float)
        else:
            se = np.asarray(self._singlet_post_se[-1:], float)
            n = np.asarray(self.n_post[-1:], float)
        ok = np.isfinite(se)
        if not ok.any():
            return float("inf"), float("inf")
        floored = np.maximum(se[ok], standard_error_floor(n[ok]))
        return float(se[ok].max()), float(floored.max())

    def postselection(self, confidence: float = CONFIDENCE) -> PostSelectionTable:
        """Per-round post-selection statistics of this run, with intervals.

        Parameters
        ----------
        confidence : float
            Confidence level in (0, 1) of the Wilson intervals of the counts and of the
            :func:`mean_interval` of the singlet population.

        Returns
        -------
        PostSelectionTable
            One row per round (columns documented in :class:`PostSelectionTable`). A result with
            distributions adds, from the state right after each round: n_jumped, the post-selected runs
            that had jumped; infidelity_post = infidelity_quiet + infidelity_jumped, the post-selected
            mean of 1 - F (F the fidelity with the distributions' target state) and the parts of it
            carried by runs that had not / had jumped.

        Raises
        ------
        ValueError
            If ``confidence`` is not a number in (0, 1).

        Examples
        --------
        >>> import darkspin as ds
        >>> mc = ds.simulate(ds.SpinPair(), ds.Protocol.paper(n_out=11), ntraj=200, seed=1, progress=False)
        >>> table = mc.postselection()
        >>> [int(n) for n in table["attempts"]], [int(n) for n in table["successes"]]
        ([200, 132, 113, 111], [132, 113, 111, 111])
        """
        wilson_interval(0, 1, confidence)  # validates confidence before any work
        protocol = self.protocol
        ntraj = int(self.ntraj)
        selected = np.asarray(self.n_success, np.int64)
        succ = np.asarray(self.n_kept, np.int64)  # equal to n_success for nested rules such as 'all'
        attempts = np.concatenate([[ntraj], selected])[: succ.size].astype(np.int64)
        with np.errstate(divide="ignore", invalid="ignore"):
            p = np.where(attempts > 0, succ / np.maximum(attempts, 1), np.nan)
            pc = selected / ntraj if ntraj else np.full(succ.shape, np.nan)
        p_lo, p_hi = wilson_interval(succ, attempts, confidence)
        c_lo, c_hi = wilson_interval(selected, np.full(succ.shape, ntraj), confidence)
        idx = round_end_indices(protocol)
        s_post = pick(np.asarray(self._singlet_post, float), idx)
        s_se = pick(np.asarray(self._singlet_post_se, float), idx)
        n_post = np.where(idx >= 0, np.asarray(self.n_post)[np.maximum(idx, 0)], 0)
        s_lo, s_hi = mean_interval(s_post, s_se, n_post, confidence)
        cols = OrderedDict(
            [
                ("round", np.arange(1, protocol.rounds + 1)),
                ("time", np.array(protocol.record_times, float)),
                ("attempts", attempts),
                ("successes", succ.copy()),
                ("p_success", p),
                ("p_success_low", np.atleast_1d(p_lo)),
                ("p_success_high", np.atleast_1d(p_hi)),
                ("p_cumulative", np.asarray(pc, float)),
                ("p_cumulative_low", np.atleast_1d(c_lo)),
                ("p_cumulative_high", np.atleast_1d(c_hi)),
                ("attempts_per_success", inverse(pc)),
                ("attempts_per_success_low", inverse(c_hi)),
                ("attempts_per_success_high", inverse(c_lo)),
                ("end_time", pick(protocol.times, idx)),
            ]
        )
        if protocol.rho0.shape[0] == 4:  # the singlet exists for two spins
            cols.update(
                singlet_post=s_post,
                singlet_post_low=np.atleast_1d(s_lo),
                singlet_post_high=np.atleast_1d(s_hi),
                singlet_post_se=s_se,
            )
        if self.distributions is not None and protocol.rounds:
            # the post-selected infidelity at each round's end, carried by runs that had not / had jumped
            parts = [self.distributions.split(f"round {k + 1}") for k in range(protocol.rounds)]
            cols.update(
                n_jumped=np.array([x.n_jumped for x in parts], np.int64),
                infidelity_post=np.array([x.infidelity for x in parts]),
                infidelity_quiet=np.array([x.quiet for x in parts]),
                infidelity_jumped=np.array([x.jumped for x in parts]),
            )
        meta = {
            "kind": "monte_carlo",
            "ntraj": ntraj,
            "confidence": float(confidence),
            "rule": protocol.postselect,
            "instruments": protocol.describe(),
        }
        return PostSelectionTable(cols, FORMATS, meta)

    def save(self, path: str | os.PathLike[str]) -> str:
        """Write everything needed to reload or extend this run to one .npz file (atomically).

        The format is :mod:`darkspin.ensemble.montecarlo.files` (``files.save(result, path)``).

        Parameters
        ----------
        path : str or os.PathLike
            The file to write; a symbolic link is followed.

        Returns
        -------
        str
            ``path`` as a str.

        Raises
        ------
        ValueError
            With nothing written, if the target exists and is not a regular file, its folder is missing,
            the model is not exactly a SpinPair or LindbladModel or the protocol not exactly a Protocol
            (they would not reload exactly), or the result is inconsistent (e.g. ranges that do not add up
            to ntraj), since :func:`load` would refuse it.
        RuntimeError
            If no file writer is installed (``darkspin.ensemble`` was never imported).

        Examples
        --------
        >>> import darkspin as ds
        >>> mc = ds.simulate(ds.SpinPair(), ds.Protocol.paper(n_out=11), ntraj=200, seed=1, progress=False)
        >>> path = mc.save("paper.npz")
        >>> ds.load(path).ntraj
        200
        """
        if _writer is None:  # only if darkspin.ensemble.montecarlo.files was never imported
            raise RuntimeError("no result writer: import darkspin.ensemble first")
        return _writer(self, path)


def _is_singlet(state: str | ArrayLike) -> bool:
    """True if ``state`` is the label "S" or a (4,) vector with |<S|v>| = 1 within 1e-12."""
    if isinstance(state, str):
        return state == "S"
    v = np.asarray(state)
    if v.shape != (4,) or not np.issubdtype(v.dtype, np.number) or not np.all(np.isfinite(v)):
        return False  # the base class reports what is wrong with it
    v = v.astype(complex)
    if abs(np.linalg.norm(v) - 1) > 1e-10:  # the base class's own check: it raises
        return False
    return bool(abs(abs(np.vdot(basis_state("S"), v)) - 1.0) <= 1e-12)


def _warn_singlet(name: str, replacement: str) -> None:
    """The DeprecationWarning of the field ``name``, pointing at ``population('S').<replacement>``."""
    warnings.warn(
        f"MonteCarloResult.{name} is deprecated; use result.population('S').{replacement}",
        DeprecationWarning,
        stacklevel=3,
    )


def _normalise_ranges(ranges: ArrayLike) -> np.ndarray:
    r = np.asarray(ranges, np.int64).reshape(-1, 2)
    r = r[np.argsort(r[:, 0], kind="stable")]
    merged: list[list[int]] = []
    for a, b in r:
        if merged and a <= merged[-1][1]:
            if a < merged[-1][1]:
                raise ValueError("trajectory ranges overlap: the same trajectories would be summed twice")
            merged[-1][1] = max(merged[-1][1], int(b))
        else:
            merged.append([int(a), int(b)])
    return np.array(merged, np.int64).reshape(-1, 2)


def _check_stats(stats: dict, result: MonteCarloResult) -> dict:
    """The stored stats if they are well-formed and agree with the result, else ValueError."""
    if not isinstance(stats, dict) or sorted(stats) != sorted(_STATS_KEYS):
        raise ValueError(f"stats must hold exactly the keys {_STATS_KEYS}")
    end, target, tse, cap = (stats[k] for k in _STATS_KEYS)
    if end not in END_CONDITIONS:
        raise ValueError(f"stats: end_condition {end!r} is not one of {END_CONDITIONS}")
    if target not in TARGETS:
        raise ValueError(f"stats: target {target!r} is not one of {TARGETS}")
    if tse is not None:
        if isinstance(tse, bool) or not isinstance(tse, (int, float)) or not math.isfinite(tse) or tse <= 0:
            raise ValueError(f"stats: target_se must be None or a finite number > 0, got {tse!r}")
        tse = float(tse)
    if cap is not None and (isinstance(cap, bool) or not isinstance(cap, int) or not 1 <= cap <= MAX_NTRAJ):
        raise ValueError(f"stats: max_ntraj must be None or an integer in [1, 2**62], got {cap!r}")
    if (tse is None) != (cap is None):
        raise ValueError("stats: target_se and max_ntraj go together (both given or both None)")
    if end in ("target_se", "max_ntraj") and tse is None:
        raise ValueError(f"stats: end_condition {end!r} needs a target_se")
    if end == "ntraj" and tse is not None:
        raise ValueError("stats: a run with a target_se cannot end on 'ntraj'")
    # the sample standard error, not the floored one: files saved before the floor still load
    if end == "target_se" and not result._target_errors(target)[0] < tse * (1 + 1e-12):
        raise ValueError(f"stats: end_condition 'target_se' but the standard error is not below {tse!r}")
    if end == "max_ntraj":
        assert cap is not None  # checked above: a max_ntraj end needs target_se, which comes with max_ntraj
        if result.ntraj < cap:
            raise ValueError(f"stats: end_condition 'max_ntraj' but ntraj = {result.ntraj} < max_ntraj = {cap}")
    return {"end_condition": end, "target": target, "target_se": tse, "max_ntraj": cap}
