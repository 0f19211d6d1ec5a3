"""The rows of a sweep's table: each point's exact quantities and their Monte Carlo estimates with
standard errors and intervals (documented in :func:`darkspin.analysis.studies.sweep`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from ...ensemble import MasterEquationResult, MonteCarloResult, mean_interval, solve_many, wilson_interval
from ...ensemble.statistics.intervals import CONFIDENCE
from ...trajectories.plan import Model
from ...trajectories.protocol import Protocol
from ..measures import concurrence
from .axes import Point, _axis_column
from .derived import DerivedValue
from .table import SweepTable

#: Relative step of the finite differences for the concurrence's standard error.
_FD_STEP = 1e-6


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
    for r, f, c in zip(results, fid, conc, strict=True):
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
def _binomial(k: float, n: float) -> tuple[float, float, float, float]:
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
    steps: list[np.ndarray] = []
    errs = []
    for i in range(d):
        for j in range(i, d):
            for part in (1.0,) if i == j else (1.0, 1j):
                e = np.zeros((d, d), complex)
                e[i, j] += part * h
                if i != j:
                    e[j, i] += np.conj(part) * h
                steps.append(e)
                errs.append(rho_se[i, j])
    shifts = np.array(steps)
    plus, minus = concurrence(rho + shifts), concurrence(rho - shifts)
    grad = (np.asarray(plus) - np.asarray(minus)) / (2 * h)
    return float(np.sum(np.abs(grad) * np.asarray(errs)))


def _mc_row(res: MonteCarloResult, target: np.ndarray, singlet: bool) -> dict[str, Any]:
    """mc_ columns of one Monte Carlo result: name -> (value, se, lo, hi), plus p_success rows."""
    n_post = int(res.n_post[-1])
    # the singlet: the kernel's own sums with their exact standard error; else the bound of expect
    e = res.population("S") if singlet else res.expect(np.outer(target, target.conj()))
    m, se = float(np.real(e.value_post[-1])), float(e.se_post[-1])
    lo, hi = mean_interval(m if math.isfinite(m) else math.nan, se, n_post, CONFIDENCE)
    row: dict[str, Any] = {"fidelity_post": (m, se, lo, hi)}
    R = res.protocol.rounds
    row["yield"] = _binomial(res.n_success[-1], res.ntraj) if R else _binomial(res.ntraj, res.ntraj)
    trials = np.concatenate([[res.ntraj], res.n_success[:-1]]) if R else np.zeros(0)
    row["p_success"] = [_binomial(res.n_kept[k], trials[k]) for k in range(R)]
    rho = np.asarray(res.rho_post[-1])
    if rho.shape == (4, 4) and n_post > 0 and np.all(np.isfinite(rho)):
        c = float(concurrence(rho))
        assert res.rho_post_se is not None  # always set on trajectory results
        cse = _concurrence_se(rho, np.nan_to_num(np.asarray(res.rho_post_se[-1]), nan=0.5)) if n_post > 1 else 0.5
        clo, chi = mean_interval(min(max(c, 0.0), 1.0), cse, n_post, CONFIDENCE)
        row["concurrence_post"] = (c, cse, clo, chi)
    else:
        row["concurrence_post"] = (math.nan,) * 4
    return row


def _table(
    names: list[str],
    values: list[list],
    points: Sequence[Point],
    rows: Sequence[dict[str, Any]],
    mc: Sequence[MonteCarloResult | None],
    ntraj: int,
    target: np.ndarray,
    singlet: bool,
    seed: int,
    crn: bool,
    paired: bool,
    interrupted: bool,
) -> SweepTable:
    """The sweep's table from the points' exact rows and Monte Carlo results (None: not run)."""
    n = len(points)
    cols: dict[str, Any] = {}
    for a, name in enumerate(names):
        cols[name] = _axis_column(name, [values[a][c[a]] for c, _, _ in points])
    derived = []  # the fields a derived axis sets, each a column unless it is an axis itself
    for a in range(len(names)):
        first = values[a][0]
        for field in first.fields if isinstance(first, DerivedValue) else ():
            if field not in cols:
                cols[field] = _axis_column(field, [values[a][c[a]].fields[field] for c, _, _ in points])
                derived.append(field)
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
        "paired": paired,
        "confidence": CONFIDENCE,
        "interrupted": interrupted,
        "target": "singlet" if singlet else "target_state",
    }
    if derived:
        meta["derived"] = " ".join(derived)
    return SweepTable(names, cols, meta)
