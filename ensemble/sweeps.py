"""Parameter sweeps: the exact protocol solution (and optionally trajectories) at every point of a grid
of model and protocol parameters, collected in one table.

    table = ds.sweep(model, protocol, {"lam2": [0.0126, 0.011], "readout_error": [0, 0.05, 0.1]}, ntraj=10_000)
    print(table); table.to_csv("sweep.csv")

Seeds and common random numbers
-------------------------------
Trajectory j of a point is drawn from the random stream (point seed, j), as in :func:`simulate`.

* Independent streams (default): point i uses the seed derived from (seed, i) by :func:`point_seed`,
  ``numpy.random.SeedSequence([seed, i]).generate_state(1, numpy.uint64)[0]``. The estimates of different
  points are statistically independent, so the variance of a difference of two points is the sum of their
  variances: se(a - b)^2 = se(a)^2 + se(b)^2.
* ``common_random_numbers=True``: every point uses ``seed`` itself (so each point equals
  ``simulate(model_i, protocol_i, ntraj, seed)``), and trajectory j sees the same random numbers at every
  point. Nearby points then give positively correlated estimates, and
  se(a - b)^2 = se(a)^2 + se(b)^2 - 2 cov(a, b) is smaller, often much smaller: differences and the shape
  of a curve are less noisy, while each point's own error is unchanged. The per-point ``_se`` columns
  and intervals stay valid for each point alone; they must not be combined as if independent (adding the
  variances overstates the error of a difference; it never understates it, as long as the correlation is
  positive, which it is for small parameter steps but is not guaranteed for large ones).
"""

from __future__ import annotations

import builtins
import csv
import dataclasses
import hashlib
import io
import itertools
import json
import math
import os
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from ..trajectories.checks import check_count
from ..trajectories.entanglement import concurrence
from ..trajectories.measurement import Measurement
from ..trajectories.operators import basis_state, target_vector
from ..trajectories.plan import Model, check_model
from ..trajectories.protocol import MAX_ROUNDS, Protocol
from .exact.batch import solve_many
from .montecarlo.files import check_exact_types, check_path, load, model_members
from .montecarlo.simulation import (
    _as_executor,
    _check_resume,
    _in_flight,
    _plain,
    check_options,
    resolve_seed,
    simulate,
)
from .results.master_equation import MasterEquationResult
from .results.monte_carlo import MonteCarloResult
from .statistics.intervals import CONFIDENCE, mean_interval, wilson_interval

#: Protocol fields that can be swept, then the fields of the measurement applied to every round.
PROTOCOL_AXES = ("initial", "measure_at", "times", "postselect", "rounds", "measurement")
MEASUREMENT_AXES = ("readout_error", "observable", "feedback")
#: Most points a sweep may have (checked before anything is built).
MAX_POINTS = 10**6
#: Format tag of a sweep directory's manifest.
MANIFEST_FORMAT = "darkspin-sweep-1"
MANIFEST_NAME = "sweep-manifest.json"
#: Relative step of the finite differences for the concurrence's standard error.
_FD_STEP = 1e-6


# ---- seeds -------------------------------------------------------------------------------------
def point_seed(seed: int, index: int) -> int:
    """The seed of point ``index`` of a sweep with ``seed`` (independent streams): an int in [0, 2**64),
    ``numpy.random.SeedSequence([seed, index]).generate_state(1, numpy.uint64)[0]``."""
    return int(np.random.SeedSequence([int(seed), int(index)]).generate_state(1, np.uint64)[0])


