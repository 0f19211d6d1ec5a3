"""The ``darkspin`` command line.

    darkspin run [CONFIG.toml] [--ntraj N] [--seed S] [--out DIR] [--workers K | --scheduler ADDRESS]
                 [--format png|pdf|svg] [--no-progress]
    darkspin show RESULT.npz [--out DIR] [--format ...]
    darkspin exact [CONFIG.toml]
    darkspin steady [--V V] [--out DIR] [--format ...]
    darkspin spectra [--out DIR] [--format ...]

``run`` simulates the protocol of the config (default: the embedded ``analysis/default.toml``, the
paper's Fig. 3 right run with 100 000 trajectories, seed 2021), compares it with the exact master
equation, and writes to DIR (default ./darkspin-out/<timestamp>/):

    result.npz         the MonteCarloResult (ensemble.load reads it; saved after every batch)
    summary.json       model (SpinPair parameters), bandwidth (or null), protocol (initial,
                       measure_at, t_final, n_out), ntraj, seed, n_jumps, postselection (the table's
                       to_dict(): trajectory and exact columns, see full_table), comparison (verdict,
                       consistent, max_z, threshold, max_trace_distance, max_trace_distance_post,
                       worst), elapsed_s, version, interrupted, config (file or '<default>'), files
    postselection.txt  the per-round table, trajectories and exact, with entanglement columns
    protocol.png, trajectories.png, postselection.png   (or .pdf / .svg)

Errors print one line ``darkspin: <message>`` on stderr, never a traceback. Exit status: 0 success;
2 bad usage, config, input file or output directory (and any ValueError of the library); 1 an I/O
failure while writing (e.g. disk full; the batches finished before stay in result.npz) or an internal
error (DARKSPIN_DEBUG=1 shows its traceback); 130 Ctrl-C (the finished batches are kept in result.npz,
summary.json and postselection.txt are written, figures are not).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import tempfile
import time
import warnings
from pathlib import Path

#: Keys of summary.json (``run``; ``show`` writes the same when given --out).
SUMMARY_KEYS = ("model", "bandwidth", "protocol", "ntraj", "seed", "n_jumps", "postselection", "comparison",
                "elapsed_s", "version", "interrupted", "config", "files")
#: Single runs drawn in trajectories.png (indices 0 .. N-1 of the run's seed).
N_TRAJECTORIES_SHOWN = 5
FORMATS = ("png", "pdf", "svg")
EXIT_USAGE, EXIT_IO, EXIT_INTERRUPTED = 2, 1, 130


class CLIError(Exception):
    """A failure to report as one line, with an exit status."""

    def __init__(self, message: str, status: int = EXIT_USAGE):
        super().__init__(message)
        self.status = status


class _UsageError(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    """argparse that reports errors as one line (raised, so main() decides the exit)."""

    def error(self, message):
        raise _UsageError(message)


def _int_in(low: int, high: int | None, accepted: str):
    """An argparse type: an integer in [low, high) (high None: no upper bound)."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be {accepted}, got {text!r}") from None
        if value < low or (high is not None and value >= high):
            raise argparse.ArgumentTypeError(f"must be {accepted}, got {text!r}")
        return value

    return parse


_positive_int = _int_in(1, None, "an integer >= 1")
_seed = _int_in(0, 2**64, "an integer in [0, 2**64)")


