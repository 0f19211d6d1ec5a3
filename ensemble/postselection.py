"""Per-round post-selection statistics of the protocol: success probabilities with Wilson intervals,
expected attempts, and the post-selected singlet population at the end of each round.

Works on a :class:`~ensemble.result.MonteCarloResult` (counts, intervals, standard errors) and on a
:class:`~ensemble.master_equation.MasterEquationResult` (exact probabilities, no counts or errors).
"""

from __future__ import annotations

from collections import OrderedDict

import numpy as np
from numpy.typing import ArrayLike

from ..trajectories.operators import singlet_population
from ..trajectories.protocol import Protocol
from .intervals import CONFIDENCE, mean_interval, wilson_interval  # noqa: F401  (mean_interval, wilson_interval: re-exported)
from .master_equation import MasterEquationResult
from .result import MonteCarloResult
from .results.table import ColumnError, Table


# ---- the table ---------------------------------------------------------------------------------
class PostSelectionTable(Table):
    """Per-round table: ordered columns (name -> 1-d array of length rounds) with display formats.

    Columns of a Monte Carlo table (R rounds; times in the model's inverse energy unit):
        round                1-based round number (int)
        time                 measurement time measure_at[k]
        attempts             trajectories post-selected when the round starts: ntraj for the first, else
                             those post-selected after the previous round (int)
        successes            of those, the trajectories still post-selected after this round (int; for
                             the paper's rule 'all': record -1 in this and every earlier round)
        p_success            conditional success probability successes / attempts, with
        p_success_low/_high  its Wilson interval (confidence in ``meta['confidence']``)
        p_cumulative         post-selected after round k / ntraj (for 'all': rounds 1..k all succeed), with
        p_cumulative_low/_high  its Wilson interval
        attempts_per_success 1 / p_cumulative: expected full protocol runs per run that passes rounds
                             1..k (inf if p_cumulative = 0), with the interval
        attempts_per_success_low/_high  1 / p_cumulative_high, 1 / p_cumulative_low
        end_time             output time at which the round's end state is read (see below; NaN if no
                             output time lies inside the round)
        singlet_post         post-selected singlet population <S|rho_post|S> at end_time (two spins only), with
        singlet_post_low/_high  its interval from :func:`mean_interval` (valid at 0 and 1, never of
                             zero width; NaN where no trajectory is post-selected), and
        singlet_post_se      its sample standard error (0 when every run has the same value)
    An exact table (from the master equation) has round, time, p_success, p_cumulative,
    attempts_per_success, end_time, singlet_post only.

    End of a round: the last output time t with measure_at[k] <= t < measure_at[k+1] (outputs at a
    measurement time already show the post-measurement state, so an output that coincides with the next
    measurement belongs to the next round); for the last round, the final output time.

    Display: ``str(table)`` prints an aligned text table; columns X_low/X_high are shown next to X as
    'X [low, high]' (then X_se, if present, in a column of its own), else X_se as 'X +- se'.
    ``meta`` holds plain scalars (kind, ntraj, confidence).
    """

    def add_column(self, name: str, values: ArrayLike, fmt: str = ".4g") -> PostSelectionTable:
        """A new table with one more column.

        Parameters
        ----------
        name : str
            The new column's name.
        values : array_like, shape (len(self),)
            Its values.
        fmt : str
            Its format spec (for :func:`format`).

        Returns
        -------
        PostSelectionTable

        Raises
        ------
        ColumnError
            If the column exists already.
        ValueError
            If ``values`` has the wrong shape.
        """
        if name in self._columns:
            raise ColumnError(f"column {name!r} exists already")
        arr = np.array(values)
        if arr.shape != (len(self),):
            raise ValueError(f"values for column {name!r} must have shape ({len(self)},), got {arr.shape}")
        cols = dict(self._columns)
        cols[name] = arr
        return PostSelectionTable(cols, {**self._formats, name: fmt}, self.meta)

    # ---- display ----
    def _groups(self) -> list[tuple[str, list[str]]]:
        """(header, [member names]) display groups: X with X_low/X_high or X_se folded in."""
        used, groups = set(), []
        conf = self.meta.get("confidence")
        tag = f"{100 * conf:g}%" if isinstance(conf, (int, float)) and conf == conf else "CI"
        for name in self._columns:
            if name in used:
                continue
            low, high, se = f"{name}_low", f"{name}_high", f"{name}_se"
            if low in self._columns and high in self._columns:
                groups.append((f"{name} [{tag}]", [name, low, high]))
                used.update((name, low, high))
            elif se in self._columns:
                groups.append((f"{name} +- se", [name, se]))
                used.update((name, se))
            else:
                groups.append((name, [name]))
                used.add(name)
        return groups

    def _group_cell(self, members: list[str], i: int) -> str:
        vals = [self._cell(m, i) for m in members]
        if len(members) == 3:
            return f"{vals[0]} [{vals[1]}, {vals[2]}]"
        if len(members) == 2:
            return f"{vals[0]} +- {vals[1]}"
        return vals[0]

    def __str__(self) -> str:
        groups = self._groups()
        headers = [h for h, _ in groups]
        body = [[self._group_cell(m, i) for _, m in groups] for i in range(len(self))]
        widths = self._widths([headers, *body])
        right = [True] * len(headers)
        lines = []
        kind = self.meta.get("kind")
        if kind == "monte_carlo":
            lines.append(
                f"Post-selection statistics, {self.meta.get('ntraj')} trajectories "
                f"(intervals: Wilson for counts, ensemble.intervals.mean_interval for means)"
            )
        elif kind == "exact":
            lines.append("Post-selection statistics, exact (master equation)")
        lines.append(self._line(headers, widths, right))
        lines.append(self._line(["-" * w for w in widths], widths, right))
        lines += [self._line(r, widths, right) for r in body]
        if self.meta.get("instruments"):
            lines.append(f"Rounds: {self.meta['instruments']}")
        return "\n".join(lines)

    def __repr__(self) -> str:
        return f"PostSelectionTable(rounds={len(self)}, columns={self.names}, meta={self.meta})"


