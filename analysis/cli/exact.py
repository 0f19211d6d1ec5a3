"""``darkspin exact``: the protocol table from the master equation alone (no kernels compiled); with
--figures (or --out), also protocol.png, Fig. 3 right from the exact solution."""

from __future__ import annotations

import argparse
import time
from typing import TYPE_CHECKING

from .output import output_folder

if TYPE_CHECKING:
    from ...trajectories.model import SpinPair


def params_text(model: SpinPair) -> str:
    """The model's parameters as ``nu=1, V=2.5, ...``.

    Parameters
    ----------
    model : SpinPair

    Returns
    -------
    str
    """
    return ", ".join(f"{k}={v:g}" for k, v in model.as_dict().items())


def cmd_exact(args: argparse.Namespace) -> int:
    """Run ``darkspin exact``.

    Parameters
    ----------
    args : argparse.Namespace
        config, figures, out, format, set.

    Returns
    -------
    int
        0.

    Raises
    ------
    ValueError
        For a bad config (ConfigError, exit 2).
    """
    from ...ensemble.exact.solver import solve_master_equation
    from .. import report
    from ..config import load_config

    cfg = load_config(args.config, args.set)
    t0 = time.perf_counter()
    exact = solve_master_equation(cfg.model, cfg.protocol)
    table = report.exact_protocol_table(exact)
    elapsed = time.perf_counter() - t0
    print(f"model: {params_text(cfg.model)}")
    grid = (
        f"{cfg.n_out} listed output times up to {cfg.t_final:g}"
        if cfg.times is not None
        else f"t_final {cfg.t_final:g}, {cfg.n_out} outputs"
    )
    print(f"protocol: initial {cfg.initial}, measure at {list(cfg.measure_at)}, {grid}")
    print(table)
    print(f"({elapsed * 1e3:.0f} ms)")
    if args.figures or args.out is not None:
        from .. import figures

        with output_folder(args.out) as out:
            name = report.save_figure(out, "protocol", args.format, figures.protocol_figure(None, exact))
        print(f"wrote {out / name}")
    return 0
