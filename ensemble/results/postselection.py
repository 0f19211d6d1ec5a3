"""The per-round post-selection table and the pieces its columns are built from.

Each result builds its own table (:meth:`MonteCarloResult.postselection
<darkspin.ensemble.results.monte_carlo.MonteCarloResult.postselection>`: counts, intervals, standard
errors; :meth:`MasterEquationResult.postselection
<darkspin.ensemble.results.master_equation.MasterEquationResult.postselection>`: exact probabilities, no
counts or errors) from the helpers here: where each round ends, picking values there, and the formats.
"""

from __future__ import annotations

import json
import math
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from ...trajectories.protocol import Protocol


# ---- the table ---------------------------------------------------------------------------------
class ColumnError(KeyError, ValueError):
    """Unknown or duplicate column name (a KeyError for mapping-style access, a ValueError for callers)."""

    def __str__(self):  # KeyError would print the repr of the message
        return str(self.args[0]) if self.args else ""


def _json_value(x):
    """A JSON-safe scalar: int, float, None for NaN, 'inf' / '-inf' for infinities."""
    if isinstance(x, (bool, np.bool_)):
        return bool(x)
    if isinstance(x, (int, np.integer)):
        return int(x)
    x = float(x)
    if math.isnan(x):
        return None
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    return x


def _from_json_value(x):
    if x is None:
        return math.nan
    if isinstance(x, str):
        return {"inf": math.inf, "-inf": -math.inf}[x]
    return x


def _fmt(value, spec: str) -> str:
    if isinstance(value, (float, np.floating)):
        if math.isnan(value):
            return "-"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
    try:
        return format(value, spec)
    except (ValueError, TypeError):
        return str(value)


class PostSelectionTable:
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

    def __init__(
        self,
        columns: Mapping[str, ArrayLike] | Iterable[tuple[str, ArrayLike]],
        formats: Mapping[str, str] | None = None,
        meta: Mapping[str, Any] | None = None,
    ) -> None:
        cols = OrderedDict()
        length = None
        for name, values in OrderedDict(columns).items():
            arr = np.array(values)
            if arr.ndim != 1:
                raise ValueError(f"column {name!r} must be 1-d, got shape {arr.shape}")
            if length is None:
                length = arr.size
            elif arr.size != length:
                raise ValueError(f"column {name!r} has {arr.size} rows, expected {length}")
            arr.setflags(write=False)
            cols[str(name)] = arr
        self._columns = cols
        self._formats = {name: (formats or {}).get(name, ".4g") for name in cols}
        self.meta = dict(meta or {})

    # ---- mapping-style access ----
    @property
    def names(self) -> list[str]:
        """Column names in order."""
        return list(self._columns)

    @property
    def formats(self) -> dict[str, str]:
        """Format spec (for :func:`format`) of each column."""
        return dict(self._formats)

    def __len__(self) -> int:
        return next(iter(self._columns.values())).size if self._columns else 0

    def __contains__(self, name: object) -> bool:
        return name in self._columns

    def __getitem__(self, name: str) -> np.ndarray:
        """The column ``name`` as a read-only 1-d array."""
        try:
            return self._columns[name]
        except KeyError:
            raise ColumnError(f"no column {name!r}; columns are {self.names}") from None

    def add_column(self, name: str, values: ArrayLike, fmt: str = ".4g") -> PostSelectionTable:
        """A new table with one more column (values: length len(self)); ``fmt`` is a format spec."""
        if name in self._columns:
            raise ColumnError(f"column {name!r} exists already")
        arr = np.array(values)
        if arr.shape != (len(self),):
            raise ValueError(f"values for column {name!r} must have shape ({len(self)},), got {arr.shape}")
        cols = OrderedDict(self._columns)
        cols[name] = arr
        return PostSelectionTable(cols, {**self._formats, name: fmt}, self.meta)

    def rows(self) -> list[dict]:
        """One dict per round, column name -> Python scalar (NaN / inf kept as floats)."""
        return [{name: col[i].item() for name, col in self._columns.items()} for i in range(len(self))]

    # ---- serialisation ----
    def to_dict(self) -> dict:
        """JSON-serialisable form: {'meta', 'columns': {name: list}, 'formats'}; NaN -> None, inf -> 'inf'."""
        return {
            "meta": {k: _json_value(v) if not isinstance(v, str) else v for k, v in self.meta.items()},
            "columns": {name: [_json_value(x) for x in col.tolist()] for name, col in self._columns.items()},
            "formats": dict(self._formats),
        }

    @classmethod
    def from_dict(cls, data: dict) -> PostSelectionTable:
        """Inverse of :meth:`to_dict` (also after a JSON round trip)."""
        try:
            cols = OrderedDict(
                (name, [_from_json_value(x) for x in values]) for name, values in data["columns"].items()
            )
            meta = {
                k: _from_json_value(v) if v is None or v in ("inf", "-inf") else v
                for k, v in data.get("meta", {}).items()
            }
            return cls(cols, data.get("formats"), meta)
        except (KeyError, AttributeError, TypeError) as exc:
            raise ValueError(f"data is not a PostSelectionTable dict ({exc!r})") from None

    def to_json(self, **kwargs: Any) -> str:
        """``json.dumps(self.to_dict())``."""
        return json.dumps(self.to_dict(), **kwargs)

    # ---- display ----
    def _groups(self):
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

    def _cell(self, members, i) -> str:
        vals = [_fmt(self._columns[m][i], self._formats[m]) for m in members]
        if len(members) == 3:
            return f"{vals[0]} [{vals[1]}, {vals[2]}]"
        if len(members) == 2:
            return f"{vals[0]} +- {vals[1]}"
        return vals[0]

    def __str__(self) -> str:
        groups = self._groups()
        headers = [h for h, _ in groups]
        body = [[self._cell(m, i) for _, m in groups] for i in range(len(self))]
        widths = [max([len(h)] + [len(r[j]) for r in body]) for j, h in enumerate(headers)]
        lines = []
        kind = self.meta.get("kind")
        if kind == "monte_carlo":
            lines.append(
                f"Post-selection statistics, {self.meta.get('ntraj')} trajectories "
                f"(intervals: Wilson for counts, ensemble.intervals.mean_interval for means)"
            )
        elif kind == "exact":
            lines.append("Post-selection statistics, exact (master equation)")
        lines.append("  ".join(h.rjust(w) for h, w in zip(headers, widths, strict=True)))
        lines.append("  ".join("-" * w for w in widths))
        lines += ["  ".join(c.rjust(w) for c, w in zip(r, widths, strict=True)) for r in body]
        if self.meta.get("instruments"):
            lines.append(f"Rounds: {self.meta['instruments']}")
        return "\n".join(lines)

    def __repr__(self):
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