# ---- building tables ---------------------------------------------------------------------------
def round_end_indices(protocol: Protocol) -> np.ndarray:
    """Index into ``protocol.times`` of each round's end (see :class:`PostSelectionTable`); (rounds,) int.

    -1 where no output time lies in [measure_at[k], measure_at[k+1]) (e.g. two rounds at one instant).
    """
    times, meas = protocol.times, protocol.measure_at
    out = np.full(meas.size, -1, np.int64)
    for k, start in enumerate(meas):
        stop = meas[k + 1] if k + 1 < meas.size else np.inf
        inside = np.flatnonzero((times >= start) & (times < stop))
        if inside.size:
            out[k] = inside[-1]
    return out


def _pick(values: np.ndarray, idx: np.ndarray) -> np.ndarray:
    out = np.full(idx.shape, np.nan)
    ok = idx >= 0
    out[ok] = values[idx[ok]]
    return out


_FORMATS = {
    "round": "d",
    "time": ".6g",
    "attempts": "d",
    "successes": "d",
    "p_success": ".2%",
    "p_success_low": ".2%",
    "p_success_high": ".2%",
    "p_cumulative": ".2%",
    "p_cumulative_low": ".2%",
    "p_cumulative_high": ".2%",
    "attempts_per_success": ".3f",
    "attempts_per_success_low": ".3f",
    "attempts_per_success_high": ".3f",
    "end_time": ".6g",
    "singlet_post": ".5f",
    "singlet_post_low": ".5f",
    "singlet_post_high": ".5f",
    "singlet_post_se": ".5f",
    "n_jumped": "d",
    "infidelity_post": ".3g",
    "infidelity_quiet": ".3g",
    "infidelity_jumped": ".3g",
}


def _inverse(p) -> np.ndarray:
    p = np.asarray(p, float)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(p > 0, 1.0 / np.where(p > 0, p, 1.0), np.where(np.isnan(p), np.nan, np.inf))


