"""The figure of the per-run distributions: fidelity, jump count and first-jump time, trajectories against
the exact answer where there is one.
"""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

from ...ensemble.exact.jump_statistics import no_jump_probability
from ...ensemble.results.master_equation import MasterEquationResult
from ...ensemble.results.monte_carlo import MonteCarloResult
from ..channel_names import channel_names
from .canvas import (
    _figure,
)


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
