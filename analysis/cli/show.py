"""``darkspin show RESULT.npz``: reload a saved run, print its table and the comparison with the exact
solution; with --out, also write its summary.json, postselection.txt and figures there."""

from __future__ import annotations

import argparse
import contextlib
import os

from .interrupts import compile_kernels
from .output import output_folder


def cmd_show(args: argparse.Namespace) -> int:
    """Run ``darkspin show``.

    Parameters
    ----------
    args : argparse.Namespace
        result, out, format.

    Returns
    -------
    int
        0.

    Raises
    ------
    ValueError
        For a missing, corrupt or foreign file (exit 2).
    """
    from ...ensemble.exact.solver import solve_master_equation
    from ...ensemble.montecarlo.files import load
    from .. import report

    mc = load(args.result)
    with contextlib.ExitStack() as stack:
        out = stack.enter_context(output_folder(args.out)) if args.out is not None else None
        exact = solve_master_equation(mc.model, mc.protocol)
        state = " (interrupted run)" if mc.stats["end_condition"] == "interrupted" else ""
        print(f"{args.result}: {mc.ntraj} trajectories, seed {mc.seed}{state}")
        if out is not None and mc.ntraj > 0:
            compile_kernels(mc.model, mc.protocol, mc.seed, ensemble=False)  # for trajectories.png
        table, cmp = report.write_run_report(
            mc, exact, out, args.format, config_source=os.fspath(args.result), figures=True
        )
    print(report.results_text(table, cmp))
    if out is not None:
        print(f"\nwrote {out}/")
    return 0