def exact_table(exact_result: MasterEquationResult) -> PostSelectionTable:
    """Post-selection table of an exact :class:`MasterEquationResult` (no counts, no error bars).

    Columns: round, time, p_success, p_cumulative, attempts_per_success, end_time, singlet_post
    (singlet population of rho_post at the end of each round; NaN where undefined).
    """
    if not isinstance(exact_result, MasterEquationResult):
        raise ValueError(f"exact_result must be a MasterEquationResult, got {type(exact_result).__name__}")
    protocol = exact_result.protocol
    idx = round_end_indices(protocol)
    pc = np.asarray(exact_result.p_cumulative, float)
    cols = OrderedDict(
        [
            ("round", np.arange(1, protocol.rounds + 1)),
            ("time", np.array(protocol.measure_at, float)),
            ("p_success", np.asarray(exact_result.p_success, float)),
            ("p_cumulative", pc),
            ("attempts_per_success", _inverse(pc)),
            ("end_time", _pick(protocol.times, idx)),
        ]
    )
    if protocol.rho0.shape[0] == 4:  # the singlet exists for two spins
        cols["singlet_post"] = _pick(singlet_population(exact_result.rho_post), idx)
    return PostSelectionTable(
        cols, _FORMATS, {"kind": "exact", "rule": protocol.postselect, "instruments": protocol.describe()}
    )


def postselection_table(result, confidence: float = CONFIDENCE) -> PostSelectionTable:
    """Per-round post-selection statistics of ``result``.

    result: a :class:`MonteCarloResult` (counts with Wilson intervals at ``confidence``, the singlet
    population with a :func:`mean_interval` at ``confidence`` and its standard error) or a
    :class:`MasterEquationResult` (dispatches to :func:`exact_table`).
    Returns a :class:`PostSelectionTable` with one row per round (columns documented there). A result
    with distributions adds, from the state right after each round: n_jumped, the post-selected runs
    that had jumped; infidelity_post = infidelity_quiet + infidelity_jumped, the post-selected mean of
    1 - F (F the fidelity with the distributions' target state) and the parts of it carried by runs
    that had not / had jumped.
    """
    if isinstance(result, MasterEquationResult):
        return exact_table(result)
    if not isinstance(result, MonteCarloResult):
        raise ValueError(f"result must be a MonteCarloResult or a MasterEquationResult, got {type(result).__name__}")
    wilson_interval(0, 1, confidence)  # validates confidence before any work
    protocol = result.protocol
    ntraj = int(result.ntraj)
    selected = np.asarray(result.n_success, np.int64)
    succ = np.asarray(result.n_kept, np.int64)  # equal to n_success for nested rules such as 'all'
    attempts = np.concatenate([[ntraj], selected])[: succ.size].astype(np.int64)
    with np.errstate(divide="ignore", invalid="ignore"):
        p = np.where(attempts > 0, succ / np.maximum(attempts, 1), np.nan)
        pc = selected / ntraj if ntraj else np.full(succ.shape, np.nan)
    p_lo, p_hi = wilson_interval(succ, attempts, confidence)
    c_lo, c_hi = wilson_interval(selected, np.full(succ.shape, ntraj), confidence)
    idx = round_end_indices(protocol)
    s_post = _pick(np.asarray(result.singlet_post, float), idx)
    s_se = _pick(np.asarray(result.singlet_post_se, float), idx)
    n_post = np.where(idx >= 0, np.asarray(result.n_post)[np.maximum(idx, 0)], 0)
    s_lo, s_hi = mean_interval(s_post, s_se, n_post, confidence)
    cols = OrderedDict(
        [
            ("round", np.arange(1, protocol.rounds + 1)),
            ("time", np.array(protocol.measure_at, float)),
            ("attempts", attempts),
            ("successes", succ.copy()),
            ("p_success", p),
            ("p_success_low", np.atleast_1d(p_lo)),
            ("p_success_high", np.atleast_1d(p_hi)),
            ("p_cumulative", np.asarray(pc, float)),
            ("p_cumulative_low", np.atleast_1d(c_lo)),
            ("p_cumulative_high", np.atleast_1d(c_hi)),
            ("attempts_per_success", _inverse(pc)),
            ("attempts_per_success_low", _inverse(c_hi)),
            ("attempts_per_success_high", _inverse(c_lo)),
            ("end_time", _pick(protocol.times, idx)),
        ]
    )
    if protocol.rho0.shape[0] == 4:  # the singlet exists for two spins
        cols.update(
            singlet_post=s_post,
            singlet_post_low=np.atleast_1d(s_lo),
            singlet_post_high=np.atleast_1d(s_hi),
            singlet_post_se=s_se,
        )
    if result.distributions is not None and protocol.rounds:
        # the post-selected infidelity at each round's end, carried by runs that had not / had jumped
        parts = [result.distributions.split(f"round {k + 1}") for k in range(protocol.rounds)]
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
    return PostSelectionTable(cols, _FORMATS, meta)