def _real(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a real number, got {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"must be finite, got {text!r}")
    return value


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``darkspin`` (subcommands run, show, exact, steady, spectra)."""
    p = _Parser(prog="darkspin", description="Quantum-jump trajectories of two spins in an STM: "
                "dark-state purification by repeated tau_z x tau_z measurements.")
    p.add_argument("--version", action="store_true", help="print the version and exit")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    def outputs(q, what):
        q.add_argument("--out", metavar="DIR", help=f"folder for {what} (default ./darkspin-out/<timestamp>/)")
        q.add_argument("--format", choices=FORMATS, default="png", help="figure format (default png)")

    r = sub.add_parser("run", help="simulate the protocol, compare with the master equation, write figures")
    r.add_argument("config", nargs="?", metavar="CONFIG.toml", help="run config (default: the paper's Fig. 3 right)")
    r.add_argument("--ntraj", type=_positive_int, metavar="N", help="trajectories (overrides [run] ntraj)")
    r.add_argument("--seed", type=_seed, metavar="S", help="random seed (overrides [run] seed)")
    outputs(r, "result.npz, summary.json, postselection.txt and figures")
    g = r.add_mutually_exclusive_group()
    g.add_argument("--workers", type=_positive_int, metavar="K", help="run on a local Dask cluster of K workers")
    g.add_argument("--scheduler", metavar="ADDRESS", help="run on an existing Dask scheduler")
    r.add_argument("--no-progress", action="store_true", help="no progress bar")

    s = sub.add_parser("show", help="reload a saved run; print its table and comparison")
    s.add_argument("result", metavar="RESULT.npz")
    s.add_argument("--out", metavar="DIR", help="also write summary.json, postselection.txt and figures here")
    s.add_argument("--format", choices=FORMATS, default="png", help="figure format (default png)")

    e = sub.add_parser("exact", help="exact protocol table from the master equation (no trajectories)")
    e.add_argument("config", nargs="?", metavar="CONFIG.toml", help="run config (default: the paper's Fig. 3 right)")

    st = sub.add_parser("steady", help="Fig. 3 left: entanglement of the steady-state family, p_c")
    st.add_argument("--V", type=_real, default=2.5, help="bias voltage in units of nu (default 2.5)")
    outputs(st, "steady.png")

    sp = sub.add_parser("spectra", help="Fig. 2: correlation spectra C1, C2, C3 and their lines")
    sp.add_argument("--omega-max", type=_real, default=12.0, help="largest frequency, units of nu (default 12)")
    outputs(sp, "spectra.png")
    return p


# ---- entry point -------------------------------------------------------------------------------
def main(argv=None) -> int:
    """Run ``darkspin`` with ``argv`` (default sys.argv[1:]); returns the exit status."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except _UsageError as exc:
        return _fail(f"error: {exc} (see darkspin --help)", EXIT_USAGE)
    except SystemExit as exc:  # --help
        return int(exc.code or 0)
    if args.version:
        from ..ensemble.result import package_version
        print(f"darkspin {package_version()}")
        return 0
    if args.command is None:
        return _fail("error: choose a command: run, show, exact, steady, spectra (see darkspin --help)",
                     EXIT_USAGE)
    handler = {"run": cmd_run, "show": cmd_show, "exact": cmd_exact, "steady": cmd_steady,
               "spectra": cmd_spectra}[args.command]
    show_before = warnings.showwarning
    warnings.showwarning = _one_line_warning
    try:
        return handler(args)
    except CLIError as exc:
        return _fail(str(exc), exc.status)
    except ValueError as exc:  # the library's bad-input errors (ConfigError included)
        return _fail(str(exc), EXIT_USAGE)
    except KeyboardInterrupt:
        return _fail("interrupted", EXIT_INTERRUPTED)
    except OSError as exc:
        return _fail(_os_message(exc), EXIT_IO)
    except Exception as exc:  # a bug: one line, unless asked for the traceback
        if os.environ.get("DARKSPIN_DEBUG"):
            raise
        return _fail(f"internal error: {exc.__class__.__name__}: {exc} (set DARKSPIN_DEBUG=1 for the traceback)",
                     EXIT_IO)
    finally:
        warnings.showwarning = show_before


def _fail(message: str, status: int) -> int:
    print(f"darkspin: {_one_line(message)}", file=sys.stderr)
    return status


def _one_line(text) -> str:
    return " ".join(str(text).split())


def _one_line_warning(message, category, filename, lineno, file=None, line=None):
    print(f"darkspin: warning: {_one_line(message)}", file=sys.stderr if file is None else file)


def _os_message(exc: OSError) -> str:
    reason = exc.strerror or str(exc) or exc.__class__.__name__
    return f"{exc.filename}: {reason}" if exc.filename is not None else f"I/O error: {reason}"


# ---- shared helpers ----------------------------------------------------------------------------
def _out_dir(path) -> Path:
    """Create (if needed) and check the output folder before any work; CLIError (exit 2) if unusable."""
    if path is None:
        base = Path("darkspin-out") / time.strftime("%Y%m%d-%H%M%S")
        path, k = base, 1
        while path.exists():
            k += 1
            path = base.with_name(f"{base.name}-{k}")
    path = Path(path)
    try:
        path.mkdir(parents=True, exist_ok=True)
        # root ignores permission bits, so try an actual write
        with tempfile.NamedTemporaryFile(dir=path, prefix=".darkspin-probe-"):
            pass
    except OSError as exc:
        raise CLIError(f"output directory {str(path)!r} is not usable: {exc.strerror or exc}") from None
    return path


def _figure_writer(out: Path, fmt: str):
    from . import figures

    written = []

    def write(name: str, fig) -> None:
        path = out / f"{name}.{fmt}"
        figures.save(fig, path)
        written.append(path.name)

    return write, written


def _round_end_measures(rho_post, protocol):
    """Concurrence and E_F of rho_post at each round's end; two (rounds,) arrays (NaN: undefined)."""
    import numpy as np

    from ..ensemble.postselection import round_end_indices

    from .measures import concurrence, entanglement_of_formation

    idx = round_end_indices(protocol)
    rho = np.full((idx.size, 4, 4), np.nan, complex)
    ok = idx >= 0
    rho[ok] = np.asarray(rho_post)[idx[ok]]
    if idx.size == 0:
        return np.zeros(0), np.zeros(0)
    return np.atleast_1d(concurrence(rho)), np.atleast_1d(entanglement_of_formation(rho))


def full_table(mc, exact):
    """The Monte Carlo post-selection table with exact columns and round-end entanglement.

    Added columns (rounds,): p_success_exact, p_cumulative_exact, singlet_post_exact; concurrence_post,
    eof_post (trajectories) and concurrence_post_exact, eof_post_exact, of the post-selected state at
    each round's end (see ensemble.postselection.round_end_indices).
    """
    from ..ensemble.postselection import exact_table, postselection_table

    table = postselection_table(mc)
    ex = exact_table(exact)
    c_mc, ef_mc = _round_end_measures(mc.rho_post, mc.protocol)
    c_ex, ef_ex = _round_end_measures(exact.rho_post, exact.protocol)
    for name, values, fmt in (
            ("p_success_exact", ex["p_success"], ".2%"), ("p_cumulative_exact", ex["p_cumulative"], ".2%"),
            ("singlet_post_exact", ex["singlet_post"], ".5f"),
            ("concurrence_post", c_mc, ".4f"), ("concurrence_post_exact", c_ex, ".4f"),
            ("eof_post", ef_mc, ".4f"), ("eof_post_exact", ef_ex, ".4f")):
        table = table.add_column(name, values, fmt)
    return table


def _table_text(table) -> str:
    """Two aligned blocks (the full table is too wide for a terminal): counts and probabilities, then
    the post-selected state at each round's end."""
    from ..ensemble.postselection import PostSelectionTable

    def block(names):
        return PostSelectionTable({n: table[n] for n in names}, {n: table.formats[n] for n in names},
                                  table.meta)

    first = ["round", "time", "attempts", "successes", "p_success", "p_success_low", "p_success_high",
             "p_success_exact", "p_cumulative", "p_cumulative_low", "p_cumulative_high", "p_cumulative_exact"]
    second = ["round", "end_time", "singlet_post", "singlet_post_se", "singlet_post_exact", "concurrence_post",
              "concurrence_post_exact", "eof_post", "eof_post_exact"]
    b2 = str(block(second)).splitlines()
    return "\n".join([str(block(first)), "", "Post-selected state at the end of each round "
                      "(trajectories and exact)"] + b2[1:])


def _comparison_dict(cmp) -> dict:
    import numpy as np

    def mx(a):
        a = np.asarray(a, float)
        a = a[np.isfinite(a)]
        return float(a.max()) if a.size else None

    return {"verdict": cmp.verdict, "consistent": bool(cmp.consistent),
            "max_z": None if not math.isfinite(cmp.max_z) else float(cmp.max_z), "threshold": cmp.threshold,
            "max_trace_distance": mx(cmp.trace_distance),
            "max_trace_distance_post": mx(cmp.trace_distance_post),
            "worst": {k: (list(v) if isinstance(v, tuple) else v) for k, v in cmp.worst.items()}}


def _summary(mc, exact, table, cmp, *, elapsed, config_source, bandwidth, files) -> dict:
    from ..ensemble.result import package_version

    meas = [float(t) for t in mc.protocol.measure_at]
    times = mc.protocol.times
    return {
        "model": mc.model.as_dict(),
        "bandwidth": bandwidth,
        "protocol": {"initial": _initial_json(mc.protocol), "measure_at": meas,
                     "t_final": float(times[-1]), "n_out": int(times.size)},
        "ntraj": int(mc.ntraj),
        "seed": int(mc.seed),
        "n_jumps": int(mc.n_jumps),
        "postselection": None if table is None else table.to_dict(),
        "comparison": None if cmp is None else _comparison_dict(cmp),
        "elapsed_s": None if elapsed is None else round(float(elapsed), 3),
        "version": package_version(),
        "interrupted": bool(mc.interrupted),
        "config": config_source,
        "files": files,
    }


def _initial_json(protocol):
    """A basis label if rho0 is one of the named pure states, else the 4x4 matrix as [re, im] pairs."""
    import numpy as np

    from ..trajectories.protocol import INITIAL_LABELS, initial_density_matrix

    for label in INITIAL_LABELS:
        if np.allclose(protocol.rho0, initial_density_matrix(label), atol=1e-12):
            return label
    return [[[float(x.real), float(x.imag)] for x in row] for row in protocol.rho0]


def _write_text(path: Path, text: str) -> None:
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(text)


def _report(mc, exact, out: Path | None, fmt: str, *, elapsed, config_source, bandwidth,
            figures: bool, result_name: str | None) -> tuple:
    """Table and comparison of a finished (or interrupted) run; writes the files to ``out`` if given."""
    from ..ensemble.compare import compare

    table = cmp = None
    if mc.ntraj > 0:
        table = full_table(mc, exact)
        cmp = compare(mc, exact)
    files = [result_name] if result_name else []
    if out is not None:
        if table is not None:
            _write_text(out / "postselection.txt", _table_text(table) + "\n\n" + str(cmp) + "\n")
            files.append("postselection.txt")
        if figures and mc.ntraj > 0:
            files += _run_figures(mc, exact, out, fmt)
        files.append("summary.json")
        summary = _summary(mc, exact, table, cmp, elapsed=elapsed, config_source=config_source,
                           bandwidth=bandwidth, files=files)
        _write_text(out / "summary.json", json.dumps(summary, indent=2) + "\n")
    return table, cmp


def _run_figures(mc, exact, out: Path, fmt: str) -> list[str]:
    from ..trajectories.single import run_trajectory

    from . import figures

    write, written = _figure_writer(out, fmt)
    write("protocol", figures.protocol_figure(mc, exact))
    if mc.protocol.rounds:
        write("postselection", figures.postselection_figure(mc, exact))
    trajs = [run_trajectory(mc.model, mc.protocol, mc.seed, i) for i in range(N_TRAJECTORIES_SHOWN)]
    write("trajectories", figures.trajectories_figure(trajs, mc.protocol.measure_at, exact))
    return written


def _print_results(table, cmp) -> None:
    if table is None:
        print("no finished trajectories: nothing to tabulate")
        return
    print(_table_text(table))
    print()
    print(cmp)


# ---- commands ----------------------------------------------------------------------------------
def _executor(workers, scheduler):
    """(executor or None, close function) for --workers / --scheduler."""
    if workers is None and scheduler is None:
        return None, lambda: None
    try:
        import logging

        from dask.distributed import Client, LocalCluster
    except ImportError:
        raise CLIError("--workers/--scheduler need Dask: pip install darkspin[distributed]") from None
    if workers is not None:
        cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                               dashboard_address=None, silence_logs=logging.ERROR)
        client = Client(cluster)

        def close():
            client.close()
            cluster.close()

        return client, close
    try:
        client = Client(scheduler, timeout="10s")
    except (OSError, TimeoutError, ValueError) as exc:
        raise CLIError(f"cannot connect to the Dask scheduler {scheduler!r}: {_one_line(exc)}") from None
    return client, client.close


