"""``darkspin run``: simulate the protocol of a config, compare it with the exact master equation, and
write the run folder (result.npz after every batch, then postselection.txt, figures, summary.json).

A folder that already holds a result.npz of the same model, protocol and seed is resumed (see
output.resume_point); Ctrl-C keeps the finished batches and writes the report without figures.
"""

from __future__ import annotations

import argparse
import dataclasses
import time
import warnings

from .cluster import executor as make_executor
from .errors import EXIT_INTERRUPTED, EXIT_IO, CLIError, fail
from .interrupts import compile_kernels, noticing_interrupts
from .output import output_folder, resume_point


def cmd_run(args: argparse.Namespace) -> int:
    """Run ``darkspin run`` (see the package docstring).

    Parameters
    ----------
    args : argparse.Namespace
        config, ntraj, seed, out, format, workers, scheduler, timeout, no_progress, set.

    Returns
    -------
    int
        The exit status: 0, or EXIT_INTERRUPTED after a Ctrl-C (the finished batches saved).

    Raises
    ------
    CLIError
        For an unusable folder or result.npz (exit 2), or a failed save (exit 1).
    ValueError
        For a bad config (ConfigError).
    """
    from ...ensemble import simulate
    from ...ensemble.exact.solver import solve_master_equation
    from ...ensemble.montecarlo.files import load
    from .. import report
    from ..config import load_config

    cfg = load_config(args.config, args.set)
    changes = {k: v for k, v in (("ntraj", args.ntraj), ("seed", args.seed)) if v is not None}
    if changes:
        cfg = cfg.replace(**changes)
    with output_folder(args.out) as out:
        result_path = out / "result.npz"
        resumed_from = resume_point(result_path, cfg)
        exact = solve_master_equation(cfg.model, cfg.protocol)
        in_process = args.workers is None and args.scheduler is None
        compile_kernels(cfg.model, cfg.protocol, cfg.seed, ensemble=in_process)
        executor, close = make_executor(args.workers, args.scheduler, args.timeout)
        t0 = time.perf_counter()
        try:
            with noticing_interrupts() as sigint, warnings.catch_warnings():
                # simulate warns on Ctrl-C; the CLI prints its own line below
                warnings.filterwarnings("ignore", message="interrupted", category=RuntimeWarning)
                mc = simulate(
                    cfg.model,
                    cfg.protocol,
                    cfg.ntraj,
                    cfg.seed,
                    options=dataclasses.replace(cfg.options, progress=not args.no_progress),
                    executor=executor,
                    resume=None if resumed_from is None else result_path,
                    save=result_path,
                    distributions=True,
                )
        except OSError as exc:
            try:
                kept = f"{load(result_path).ntraj} trajectories of the finished batches are in {result_path}"
            except ValueError:
                kept = "no batch was saved"
            raise CLIError(f"cannot save {result_path}: {exc.strerror or exc} ({kept})", EXIT_IO) from None
        finally:
            close()
        elapsed = time.perf_counter() - t0
        interrupted = bool(mc.stats["end_condition"] == "interrupted" or sigint["seen"])
        table, cmp = report.write_run_report(
            mc,
            exact,
            out,
            args.format,
            elapsed=elapsed,
            config_source=cfg.source,
            bandwidth=cfg.bandwidth,
            figures=not interrupted,
            result_name="result.npz",
            resumed_from=resumed_from or 0,
            interrupted=interrupted,
        )
    print(report.results_text(table, cmp))
    print(f"\nwrote {out}/ ({mc.ntraj} trajectories in {elapsed:.1f} s)")
    if interrupted:
        return fail(f"interrupted: {mc.ntraj} trajectories saved to {result_path}", EXIT_INTERRUPTED)
    return 0
