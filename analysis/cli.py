"""The ``darkspin`` command line: argument parsing and the commands (the report itself: analysis.report).

    darkspin run [CONFIG.toml] [--ntraj N] [--seed S] [--out DIR] [--workers K | --scheduler ADDRESS]
                 [--timeout SECONDS] [--format png|pdf|svg] [--no-progress]
    darkspin show RESULT.npz [--out DIR] [--format ...]
    darkspin exact [CONFIG.toml] [--figures] [--out DIR] [--format ...]
    darkspin steady [--V V] [--out DIR] [--format ...]
    darkspin spectra [--out DIR] [--format ...]
    darkspin sweep STUDY.toml [--out DIR] [--ntraj N] [--workers K | --scheduler ADDRESS] [--set ...]
    darkspin optimize [STUDY.toml] [--rounds N | --max-rounds M] [--t-max T] [--objective NAME]
                 [--min-yield Y] [--starts K] [--ntraj N] [--seed S] [--no-progress]

``run``, ``exact``, ``sweep`` and ``optimize`` take repeatable ``--set section.key=value`` overrides of the config
(the value read as TOML, e.g. ``--set model.lam2=0.01``, ``--set protocol.measure_at=[100,200]``; text
that is not TOML is a string, e.g. ``--set protocol.postselect=last``).

``sweep`` reads a run config with a [sweep] section naming the axes (see docs/sweeps.md), runs
analysis.studies (the exact solution at every point; trajectories too with --ntraj N > 0, or run.ntraj
given in the file) and writes sweep.csv, summary.json and sweep.png (lines for one axis, heatmaps for
two) to DIR; DIR/points/ keeps every finished point, so the same command resumes an interrupted sweep.

``optimize`` chooses the measurement times of the config's protocol that maximise an exact objective
(analysis.studies.schedule.optimize_schedule; an optional [optimize] section of the config gives rounds,
max_rounds, t_max, objective, min_yield, starts; the flags override it), prints them next to the
protocol's own schedule, and checks the optimised protocol with trajectories ([run] ntraj and seed).

``run`` simulates the protocol of the config (default: the embedded ``analysis/default.toml``, the
paper's Fig. 3 right run with 100 000 trajectories, seed 2021), compares it with the exact master
equation, and writes result.npz, summary.json, postselection.txt and figures to DIR (default
./darkspin-out/<timestamp>/; the files are described in analysis.report).

Resuming. result.npz is saved after every batch. ``run`` into a folder that already holds a result.npz
continues it: the file must come from the same model, protocol and seed (otherwise exit 2 and the file
is left alone); its trajectories are kept, only the missing ones are run, and the final sums are
bit-identical to an uninterrupted run with the same seed. The saved count never goes down: a file with
more trajectories than asked is kept whole.

One command per folder. A command writing to DIR holds an exclusive lock on DIR/.darkspin.lock (flock)
while it runs; a second one on the same folder stops at once (exit 2).

Dask. ``--scheduler`` must answer the Dask handshake and show at least one worker within --timeout
seconds (default 20), else exit 2. ``--workers K`` starts a local cluster whose worker processes ignore
Ctrl-C, so a Ctrl-C to the whole process group stops only this process, which closes the cluster.

Errors print one line ``darkspin: <message>`` on stderr, never a traceback. Exit status: 0 success;
2 bad usage, config, input file or output directory (and any ValueError of the library); 1 an I/O
failure while writing (e.g. disk full: the message names the file; the batches finished before stay in
result.npz, no figure is left half-written) or an internal error (DARKSPIN_DEBUG=1 shows its traceback);
130 Ctrl-C (while the kernels compile or load at the start: at once, nothing written; later: the
finished batches are kept in result.npz, summary.json and postselection.txt are written, figures are
not); 141 (128 + SIGPIPE, what a shell reports for tools stopped by a closed pipe) when stdout is a pipe
closed early, e.g. ``darkspin exact | head -3``, silently (files written before stay).
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import math
import os
import signal
import sys
import tempfile
import threading
import time
import warnings
from pathlib import Path

FORMATS = ("png", "pdf", "svg")
EXIT_USAGE, EXIT_IO, EXIT_INTERRUPTED, EXIT_PIPE = 2, 1, 130, 141
#: Lock file of an output folder (an exclusive flock while a command writes there).
LOCK_NAME = ".darkspin.lock"
#: Default seconds to reach a Dask scheduler and to wait for its first worker.
DASK_TIMEOUT = 20.0
#: Objectives of ``darkspin optimize`` (analysis.studies.schedule.OBJECTIVES, without importing it here).
OPTIMIZE_OBJECTIVES = ("fidelity", "yield", "fidelity_at_yield")
#: Keys of the [optimize] section.
OPTIMIZE_KEYS = ("rounds", "max_rounds", "t_max", "objective", "min_yield", "starts")


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
    """An argparse type: an integer in [low, high) (high None: no upper bound); 1e5 is accepted too."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            try:
                number = float(text)
            except ValueError:
                number = math.nan
            if not (math.isfinite(number) and number.is_integer() and abs(number) <= 2**53):
                raise argparse.ArgumentTypeError(f"must be {accepted}, got {text!r}") from None
            value = int(number)
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


