"""The run report: the per-round table (trajectories next to the exact solution), the comparison, and
the files a run leaves in its folder.

    full_table(mc, exact)        post-selection table with exact and round-end entanglement columns
    exact_protocol_table(exact)  the same per-round table from the exact solution alone
    table_text(table)            the full table as two terminal-width blocks
    summary(...)                 the contents of summary.json (keys: SUMMARY_KEYS)
    write_run_report(...)        postselection.txt, figures and summary.json of a run, into a folder
    save_figure(out, name, fmt, fig), write_text(path, text)   files written whole or not at all

Files of a run folder:
    result.npz         the MonteCarloResult (ensemble.load reads it; saved after every batch)
    summary.json       SUMMARY_KEYS: model (SpinPair parameters), bandwidth (or null), protocol (initial,
                       measure_at, t_final, n_out, and times when the outputs are not n_out evenly spaced
                       times on [0, t_final]), ntraj, seed, n_jumps, postselection (the table's to_dict():
                       trajectory and exact columns, see full_table), comparison (verdict, consistent,
                       max_z, threshold, max_trace_distance, max_trace_distance_post, worst), elapsed_s
                       (this session), resumed_from (trajectories already saved when this session
                       started; null for ``show``), end_condition (why the run stopped, from the
                       library, or null), version, interrupted, config (file or '<default>'), files
    postselection.txt  the per-round table, trajectories and exact, with entanglement columns
    protocol.png, trajectories.png, postselection.png   (or .pdf / .svg)

Length: everything a run folder holds is written here, so its formats are described and kept in one place.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import numpy as np

from ..ensemble.montecarlo.atomic import atomic_write
from ..ensemble.montecarlo.files import package_version
from ..ensemble.results.postselection import PostSelectionTable, round_end_indices
from ..ensemble.statistics.comparison import compare
from ..trajectories.protocol import INITIAL_LABELS, initial_density_matrix
from .measures import concurrence, entanglement_of_formation

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from ..ensemble.results.master_equation import MasterEquationResult
    from ..ensemble.results.monte_carlo import MonteCarloResult
    from ..ensemble.statistics.comparison import Comparison
    from ..trajectories.model import SpinPair
    from ..trajectories.protocol import Protocol

#: Keys of summary.json (``run``; ``show`` writes the same when given --out).
SUMMARY_KEYS = (
    "model",
    "bandwidth",
    "protocol",
    "ntraj",
    "seed",
    "n_jumps",
    "postselection",
    "comparison",
    "elapsed_s",
    "resumed_from",
    "end_condition",
    "version",
    "interrupted",
    "config",
    "files",
)
#: Single runs drawn in trajectories.png (indices 0 .. N-1 of the run's seed).
N_TRAJECTORIES_SHOWN = 5


# ---- tables ------------------------------------------------------------------------------------
def round_end_measures(rho_post: np.ndarray, protocol: Protocol) -> tuple[np.ndarray, np.ndarray]:
    """Concurrence and entanglement of formation of the state at each round's end.

    Parameters
    ----------
    rho_post : ndarray, shape (n, 4, 4)
        The post-selected state at the protocol's n output times.
    protocol : Protocol

    Returns
    -------
    (concurrence, eof) : two ndarrays, shape (rounds,)
        NaN where undefined (no output time in the round, or no post-selected state).
    """
    idx = round_end_indices(protocol)
    if idx.size == 0:
        return np.zeros(0), np.zeros(0)
    rho = np.full((idx.size, 4, 4), np.nan, complex)
    ok = idx >= 0
    rho[ok] = np.asarray(rho_post)[idx[ok]]
    return np.atleast_1d(concurrence(rho)), np.atleast_1d(entanglement_of_formation(rho))


def full_table(mc: MonteCarloResult, exact: MasterEquationResult) -> PostSelectionTable:
    """The Monte Carlo post-selection table with exact columns and round-end entanglement.

    Added columns (rounds,): p_success_exact, p_cumulative_exact, singlet_post_exact; concurrence_post,
    eof_post (trajectories) and concurrence_post_exact, eof_post_exact, of the post-selected state at
    each round's end (see ensemble.results.postselection.round_end_indices). With distributions (the
    table's n_jumped and infidelity columns), also post_selected and n_quiet: the runs the infidelity split
    is over, post-selected right after the round (n_success), and those of them that had not jumped, so
    post_selected = n_quiet + n_jumped. (The column successes counts other runs unless the rule is
    nested: those post-selected both before and after the round, for p_success.)

    Parameters
    ----------
    mc : MonteCarloResult
    exact : MasterEquationResult
        The exact solution of the same model and protocol.

    Returns
    -------
    PostSelectionTable
        One row per round.
    """
    table = mc.postselection()
    if "n_jumped" in table:
        assert mc.distributions is not None  # n_jumped comes from the distributions
        splits = [mc.distributions.split(f"round {k + 1}") for k in range(len(table))]
        table = table.add_column("post_selected", np.array([x.n_post for x in splits], np.int64), "d")
        table = table.add_column("n_quiet", np.array([x.n_quiet for x in splits], np.int64), "d")
    ex = exact.postselection()
    c_mc, ef_mc = round_end_measures(mc.rho_post, mc.protocol)
    c_ex, ef_ex = round_end_measures(exact.rho_post, exact.protocol)
    for name, values, fmt in (
        ("p_success_exact", ex["p_success"], ".2%"),
        ("p_cumulative_exact", ex["p_cumulative"], ".2%"),
        ("singlet_post_exact", ex["singlet_post"], ".5f"),
        ("concurrence_post", c_mc, ".4f"),
        ("concurrence_post_exact", c_ex, ".4f"),
        ("eof_post", ef_mc, ".4f"),
        ("eof_post_exact", ef_ex, ".4f"),
    ):
        table = table.add_column(name, values, fmt)
    return table


def exact_protocol_table(exact: MasterEquationResult) -> PostSelectionTable:
    """Per-round table of the exact solution.

    Parameters
    ----------
    exact : MasterEquationResult

    Returns
    -------
    PostSelectionTable
        Columns round, time, p_success, p_cumulative, end_time, singlet_post, concurrence_post, eof_post
        (the post-selected state at each round's end).
    """
    table = exact.postselection()
    conc, eof = round_end_measures(exact.rho_post, exact.protocol)
    names = ["round", "time", "p_success", "p_cumulative", "end_time", "singlet_post"]
    table = PostSelectionTable({n: table[n] for n in names}, {n: table.formats[n] for n in names}, table.meta)
    return table.add_column("concurrence_post", conc, ".4f").add_column("eof_post", eof, ".4f")


def _block(table: PostSelectionTable, names: Sequence[str]) -> PostSelectionTable:
    return PostSelectionTable({n: table[n] for n in names}, {n: table.formats[n] for n in names}, table.meta)


def table_text(table: PostSelectionTable) -> str:
    """The full table as aligned blocks narrow enough for a terminal.

    Parameters
    ----------
    table : PostSelectionTable
        From :func:`full_table`.

    Returns
    -------
    str
        Counts and probabilities; the post-selected state at each round's end; with distributions, the
        post-selected infidelity split into runs that had not / had jumped.
    """
    first = [
        "round",
        "time",
        "attempts",
        "successes",
        "p_success",
        "p_success_low",
        "p_success_high",
        "p_success_exact",
        "p_cumulative",
        "p_cumulative_low",
        "p_cumulative_high",
        "p_cumulative_exact",
    ]
    second = [
        "round",
        "end_time",
        "singlet_post",
        "singlet_post_low",
        "singlet_post_high",
        "singlet_post_exact",
        "concurrence_post",
        "concurrence_post_exact",
        "eof_post",
        "eof_post_exact",
    ]
    b1 = str(_block(table, first)).splitlines()
    b2 = str(_block(table, second)).splitlines()
    # the rule and instruments line closes the first block only
    rule = [line for line in b1 if line.startswith("Rounds:")]
    b1 = [line for line in b1 if not line.startswith("Rounds:")]
    b2 = [line for line in b2 if not line.startswith("Rounds:")]
    lines = b1 + rule + ["", "Post-selected state at the end of each round (trajectories and exact)"] + b2[1:]
    # the split is over the runs post-selected right after the round (post_selected = n_quiet + n_jumped),
    # not over ``successes`` (runs post-selected before and after it), which differ for rules like 'last'
    third = [
        "round",
        "post_selected",
        "n_quiet",
        "n_jumped",
        "infidelity_post",
        "infidelity_quiet",
        "infidelity_jumped",
    ]
    if all(name in table for name in third):
        b3 = [line for line in str(_block(table, third)).splitlines() if not line.startswith("Rounds:")]
        lines += [
            "",
            "Post-selected infidelity 1 - F right after each round, over the post_selected runs: "
            "n_quiet that had not jumped + n_jumped that had",
        ]
        lines += b3[1:]
    return "\n".join(lines)


def results_text(table: PostSelectionTable | None, cmp: Comparison | None) -> str:
    """What ``run`` and ``show`` print: the table and the comparison (or why there is none).

    Parameters
    ----------
    table : PostSelectionTable or None
        None for a run without trajectories.
    cmp : Comparison or None

    Returns
    -------
    str
    """
    if table is None:
        return "no finished trajectories: nothing to tabulate"
    return f"{table_text(table)}\n\n{cmp}"


# ---- summary.json ------------------------------------------------------------------------------
def comparison_dict(cmp: Comparison) -> dict[str, Any]:
    """A Comparison, JSON-ready.

    Parameters
    ----------
    cmp : Comparison

    Returns
    -------
    dict
        verdict, consistent, max_z (largest single test), threshold and sigma (family-wise), p_value,
        n_tests, records (the G-test of the record strings, or None), max_trace_distance(_post), worst.
    """

    def mx(a: np.ndarray) -> float | None:
        a = np.asarray(a, float)
        a = a[np.isfinite(a)]
        return float(a.max()) if a.size else None

    def num(x: float) -> float | None:
        return float(x) if math.isfinite(x) else None

    rec = getattr(cmp, "records", None)
    records = (
        None
        if rec is None
        else {
            "statistic": num(rec.statistic),
            "dof": int(rec.dof),
            "p_value": num(rec.p_value),
            "cells": int(rec.cells),
        }
    )
    return {
        "verdict": cmp.verdict,
        "consistent": bool(cmp.consistent),
        "max_z": num(cmp.max_z),
        "threshold": cmp.threshold,
        "sigma": num(cmp.sigma),
        "p_value": num(cmp.p_value),
        "n_tests": int(cmp.n_tests),
        "records": records,
        "max_trace_distance": mx(cmp.trace_distance),
        "max_trace_distance_post": mx(cmp.trace_distance_post),
        "worst": {k: (list(v) if isinstance(v, tuple) else v) for k, v in cmp.worst.items()},
    }


def initial_json(protocol: Protocol) -> str | list[list[list[float]]]:
    """The protocol's initial state, JSON-ready.

    Parameters
    ----------
    protocol : Protocol

    Returns
    -------
    str or list
        A basis label if rho0 is one of the named pure states, else the 4x4 matrix as [re, im] pairs.
    """
    for label in INITIAL_LABELS:
        if np.allclose(protocol.rho0, initial_density_matrix(label), atol=1e-12):
            return label
    return [[[float(x.real), float(x.imag)] for x in row] for row in protocol.rho0]


def protocol_json(protocol: Protocol) -> dict[str, Any]:
    """A protocol, JSON-ready.

    Parameters
    ----------
    protocol : Protocol

    Returns
    -------
    dict
        initial, measure_at, t_final, n_out; times, unless they are np.linspace(0, t_final, n_out);
        postselect, instruments (in words) and readout_error ([eps_plus, eps_minus] per round).
    """
    times = np.asarray(protocol.times, float)
    out: dict[str, Any] = {
        "initial": initial_json(protocol),
        "measure_at": [float(t) for t in protocol.measure_at],
        "t_final": float(times[-1]),
        "n_out": int(times.size),
    }
    if not np.array_equal(times, np.linspace(0.0, times[-1], times.size)):
        out["times"] = [float(t) for t in times]
    out["postselect"] = protocol.postselect
    out["instruments"] = protocol.describe()
    out["readout_error"] = [list(m.readout_error) if m.kind != "monitor" else None for m in protocol.measurements]  # type: ignore[union-attr]
    return out


def summary(
    mc: MonteCarloResult,
    exact: MasterEquationResult,
    table: PostSelectionTable | None,
    cmp: Comparison | None,
    *,
    elapsed: float | None,
    config_source: str | None,
    bandwidth: float | None,
    files: list[str],
    resumed_from: int | None = None,
    interrupted: bool | None = None,
) -> dict[str, Any]:
    """The contents of summary.json (keys SUMMARY_KEYS; see the module docstring).

    Parameters
    ----------
    mc : MonteCarloResult
    exact : MasterEquationResult
    table : PostSelectionTable or None
    cmp : Comparison or None
    elapsed : float or None
        Seconds of this session.
    config_source : str or None
        The config file, or '<default>'.
    bandwidth : float or None
        The bandwidth J_ex and J_DM came from.
    files : list of str
        The files written to the folder.
    resumed_from : int or None
        Trajectories saved before this session (None for ``show``).
    interrupted : bool or None
        Override of whether the run was interrupted (the command line counts a Ctrl-C the library did not see).

    Returns
    -------
    dict
    """
    stats = getattr(mc, "stats", None) or {}
    return {
        "model": cast("SpinPair", mc.model).as_dict(),  # the command line runs SpinPair models
        "bandwidth": bandwidth,
        "protocol": protocol_json(mc.protocol),
        "ntraj": int(mc.ntraj),
        "seed": int(mc.seed),
        "n_jumps": int(mc.n_jumps),
        "postselection": None if table is None else table.to_dict(),
        "comparison": None if cmp is None else comparison_dict(cmp),
        "elapsed_s": None if elapsed is None else round(float(elapsed), 3),
        "resumed_from": None if resumed_from is None else int(resumed_from),
        "end_condition": stats.get("end_condition"),
        "version": package_version(),
        "interrupted": bool(mc.stats["end_condition"] == "interrupted" if interrupted is None else interrupted),
        "config": config_source,
        "files": files,
    }


# ---- files -------------------------------------------------------------------------------------
def write_text(path: str | os.PathLike[str], text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` whole or not at all (ensemble.montecarlo.atomic.atomic_write).

    Parameters
    ----------
    path : str or os.PathLike
        The file; its folder must exist.
    text : str

    Raises
    ------
    OSError
        If writing fails; it names ``path`` (not the temporary file), and nothing is left behind.
    """
    try:
        atomic_write(path, text)
    except OSError as exc:
        if exc.filename == os.fspath(path):
            raise
        raise OSError(exc.errno, exc.strerror or str(exc), os.fspath(path)) from exc


def save_figure(out: str | os.PathLike[str], name: str, fmt: str, fig: Figure) -> str:
    """Save ``fig`` as out/name.fmt, whole or not at all (see figures.save).

    Parameters
    ----------
    out : str or os.PathLike
        The folder.
    name : str
        The file name without its extension.
    fmt : str
        png, pdf or svg.
    fig : matplotlib.figure.Figure

    Returns
    -------
    str
        The file name written.

    Raises
    ------
    OSError
        Naming the file, if it cannot be written.
    """
    from . import figures

    path = Path(out) / f"{name}.{fmt}"
    figures.save(fig, path)
    return path.name


def run_figures(mc: MonteCarloResult, exact: MasterEquationResult, out: Path, fmt: str) -> list[str]:
    """Draw a run's figures into ``out``.

    Parameters
    ----------
    mc : MonteCarloResult
    exact : MasterEquationResult
    out : Path
        The folder.
    fmt : str
        png, pdf or svg.

    Returns
    -------
    list of str
        The files written: protocol, postselection (if the protocol has rounds), distributions (if the
        run has them) and trajectories.
    """
    from ..trajectories.single import run_trajectory
    from . import figures

    written = [save_figure(out, "protocol", fmt, figures.protocol_figure(mc, exact))]
    if mc.protocol.rounds:
        written.append(save_figure(out, "postselection", fmt, figures.postselection_figure(mc, exact)))
    if mc.distributions is not None:
        written.append(save_figure(out, "distributions", fmt, figures.distributions_figure(mc, exact)))
    trajs = [run_trajectory(mc.model, mc.protocol, mc.seed, i) for i in range(N_TRAJECTORIES_SHOWN)]
    written.append(
        save_figure(out, "trajectories", fmt, figures.trajectories_figure(trajs, mc.protocol.measure_at, exact))
    )
    return written


def write_run_report(
    mc: MonteCarloResult,
    exact: MasterEquationResult,
    out: str | os.PathLike[str] | None,
    fmt: str = "png",
    *,
    elapsed: float | None = None,
    config_source: str | None = None,
    bandwidth: float | None = None,
    figures: bool = True,
    result_name: str | None = None,
    resumed_from: int | None = None,
    interrupted: bool | None = None,
) -> tuple[PostSelectionTable | None, Comparison | None]:
    """Table and comparison of a finished (or interrupted) run, and its files.

    With ``out``: writes postselection.txt, the figures (if ``figures`` and there are trajectories) and
    summary.json, in that order (summary.json last, listing the files written).

    Parameters
    ----------
    mc : MonteCarloResult
    exact : MasterEquationResult
        The exact solution of the same model and protocol.
    out : str, os.PathLike or None
        The folder; None: write nothing.
    fmt : str
        Figure format: png, pdf or svg.
    elapsed, config_source, bandwidth, resumed_from, interrupted
        For summary.json (see :func:`summary`).
    figures : bool
        Draw the figures.
    result_name : str or None
        The result file in the folder, listed first among the files (e.g. 'result.npz').

    Returns
    -------
    (table, cmp)
        The :func:`full_table` and the Comparison; both None without trajectories.

    Raises
    ------
    OSError
        Naming the file that could not be written.
    """
    table = cmp = None
    if mc.ntraj > 0:
        table = full_table(mc, exact)
        cmp = compare(mc, exact)
    if out is None:
        return table, cmp
    out = Path(out)
    files = [result_name] if result_name else []
    if table is not None:
        write_text(out / "postselection.txt", f"{table_text(table)}\n\n{cmp}\n")
        files.append("postselection.txt")
    if figures and mc.ntraj > 0:
        files += run_figures(mc, exact, out, fmt)
    files.append("summary.json")
    data = summary(
        mc,
        exact,
        table,
        cmp,
        elapsed=elapsed,
        config_source=config_source,
        bandwidth=bandwidth,
        files=files,
        resumed_from=resumed_from,
        interrupted=interrupted,
    )
    write_text(out / "summary.json", json.dumps(data, indent=2) + "\n")
    return table, cmp