def cmd_run(args) -> int:
    """``darkspin run``: see the module docstring."""
    from ..ensemble.master_equation import solve_master_equation
    from ..ensemble.result import load
    from ..ensemble import simulate

    from .config import load_config

    cfg = load_config(args.config)
    changes = {k: v for k, v in (("ntraj", args.ntraj), ("seed", args.seed)) if v is not None}
    if changes:
        cfg = cfg.replace(**changes)
    out = _out_dir(args.out)
    result_path = out / "result.npz"
    exact = solve_master_equation(cfg.model, cfg.protocol)
    executor, close = _executor(args.workers, args.scheduler)
    t0 = time.perf_counter()
    try:
        with warnings.catch_warnings():
            # simulate warns on Ctrl-C; the CLI prints its own line below
            warnings.filterwarnings("ignore", message="interrupted", category=RuntimeWarning)
            mc = simulate(cfg.model, cfg.protocol, cfg.ntraj, cfg.seed, batch_size=cfg.batch_size,
                          executor=executor, progress=not args.no_progress, target_se=cfg.target_se,
                          max_ntraj=cfg.max_ntraj, save=result_path)
    except OSError as exc:
        try:
            kept = f"{load(result_path).ntraj} trajectories of the finished batches are in {result_path}"
        except ValueError:
            kept = "no batch was saved"
        raise CLIError(f"cannot save {result_path}: {exc.strerror or exc} ({kept})", EXIT_IO) from None
    finally:
        close()
    elapsed = time.perf_counter() - t0
    table, cmp = _report(mc, exact, out, args.format, elapsed=elapsed, config_source=cfg.source,
                         bandwidth=cfg.bandwidth, figures=not mc.interrupted, result_name="result.npz")
    _print_results(table, cmp)
    print(f"\nwrote {out}/ ({mc.ntraj} trajectories in {elapsed:.1f} s)")
    if mc.interrupted:
        return _fail(f"interrupted: {mc.ntraj} trajectories saved to {result_path}", EXIT_INTERRUPTED)
    return 0


