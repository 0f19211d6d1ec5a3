"""The shared canvas of the figures: an Agg figure without pyplot state, the atomic :func:`save`, the
palette and the confidence bands of populations.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable
from typing import Any

import numpy as np
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.patches import Patch
from numpy.typing import ArrayLike

from ...ensemble.montecarlo.atomic import atomic_write
from ...ensemble.statistics.intervals import mean_interval
from ..measures import populations

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


def _singlet(rho: np.ndarray) -> np.ndarray:
    return populations(rho)[..., 0]


def _patch(color: str, label: str) -> Patch:
    return Patch(facecolor=color, alpha=0.35, label=label)