# ---- the table ---------------------------------------------------------------------------------
class SweepTable:
    """One row per sweep point, one column per axis, then the exact and (with trajectories) Monte Carlo
    columns.

    axes:    the axis names, in the order given (the first varies slowest on a grid).
    columns: name -> read-only 1-d array of length len(table): the axis columns (numbers as float64,
             ``rounds`` as int64, other values such as schedules or instruments as text), then
             fidelity_post, yield, p_success_1 .. p_success_R, concurrence_post, and with trajectories
             mc_ntraj and mc_X, mc_X_se, mc_X_lo, mc_X_hi for each X above (see :func:`sweep`).
    meta:    plain settings of the run (seed, ntraj, common_random_numbers, zip, confidence, interrupted).
    """

    def __init__(self, axes: Sequence[str], columns: Mapping[str, Any], meta: Mapping | None = None):
        self.axes = tuple(str(a) for a in axes)
        cols: dict[str, np.ndarray] = {}
        length = None
        for name, values in columns.items():
            arr = np.array(values)
            if arr.ndim != 1:
                raise ValueError(f"column {name!r} must be 1-d, got shape {arr.shape}")
            if length is not None and arr.size != length:
                raise ValueError(f"column {name!r} has {arr.size} rows, expected {length}")
            length = arr.size
            arr.setflags(write=False)
            cols[str(name)] = arr
        missing = [a for a in self.axes if a not in cols]
        if missing:
            raise ValueError(f"axes {missing} have no column")
        self.columns = cols
        self.meta = dict(meta or {})

    @property
    def interrupted(self) -> bool:
        """True if the sweep was interrupted (Ctrl-C): unfinished points have mc_ntraj < ntraj."""
        return bool(self.meta.get("interrupted", False))

    @property
    def names(self) -> list[str]:
        return list(self.columns)

    def __len__(self) -> int:
        return next(iter(self.columns.values())).size if self.columns else 0

    def __contains__(self, name) -> bool:
        return name in self.columns

    def __getitem__(self, name: str) -> np.ndarray:
        try:
            return self.columns[name]
        except KeyError:
            raise KeyError(f"no column {name!r}; columns are {self.names}") from None

    @property
    def rows(self) -> list[dict]:
        """One dict per point: column name -> Python scalar (NaN kept as a float)."""
        return [{k: v[i].item() for k, v in self.columns.items()} for i in range(len(self))]

    def to_dict(self) -> dict[str, list]:
        """{column name: list of Python scalars} (NaN kept as float('nan'))."""
        return {k: v.tolist() for k, v in self.columns.items()}

    def to_csv(self, path=None) -> str:
        """The table as CSV text (a header row, then one row per point; floats written exactly, as
        Python's repr: 'nan' for NaN). With ``path`` (str or os.PathLike) also written to that file."""
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(self.names)
        for row in self.rows:
            writer.writerow([repr(v) if isinstance(v, float) else v for v in row.values()])
        text = buf.getvalue()
        if path is not None:
            with open(os.fspath(check_path("path", path)), "w", encoding="utf-8", newline="") as fh:
                fh.write(text)
        return text

    def to_pandas(self):
        """A pandas.DataFrame of the columns (pandas is optional: ImportError with advice if missing)."""
        try:
            import pandas as pd
        except ImportError:
            raise ImportError(
                "SweepTable.to_pandas needs pandas, which darkspin does not require: pip install pandas "
                "(or use table.to_dict() / table.to_csv())"
            ) from None
        return pd.DataFrame({k: np.array(v) for k, v in self.columns.items()})

    def __str__(self) -> str:
        def cell(v) -> str:
            if isinstance(v, (float, np.floating)):
                return "-" if math.isnan(v) else format(float(v), ".6g")
            return str(v)

        names = self.names
        body = [[cell(v) for v in (self.columns[n][i] for n in names)] for i in range(len(self))]
        widths = [max([len(n)] + [len(r[j]) for r in body]) for j, n in enumerate(names)]
        numeric = [self.columns[n].dtype.kind in "iuf" for n in names]

        def line(cells):
            return "  ".join(
                c.rjust(w) if num else c.ljust(w) for c, w, num in zip(cells, widths, numeric, strict=True)
            )

        return "\n".join([line(names), *(line(r) for r in body)]).rstrip() if names else "(empty sweep table)"

    def __repr__(self) -> str:
        return f"SweepTable({len(self)} points, axes={self.axes}, {len(self.columns)} columns)"


# ---- axes --------------------------------------------------------------------------------------
def _short(value) -> str:
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, np.ndarray):
        return repr(value.tolist()) if value.size <= 8 else f"an array of shape {value.shape}"
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _model_fields(model) -> tuple[str, ...]:
    if dataclasses.is_dataclass(model) and not isinstance(model, type):
        return tuple(f.name for f in dataclasses.fields(model))
    return ()


def _axis_text(name: str, value) -> str:
    """How a non-numeric axis value is shown in the table (schedules as space-separated times)."""
    if isinstance(value, Measurement):
        return value.describe()
    if isinstance(value, str):
        return value
    if name == "feedback":
        if value is None:
            return "none"
        if isinstance(value, dict):
            return " ".join(f"{int(r):+d}:{u if isinstance(u, str) else 'matrix'}" for r, u in value.items())
    if name == "readout_error" and np.ndim(value) == 1:
        return "/".join(format(float(x), "g") for x in value)
    if name in ("measure_at", "times"):
        return " ".join(format(float(x), "g") for x in np.asarray(value, float).ravel()) or "none"
    if name == "observable":
        return "matrix"
    if name == "initial":
        return "vector" if np.ndim(value) == 1 else "matrix"
    if name == "measurement":
        return "; ".join(m.describe() for m in value)
    return _short(value)


def _axis_column(name: str, values: list) -> np.ndarray:
    """The table column of an axis: float64 for real numbers, int64 for rounds, else text."""
    if name == "rounds":
        return np.array([int(v) for v in values], np.int64)
    numeric = all(
        isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, (bool, np.bool_)) for v in values
    )
    if numeric and name not in ("postselect",):
        return np.array([float(v) for v in values], float)
    return np.array([_axis_text(name, v) for v in values], dtype=str)


