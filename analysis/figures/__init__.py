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

The figures live in modules of this package by what they show: :mod:`.canvas` (the shared set-up,
:func:`save`), :mod:`.runs`, :mod:`.model`, :mod:`.distributions` and :mod:`.sweep`.
"""

from __future__ import annotations

from .canvas import DPI as DPI
from .canvas import SIGMAS as SIGMAS
from .canvas import save as save
from .distributions import distributions_figure as distributions_figure
from .model import spectra_figure as spectra_figure
from .model import steady_figure as steady_figure
from .runs import postselection_figure as postselection_figure
from .runs import protocol_figure as protocol_figure
from .runs import trajectories_figure as trajectories_figure
from .sweep import sweep_figure as sweep_figure
