"""Figures: physical channel names, the infidelity survival panel, protocol legend = lines, two-axis sweep
with trajectory estimates."""

from __future__ import annotations

import numpy as np
import pytest
from matplotlib.colors import to_rgba

import darkspin as ds
from darkspin.analysis import figures
from darkspin.analysis.channel_names import channel_names

PROTOCOL = ds.Protocol("ud", [100.0, 200.0, 300.0], np.linspace(0.0, 400.0, 41))


def test_channel_names_are_physical() -> None:
    symmetric = channel_names(ds.SpinPair().jump_labels())
    assert set(symmetric) == {"lowering[0]", "raising[0]", "dephasing[0]"}
    assert symmetric["lowering[0]"] == r"relaxation $\sigma^-$, collective"
    assert symmetric["raising[0]"] == r"excitation $\sigma^+$, collective"
    asymmetric = channel_names(ds.SpinPair(theta=0.4).jump_labels())  # rank-2 sectors
    assert asymmetric["lowering[0]"].endswith("collective-like") and asymmetric["lowering[1]"].endswith("relative")
    assert all("[" not in name for name in asymmetric.values())
    assert channel_names(["decay", "pump[0]"]) == {"decay": "decay", "pump[0]": "pump[0]"}


@pytest.fixture(scope="module")
def runs() -> tuple[ds.MonteCarloResult, ds.MasterEquationResult]:
    mc = ds.simulate(ds.SpinPair(), PROTOCOL, 2000, seed=3, distributions=True, progress=False)
    return mc, ds.solve_master_equation(ds.SpinPair(), PROTOCOL)


def test_distributions_figure_reads_at_a_glance(runs) -> None:
    mc, exact = runs
    fig = figures.distributions_figure(mc, exact)
    left, middle = fig.axes[0], fig.axes[1]
    assert left.get_xscale() == "log" and left.get_yscale() == "log"
    for k, line in enumerate(left.lines):
        h = mc.distributions.fidelity(f"round {k + 1}", post=True)
        # the survival of the runs: 1 at the first edge, falling, the share left at 1 - F >= 1/2 written
        np.testing.assert_array_equal(line.get_ydata(), h.survival())
        assert line.get_ydata()[0] == 1.0 and np.all(np.diff(line.get_ydata()) <= 0)
    shares = [t.get_text() for t in left.texts]
    assert shares and all(s.endswith("%") for s in shares)
    labels = [t.get_text() for t in middle.get_legend().get_texts()]
    assert labels and all("[" not in lab for lab in labels) and any("relaxation" in lab for lab in labels)


def _style(artist) -> tuple:
    return (to_rgba(artist.get_color()), artist.get_linestyle(), artist.get_linewidth())


def test_protocol_legend_matches_its_lines(runs) -> None:
    mc, exact = runs
    for result in (mc, None):
        fig = figures.protocol_figure(result, exact)
        top = fig.axes[0]
        drawn = {_style(line) for line in top.lines}
        bands = {tuple(np.round(c.get_facecolor()[0], 6)) for c in top.collections}
        handles = top.get_legend().legend_handles
        assert len(handles) == (6 if result is not None else 4)
        for h in handles:
            if hasattr(h, "get_linestyle") and hasattr(h, "get_xdata"):
                assert _style(h) in drawn, h.get_label()
            else:  # a band: a patch of the band's own colour and transparency
                assert tuple(np.round(h.get_facecolor(), 6)) in bands, h.get_label()
        # each legend line is drawn: the old legend showed black lines the figure never drew
        assert not any(to_rgba(_style(h)[0]) == to_rgba("k") for h in handles if hasattr(h, "get_xdata"))


def test_two_axis_sweep_figure_shows_trajectory_estimates() -> None:
    table = ds.sweep(ds.SpinPair(), PROTOCOL, {"lam2": [0.0126, 0.011], "readout_error": [0.0, 0.1]}, ntraj=300, seed=2)
    fig = figures.sweep_figure(table)
    plots = [ax for ax in fig.axes if ax.containers]  # the panels with error bars
    assert len(plots) == 2
    for ax, col in zip(plots, ("fidelity_post", "yield"), strict=True):
        assert len(ax.containers) == 2  # one per value of the first axis
        for container, lam2 in zip(ax.containers, (0.0126, 0.011), strict=True):
            at = table["lam2"] == lam2
            np.testing.assert_array_equal(container.lines[0].get_ydata(), table[f"mc_{col}"][at])
            segments = container.lines[2][0].get_segments()
            np.testing.assert_allclose([s[0][1] for s in segments], table[f"mc_{col}_lo"][at])
            np.testing.assert_allclose([s[1][1] for s in segments], table[f"mc_{col}_hi"][at])
    exact_only = figures.sweep_figure(
        ds.sweep(ds.SpinPair(), PROTOCOL, {"lam2": [0.0126, 0.011], "readout_error": [0.0, 0.1]})
    )
    assert not any(ax.containers for ax in exact_only.axes)