def _check_flag(name: str, value) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise ValueError(f"{name} must be True or False, got {_plain(value)!r}")
    return bool(value)


def _check_spacing(spacing) -> float | None:
    if spacing is None:
        return None
    if (
        isinstance(spacing, (bool, np.bool_))
        or not isinstance(spacing, (int, float, np.integer, np.floating))
        or not math.isfinite(spacing)
        or spacing <= 0
    ):
        raise ValueError(f"spacing must be None or a finite number > 0 (a time), got {_plain(spacing)!r}")
    return float(spacing)


def _accepted(model) -> str:
    fields = _model_fields(model)
    model_part = f"model: {', '.join(fields)}" if fields else f"model: none (a {type(model).__name__} has no fields)"
    return f"{model_part}; protocol: {', '.join(PROTOCOL_AXES)}; measurement: {', '.join(MEASUREMENT_AXES)}"


def _check_axes(model, axes) -> tuple[list[str], list[list]]:
    """Axis names and value lists, checked for names, emptiness and conflicts (not yet for values)."""
    if not isinstance(axes, Mapping):
        raise ValueError(f"axes must be a mapping {{name: list of values}}, got {type(axes).__name__}")
    if not axes:
        raise ValueError(f"axes must name at least one parameter ({_accepted(model)})")
    fields = _model_fields(model)
    names, values = [], []
    for name, vals in axes.items():
        if not isinstance(name, str):
            raise ValueError(f"axis names must be strings, got {name!r}")
        if name not in fields and name not in PROTOCOL_AXES + MEASUREMENT_AXES:
            hint = ""
            if not fields:
                hint = (
                    f" (a {type(model).__name__} has no named parameters: build one model per point and "
                    "sweep only protocol axes, or use a SpinPair)"
                )
            raise ValueError(f"unknown axis {name!r}{hint}; accepted: {_accepted(model)}")
        if isinstance(vals, (str, bytes, Mapping)) or not isinstance(vals, (Sequence, np.ndarray, range)):
            raise ValueError(f"axis {name!r} must be a list of values, got {_short(vals)}")
        vals = list(vals)
        if not vals:
            raise ValueError(f"axis {name!r} is empty: give at least one value")
        names.append(name)
        values.append(vals)
    if "rounds" in names and "measure_at" in names:
        raise ValueError("axes 'rounds' and 'measure_at' exclude each other (both set the measurement times)")
    both = [a for a in MEASUREMENT_AXES if a in names]
    if "measurement" in names and both:
        raise ValueError(f"axis 'measurement' excludes the measurement fields {both} (it sets the whole instrument)")
    return names, values


