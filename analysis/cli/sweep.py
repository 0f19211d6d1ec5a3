"""``darkspin sweep STUDY.toml``: exact (and trajectory) results over a grid of parameters.

Runs analysis.studies.sweep over the axes of the study's [sweep] section (see docs/sweeps.md) and writes
sweep.csv, summary.json and sweep.png (lines for one axis, heatmaps for two) to the output folder, whose
points/ keeps every finished point, so the same command resumes an interrupted sweep.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import os
import time
import warnings

from .cluster import executor as make_executor
from .errors import EXIT_INTERRUPTED, EXIT_IO, CLIError, fail
from .interrupts import compile_kernels, noticing_interrupts
from .output import output_folder


def cmd_sweep(args: argparse.Namespace) -> int:
    """Run ``darkspin sweep``.

    Parameters
    ----------
    args : argparse.Namespace
        study, ntraj, out, format, workers, scheduler, timeout, no_progress, set.

    Returns
    -------
    int
        0, or EXIT_INTERRUPTED after a Ctrl-C (the finished points kept).

    Raises
    ------
    ValueError
        For a bad study (ConfigError) or axes (checked before the folder is made, exit 2).
    CLIError
        (exit 1) If a point file cannot be written (e.g. a full disk): the message names it.
    """
    import json

    from .. import figures, report
    from ..config_study import load_study
    from ..studies.axes import check_sweep
    from ..studies.sweeps import sweep

    study = load_study(args.study, args.set)
    cfg = study.run
    ntraj = args.ntraj if args.ntraj is not None else (cfg.ntraj if study.ntraj_given else 0)
    # the axes are checked before the output folder is made or anything runs
    points = check_sweep(cfg.model, cfg.protocol, study.axes, paired=study.paired, spacing=study.spacing)
    mc = ntraj > 0
    with output_folder(args.out) as out:
        in_process = args.workers is None and args.scheduler is None
        if mc:
            compile_kernels(cfg.model, cfg.protocol, cfg.seed, ensemble=in_process)
            executor, close = make_executor(args.workers, args.scheduler, args.timeout)
        else:
            executor, close = None, lambda: None
        t0 = time.perf_counter()
        try:
            with noticing_interrupts() as sigint, warnings.catch_warnings():
                warnings.filterwarnings("ignore", message="interrupted", category=RuntimeWarning)
                table = sweep(
                    cfg.model,
                    cfg.protocol,
                    study.axes,
                    paired=study.paired,
                    ntraj=ntraj,
                    seed=cfg.seed,
                    executor=executor,
                    target_state=study.target_state,
                    common_random_numbers=study.common_random_numbers,
                    directory=out / "points",
                    spacing=study.spacing,
                    # the [run] settings apply to the trajectories only; an exact-only sweep takes none
                    options=dataclasses.replace(cfg.options, progress=not args.no_progress) if mc else None,
                    progress=not args.no_progress and mc,
                )
        except OSError as exc:
            if exc.filename is None or isinstance(exc, (ConnectionError, TimeoutError)):
                raise
            raise CLIError(
                f"cannot save {exc.filename}: {exc.strerror or exc} (the finished points are kept in "
                f"{out / 'points'}; run the same command again to resume)",
                EXIT_IO,
            ) from None
        finally:
            close()
        elapsed = time.perf_counter() - t0
        interrupted = bool(table.interrupted or sigint["seen"])
        files = ["sweep.csv"]
        report.write_text(out / "sweep.csv", table.to_csv())
        if not interrupted:
            fig = figures.sweep_figure(table)
            if fig is not None:
                files.append(report.save_figure(out, "sweep", args.format, fig))
        files.append("summary.json")
        columns = {
            k: [None if isinstance(v, float) and not math.isfinite(v) else v for v in values]
            for k, values in ((n, table[n].tolist()) for n in table.names)
        }
        data = {
            "study": os.fspath(args.study),
            "axes": {a: list(dict.fromkeys(str(v) for v in table[a].tolist())) for a in table.axes},
            "paired": study.paired,
            "points": points,
            "ntraj": ntraj,
            "seed": table.meta["seed"],
            "common_random_numbers": study.common_random_numbers,
            "target": table.meta["target"],
            "model": cfg.model.as_dict(),
            "protocol": report.protocol_json(cfg.protocol),
            "elapsed_s": elapsed,
            "interrupted": interrupted,
            "files": files,
            "columns": columns,
        }
        report.write_text(out / "summary.json", json.dumps(data, indent=2, allow_nan=False) + "\n")
    # the compact table; every column is in sweep.csv
    print(table._compact())
    print(f"\nwrote {out}/ ({points} points{f', {ntraj} trajectories each' if mc else ''} in {elapsed:.1f} s)")
    if interrupted:
        return fail(f"interrupted: finished points are kept in {out / 'points'}", EXIT_INTERRUPTED)
    return 0
