"""The per-round post-selection table and the pieces its columns are built from.

Each result builds its own table (:meth:`MonteCarloResult.postselection
<darkspin.ensemble.results.monte_carlo.MonteCarloResult.postselection>`: counts, intervals, standard
errors; :meth:`MasterEquationResult.postselection
<darkspin.ensemble.results.master_equation.MasterEquationResult.postselection>`: exact probabilities, no
counts or errors) from the helpers here: where each round ends, picking values there, and the formats.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from ...trajectories.protocol import Protocol
from .table import ColumnError, Table


# ---- the table ---------------------------------------------------------------------------------
class PostSelectionTable(Table):
    """Per-round table: ordered columns (name -> 1-d array of length rounds) with display formats.

    Columns of a Monte Carlo table (R rounds; times in the model's inverse energy unit):
        round                1-based round number (int)
        time                 measurement time measure_at[k] (a monitored round: the end of its window)
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

    What p_cumulative and end_time mean under each rule (:func:`column_meanings`, printed under the table):
        'all'      p_cumulative: P(records of rounds 1..k all -1), the paper's yield after k rounds
        'last'     p_cumulative: P(record of round k is -1), whatever came before
        'none'     p_cumulative: 1 (every run is kept)
        a pattern  p_cumulative: P(records of rounds 1..k match the pattern's first k characters)
        end_time (every rule): the output time at which singlet_post is read, the last one before round
        k + 1 (the final output time for the last round)

    Display: ``str(table)`` prints an aligned text table; columns X_low/X_high are shown next to X as
    'X [low, high]' (then X_se, if present, in a column of its own), else X_se as 'X +- se'.
    ``meta`` holds plain scalars (kind, ntraj, confidence).

    Parameters
    ----------
    columns : mapping of str to array_like, shape (R,)
        The columns, in order.
    formats : mapping of str to str, optional
        Display formats by column.
    meta : mapping of str to Any, optional
        What the table is about (the rule, the instruments, ntraj).

    Examples
    --------
    >>> import darkspin as ds
    >>> table = ds.solve_master_equation(ds.SpinPair(), ds.Protocol.paper(n_out=11)).postselection()
    >>> table["round"].tolist()
    [1, 2, 3, 4]
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
            A copy of this table with the column added last (this table is unchanged).

        Raises
        ------
        ColumnError
            If the column exists already.
        ValueError
            If ``values`` has the wrong shape.

        Examples
        --------
        >>> import darkspin as ds
        >>> table = ds.solve_master_equation(ds.SpinPair(), ds.Protocol.paper(n_out=11)).postselection()
        >>> wider = table.add_column("failures", 1 - table["p_success"], ".2%")
        >>> wider.names[-1], [round(float(x), 4) for x in wider["failures"]]
        ('failures', [0.4297, 0.106, 0.0167, 0.0024])
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
        used: set[str] = set()
        groups: list[tuple[str, list[str]]] = []
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
        rule = self.meta.get("rule")
        if isinstance(rule, str) and ("p_cumulative" in self._columns or "end_time" in self._columns):
            lines += [f"{name}: {text}" for name, text in column_meanings(rule).items() if name in self._columns]
        return "\n".join(lines)

    def __repr__(self) -> str:
        return f"PostSelectionTable(rounds={len(self)}, columns={self.names}, meta={self.meta})"


def column_meanings(rule: str) -> dict[str, str]:
    """What the columns p_cumulative and end_time of a post-selection table mean under a rule.

    Parameters
    ----------
    rule : str
        'all', 'last', 'none' or a pattern of '-', '+', '?' (one character per round).

    Returns
    -------
    dict of str to str
        {'p_cumulative': text, 'end_time': text}, one line each.
    """
    if rule == "all":
        pc = "P(records of rounds 1..k all -1), the yield after k rounds"
    elif rule == "last":
        pc = "P(record of round k is -1), whatever the earlier records"
    elif rule == "none":
        pc = "1 (rule 'none' keeps every run)"
    else:
        pc = f"P(records of rounds 1..k match the first k characters of {rule!r})"
    return {
        "p_cumulative": pc,
        "end_time": "output time where singlet_post is read: the last before round k + 1 (the final one for the last)",
    }


# ---- building tables ---------------------------------------------------------------------------
def round_end_indices(protocol: Protocol) -> np.ndarray:
    """Index into ``protocol.times`` of each round's end (see :class:`PostSelectionTable`); (rounds,) int.

    -1 where no output time lies in [measure_at[k], measure_at[k+1]) (e.g. two rounds at one instant);
    a monitored round's times are those of its record (the end of its window).
    """
    times, meas = protocol.times, protocol.record_times
    out = np.full(meas.size, -1, np.int64)
    for k, start in enumerate(meas):
        stop = meas[k + 1] if k + 1 < meas.size else np.inf
        inside = np.flatnonzero((times >= start) & (times < stop))
        if inside.size:
            out[k] = inside[-1]
    return out


def pick(values: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """``values[idx]`` (rounds,) float, NaN where idx is -1 (no output time in the round)."""
    out = np.full(idx.shape, np.nan)
    ok = idx >= 0
    out[ok] = values[idx[ok]]
    return out


#: display format of each column a result's table may have
FORMATS = {
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


def inverse(p: np.ndarray) -> np.ndarray:
    """1 / p elementwise: inf where p = 0, NaN where p is NaN."""
    p = np.asarray(p, float)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(p > 0, 1.0 / np.where(p > 0, p, 1.0), np.where(np.isnan(p), np.nan, np.inf))