def _rounds_schedule(value, protocol: Protocol, spacing: float | None) -> np.ndarray:
    """measure_at for ``rounds = value``: k * spacing (default: the protocol's first time measure_at[0])."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)) or value < 0:
        raise ValueError(f"rounds must be an integer >= 0, got {_short(value)}")
    step = spacing
    if step is None:
        if protocol.rounds == 0 or protocol.measure_at[0] <= 0:
            raise ValueError(
                "rounds: give spacing= (the time between rounds); the protocol's first measurement time "
                f"{'does not exist' if protocol.rounds == 0 else 'is 0'}, so it cannot set the spacing"
            )
        step = float(protocol.measure_at[0])
    top = min(int(math.floor(protocol.t_final / step + 1e-12)), MAX_ROUNDS)
    if value > top:
        raise ValueError(
            f"rounds = {int(value)} with spacing {step:g} measures at up to {int(value) * step:g}, after the final "
            f"time {protocol.t_final:g}; accepted: 0 to {top}"
        )
    return step * np.arange(1, int(value) + 1, dtype=float)


def _new_measurement(m: Measurement, changes: dict) -> Measurement:
    if not changes:
        return m
    return Measurement(
        changes.get("observable", m.observable),
        changes.get("readout_error", m.readout_error),
        changes["feedback"] if "feedback" in changes else (m.feedback or None),
    )


def _make_point(model, protocol: Protocol, changes: dict, spacing: float | None):
    """The (model, protocol) of one point: the base ones with ``changes`` {axis: value} applied."""
    fields = _model_fields(model)
    mchanges = {k: v for k, v in changes.items() if k in fields}
    point_model = dataclasses.replace(model, **mchanges) if mchanges else model
    pchanges = {k: v for k, v in changes.items() if k not in fields}
    if not pchanges:
        return point_model, protocol
    if "rounds" in pchanges:
        measure_at = _rounds_schedule(pchanges["rounds"], protocol, spacing)
    else:
        measure_at = pchanges.get("measure_at", protocol.measure_at)
    rounds = int(np.size(measure_at))
    if "measurement" in pchanges:
        measurement = pchanges["measurement"]
    else:
        base = list(protocol.measurements)
        if rounds != len(base):
            distinct = list(dict.fromkeys(base))
            if len(distinct) > 1:
                raise ValueError(
                    "the protocol has different instruments in different rounds, so it does not say which "
                    f"instrument {rounds} rounds should use; sweep 'measurement' (one per round) instead"
                )
            base = distinct * rounds if distinct else [Measurement()] * rounds
        mfields = {k: v for k, v in pchanges.items() if k in MEASUREMENT_AXES}
        if mfields:
            one = {m: _new_measurement(m, mfields) for m in dict.fromkeys(base)}
            base = [one[m] for m in base]
        measurement = base[0] if base and all(m is base[0] for m in base) else (base or None)
    point_protocol = Protocol(
        pchanges.get("initial", protocol.rho0),
        measure_at,
        pchanges.get("times", protocol.times),
        measurement=measurement,
        postselect=pchanges.get("postselect", protocol.postselect),
    )
    return point_model, point_protocol


def _points(model, protocol, names, values, zip_axes: bool, spacing):
    """All (index tuple, model, protocol), validated axis by axis and then point by point."""
    # each value alone, so an error names exactly the axis and the value; kept until a point needs it,
    # since a value may only make sense with another axis (a 2-round pattern with rounds = 2)
    alone: dict[tuple[int, int], tuple[str, str]] = {}
    fields = _model_fields(model)
    for a, (name, vals) in enumerate(zip(names, values, strict=True)):
        for j, v in enumerate(vals):
            try:
                m, p = _make_point(model, protocol, {name: v}, spacing)
                check_model(m, p)
            except ValueError as exc:
                alone[(a, j)] = (f"axis {name!r}, value {j + 1} ({_short(v)})", str(exc))
                if len(names) == 1 or name in fields:  # no other axis can make it valid: fail now
                    raise ValueError(": ".join(alone[(a, j)])) from None
    lengths = [len(v) for v in values]
    if zip_axes:
        if len(set(lengths)) > 1:
            shown = ", ".join(f"{n}: {k}" for n, k in zip(names, lengths, strict=True))
            raise ValueError(f"zip=True needs axes of equal length, got {shown}")
        combos = [(j,) * len(names) for j in range(lengths[0])]
    else:
        total = math.prod(lengths)
        if total > MAX_POINTS:
            raise ValueError(f"the grid has {total} points, more than MAX_POINTS = {MAX_POINTS}")
        combos = list(itertools.product(*(range(k) for k in lengths)))
    points = []
    for combo in combos:
        changes = {n: values[a][j] for a, (n, j) in enumerate(zip(names, combo, strict=True))}
        try:
            m, p = _make_point(model, protocol, changes, spacing)
            check_model(m, p)
        except ValueError as exc:
            for a, j in enumerate(combo):
                if alone.get((a, j), ("", None))[1] == str(exc):  # the same failure as the value alone
                    raise ValueError(": ".join(alone[(a, j)])) from None
            shown = ", ".join(f"{n} = {_axis_text(n, v)}" for n, v in changes.items())
            raise ValueError(f"sweep point ({shown}): {exc}") from None
        points.append((combo, m, p))
    return points


def _shown_point(names, values, combo) -> dict[str, str]:
    """{axis: value as text} of one point (stored with its saved files, to check they belong to it)."""
    return {n: _axis_text(n, values[a][j]) for a, (n, j) in enumerate(zip(names, combo, strict=True))}


def check_sweep(
    model: Model, protocol: Protocol, axes: Mapping[str, Sequence], *, zip: bool = False, spacing=None
) -> int:
    """Check a sweep's axes as :func:`sweep` does (names, empty lists, every point built), without any
    work; returns the number of points. ValueError naming the axis, the value and the accepted range."""
    if not isinstance(protocol, Protocol):
        raise ValueError(f"protocol must be a Protocol, got {type(protocol).__name__}")
    check_model(model, protocol)
    names, values = _check_axes(model, axes)
    return len(_points(model, protocol, names, values, _check_flag("zip", zip), _check_spacing(spacing)))


# ---- exact part --------------------------------------------------------------------------------
def _exact_points(models: Sequence[Model], protocols: Sequence[Protocol]) -> list[MasterEquationResult]:
    """The exact solution of every point, from the batched solver (one call for all points)."""
    return list(solve_many(list(models), list(protocols)))


def _exact_rows(results: Sequence[MasterEquationResult], target: np.ndarray) -> list[dict[str, Any]]:
    """fidelity_post, yield, concurrence_post and the list p_success of each exact result (the
    populations and concurrences computed for all points at once)."""
    if not results:
        return []
    rho = np.stack([np.asarray(r.rho_post[-1]) for r in results])
    fid = np.real(np.einsum("i,nij,j->n", target.conj(), rho, target))
    conc = np.atleast_1d(concurrence(rho)) if rho.shape[-1] == 4 else np.full(len(results), math.nan)
    rows = []
    for r, f, c in builtins.zip(results, fid, conc, strict=True):
        p_cum = np.asarray(r.p_cumulative, float)
        rows.append(
            {
                "fidelity_post": float(f),
                "yield": float(p_cum[-1]) if p_cum.size else 1.0,
                "p_success": np.asarray(r.p_success, float).tolist(),
                "concurrence_post": float(c),
            }
        )
    return rows


# ---- Monte Carlo part --------------------------------------------------------------------------
def _binomial(k, n):
    """(p, se, lo, hi) for k successes in n trials: se = sqrt(p (1 - p) / n), Wilson interval."""
    k, n = float(k), float(n)
    if n <= 0:
        return math.nan, math.nan, math.nan, math.nan
    p = k / n
    lo, hi = wilson_interval(k, n, CONFIDENCE)
    return p, math.sqrt(p * (1.0 - p) / n), lo, hi


def _concurrence_se(rho: np.ndarray, rho_se: np.ndarray) -> float:
    """A delta-method bound on the standard error of concurrence(rho) from the element errors.

    C is a function of the real parameters x of the Hermitian rho (Re rho_ij for i <= j, Im rho_ij for
    i < j). With central finite differences g = dC/dx and the standard error se_ij of the complex mean
    rho_ij (which bounds those of its real and imaginary parts), se(C) <= sum |g| se: the triangle
    inequality for standard deviations, valid whatever the correlations between the elements.
    """
    d = rho.shape[0]
    h = _FD_STEP * max(1.0, float(np.max(np.abs(rho))))
    steps, errs = [], []
    for i in range(d):
        for j in range(i, d):
            for part in (1.0,) if i == j else (1.0, 1j):
                e = np.zeros((d, d), complex)
                e[i, j] += part * h
                if i != j:
                    e[j, i] += np.conj(part) * h
                steps.append(e)
                errs.append(rho_se[i, j])
    steps = np.array(steps)
    plus, minus = concurrence(rho + steps), concurrence(rho - steps)
    grad = (np.asarray(plus) - np.asarray(minus)) / (2 * h)
    return float(np.sum(np.abs(grad) * np.asarray(errs)))


def _mc_row(res: MonteCarloResult, target: np.ndarray, singlet: bool) -> dict[str, Any]:
    """mc_ columns of one Monte Carlo result: name -> (value, se, lo, hi), plus p_success rows."""
    n_post = int(res.n_post[-1])
    if singlet:
        m, se = float(res.singlet_post[-1]), float(res.singlet_post_se[-1])
    else:
        e = res.expect(np.outer(target, target.conj()))
        m, se = float(np.real(e.value_post[-1])), float(e.se_post[-1])
    lo, hi = mean_interval(m if math.isfinite(m) else math.nan, se, n_post, CONFIDENCE)
    row = {"fidelity_post": (m, se, lo, hi)}
    R = res.protocol.rounds
    row["yield"] = _binomial(res.n_success[-1], res.ntraj) if R else _binomial(res.ntraj, res.ntraj)
    trials = np.concatenate([[res.ntraj], res.n_success[:-1]]) if R else np.zeros(0)
    row["p_success"] = [_binomial(res.n_kept[k], trials[k]) for k in range(R)]
    rho = np.asarray(res.rho_post[-1])
    if rho.shape == (4, 4) and n_post > 0 and np.all(np.isfinite(rho)):
        c = float(concurrence(rho))
        cse = _concurrence_se(rho, np.nan_to_num(np.asarray(res.rho_post_se[-1]), nan=0.5)) if n_post > 1 else 0.5
        clo, chi = mean_interval(min(max(c, 0.0), 1.0), cse, n_post, CONFIDENCE)
        row["concurrence_post"] = (c, cse, clo, chi)
    else:
        row["concurrence_post"] = (math.nan,) * 4
    return row


# ---- directory (saving and resuming) -----------------------------------------------------------
def _digest(arrays: Mapping[str, np.ndarray], h) -> None:
    for name in sorted(arrays):
        a = np.ascontiguousarray(arrays[name])
        h.update(f"{name}|{a.dtype.str}|{a.shape}|".encode())
        h.update(a.tobytes())


def _points_hash(points) -> str:
    h = hashlib.sha256()
    for _, m, p in points:
        _digest(model_members(m), h)
        _digest(p.as_dict(), h)
    return h.hexdigest()


def _json_number(x):
    x = float(x)
    return None if math.isnan(x) else x


def _atomic_write(path: str, text: str) -> None:
    tmp = f"{path}.{os.getpid()}.part"
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.write(text)
    os.replace(tmp, path)


def _open_directory(directory, manifest: dict, seed_given: bool) -> tuple[str, dict]:
    """Create or check the sweep directory; returns its path and the manifest in force (its seed is
    the directory's when ``seed_given`` is False). ValueError for a directory of another sweep."""
    path = check_path("directory", directory)
    if os.path.exists(path) and not os.path.isdir(path):
        raise ValueError(f"directory {path!r} exists and is not a folder")
    file = os.path.join(path, MANIFEST_NAME)
    if os.path.isdir(path) and os.path.exists(file):
        try:
            with open(file, encoding="utf-8") as fh:
                old = json.load(fh)
        except (OSError, ValueError) as exc:
            raise ValueError(f"directory {path!r}: {MANIFEST_NAME} cannot be read ({exc})") from None
        if not isinstance(old, dict) or old.get("format") != MANIFEST_FORMAT:
            raise ValueError(f"directory {path!r}: {MANIFEST_NAME} is not a {MANIFEST_FORMAT} manifest")
        if not seed_given:
            manifest = {**manifest, "seed": old.get("seed")}
        diffs = []
        for key in sorted(set(manifest) | set(old)):
            if manifest.get(key) != old.get(key):
                if key == "points_sha256":
                    diffs.append("the points' models or protocols differ")
                else:
                    diffs.append(f"{key}: {_short(old.get(key))} there, {_short(manifest.get(key))} here")
        if diffs:
            raise ValueError(
                f"directory {path!r} holds another sweep ({'; '.join(diffs)}): use another directory, or empty it"
            )
        return path, manifest
    if os.path.isdir(path) and any(n.startswith("point-") for n in os.listdir(path)):
        raise ValueError(f"directory {path!r} holds point files but no {MANIFEST_NAME}: use another directory")
    try:
        os.makedirs(path, exist_ok=True)
        _atomic_write(file, json.dumps(manifest, indent=1, sort_keys=True))
    except OSError as exc:
        raise ValueError(f"directory {path!r} cannot be used ({exc.strerror or exc})") from None
    return path, manifest


def _load_exact_row(file: str, index: int, shown: dict) -> dict | None:
    try:
        with open(file, encoding="utf-8") as fh:
            data = json.load(fh)
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise ValueError(f"sweep point file {file!r} cannot be read ({exc})") from None
    if not isinstance(data, dict) or data.get("index") != index or data.get("point") != shown:
        raise ValueError(f"sweep point file {file!r} belongs to another point")
    row = data["exact"]
    for key in ("fidelity_post", "yield", "concurrence_post"):
        row[key] = math.nan if row[key] is None else float(row[key])
    row["p_success"] = [math.nan if x is None else float(x) for x in row["p_success"]]
    return row


# ---- the sweep ---------------------------------------------------------------------------------
def sweep(
    model: Model,
    protocol: Protocol,
    axes: Mapping[str, Sequence],
    *,
    zip: bool = False,
    ntraj: int = 0,
    seed: int | None = None,
    executor=None,
    target_se: float | None = None,
    max_ntraj: int | None = None,
    target_state=None,
    common_random_numbers: bool = False,
    directory=None,
    progress: bool = True,
    spacing: float | None = None,
    batch_size: int | None = None,
) -> SweepTable:
    """The exact solution, and with ``ntraj > 0`` trajectories, at every point of a parameter sweep.

    model, protocol: the base point. axes: {name: list of values}; a name is
        * a field of the model (a SpinPair's nu, V, T, lam1, lam2, theta, phi, J_ex, J_DM; energies in the
          model's unit). A LindbladModel has no named fields: sweep it over protocol axes only;
        * a protocol field: "initial" (labels, vectors or matrices), "measure_at" (a list of schedules,
          each a list of times), "times" (a list of output grids), "postselect" (rules), "measurement"
          (a Measurement, or a list with one per round), or "rounds" (numbers of rounds R >= 0, measured at
          k * spacing for k = 1 .. R; spacing None: the protocol's first time measure_at[0], e.g. rounds = 3
          -> 100, 200, 300 for the paper's protocol);
        * a field of the instrument, applied to every round: "readout_error" (a probability or a pair
          (eps_plus, eps_minus)), "observable", "feedback".
      The axes form a grid (first axis slowest, like itertools.product) or, with ``zip=True``, are paired
      (equal lengths). Everything is checked before any work: unknown names, empty lists, and every
      point is built, so an out-of-range value raises ValueError naming the axis, the value and the
      accepted range.
    ntraj: trajectories per point (0: the exact solution only); with ``target_se`` (and ``max_ntraj``)
      as in :func:`simulate`: each point runs until the standard error of its post-selected singlet
      population at the final time is below target_se.
    seed: integer in [0, 2**64) or None (drawn, then stored in ``table.meta['seed']``); see the module
      docstring for how each point's seed follows from it and what ``common_random_numbers`` changes.
    executor: None (in-process Numba threads), a concurrent.futures.Executor or a Dask client; it runs
      each point's batches (points run one after another; with an executor and no batch_size, a point is
      split into about two batches per worker, at least 1000 trajectories each).
    target_state: the state whose post-selected population is ``fidelity_post``: None (the singlet,
      two spins), a label ('S', 'T1', 'T2', 'T3', 'uu', 'ud', 'du', 'dd') or a d-vector (normalised here).
    directory: a folder (created if needed) where every finished point is saved (point-NNNNNN.json: the
      exact row; point-NNNNNN.npz: the Monte Carlo result, saved after every batch); a rerun with the same
      directory skips finished points and resumes an interrupted one. A manifest records the sweep (its
      points, ntraj, seed, options); a directory of another sweep is refused. seed=None takes the
      directory's seed.
    progress: one tqdm bar over the points of the Monte Carlo part.
    batch_size: trajectories per batch (see :func:`simulate`); never changes the result.

    Returns a :class:`SweepTable` with one row per point: the axis columns, then from the exact solver
        fidelity_post     <t|rho_post|t> at the final output time (t the target state)
        yield             final p_cumulative: the probability that a run is post-selected (1 with no rounds)
        p_success_k       p_success of round k, k = 1 .. R (NaN where a point has fewer than k rounds)
        concurrence_post  concurrence of rho_post at the final output time (NaN unless d = 4)
    and with ntraj > 0 the number of trajectories ``mc_ntraj`` and the same quantities from trajectories,
    prefixed ``mc_``, each with ``_se`` (standard error) and ``_lo``, ``_hi`` (a 95 % interval):
        mc_fidelity_post  the target population of the post-selected runs. For the singlet the kernel's
                          exact sample standard error; for other targets the bound of
                          :meth:`ProtocolResult.expect` (conservative). Interval: :func:`mean_interval`
                          (valid at 0 and 1, never of zero width).
        mc_yield, mc_p_success_k  binomial proportions: se sqrt(p (1 - p) / n), Wilson intervals.
        mc_concurrence_post  concurrence of the estimated rho_post (biased at order 1/n_post: the concurrence
                          is not linear in rho). Its se is a delta-method bound: central finite differences
                          of C with respect to each real parameter of rho_post, times that element's
                          standard error, summed in absolute value (valid for any correlations between the
                          elements, so conservative where C is smooth; at the kink C = 0 it is a one-sided
                          slope average). The interval is :func:`mean_interval` of (C, se, n_post): an
                          approximation that is never of zero width, not a calibrated interval.
    Results are bit-identical for any executor, batch_size, and interruption followed by a resume.

    Ctrl-C during the trajectories stops the sweep: the finished points (and the interrupted one's
    batches, in ``directory``) are kept, the table is returned with ``table.interrupted`` and a
    RuntimeWarning; its unfinished points have mc_ntraj < ntraj (NaN columns where 0).
    """
    # ---- validate everything before any work ----
    if not isinstance(protocol, Protocol):
        raise ValueError(f"protocol must be a Protocol, got {type(protocol).__name__}")
    d = check_model(model, protocol)
    zip_axes = _check_flag("zip", zip)
    crn = _check_flag("common_random_numbers", common_random_numbers)
    show = _check_flag("progress", progress)
    spacing = _check_spacing(spacing)
    ntraj = check_count("ntraj", ntraj, minimum=0)
    if ntraj == 0:
        for name, value in (("target_se", target_se), ("max_ntraj", max_ntraj), ("batch_size", batch_size)):
            if value is not None:
                raise ValueError(f"{name} needs trajectories (ntraj > 0), got ntraj = 0")
    else:
        ntraj, batch_size, target_se, max_ntraj, _ = check_options(ntraj, batch_size, target_se, max_ntraj)
    seed_given = seed is not None
    seed = resolve_seed(seed)
    ex = _as_executor(executor)
    target = target_vector(target_state, d)
    singlet = d == 4 and abs(abs(np.vdot(basis_state("S"), target)) - 1.0) < 1e-12
    names, values = _check_axes(model, axes)
    points = _points(model, protocol, names, values, zip_axes, spacing)
    shown = [_shown_point(names, values, c) for c, _, _ in points]
    folder = None
    if directory is not None:
        for _, m, p in points:
            check_exact_types(m, p, "directory")
        manifest = {
            "format": MANIFEST_FORMAT,
            "axes": names,
            "zip": zip_axes,
            "points": len(points),
            "points_sha256": _points_hash(points),
            "ntraj": ntraj,
            "seed": seed,
            "common_random_numbers": crn,
            "target_se": target_se,
            "max_ntraj": max_ntraj,
            "target_state": [[float(z.real), float(z.imag)] for z in target],
        }
        folder, manifest = _open_directory(directory, manifest, seed_given)
        seed = int(manifest["seed"])

    def point_file(i: int, ext: str) -> str:
        return os.path.join(folder, f"point-{i:06d}.{ext}")

    # ---- exact part: one batched call for the points not yet saved ----
    rows: list[dict | None] = [None] * len(points)
    if folder is not None:
        rows = [_load_exact_row(point_file(i, "json"), i, shown[i]) for i in range(len(points))]
    todo = [i for i, r in enumerate(rows) if r is None]
    if todo:
        results = _exact_points([points[i][1] for i in todo], [points[i][2] for i in todo])
        for i, row in builtins.zip(todo, _exact_rows(results, target), strict=True):
            rows[i] = row
            if folder is not None:
                data = {
                    "index": i,
                    "point": shown[i],
                    "exact": {
                        k: ([_json_number(x) for x in v] if k == "p_success" else _json_number(v))
                        for k, v in rows[i].items()
                    },
                }
                _atomic_write(point_file(i, "json"), json.dumps(data, allow_nan=False))

    # ---- Monte Carlo part: the points one after another, their batches on the executor ----
    mc: list[MonteCarloResult | None] = [None] * len(points)
    interrupted = False
    if ntraj > 0:
        bsize = batch_size
        if bsize is None and ex is not None:
            bsize = max(1000, math.ceil(ntraj / _in_flight(ex)))
        bar = None
        if show:
            from tqdm.auto import tqdm

            bar = tqdm(total=len(points), unit="point", desc="sweep", dynamic_ncols=True)
        try:
            for i, (_, m, p) in enumerate(points):
                s = seed if crn else point_seed(seed, i)
                path = point_file(i, "npz") if folder is not None else None
                prev = load(path) if path is not None and os.path.exists(path) else None
                if prev is not None and not prev.interrupted:
                    _check_resume(prev, m, p, s)
                    mc[i] = prev
                else:
                    with warnings.catch_warnings():
                        warnings.filterwarnings("ignore", message="interrupted", category=RuntimeWarning)
                        mc[i] = simulate(
                            m,
                            p,
                            ntraj,
                            s,
                            batch_size=bsize,
                            executor=ex,
                            progress=False,
                            target_se=target_se,
                            max_ntraj=max_ntraj,
                            resume=None if prev is None else path,
                            save=path,
                        )
                if bar is not None:
                    bar.update(1)
                    bar.set_postfix(ntraj=mc[i].ntraj, refresh=False)
                if mc[i].interrupted:
                    interrupted = True
                    break
        finally:
            if bar is not None:
                bar.close()
        if interrupted:
            done = sum(1 for r in mc if r is not None and not r.interrupted)
            warnings.warn(
                f"interrupted: {done} of {len(points)} points finished"
                + (f" (saved in {folder}; rerun with the same directory to resume)" if folder else ""),
                RuntimeWarning,
                stacklevel=2,
            )
    return _table(names, values, points, rows, mc, ntraj, target, singlet, seed, crn, zip_axes, interrupted)


def _table(names, values, points, rows, mc, ntraj, target, singlet, seed, crn, zip_axes, interrupted) -> SweepTable:
    n = len(points)
    cols: dict[str, Any] = {}
    for a, name in enumerate(names):
        cols[name] = _axis_column(name, [values[a][c[a]] for c, _, _ in points])
    R = max(p.rounds for _, _, p in points)
    cols["fidelity_post"] = np.array([r["fidelity_post"] for r in rows], float)
    cols["yield"] = np.array([r["yield"] for r in rows], float)
    for k in range(R):
        cols[f"p_success_{k + 1}"] = np.array(
            [r["p_success"][k] if k < len(r["p_success"]) else math.nan for r in rows], float
        )
    cols["concurrence_post"] = np.array([r["concurrence_post"] for r in rows], float)
    if ntraj > 0:
        cols["mc_ntraj"] = np.array([0 if r is None else r.ntraj for r in mc], np.int64)
        blank = (math.nan,) * 4
        mrows = [None if r is None else _mc_row(r, target, singlet) for r in mc]
        quantities = ["fidelity_post", "yield", *(f"p_success_{k + 1}" for k in range(R)), "concurrence_post"]
        for q in quantities:
            block = np.full((n, 4), math.nan)
            for i, mr in enumerate(mrows):
                if mr is None:
                    continue
                if q.startswith("p_success_"):
                    k = int(q.rsplit("_", 1)[1]) - 1
                    block[i] = mr["p_success"][k] if k < len(mr["p_success"]) else blank
                else:
                    block[i] = mr[q]
            for j, suffix in enumerate(("", "_se", "_lo", "_hi")):
                cols[f"mc_{q}{suffix}"] = block[:, j]
    meta = {
        "points": n,
        "ntraj": ntraj,
        "seed": seed,
        "common_random_numbers": crn,
        "zip": zip_axes,
        "confidence": CONFIDENCE,
        "interrupted": interrupted,
        "target": "singlet" if singlet else "target_state",
    }
    return SweepTable(names, cols, meta)
