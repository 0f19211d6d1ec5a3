"""Figures of the paper and of the trajectory runs (matplotlib, Agg canvas; no pyplot state).

Every function takes results and returns a :class:`matplotlib.figure.Figure`; :func:`save` writes one
(PNG by default, or any format matplotlib knows from the file name: pdf, svg). Times are in the
inverse energy unit of the model (1/nu by default), frequencies in its energy unit.

    protocol_figure(mc, exact)            the paper's Fig. 3 right: populations and entanglement in time
                                          (mc None: the exact solution alone)
    trajectories_figure(trajs, measure_at)  a handful of single runs with their jumps and outcomes
    postselection_figure(mc, exact)       per-round and cumulative success with Wilson intervals
    steady_figure(measures, p_c)          the paper's Fig. 3 left: the steady-state family
    spectra_figure(omega, panels)         the paper's Fig. 2: correlation spectra and transition lines
    distributions_figure(mc, exact)       fidelity, jump-count and first-jump distributions over runs
    sweep_figure(table)                   a sweep: lines (one axis, or paired axes) or heatmaps (two axes)

Length: seven figures sharing one canvas set-up, palette and band helpers; most of the length is their
drawing code and full docstrings, which split across files would only scatter.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
from matplotlib.artist import Artist
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from numpy.typing import ArrayLike

from ..ensemble.exact.jump_statistics import no_jump_probability
from ..ensemble.montecarlo.atomic import atomic_write
from ..ensemble.results.master_equation import MasterEquationResult
from ..ensemble.results.monte_carlo import MonteCarloResult
from ..ensemble.statistics.intervals import mean_interval, wilson_interval
from ..trajectories.single import Trajectory
from .channel_names import SECTOR_NAMES, channel_names
from .measures import concurrence, entanglement_of_formation, populations
from .studies.table import SweepTable

#: Resolution of saved raster images (dots per inch); README images stay well below 200 kB.
DPI = 100
#: The population bands are :func:`ensemble.statistics.intervals.mean_interval` at the confidence of
#: +-SIGMAS standard errors of a normal variable (95.45 % for 2).
SIGMAS = 2.0
_BAND_CONFIDENCE = math.erf(SIGMAS / math.sqrt(2.0))

_C_S, _C_T2, _C_C, _C_EF = "tab:blue", "tab:orange", "tab:red", "tab:purple"


def _figure(width: float, height: float) -> Figure:
    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)  # the Agg canvas, without touching pyplot's global backend
    return fig


def save(fig: Figure, path: str | os.PathLike[str], dpi: int = DPI) -> str:
    """Write ``fig`` to ``path`` (format from the extension: png, pdf, svg).

    The figure goes to a temporary file in the same folder, renamed over ``path`` once complete, so a
    failure (disk full) never leaves a truncated or empty figure.

    Parameters
    ----------
    fig : matplotlib.figure.Figure
        The figure to write.
    path : str or os.PathLike
        The file; its extension gives the format (PNG without one).
    dpi : int
        Resolution of raster formats, dots per inch.

    Returns
    -------
    str
        The path written.

    Raises
    ------
    OSError
        If the file cannot be written; it names ``path``.
    """
    path = os.fspath(path)
    fmt = os.path.splitext(path)[1].lstrip(".").lower() or "png"
    atomic_write(path, lambda fh: fig.savefig(fh, format=fmt, dpi=dpi))
    return path


# ---- populations from density matrices ---------------------------------------------------------
def _t2_population(rho: np.ndarray) -> np.ndarray:
    """<T2| rho |T2> for rho (n, 4, 4); (n,)."""
    return populations(rho)[..., 2]


def _t2_se_bound(rho_se: np.ndarray) -> np.ndarray:
    """Upper bound on the standard error of the T2 population from element errors, (n,).

    T2 = (rho_11 + rho_22 + 2 Re rho_12)/2 and sd(a + b) <= sd(a) + sd(b): conservative, never small.
    """
    return 0.5 * (rho_se[:, 1, 1] + rho_se[:, 2, 2] + 2.0 * rho_se[:, 1, 2])


def _band(ax: Axes, t: ArrayLike, mean: ArrayLike, se: ArrayLike, n: ArrayLike, color: str, **kw: Any) -> None:
    """Band of :func:`ensemble.statistics.intervals.mean_interval` for a population (a per-run quantity in
    [0, 1]) over n trajectories (scalar or (len(t),)): valid at 0 and 1, never of zero width."""
    m = np.asarray(mean, float)
    counts = np.broadcast_to(np.asarray(n), m.shape)
    ok = np.isfinite(m) & (counts > 0)
    lo, hi = np.full(m.shape, np.nan), np.full(m.shape, np.nan)
    if np.any(ok):
        lo[ok], hi[ok] = mean_interval(
            np.clip(m[ok], 0.0, 1.0), np.asarray(se, float)[ok], counts[ok], _BAND_CONFIDENCE
        )
    ax.fill_between(t, lo, hi, color=color, alpha=0.35, lw=0, **kw)


def _thin(n: int, target: int = 60) -> slice:
    return slice(None, None, max(1, n // target))


def _mark_rounds(
    axes: Iterable[Axes], times: np.ndarray, p_mc: np.ndarray | None, p_exact: np.ndarray, top_ax: Axes
) -> None:
    """Vertical lines at the measurement times; the success percentages above them in ``top_ax``."""
    for ax in axes:
        for t in times:
            ax.axvline(t, color="0.55", lw=1.0, zorder=0)
    tr = top_ax.get_xaxis_transform()
    for k, t in enumerate(times):
        ex = p_exact[k] if k < len(p_exact) else np.nan
        if p_mc is None:  # the exact solution alone
            text = f"exact {100 * ex:.1f}%" if np.isfinite(ex) else "n/a"
        else:
            mc = p_mc[k] if k < len(p_mc) else np.nan
            text = f"{100 * mc:.1f}%" if np.isfinite(mc) else "n/a"
            if np.isfinite(ex):
                text += f"\n(exact {100 * ex:.1f}%)"
        top_ax.text(t, 1.02, text, transform=tr, ha="center", va="bottom", fontsize=8)


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


def _singlet(rho: np.ndarray) -> np.ndarray:
    return populations(rho)[..., 0]


def _patch(color: str, label: str) -> Patch:
    return Patch(facecolor=color, alpha=0.35, label=label)


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


# ---- Fig. 3 left -------------------------------------------------------------------------------
def steady_figure(
    measures: Mapping[str, ArrayLike], p_c: float, p_c_closed: float | None = None, V: float | None = None
) -> Figure:
    """The paper's Fig. 3 left: entanglement of rho(p) = p d + (1 - p) rho_tr against the weight p.

    rho_tr (p = 0), d (p = 1) and the point of least mutual information (the uncorrelated stationary
    state rho_st) are named on the top axis.

    Parameters
    ----------
    measures : mapping of str to array_like
        Arrays of shape (m,) with keys 'p', 'mutual_information', 'log_negativity',
        'entanglement_of_formation' (bits / ebits), as from :func:`analysis.steady.family_measures`.
    p_c : float
        Critical weight from the states, drawn dashed (dimensionless).
    p_c_closed : float, optional
        The closed form, shown in the label.
    V : float, optional
        The bias (units of nu), for the title.

    Returns
    -------
    matplotlib.figure.Figure
        The figure (Agg canvas).

    Raises
    ------
    KeyError
        If a key of measures is missing.
    """
    p = np.asarray(measures["p"], float)
    fig = _figure(6.0, 4.0)
    ax = fig.subplots()
    mi = np.asarray(measures["mutual_information"], float)
    ax.plot(p, mi, color="tab:blue", lw=1, label=r"mutual information $S_{12}$ (bit)")
    ax.plot(p, measures["log_negativity"], color="tab:red", lw=2.5, label=r"log negativity $\mathcal{E}_N$")
    ef = np.asarray(measures["entanglement_of_formation"], float)
    step = max(1, p.size // 25)
    ax.plot(p, ef, color="tab:blue", lw=2.5, label=r"entanglement of formation $\mathcal{E}_F$")
    ax.plot(p[::step], ef[::step], "o", color="tab:blue", ms=4)
    lab = f"$p_c$ = {p_c:.4f}"
    if p_c_closed is not None:
        lab += f" (closed form {p_c_closed:.4f})"
    ax.axvline(p_c, color="k", ls="--", lw=1, label=lab)
    # the named states on a top axis: rho_tr (p = 0), the uncorrelated rho_st (S_12 = 0), d (p = 1)
    i = int(np.nanargmin(mi))
    top = ax.secondary_xaxis("top")
    top.set_xticks([p[0], p[i], p[-1]], [r"$\rho_{tr}$", r"$\rho_{st}$", r"$\hat d$"])
    top.tick_params(direction="inout", length=8)
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.05 * max(1.0, np.nanmax(mi)))
    ax.set_xlabel("dark-state weight $p$")
    ax.set_ylabel("(e)bits")
    ax.legend(fontsize=8, loc="upper left")
    title = "Steady states at the symmetric point"
    if V is not None:
        title += f", $V = {V:g}\\nu$"
    ax.set_title(title, fontsize=10)
    return fig


# ---- Fig. 2 ------------------------------------------------------------------------------------
def spectra_figure(
    omega: ArrayLike,
    panels: Mapping[str, Mapping[str, ArrayLike]],
    lines: Mapping[str, Mapping[str, ArrayLike]] | None = None,
    log: bool = True,
) -> Figure:
    """The paper's Fig. 2: C1, C3 (left) and C2 (right) against omega, with transition lines.

    Parameters
    ----------
    omega : array_like, shape (m,)
        Frequencies, energy unit of the model (units of nu).
    panels : mapping of str to mapping of str to array_like
        {label: {'C1': (m,), 'C2': (m,), 'C3': (m,)}}, e.g. the exchange-only and the DM point (the
        first drawn thin black, the others thick coloured); spectra in units of 1/[omega].
    lines : mapping of str to mapping of str to array_like, optional
        {label: {'C1': positions, 'C2': ..., 'C3': ...}} predicted transitions (Eq. 9), drawn
        dashed for the first label and dotted for the others.
    log : bool
        Logarithmic y axis (C3 multiplied by 10^4 for clarity) instead of normalised curves with
        linear offsets.

    Returns
    -------
    matplotlib.figure.Figure
        The figure (Agg canvas).

    Raises
    ------
    KeyError
        If a panel lacks one of 'C1', 'C2', 'C3'.
    """
    omega = np.asarray(omega, float)
    fig = _figure(9.0, 4.2)
    left, right = fig.subplots(1, 2, sharex=True)
    styles: list[dict[str, Any]] = [dict(color="k", lw=1.0)] + [
        dict(color=c, lw=2.2, alpha=0.8) for c in ("tab:red", "tab:blue", "tab:green")
    ]
    shift = {"C1": 0, "C3": 1, "C2": 0}
    for j, (label, curves) in enumerate(panels.items()):
        st = styles[min(j, len(styles) - 1)]
        for name, ax in (("C1", left), ("C3", left), ("C2", right)):
            y = np.asarray(curves[name], float)
            if log:
                y = np.where(y > 0, y, np.nan) * 10.0 ** (4 * shift[name])
            else:
                y = y / np.nanmax(np.abs(y)) + 1.2 * shift[name]
            ax.plot(omega, y, label=f"{name}, {label}", **st)
    for j, (_label, pos) in enumerate((lines or {}).items()):
        ls = "--" if j == 0 else ":"
        color = styles[min(j, len(styles) - 1)]["color"]
        for name, ax in (("C1", left), ("C3", left), ("C2", right)):
            for x in np.atleast_1d(pos.get(name, [])):
                ax.axvline(x, color=color, ls=ls, lw=0.8, alpha=0.7)
    if log:
        left.text(0.3, 0.36, "$C_1$", transform=left.transAxes, fontsize=10)
        left.text(0.3, 0.64, r"$C_3\times 10^4$", transform=left.transAxes, fontsize=10)
    for ax, title in ((left, "$C_1$ (lower), $C_3$ (upper, shifted)"), (right, "$C_2$")):
        if log:
            ax.set_yscale("log")
        else:
            ax.set_yticks([])
        ax.set_xlabel(r"frequency $\omega$ ($\nu$)")
        ax.set_title(title, fontsize=9)
        ax.set_xlim(omega[0], omega[-1])
    left.set_ylabel("correlation spectrum" + ("" if log else " (normalised, shifted)"))
    handles = [Line2D([], [], **styles[min(j, len(styles) - 1)], label=lab) for j, lab in enumerate(panels)]
    if lines:
        handles.append(Line2D([], [], color="0.3", ls="--", lw=0.8, label="transitions (Eq. 9)"))
    right.legend(handles=handles, fontsize=8, loc="lower center")
    return fig


def distributions_figure(mc: MonteCarloResult, exact: MasterEquationResult | None = None) -> Figure:
    """What only trajectories show: distributions over runs (needs ``simulate(..., distributions=True)``).

    Left: the post-selected infidelity right after each round, as the fraction of post-selected runs with
    1 - F >= x against x, both axes logarithmic (one falling curve per round; the edge at 0 drawn at
    1e-9; the share left at 1 - F >= 1/2, runs that jumped, written next to each): the height at
    x = 1e-3 is the share of runs worse than 99.9 %. Middle: the number of jumps per run in each
    channel over the whole run (fractions, log scale), channels by physical name
    (:func:`~darkspin.analysis.channel_names.channel_names`).
    Right: the first-jump survival P(no jump by t) of the runs with a 95 % Wilson band, over its exact
    value from ``exact``.

    Parameters
    ----------
    mc : MonteCarloResult
        The trajectories, with distributions.
    exact : MasterEquationResult, optional
        The exact solution of the same model and protocol, for the exact survival.

    Returns
    -------
    matplotlib.figure.Figure
        The figure (Agg canvas).

    Raises
    ------
    ValueError
        If mc has no distributions.
    """
    dist = mc.distributions
    if dist is None:
        raise ValueError("mc has no distributions: run simulate(..., distributions=True)")
    fig = _figure(11.0, 3.5)
    a1, a2, a3 = fig.subplots(1, 3)
    rounds = [k for k, lab in enumerate(dist.snapshot_labels) if lab.startswith("round")] or [-1]
    colors = [f"C{i % 10}" for i in range(len(rounds))]
    lowest = 1.0
    for s, color in zip(rounds, colors, strict=True):
        h = dist.fidelity(s, post=True)
        if not h.total:
            continue
        # the survival P(1 - F >= x): one falling curve per round, read off at any infidelity
        x = np.concatenate([[1e-9], h.edges[1:]])  # the edge at 0 drawn at 1e-9
        surv = h.survival()
        a1.step(x, surv, where="post", color=color, lw=2, label=dist.snapshot_labels[s])
        failed = float(surv[np.searchsorted(h.edges, 0.5)])  # runs left with 1 - F >= 1/2
        if failed > 0:
            a1.annotate(
                f"{100 * failed:.2g}%",
                (0.9, failed),
                xytext=(0, 2),
                textcoords="offset points",
                ha="right",
                va="bottom",
                fontsize=7,
                color=color,
            )
        lowest = min(lowest, float(np.min(surv[surv > 0])))
    a1.set_xscale("log")
    a1.set_yscale("log")  # the runs left near 1 - F = 1 (a jump) are a few per cent: log scale shows them
    a1.set_ylim(lowest / 2, 1.6)
    a1.set_xlabel("infidelity $x$")
    a1.set_ylabel("share of post-selected runs with $1 - F \\geq x$")
    a1.set_title("infidelity right after each round", fontsize=9)
    a1.legend(fontsize=7)
    top = 0
    names = channel_names(dist.labels)
    for k, label in enumerate(dist.labels):
        h = dist.jump_counts(k)
        p = h.probabilities()
        seen = np.flatnonzero(h.counts)
        if not seen.size:
            continue
        top = max(top, int(seen[-1]))
        a2.plot(np.arange(p.size)[: seen[-1] + 1], p[: seen[-1] + 1], "o-", ms=3, lw=1, label=names[label])
    a2.set_yscale("log")
    a2.set_xlim(-0.5, top + 0.5)
    a2.set_xlabel("jumps per run")
    a2.set_ylabel("fraction of runs")
    a2.set_title("jump counts per channel", fontsize=9)
    if dist.labels:
        a2.legend(fontsize=7)
    h = dist.first_jump()
    value = h.survival()
    low, high = h.survival_interval(0.95)
    a3.fill_between(h.edges, low, high, step=None, color="tab:red", alpha=0.25, lw=0, label="95% Wilson band")
    a3.plot(h.edges, value, color="tab:red", lw=1, label=f"trajectories ({mc.ntraj:,})")
    if exact is not None:
        t = np.linspace(0.0, h.edges[-1], 801)
        # runs stop at the final output time, so the survival is flat past it
        p_none = no_jump_probability(exact.model, exact.protocol, np.minimum(t, mc.protocol.t_final))
        a3.plot(t, p_none, "k--", lw=1, label="exact")
    for tm in mc.protocol.measure_at:
        a3.axvline(tm, color="0.7", lw=0.6, ls=":")
    a3.set_xlabel("time $t$")
    a3.set_ylabel("P(no jump by $t$)")
    a3.set_title("first-jump survival", fontsize=9)
    a3.legend(fontsize=7)
    for ax in (a1, a2, a3):
        ax.grid(alpha=0.3)
    return fig


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