def _positive_real(text: str) -> float:
    value = _real(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {text!r}")
    return value


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``darkspin`` (subcommands run, show, exact, steady, spectra)."""
    p = _Parser(
        prog="darkspin",
        description="Quantum-jump trajectories of two spins in an STM: "
        "dark-state purification by repeated tau_z x tau_z measurements.",
    )
    p.add_argument("--version", action="store_true", help="print the version and exit")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    def outputs(q, what):
        q.add_argument("--out", metavar="DIR", help=f"folder for {what} (default ./darkspin-out/<timestamp>/)")
        q.add_argument("--format", choices=FORMATS, default="png", help="figure format (default png)")

    r = sub.add_parser("run", help="simulate the protocol, compare with the master equation, write figures")
    r.add_argument("config", nargs="?", metavar="CONFIG.toml", help="run config (default: the paper's Fig. 3 right)")
    r.add_argument("--ntraj", type=_positive_int, metavar="N", help="trajectories (overrides [run] ntraj)")
    r.add_argument("--seed", type=_seed, metavar="S", help="random seed (overrides [run] seed)")
    outputs(r, "result.npz, summary.json, postselection.txt and figures; a result.npz there is resumed")
    _cluster(r)
    _overrides(r)

    s = sub.add_parser("show", help="reload a saved run; print its table and comparison")
    s.add_argument("result", metavar="RESULT.npz")
    s.add_argument("--out", metavar="DIR", help="also write summary.json, postselection.txt and figures here")
    s.add_argument("--format", choices=FORMATS, default="png", help="figure format (default png)")

    e = sub.add_parser("exact", help="exact protocol table from the master equation (no trajectories)")
    e.add_argument("config", nargs="?", metavar="CONFIG.toml", help="run config (default: the paper's Fig. 3 right)")
    e.add_argument("--figures", action="store_true", help="also draw protocol.png (Fig. 3 right, exact curves)")
    outputs(e, "the figure (implies --figures)")
    _overrides(e)

    st = sub.add_parser("steady", help="Fig. 3 left: entanglement of the steady-state family, p_c")
    st.add_argument("--V", type=_real, default=2.5, help="bias voltage in units of nu (default 2.5)")
    outputs(st, "steady.png")

    sp = sub.add_parser("spectra", help="Fig. 2: correlation spectra C1, C2, C3 and their lines")
    sp.add_argument("--omega-max", type=_real, default=12.0, help="largest frequency, units of nu (default 12)")
    outputs(sp, "spectra.png")

    w = sub.add_parser("sweep", help="exact (and trajectory) results over a grid of parameters: CSV and figures")
    w.add_argument("study", metavar="STUDY.toml", help="a run config with a [sweep] section naming the axes")
    w.add_argument(
        "--ntraj",
        type=_int_in(0, None, "an integer >= 0"),
        metavar="N",
        help="trajectories per point (default: run.ntraj if the file gives it, else 0: exact only)",
    )
    outputs(w, "sweep.csv, summary.json, the figure and points/ (a sweep there is resumed)")
    _cluster(w)
    _overrides(w)
    o = sub.add_parser("optimize", help="choose the measurement times; check them with trajectories")
    o.add_argument("config", nargs="?", metavar="STUDY.toml", help="run config, optional [optimize] section")
    og = o.add_mutually_exclusive_group()
    og.add_argument("--rounds", type=_positive_int, metavar="N", help="measurements (default: the protocol's)")
    og.add_argument("--max-rounds", type=_positive_int, metavar="M", help="best number of rounds in 1..M")
    o.add_argument("--t-max", type=_positive_real, metavar="T", help="latest measurement time (default: t_final)")
    o.add_argument("--objective", choices=OPTIMIZE_OBJECTIVES, help="what to maximise (default fidelity)")
    o.add_argument("--min-yield", type=_real, metavar="Y", help="yield floor for fidelity_at_yield")
    o.add_argument("--starts", type=_positive_int, metavar="K", help="local searches (default 8)")
    o.add_argument("--ntraj", type=_positive_int, metavar="N", help="trajectories of the check (overrides [run])")
    o.add_argument("--seed", type=_seed, metavar="S", help="random seed of the check (overrides [run] seed)")
    o.add_argument("--no-progress", action="store_true", help="no progress bar")
    _overrides(o)
    return p


def _cluster(q) -> None:
    """--workers K | --scheduler ADDRESS, --timeout and --no-progress: where and how trajectories run."""
    g = q.add_mutually_exclusive_group()
    g.add_argument("--workers", type=_positive_int, metavar="K", help="run on a local Dask cluster of K workers")
    g.add_argument("--scheduler", metavar="ADDRESS", help="run on an existing Dask scheduler")
    q.add_argument(
        "--timeout",
        type=_positive_real,
        default=DASK_TIMEOUT,
        metavar="SECONDS",
        help=f"with --scheduler: seconds to connect, and to wait for a worker (default {DASK_TIMEOUT:g})",
    )
    q.add_argument("--no-progress", action="store_true", help="no progress bar")


def _overrides(q) -> None:
    q.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="SECTION.KEY=VALUE",
        help="override a config key (repeatable), the value as TOML: --set model.lam2=0.01",
    )


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
        from ..ensemble.montecarlo.files import package_version

        print(f"darkspin {package_version()}")
        return 0
    if args.command is None:
        return _fail(
            "error: choose a command: run, show, exact, steady, spectra, sweep, optimize (see darkspin --help)",
            EXIT_USAGE,
        )
    handler = {
        "run": cmd_run,
        "show": cmd_show,
        "exact": cmd_exact,
        "steady": cmd_steady,
        "spectra": cmd_spectra,
        "sweep": cmd_sweep,
        "optimize": cmd_optimize,
    }[args.command]
    show_before = warnings.showwarning
    warnings.showwarning = _one_line_warning
    try:
        status = handler(args)
        sys.stdout.flush()  # here, so a closed pipe is caught below and not at interpreter exit
        return status
    except CLIError as exc:
        return _fail(str(exc), exc.status)
    except ValueError as exc:  # the library's bad-input errors (ConfigError included)
        return _fail(str(exc), EXIT_USAGE)
    except KeyboardInterrupt:
        return _fail("interrupted", EXIT_INTERRUPTED)
    except BrokenPipeError as exc:
        if _stdout_closed():  # the reader of our output left (`| head`): stop quietly
            _discard_stdout()
            return EXIT_PIPE
        return _fail(_os_message(exc), EXIT_IO)
    except OSError as exc:
        return _fail(_os_message(exc), EXIT_IO)
    except Exception as exc:  # a bug: one line, unless asked for the traceback
        if os.environ.get("DARKSPIN_DEBUG"):
            raise
        return _fail(
            f"internal error: {exc.__class__.__name__}: {exc} (set DARKSPIN_DEBUG=1 for the traceback)", EXIT_IO
        )
    finally:
        warnings.showwarning = show_before


def _fail(message: str, status: int) -> int:
    with contextlib.suppress(OSError, ValueError):
        print(f"darkspin: {_one_line(message)}", file=sys.stderr)
    return status


def _one_line(text) -> str:
    from .config import plain_numbers

    return plain_numbers(" ".join(str(text).split()))


def _one_line_warning(message, category, filename, lineno, file=None, line=None):
    print(f"darkspin: warning: {_one_line(message)}", file=sys.stderr if file is None else file)


def _os_message(exc: OSError) -> str:
    reason = exc.strerror or str(exc) or exc.__class__.__name__
    return f"{exc.filename}: {reason}" if exc.filename is not None else f"I/O error: {reason}"


def _stdout_closed() -> bool:
    """True if stdout is a pipe whose reader has gone (poll reports an error on its write end)."""
    import select

    try:
        fd = sys.stdout.fileno()
        poller = select.poll()
        poller.register(fd, select.POLLOUT)
        return any(events & select.POLLERR for _, events in poller.poll(0))
    except (AttributeError, OSError, ValueError):  # io.UnsupportedOperation (StringIO) is both
        return False


def _discard_stdout() -> None:
    """Point stdout at /dev/null so the interpreter's final flush does not fail again."""
    with contextlib.suppress(OSError, ValueError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)


# ---- Ctrl-C ------------------------------------------------------------------------------------
@contextlib.contextmanager
def _exit_on_interrupt(what: str):
    """Within the block, Ctrl-C ends the process at once: one line, exit 130.

    For the kernels' compilation (or loading from Numba's cache): a KeyboardInterrupt raised there lands
    in llvmlite's ctypes callbacks and finalizers, which print a traceback and swallow it (the run then
    goes on and exits 0), or it leaves the compiler half-done ("no compiled object yet"). Nothing of the
    command is written yet, and Numba writes its cache files by renaming, so ending at once loses nothing.
    """
    if threading.current_thread() is not threading.main_thread() or signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        yield
        return

    def handler(signum, frame):
        with contextlib.suppress(Exception):
            sys.stdout.flush()
        with contextlib.suppress(Exception):
            sys.stderr.write(f"darkspin: interrupted ({what})\n")
            sys.stderr.flush()
        os._exit(EXIT_INTERRUPTED)

    previous = signal.signal(signal.SIGINT, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


@contextlib.contextmanager
def _noticing_interrupts():
    """Ctrl-C raises KeyboardInterrupt as usual, and is also remembered (``state['seen']``), so one that
    a library swallowed still ends the command with exit 130."""
    state = {"seen": False}
    if threading.current_thread() is not threading.main_thread() or signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        yield state
        return

    def handler(signum, frame):
        state["seen"] = True
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGINT, handler)
    try:
        yield state
    finally:
        signal.signal(signal.SIGINT, previous)


@contextlib.contextmanager
def _interrupts_ignored():
    """SIGINT ignored within the block (processes started here inherit that), when we may change it."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def _compile_kernels(model, protocol, seed: int, ensemble: bool = True) -> None:
    """Compile (or load from Numba's cache) the trajectory kernels before any work, Ctrl-C ending at once.

    ensemble: also the ensemble kernel (not needed in this process when Dask workers run the batches).
    """
    from ..ensemble.montecarlo.simulation import run_batch
    from ..trajectories.single import run_trajectory

    with _exit_on_interrupt("while compiling the kernels; nothing was written"):
        if ensemble:
            run_batch(model, protocol, seed, 0, 1, threads=1)
        run_trajectory(model, protocol, seed, 0)
        gc.collect()  # llvmlite's finalizers run now, not under a later Ctrl-C


# ---- output folders ----------------------------------------------------------------------------
@contextlib.contextmanager
def _output_folder(path):
    """Create (if needed), check and lock the output folder before any work; yields its Path.

    CLIError (exit 2) if it is unusable or another darkspin command holds its lock.
    """
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
    lock = _lock(path)
    try:
        yield path
    finally:
        if lock is not None:
            lock.close()  # releases the flock


def _lock(folder: Path):
    """An open file holding an exclusive flock on folder/LOCK_NAME (None where flock does not exist)."""
    try:
        import fcntl
    except ImportError:  # not POSIX: no lock
        return None
    try:
        fh = open(folder / LOCK_NAME, "a")
    except OSError as exc:
        raise CLIError(f"output directory {str(folder)!r} is not usable: {exc.strerror or exc}") from None
    try:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        fh.close()
        raise CLIError(
            f"output directory {str(folder)!r} is in use by another darkspin command (it holds "
            f"{LOCK_NAME}): wait for it to end, or choose another --out"
        ) from None
    except OSError as exc:  # a file system without locks (some NFS): go on, and say so
        warnings.warn(
            f"cannot lock {folder / LOCK_NAME} ({exc.strerror or exc}): nothing stops another "
            "darkspin command from writing to the same folder",
            RuntimeWarning,
            stacklevel=2,
        )
    return fh


# ---- resuming ----------------------------------------------------------------------------------
def _differences(prev, cfg) -> list[str]:
    """How the saved run ``prev`` differs from the config (keys as the config spells them)."""
    import numpy as np

    out = []
    here = cfg.model.as_dict()
    for key, value in prev.model.as_dict().items():
        if value != here[key]:
            via = " (from model.bandwidth)" if cfg.bandwidth is not None and key in ("J_ex", "J_DM") else ""
            out.append(f"model.{key}{via} is {value!r} there, {here[key]!r} here")
    if not np.array_equal(prev.protocol.rho0, cfg.protocol.rho0):
        out.append("protocol.initial differs")
    if not np.array_equal(prev.protocol.measure_at, cfg.protocol.measure_at):
        out.append(
            f"protocol.measure_at is {[float(t) for t in prev.protocol.measure_at]!r} there, "
            f"{list(cfg.measure_at)!r} here"
        )
    if not np.array_equal(prev.protocol.times, cfg.protocol.times):
        if cfg.times is not None:
            out.append("protocol.times differs")
        else:
            t = prev.protocol.times
            out.append(
                f"the output times differ (there: {t.size} from {float(t[0])!r} to {float(t[-1])!r}; "
                f"here: protocol.t_final = {cfg.t_final!r}, protocol.n_out = {cfg.n_out})"
            )
    if prev.protocol.selection != cfg.protocol.selection:
        out.append(f"protocol.postselect is {prev.protocol.postselect!r} there, {cfg.protocol.postselect!r} here")
    if prev.protocol.measurements != cfg.protocol.measurements:
        out.append(f"the instruments differ (there: {prev.protocol.describe()}; here: {cfg.protocol.describe()})")
    if prev.seed != cfg.seed:
        out.append(f"run.seed (or --seed) is {prev.seed} there, {cfg.seed} here")
    return out


def _resume_point(result_path: Path, cfg) -> int | None:
    """Trajectories already in result_path (None: no file); CLIError if it is not this run's."""
    from ..ensemble.montecarlo.files import load

    if not result_path.exists():
        return None
    advice = "use another --out, or delete it to start over"
    try:
        prev = load(result_path)
    except ValueError as exc:
        raise CLIError(f"{result_path} exists but cannot be resumed ({exc}): {advice}") from None
    diffs = _differences(prev, cfg)
    if diffs:
        raise CLIError(f"{result_path} holds another run ({'; '.join(diffs)}): {advice}")
    inside = sum(max(0, min(int(b), cfg.ntraj) - int(a)) for a, b in prev.ranges)
    extra = prev.ntraj - inside
    beyond = f" (and {extra} beyond, kept)" if extra else ""
    if inside >= cfg.ntraj and cfg.target_se is None:
        print(f"{result_path.name} already holds {prev.ntraj} trajectories ({cfg.ntraj} asked): nothing left to run")
    else:
        print(f"resuming from {result_path.name}: {inside} of {cfg.ntraj} trajectories done{beyond}")
    return prev.ntraj


# ---- Dask --------------------------------------------------------------------------------------
def _executor(workers, scheduler, timeout: float):
    """(executor or None, close function) for --workers / --scheduler."""
    if workers is None and scheduler is None:
        return None, lambda: None
    try:
        import logging

        from dask.distributed import Client, LocalCluster
    except ImportError:
        raise CLIError("--workers/--scheduler need Dask: pip install darkspin[distributed]") from None
    if workers is not None:
        # the worker processes inherit an ignored SIGINT: a Ctrl-C to the process group then reaches only
        # this process, which keeps its work and closes the cluster (no tracebacks from every worker)
        with _interrupts_ignored():
            cluster = LocalCluster(
                n_workers=workers,
                threads_per_worker=1,
                processes=True,
                dashboard_address=None,
                silence_logs=logging.CRITICAL,
            )
        client = Client(cluster)

        def close():
            client.close()
            cluster.close()

        return client, close
    _handshake(scheduler, timeout)
    try:
        client = Client(scheduler, timeout=f"{timeout}s")
    except (OSError, TimeoutError, ValueError) as exc:
        raise CLIError(f"cannot connect to the Dask scheduler {scheduler!r}: {_one_line(exc)}") from None
    try:
        client.wait_for_workers(1, timeout=timeout)
    except TimeoutError:
        client.close()
        raise CLIError(
            f"the Dask scheduler {scheduler!r} has no workers (waited {timeout:g} s; see --timeout)"
        ) from None
    except BaseException:
        client.close()
        raise
    return client, client.close


def _handshake(address: str, timeout: float) -> None:
    """Open and close one Dask connection to ``address`` within ``timeout`` s; CLIError otherwise.

    Client(timeout=...) bounds the TCP connect, not the handshake after it: a server that accepts and
    stays silent would hang it for minutes, and one that answers garbage can raise MemoryError.
    """
    import asyncio

    from distributed.comm import connect

    async def probe():
        comm = await asyncio.wait_for(connect(address, timeout=timeout), timeout)
        await comm.close()

    try:
        asyncio.run(probe())
    except TimeoutError:
        raise CLIError(f"no Dask scheduler answered at {address!r} within {timeout:g} s (see --timeout)") from None
    except (OSError, ValueError, TypeError) as exc:
        raise CLIError(f"cannot connect to the Dask scheduler {address!r}: {_one_line(exc)}") from None
    except Exception as exc:  # e.g. MemoryError from a length field of garbage
        raise CLIError(f"{address!r} does not answer as a Dask scheduler ({exc.__class__.__name__})") from None


# ---- commands ----------------------------------------------------------------------------------
def cmd_run(args) -> int:
    """``darkspin run``: see the module docstring."""
    from ..ensemble import simulate
    from ..ensemble.exact.solver import solve_master_equation
    from ..ensemble.montecarlo.files import load
    from . import report
    from .config import load_config

    cfg = load_config(args.config, args.set)
    changes = {k: v for k, v in (("ntraj", args.ntraj), ("seed", args.seed)) if v is not None}
    if changes:
        cfg = cfg.replace(**changes)
    with _output_folder(args.out) as out:
        result_path = out / "result.npz"
        resumed_from = _resume_point(result_path, cfg)
        exact = solve_master_equation(cfg.model, cfg.protocol)
        in_process = args.workers is None and args.scheduler is None
        _compile_kernels(cfg.model, cfg.protocol, cfg.seed, ensemble=in_process)
        executor, close = _executor(args.workers, args.scheduler, args.timeout)
        t0 = time.perf_counter()
        try:
            with _noticing_interrupts() as sigint, warnings.catch_warnings():
                # simulate warns on Ctrl-C; the CLI prints its own line below
                warnings.filterwarnings("ignore", message="interrupted", category=RuntimeWarning)
                mc = simulate(
                    cfg.model,
                    cfg.protocol,
                    cfg.ntraj,
                    cfg.seed,
                    batch_size=cfg.batch_size,
                    executor=executor,
                    progress=not args.no_progress,
                    target_se=cfg.target_se,
                    max_ntraj=cfg.max_ntraj,
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
        return _fail(f"interrupted: {mc.ntraj} trajectories saved to {result_path}", EXIT_INTERRUPTED)
    return 0


def cmd_show(args) -> int:
    """``darkspin show RESULT.npz``: reload a run, print its table and the comparison."""
    from ..ensemble.exact.solver import solve_master_equation
    from ..ensemble.montecarlo.files import load
    from . import report

    mc = load(args.result)  # ValueError (exit 2) for a missing, corrupt or foreign file
    with contextlib.ExitStack() as stack:
        out = stack.enter_context(_output_folder(args.out)) if args.out is not None else None
        exact = solve_master_equation(mc.model, mc.protocol)
        state = " (interrupted run)" if mc.stats["end_condition"] == "interrupted" else ""
        print(f"{args.result}: {mc.ntraj} trajectories, seed {mc.seed}{state}")
        if out is not None and mc.ntraj > 0:
            _compile_kernels(mc.model, mc.protocol, mc.seed, ensemble=False)  # for trajectories.png
        table, cmp = report.write_run_report(
            mc, exact, out, args.format, config_source=os.fspath(args.result), figures=True
        )
    print(report.results_text(table, cmp))
    if out is not None:
        print(f"\nwrote {out}/")
    return 0


def cmd_exact(args) -> int:
    """``darkspin exact``: the protocol table from the master equation alone (no kernels compiled);
    with --figures (or --out), also protocol.png, Fig. 3 right from the exact solution."""
    from ..ensemble.exact.solver import solve_master_equation
    from . import report
    from .config import load_config

    cfg = load_config(args.config, args.set)
    t0 = time.perf_counter()
    exact = solve_master_equation(cfg.model, cfg.protocol)
    table = report.exact_protocol_table(exact)
    elapsed = time.perf_counter() - t0
    print(f"model: {_params_text(cfg.model)}")
    grid = (
        f"{cfg.n_out} listed output times up to {cfg.t_final:g}"
        if cfg.times is not None
        else f"t_final {cfg.t_final:g}, {cfg.n_out} outputs"
    )
    print(f"protocol: initial {cfg.initial}, measure at {list(cfg.measure_at)}, {grid}")
    print(table)
    print(f"({elapsed * 1e3:.0f} ms)")
    if args.figures or args.out is not None:
        from . import figures

        with _output_folder(args.out) as out:
            name = report.save_figure(out, "protocol", args.format, figures.protocol_figure(None, exact))
        print(f"wrote {out / name}")
    return 0


def _params_text(model) -> str:
    return ", ".join(f"{k}={v:g}" for k, v in model.as_dict().items())


def cmd_steady(args) -> int:
    """``darkspin steady``: Fig. 3 left and the critical dark-state weight p_c."""
    import numpy as np

    from ..trajectories.model import SpinPair
    from . import figures, report
    from .steady import critical_weight, critical_weight_closed_form, family_measures

    model = SpinPair.paper_fig3_left().replace(V=args.V)
    p_c = critical_weight(model)
    try:
        closed = critical_weight_closed_form(model)
        closed_text = f"{closed:.6f}"
    except ValueError as exc:
        closed, closed_text = None, f"n/a ({_one_line(exc)})"
    with _output_folder(args.out) as out:
        p = np.linspace(0.0, 1.0, 401)
        m = family_measures(model, p)
        name = report.save_figure(out, "steady", args.format, figures.steady_figure(m, p_c, closed, V=model.V))
    print(f"model: {_params_text(model)}")
    print(f"p_c from the states:    {p_c:.6f}")
    print(f"p_c closed form:        {closed_text}")
    print(f"wrote {out / name}")
    return 0


def cmd_spectra(args) -> int:
    """``darkspin spectra``: Fig. 2, with found peak positions next to the predicted lines (Eq. 9)."""
    import numpy as np

    from ..trajectories.model import SpinPair
    from . import figures, report
    from .spectra import find_peaks, spectra, transition_lines

    if args.omega_max <= 0:
        raise CLIError(f"--omega-max must be > 0, got {args.omega_max:g}")
    with _output_folder(args.out) as out:
        omega = np.linspace(0.0, args.omega_max, 4001)
        panels, lines = {}, {}
        print(f"{'point':<14} {'C':<3} {'predicted (Eq. 9)':<40} found peaks")
        for label, dm in (("exchange only", False), ("with DM", True)):
            model = SpinPair.paper_fig2(with_dm=dm)
            panels[label] = spectra(model, omega)
            lines[label] = transition_lines(model)
            for c in ("C1", "C2", "C3"):
                pred = lines[label][c]
                found = find_peaks(omega, panels[label][c])
                fmt = lambda a: " ".join(f"{x:.4f}" for x in a) or "-"  # noqa: E731
                print(f"{label:<14} {c:<3} {fmt(pred):<40} {fmt(found)}")
        name = report.save_figure(out, "spectra", args.format, figures.spectra_figure(omega, panels, lines))
    print(
        "(frequencies in units of nu; SpinPair.paper_fig2: V = 10 nu, J_ex = 2 nu; with DM also "
        "J_DM = 2 nu, phi = pi/4)"
    )
    print(f"wrote {out / name}")
    return 0


def cmd_sweep(args) -> int:
    """``darkspin sweep STUDY.toml``: see the module docstring and docs/sweeps.md."""
    import json

    from . import figures, report
    from .config import load_study
    from .studies.axes import check_sweep
    from .studies.sweeps import sweep

    study = load_study(args.study, args.set)
    cfg = study.run
    ntraj = args.ntraj if args.ntraj is not None else (cfg.ntraj if study.ntraj_given else 0)
    # the axes are checked before the output folder is made or anything runs
    points = check_sweep(cfg.model, cfg.protocol, study.axes, paired=study.paired, spacing=study.spacing)
    mc = ntraj > 0
    with _output_folder(args.out) as out:
        in_process = args.workers is None and args.scheduler is None
        if mc:
            _compile_kernels(cfg.model, cfg.protocol, cfg.seed, ensemble=in_process)
            executor, close = _executor(args.workers, args.scheduler, args.timeout)
        else:
            executor, close = None, lambda: None
        t0 = time.perf_counter()
        try:
            with _noticing_interrupts() as sigint, warnings.catch_warnings():
                warnings.filterwarnings("ignore", message="interrupted", category=RuntimeWarning)
                table = sweep(
                    cfg.model,
                    cfg.protocol,
                    study.axes,
                    paired=study.paired,
                    ntraj=ntraj,
                    seed=cfg.seed,
                    executor=executor,
                    target_se=cfg.target_se if mc else None,
                    max_ntraj=cfg.max_ntraj if mc else None,
                    target_state=study.target_state,
                    common_random_numbers=study.common_random_numbers,
                    directory=out / "points",
                    progress=not args.no_progress and mc,
                    spacing=study.spacing,
                    batch_size=cfg.batch_size if mc else None,
                )
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
    print(table)
    print(f"\nwrote {out}/ ({points} points{f', {ntraj} trajectories each' if mc else ''} in {elapsed:.1f} s)")
    if interrupted:
        return _fail(f"interrupted: finished points are kept in {out / 'points'}", EXIT_INTERRUPTED)
    return 0


def _optimize_settings(path, overrides=()) -> tuple:
    """(RunConfig, {[optimize] keys}) from a study file (None: the embedded default, no [optimize]), with
    the --set ``overrides`` applied to its run config."""
    import tomllib

    from .config import ConfigError, _int, _real, apply_overrides, load_config, parse_config

    if path is None:
        return load_config(None, overrides), {}
    try:
        with open(path, "rb") as fh:
            data = tomllib.load(fh)
    except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError):
        return load_config(path, overrides), {}  # raises the config's one-line message for this file
    section = data.pop("optimize", {})
    if not isinstance(section, dict):
        raise ConfigError(f"'optimize' must be a table ([optimize]), got {section!r}")
    for key in section:
        if key not in OPTIMIZE_KEYS:
            raise ConfigError(f"unknown key 'optimize.{key}' (accepted: {', '.join(OPTIMIZE_KEYS)})")
    out = {}
    for key in ("rounds", "max_rounds", "starts"):
        if key in section:
            out[key] = _int(f"optimize.{key}", section[key], 1)
    for key in ("t_max", "min_yield"):
        if key in section:
            out[key] = _real(f"optimize.{key}", section[key])
    if "objective" in section:
        if section["objective"] not in OPTIMIZE_OBJECTIVES:
            raise ConfigError(
                f"optimize.objective must be one of {', '.join(OPTIMIZE_OBJECTIVES)}, got {section['objective']!r}"
            )
        out["objective"] = section["objective"]
    if "rounds" in out and "max_rounds" in out:
        raise ConfigError("optimize.rounds and optimize.max_rounds exclude each other")
    return parse_config(apply_overrides(data, overrides), path), out


def cmd_optimize(args) -> int:
    """``darkspin optimize``: the best measurement times by the exact solver, checked with trajectories."""
    from ..ensemble import compare, simulate
    from ..ensemble.exact.solver import solve_master_equation
    from ..ensemble.statistics.intervals import mean_interval
    from .studies.schedule import optimize_schedule

    cfg, opt = _optimize_settings(args.config, args.set)
    cfg = cfg.replace(**{k: v for k, v in (("ntraj", args.ntraj), ("seed", args.seed)) if v is not None})
    if args.rounds is not None:
        opt.pop("max_rounds", None)
    if args.max_rounds is not None:
        opt.pop("rounds", None)
    flags = {"rounds": args.rounds, "max_rounds": args.max_rounds, "t_max": args.t_max}
    flags.update(objective=args.objective, min_yield=args.min_yield, starts=args.starts)
    opt.update({k: v for k, v in flags.items() if v is not None})
    t0 = time.perf_counter()
    sched = optimize_schedule(cfg.model, cfg.protocol, **opt)  # ValueErrors name the parameter: exit 2
    elapsed = time.perf_counter() - t0
    own = solve_master_equation(cfg.model, cfg.protocol)
    own_f = float(own.population("S").value_post[-1].real)
    own_y = float(own.p_cumulative[-1]) if own.p_cumulative.size else 1.0
    name = sched.objective_name
    own_value = own_y if name == "yield" else own_f
    if name == "fidelity_at_yield" and not own_y >= opt["min_yield"]:
        own_value = -math.inf  # misses the yield floor
    fmt = lambda ts: "[" + ", ".join(f"{t:.6g}" for t in ts) + "]"  # noqa: E731
    print(f"model: {_params_text(cfg.model)}")
    print(f"protocol: initial {cfg.initial}, {cfg.protocol.describe()}, final output time {cfg.t_final:g}")
    print(f"objective: {name}" + (f" (yield >= {opt['min_yield']:g})" if name == "fidelity_at_yield" else ""))
    print(f"{'schedule':<11} {'rounds':>6} {'objective':>14} {'fidelity':>14} {'yield':>14}  measure_at")
    print(
        f"{'protocol':<11} {cfg.protocol.rounds:>6} {own_value:>14.10f} {own_f:>14.10f} {own_y:>14.10f}  "
        f"{fmt(cfg.protocol.measure_at)}"
    )
    print(
        f"{'optimised':<11} {sched.rounds:>6} {sched.objective:>14.10f} {sched.fidelity:>14.10f} "
        f"{sched.yield_:>14.10f}  {fmt(sched.measure_at)}"
    )
    print(f"({sched.evaluations} exact solves in {elapsed:.1f} s)")
    exact = solve_master_equation(cfg.model, sched.protocol)
    _compile_kernels(cfg.model, sched.protocol, cfg.seed, ensemble=True)
    mc = simulate(
        cfg.model,
        sched.protocol,
        cfg.ntraj,
        cfg.seed,
        batch_size=cfg.batch_size,
        progress=not args.no_progress,
        target_se=cfg.target_se,
        max_ntraj=cfg.max_ntraj,
    )
    n = int(mc.n_post[-1])
    lo, hi = mean_interval(float(mc.singlet_post[-1]), float(mc.singlet_post_se[-1]), n)
    print(
        f"trajectories ({mc.ntraj}, seed {mc.seed}): post-selected singlet at t = {cfg.t_final:g}: "
        f"{float(mc.singlet_post[-1]):.6f} (95 % interval [{lo:.6f}, {hi:.6f}], {n} runs), "
        f"exact {float(exact.population('S').value_post[-1].real):.6f}"
    )
    print(f"trajectories vs exact: {compare(mc, exact).verdict}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