def cmd_show(args) -> int:
    """``darkspin show RESULT.npz``: reload a run, print its table and the comparison."""
    from ..ensemble.master_equation import solve_master_equation
    from ..ensemble.result import load

    mc = load(args.result)  # ValueError (exit 2) for a missing, corrupt or foreign file
    out = _out_dir(args.out) if args.out is not None else None
    exact = solve_master_equation(mc.model, mc.protocol)
    state = " (interrupted run)" if mc.interrupted else ""
    print(f"{args.result}: {mc.ntraj} trajectories, seed {mc.seed}{state}")
    table, cmp = _report(mc, exact, out, args.format, elapsed=None, config_source=os.fspath(args.result),
                         bandwidth=None, figures=True, result_name=None)
    _print_results(table, cmp)
    if out is not None:
        print(f"\nwrote {out}/")
    return 0


def cmd_exact(args) -> int:
    """``darkspin exact``: the protocol table from the master equation alone (no kernels compiled)."""
    from ..ensemble.master_equation import solve_master_equation
    from ..ensemble.postselection import PostSelectionTable, exact_table

    from .config import load_config

    cfg = load_config(args.config)
    t0 = time.perf_counter()
    exact = solve_master_equation(cfg.model, cfg.protocol)
    table = exact_table(exact)
    conc, eof = _round_end_measures(exact.rho_post, cfg.protocol)
    names = ["round", "time", "p_success", "p_cumulative", "end_time", "singlet_post"]
    table = PostSelectionTable({n: table[n] for n in names}, {n: table.formats[n] for n in names}, table.meta)
    table = table.add_column("concurrence_post", conc, ".4f").add_column("eof_post", eof, ".4f")
    elapsed = time.perf_counter() - t0
    print(f"model: {_params_text(cfg.model)}")
    print(f"protocol: initial {cfg.initial}, measure at {list(cfg.measure_at)}, t_final {cfg.t_final:g}, "
          f"{cfg.n_out} outputs")
    print(table)
    print(f"({elapsed * 1e3:.0f} ms)")
    return 0


