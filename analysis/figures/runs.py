"""Figures of a run of the protocol: populations and entanglement in time (the paper's Fig. 3 right), a
handful of single trajectories, and the per-round and cumulative post-selection success.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
from matplotlib.artist import Artist
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from numpy.typing import ArrayLike

from ...ensemble.results.master_equation import MasterEquationResult
from ...ensemble.results.monte_carlo import MonteCarloResult
from ...ensemble.statistics.intervals import wilson_interval
from ...trajectories.single import Trajectory
from ..channel_names import SECTOR_NAMES
from ..measures import concurrence, entanglement_of_formation
from .canvas import (
    _BAND_CONFIDENCE,
    _C_C,
    _C_S,
    _C_T2,
    _band,
    _figure,
    _mark_rounds,
    _patch,
    _singlet,
    _t2_population,
    _t2_se_bound,
    _thin,
)


def protocol_figure(mc: MonteCarloResult | None, exact: MasterEquationResult, measure: str = "concurrence") -> Figure:
    """The paper's Fig. 3 right, trajectories over the exact master equation.

    Top: S and T2 populations (unconditional dashed, post-selected solid; trajectory estimates as
    95.45 % bands of :func:`ensemble.statistics.intervals.mean_interval`, valid at 0 and 1; the T2 band from a
    conservative bound on its standard error from the element errors). Bottom: ``measure``
    of the unconditional and post-selected states, exact lines and trajectory points. Vertical
    lines: measurements, with the per-round success percentage (MC, exact) above. Times in the
    inverse energy unit of the model.

    Parameters
    ----------
    mc : MonteCarloResult or None
        The trajectories, or None to draw the exact solution alone (``darkspin exact --figures``).
    exact : MasterEquationResult
        The exact solution of the same model and protocol.
    measure : {'concurrence', 'eof'}
        The entanglement measure of the bottom panel (concurrence, or entanglement of formation
        in ebits).

    Returns
    -------
    matplotlib.figure.Figure
        The figure (Agg canvas).

    Raises
    ------
    ValueError
        If measure is not 'concurrence' or 'eof'.
    """
    if measure not in ("concurrence", "eof"):
        raise ValueError(f"measure must be 'concurrence' or 'eof', got {measure!r}")
    ent = concurrence if measure == "concurrence" else entanglement_of_formation
    ent_name = "concurrence $C$" if measure == "concurrence" else r"$\mathcal{E}_F$ (ebit)"
    t = np.asarray(exact.times if mc is None else mc.times)
    fig = _figure(7.5, 6.0)
    top, bottom = fig.subplots(2, 1, sharex=True, height_ratios=[3, 2])

    # exact curves
    s_ex, s_ex_post = _singlet(exact.rho), _singlet(exact.rho_post)
    top.plot(t, s_ex, color=_C_S, ls="--", lw=1.2)
    top.plot(t, s_ex_post, color=_C_S, lw=1.5)
    top.plot(t, _t2_population(exact.rho), color=_C_T2, ls="--", lw=1.2)
    top.plot(t, _t2_population(exact.rho_post), color=_C_T2, lw=1.5)
    if mc is not None:  # trajectory bands
        n_post = np.asarray(mc.n_post)
        assert mc.rho_se is not None and mc.rho_post_se is not None  # always set on trajectory results
        s_mc = mc.population("S")  # the kernel's own singlet sums, with exact standard errors
        _band(top, t, s_mc.value.real, s_mc.se, mc.ntraj, _C_S)
        _band(top, t, s_mc.value_post.real, s_mc.se_post, n_post, _C_S)
        _band(top, t, _t2_population(mc.rho), _t2_se_bound(mc.rho_se), mc.ntraj, _C_T2)
        _band(top, t, _t2_population(mc.rho_post), _t2_se_bound(mc.rho_post_se), n_post, _C_T2)
    top.set_ylabel("population")
    top.set_ylim(0, 1.02)
    # one legend entry per drawn line and band, in its own colour, style and width
    handles: list[Artist] = [
        Line2D([], [], color=_C_S, lw=1.5, label="S, post-selected (exact)"),
        Line2D([], [], color=_C_S, ls="--", lw=1.2, label="S, unconditional (exact)"),
        Line2D([], [], color=_C_T2, lw=1.5, label="T2, post-selected (exact)"),
        Line2D([], [], color=_C_T2, ls="--", lw=1.2, label="T2, unconditional (exact)"),
    ]
    if mc is not None:
        handles.insert(2, _patch(_C_S, f"S, trajectories ({100 * _BAND_CONFIDENCE:.1f}% band)"))
        handles.append(_patch(_C_T2, f"T2, trajectories ({100 * _BAND_CONFIDENCE:.1f}% band)"))
    # below the post-selected singlet (near 1) and above T2 (near 0): the empty middle of the panel
    top.legend(handles=handles, fontsize=8, loc="lower right", bbox_to_anchor=(1.0, 0.08), ncol=2, framealpha=0.9)

    bottom.plot(t, ent(exact.rho), color=_C_C, ls="--", lw=1.2, label="unconditional (exact)")
    bottom.plot(t, ent(exact.rho_post), color=_C_C, lw=1.5, label="post-selected (exact)")
    if mc is not None:
        sl = _thin(t.size)
        bottom.plot(
            t[sl],
            np.asarray(ent(mc.rho))[sl],
            "o",
            color=_C_C,
            ms=3,
            mfc="none",
            mew=0.8,
            label="unconditional (trajectories)",
        )
        bottom.plot(
            t[sl], np.asarray(ent(mc.rho_post))[sl], "o", color=_C_C, ms=3, label="post-selected (trajectories)"
        )
    bottom.set_ylabel(ent_name)
    bottom.set_xlabel(r"time $t$ ($1/\nu$)")
    bottom.set_ylim(0, 1.3)  # room for the legend above C <= 1
    bottom.legend(fontsize=8, loc="upper left", ncol=2, framealpha=0.9)
    bottom.set_xlim(t[0], t[-1])

    meas = np.asarray(exact.protocol.measure_at if mc is None else mc.protocol.measure_at)
    _mark_rounds(
        (top, bottom), meas, None if mc is None else np.asarray(mc.p_success), np.asarray(exact.p_success), top
    )
    if mc is None:
        what = "exact master equation"
    else:
        cut = getattr(mc, "stats", {}).get("end_condition") == "interrupted"
        what = f"{mc.ntraj:,} trajectories{', interrupted' if cut else ''}"
    fig.suptitle(f"Purification by $\\tau_z\\otimes\\tau_z$ measurements ({what})", fontsize=10)
    return fig


# ---- single trajectories ------------------------------------------------------------------------
_SECTOR_MARKER = {"lowering": "v", "raising": "^", "dephasing": "s"}

_SECTOR_COLOR = {"lowering": "tab:green", "raising": "tab:purple", "dephasing": "tab:brown"}


def trajectories_figure(
    trajectories: Iterable[Trajectory], measure_at: ArrayLike = (), exact: MasterEquationResult | None = None
) -> Figure:
    """A few single runs: singlet weight |<S|psi(t)>|^2 against time, one panel per run.

    The line is solid while every outcome so far was -1 (post-selected) and grey after a +1; jumps are
    marked by channel sector at the singlet weight just after them; outcomes at measurement times
    (filled green circle: -1, success; red cross: +1).

    Parameters
    ----------
    trajectories : iterable of Trajectory
        The runs (same protocol), one panel each.
    measure_at : array_like, shape (rounds,)
        That protocol's measurement times (inverse energy unit), where the outcomes are drawn.
    exact : MasterEquationResult, optional
        Its unconditional singlet population is drawn for reference.

    Returns
    -------
    matplotlib.figure.Figure
        The figure (Agg canvas).

    Raises
    ------
    ValueError
        If trajectories is empty.
    """
    trajs = list(trajectories)
    if not trajs:
        raise ValueError("trajectories must hold at least one Trajectory")
    n = len(trajs)
    fig = _figure(7.5, 1.25 * n + 1.0)
    axes = np.atleast_1d(fig.subplots(n, 1, sharex=True, sharey=True))
    used = set()
    for ax, tr in zip(axes, trajs, strict=False):
        t, s = np.asarray(tr.times), tr.singlet
        if exact is not None:
            ax.plot(exact.times, _singlet(exact.rho), color="0.6", lw=1, ls=":")
        ax.plot(t, np.where(tr.post, s, np.nan), color=_C_S, lw=1.4)
        ax.plot(t, np.where(tr.post, np.nan, s), color="0.45", lw=1.2)
        for jt, lab in zip(tr.jump_times, tr.jump_labels, strict=True):
            sector = lab.split("[")[0]
            used.add(sector)
            # the first output after the jump shows the post-jump weight
            y = s[min(np.searchsorted(t, jt), t.size - 1)]
            ax.plot(jt, y, _SECTOR_MARKER.get(sector, "x"), color=_SECTOR_COLOR.get(sector, "k"), ms=5, zorder=3)
        for t_m, out in zip(np.asarray(measure_at, float), tr.outcomes, strict=True):
            ax.axvline(t_m, color="0.8", lw=0.8, zorder=0)
            if out == -1:
                ax.plot(t_m, 1.08, "o", color="tab:green", ms=6, clip_on=False)
            else:
                ax.plot(t_m, 1.08, "x", color="tab:red", ms=7, mew=2, clip_on=False)
        ax.set_ylim(-0.05, 1.15)
        ax.set_yticks([0, 0.5, 1])
        ax.text(0.005, 0.93, f"#{tr.index}: {len(tr.jump_times)} jumps", transform=ax.transAxes, fontsize=7, va="top")
    axes[-1].set_xlabel(r"time $t$ ($1/\nu$)")
    axes[-1].set_xlim(trajs[0].times[0], trajs[0].times[-1])
    fig.supylabel(r"singlet weight $|\langle S|\psi(t)\rangle|^2$", fontsize=10)
    handles = [
        Line2D([], [], color=_C_S, label="post-selected so far"),
        Line2D([], [], color="0.45", label="after a +1 outcome"),
    ]
    if exact is not None:
        handles.append(Line2D([], [], color="0.6", ls=":", label="ensemble (exact)"))
    handles += [
        Line2D(
            [],
            [],
            ls="",
            marker=_SECTOR_MARKER.get(s, "x"),
            color=_SECTOR_COLOR.get(s, "k"),
            label=f"jump: {SECTOR_NAMES.get(s, s)}",
        )
        for s in sorted(used)
    ]
    handles += [
        Line2D([], [], ls="", marker="o", color="tab:green", label="outcome -1"),
        Line2D([], [], ls="", marker="x", mew=2, color="tab:red", label="outcome +1"),
    ]
    # the title goes into the legend: a suptitle and an 'outside' legend overlap in constrained layout
    fig.legend(
        handles=handles,
        loc="outside upper center",
        ncol=4,
        fontsize=8,
        frameon=False,
        title=f"Single trajectories (seed {trajs[0].seed}, indices {', '.join(str(tr.index) for tr in trajs)})",
        title_fontsize=10,
    )
    return fig


# ---- post-selection statistics -------------------------------------------------------------------
def postselection_figure(mc: MonteCarloResult, exact: MasterEquationResult | None = None) -> Figure:
    """Per-round (conditional) and cumulative post-selection probability against the round number.

    Per round: of the runs post-selected before round k, the fraction still post-selected after it
    (for the rule 'all': P(-1 | all -1 before)); cumulative: the fraction post-selected after round k.
    Trajectory estimates with 95% Wilson intervals (error bars), exact values as open markers joined
    by lines.

    Parameters
    ----------
    mc : MonteCarloResult
        The trajectories.
    exact : MasterEquationResult, optional
        The exact solution of the same model and protocol.

    Returns
    -------
    matplotlib.figure.Figure
        The figure (Agg canvas).

    Raises
    ------
    ValueError
        If the protocol has no measurement rounds.
    """
    rounds = mc.protocol.rounds
    if rounds == 0:
        raise ValueError("the protocol has no measurement rounds to show")
    k = np.arange(1, rounds + 1)
    n_sel = np.asarray(mc.n_success, float)
    trials = np.concatenate([[mc.ntraj], n_sel[:-1]])
    lo_r, hi_r = wilson_interval(np.asarray(mc.n_kept, float), trials)
    lo_c, hi_c = wilson_interval(n_sel, np.full(rounds, mc.ntraj))
    fig = _figure(7.5, 3.4)
    a1, a2 = fig.subplots(1, 2)
    for ax, p, lo, hi, ex, title in (
        (
            a1,
            mc.p_success,
            lo_r,
            hi_r,
            None if exact is None else exact.p_success,
            "per round: P(selected after | selected before)",
        ),
        (
            a2,
            mc.p_cumulative,
            lo_c,
            hi_c,
            None if exact is None else exact.p_cumulative,
            "cumulative: P(selected after round k)",
        ),
    ):
        p = np.asarray(p, float)
        if ex is not None:
            ax.plot(k, ex, "s-", color="0.3", mfc="white", ms=8, lw=1, label="exact", zorder=1)
        ax.errorbar(
            k,
            p,
            yerr=[p - lo, hi - p],
            fmt="o",
            color="tab:red",
            ms=4,
            capsize=4,
            label="trajectories (95% Wilson)",
            zorder=2,
        )
        ax.set_xticks(k)
        ax.set_xlabel("measurement round $k$")
        ax.set_title(title, fontsize=9)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    a1.set_ylabel("success probability")
    fig.suptitle(f"Post-selection, rule {mc.protocol.postselect!r} ({mc.ntraj:,} trajectories)", fontsize=10)
    return fig
