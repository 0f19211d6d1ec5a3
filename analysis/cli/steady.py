"""``darkspin steady``: Fig. 3 left (entanglement of the steady-state family) and the critical
dark-state weight p_c, from the states and in closed form."""

from __future__ import annotations

import argparse

from .errors import one_line
from .exact import params_text
from .output import output_folder


def cmd_steady(args: argparse.Namespace) -> int:
    """Run ``darkspin steady``.

    Parameters
    ----------
    args : argparse.Namespace
        V (bias voltage, units of nu), out, format.

    Returns
    -------
    int
        0.
    """
    import numpy as np

    from ...trajectories.model import SpinPair
    from .. import figures, report
    from ..steady import critical_weight, critical_weight_closed_form, family_measures

    model = SpinPair.paper_fig3_left().replace(V=args.V)
    p_c = critical_weight(model)
    try:
        closed = critical_weight_closed_form(model)
        closed_text = f"{closed:.6f}"
    except ValueError as exc:
        closed, closed_text = None, f"n/a ({one_line(exc)})"
    with output_folder(args.out) as out:
        p = np.linspace(0.0, 1.0, 401)
        m = family_measures(model, p)
        name = report.save_figure(out, "steady", args.format, figures.steady_figure(m, p_c, closed, V=model.V))
    print(f"model: {params_text(model)}")
    print(f"p_c from the states:    {p_c:.6f}")
    print(f"p_c closed form:        {closed_text}")
    print(f"wrote {out / name}")
    return 0