def _params_text(model) -> str:
    return ", ".join(f"{k}={v:g}" for k, v in model.as_dict().items())


def cmd_steady(args) -> int:
    """``darkspin steady``: Fig. 3 left and the critical dark-state weight p_c."""
    import numpy as np

    from ..trajectories.model import SpinPair

    from . import figures
    from .steady import critical_weight, critical_weight_closed_form, family_measures

    model = SpinPair.paper_fig3_left().replace(V=args.V)
    p_c = critical_weight(model)
    try:
        closed = critical_weight_closed_form(model)
        closed_text = f"{closed:.6f}"
    except ValueError as exc:
        closed, closed_text = None, f"n/a ({_one_line(exc)})"
    out = _out_dir(args.out)
    p = np.linspace(0.0, 1.0, 401)
    m = family_measures(model, p)
    write, written = _figure_writer(out, args.format)
    write("steady", figures.steady_figure(m, p_c, closed, V=model.V))
    print(f"model: {_params_text(model)}")
    print(f"p_c from the states:    {p_c:.6f}")
    print(f"p_c closed form:        {closed_text}")
    print(f"wrote {out / written[0]}")
    return 0


def cmd_spectra(args) -> int:
    """``darkspin spectra``: Fig. 2, with found peak positions next to the predicted lines (Eq. 9)."""
    import numpy as np

    from ..trajectories.model import SpinPair

    from . import figures
    from .spectra import find_peaks, spectra, transition_lines

    if args.omega_max <= 0:
        raise CLIError(f"--omega-max must be > 0, got {args.omega_max:g}")
    out = _out_dir(args.out)
    omega = np.linspace(0.0, args.omega_max, 4001)
    panels, lines = {}, {}
    print(f"{'point':<14} {'C':<3} {'predicted (Eq. 9)':<40} found peaks")
    for label, dm in (("exchange only", False), ("with DM", True)):
        model = SpinPair.paper_fig2(with_dm=dm)
        panels[label] = spectra(model, omega)
        lines[label] = transition_lines(model)
        for name in ("C1", "C2", "C3"):
            pred = lines[label][name]
            found = find_peaks(omega, panels[label][name])
            fmt = lambda a: " ".join(f"{x:.4f}" for x in a) or "-"  # noqa: E731
            print(f"{label:<14} {name:<3} {fmt(pred):<40} {fmt(found)}")
    write, written = _figure_writer(out, args.format)
    write("spectra", figures.spectra_figure(omega, panels, lines))
    print("(frequencies in units of nu; SpinPair.paper_fig2: V = 10 nu, J_ex = 2 nu; with DM also "
          "J_DM = 2 nu, phi = pi/4)")
    print(f"wrote {out / written[0]}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
