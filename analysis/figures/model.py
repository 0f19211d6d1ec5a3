"""Figures of the model alone: the steady-state family (the paper's Fig. 3 left) and the correlation
spectra with their transition lines (the paper's Fig. 2).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from numpy.typing import ArrayLike

from .canvas import (
    _figure,
)


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
