"""The figure of a sweep: lines against one axis (or paired axes), heatmaps or small multiples for two."""

from __future__ import annotations

from typing import Any

import numpy as np
from matplotlib.figure import Figure

from ..studies.table import SweepTable
from .canvas import (
    _figure,
)

# ---- sweeps ------------------------------------------------------------------------------------
_SWEEP_PANELS = (("fidelity_post", "post-selected target population", "tab:blue"), ("yield", "yield", "tab:green"))


def _axis_positions(values: np.ndarray) -> tuple[np.ndarray, list[str] | None]:
    """x positions and tick labels of an axis column: the numbers themselves, or 0..n-1 for text."""
    if values.dtype.kind in "iuf":
        return values.astype(float), None
    return np.arange(values.size, dtype=float), [str(v) for v in values]


def sweep_figure(table: SweepTable) -> Figure | None:
    """Fidelity (the post-selected target population at the final time) and yield over a sweep.

    One axis, or paired axes (drawn against the first): two line panels, exact values as lines with
    markers and, when the table has trajectories, their 95 % intervals (mc_X_lo .. mc_X_hi) as a band
    (error bars for text axes). Two axes on a grid: two heatmaps (first axis down, second across), each
    cell labelled with its exact value; with trajectories, below them small multiples: fidelity and yield
    against the second axis, one colour per value of the first, exact lines and trajectory points with
    their 95 % intervals.

    Parameters
    ----------
    table : SweepTable
        The sweep, with columns fidelity_post and yield (and mc_X, mc_X_lo, mc_X_hi with
        trajectories).

    Returns
    -------
    matplotlib.figure.Figure or None
        The figure (Agg canvas); None for three or more grid axes (no figure drawn).

    Raises
    ------
    KeyError
        If a column the figure needs is missing.
    """
    axes = table.axes
    paired = bool(table.meta.get("paired", False))
    if len(axes) == 1 or paired:
        x, labels = _axis_positions(table[axes[0]])
        fig = _figure(8.0, 3.4)
        panels = fig.subplots(1, 2)
        for ax, (col, title, color) in zip(panels, _SWEEP_PANELS, strict=True):
            ax.plot(x, table[col], "o-", color=color, lw=1.5, ms=4, label="exact")
            if f"mc_{col}" in table:
                lo, hi, mc = table[f"mc_{col}_lo"], table[f"mc_{col}_hi"], table[f"mc_{col}"]
                if labels is None and x.size > 1:
                    order = np.argsort(x, kind="stable")
                    ax.fill_between(
                        x[order], lo[order], hi[order], color=color, alpha=0.25, lw=0, label="trajectories 95%"
                    )
                    ax.plot(x, mc, "x", color="k", ms=5, label="trajectories")
                else:
                    ax.errorbar(x, mc, yerr=[mc - lo, hi - mc], fmt="x", color="k", capsize=3, label="trajectories 95%")
            if labels is not None:
                ax.set_xticks(x, labels, rotation=30 if max(map(len, labels)) > 6 else 0, fontsize=8)
            ax.set_xlabel(" / ".join(axes) if paired else axes[0])
            ax.set_title(title, fontsize=9)
            ax.grid(alpha=0.3)
            ax.legend(fontsize=8)
        fig.suptitle(f"Sweep over {', '.join(axes)} ({len(table)} points)", fontsize=10)
        return fig
    if len(axes) != 2:
        return None
    rows, cols = (list(dict.fromkeys(table[a].tolist())) for a in axes)
    with_mc = "mc_fidelity_post" in table
    height = 0.45 * len(rows) + 2.4
    fig = _figure(4.2 * 2 + 0.8, height + (3.0 if with_mc else 0.0))
    top: Any = fig
    bottom: Any = None
    if with_mc:
        parts: Any = fig.subfigures(2, 1, height_ratios=[height, 3.0])
        top, bottom = parts
    panels = top.subplots(1, 2)
    for ax, (col, title, _) in zip(panels, _SWEEP_PANELS, strict=True):
        grid = np.asarray(table[col], float).reshape(len(rows), len(cols))
        image = ax.imshow(grid, aspect="auto", origin="lower", cmap="viridis")
        top.colorbar(image, ax=ax, shrink=0.85)
        for i in range(len(rows)):
            for j in range(len(cols)):
                value = grid[i, j]
                text = "-" if not np.isfinite(value) else f"{value:.4g}"
                ax.text(
                    j, i, text, ha="center", va="center", fontsize=7, color="w" if value < np.nanmean(grid) else "k"
                )
        ax.set_xticks(range(len(cols)), [_tick(v) for v in cols], fontsize=8)
        ax.set_yticks(range(len(rows)), [_tick(v) for v in rows], fontsize=8)
        ax.set_xlabel(axes[1])
        ax.set_ylabel(axes[0])
        ax.set_title(f"{title} (exact)", fontsize=9)
    if bottom is not None:
        _small_multiples(bottom, table, axes, rows, cols)
    fig.suptitle(f"Sweep over {axes[0]} x {axes[1]} ({len(table)} points)", fontsize=10)
    return fig


def _tick(value: Any) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def _small_multiples(fig: Any, table: SweepTable, axes: tuple[str, ...], rows: list, cols: list) -> None:
    """Fidelity and yield against the second axis, one colour per value of the first: exact lines and
    trajectory estimates with their 95 % intervals (error bars), so the noise is read next to the trend."""
    x, labels = _axis_positions(np.asarray(cols))
    first = table[axes[0]].tolist()
    panels = fig.subplots(1, 2)
    offsets = (np.arange(len(rows)) - (len(rows) - 1) / 2) * 0.015 * (np.ptp(x) if x.size > 1 else 1.0)
    for ax, (col, title, _) in zip(panels, _SWEEP_PANELS, strict=True):
        for i, value in enumerate(rows):
            at = np.array([v == value for v in first])
            color = f"C{i % 10}"
            ax.plot(x, table[col][at], "-", color=color, lw=1.2, label=f"{axes[0]} = {_tick(value)}")
            mc, lo, hi = (table[f"mc_{col}{s}"][at] for s in ("", "_lo", "_hi"))
            ax.errorbar(x + offsets[i], mc, yerr=[mc - lo, hi - mc], fmt="o", ms=3, color=color, capsize=2, lw=1)
        if labels is not None:
            ax.set_xticks(x, labels, fontsize=8)
        ax.set_xlabel(axes[1])
        ax.set_title(title, fontsize=9)
        ax.grid(alpha=0.3)
    panels[0].legend(fontsize=7)
    fig.suptitle("exact (lines) and trajectories with 95% intervals (points)", fontsize=9)
