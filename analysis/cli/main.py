"""The ``darkspin`` entry point: parse, dispatch to the command, and turn every failure into one line on
stderr and an exit status (see the package docstring)."""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import warnings
from collections.abc import Callable, Sequence

from .errors import EXIT_INTERRUPTED, EXIT_IO, EXIT_PIPE, EXIT_USAGE, CLIError, fail, one_line_warning, os_message
from .exact import cmd_exact
from .optimize import cmd_optimize
from .parser import UsageError, build_parser
from .run import cmd_run
from .show import cmd_show
from .spectra import cmd_spectra
from .steady import cmd_steady
from .sweep import cmd_sweep

#: command name -> the function running it (argparse.Namespace -> exit status)
COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "run": cmd_run,
    "show": cmd_show,
    "exact": cmd_exact,
    "steady": cmd_steady,
    "spectra": cmd_spectra,
    "sweep": cmd_sweep,
    "optimize": cmd_optimize,
}


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``darkspin`` with ``argv``.

    Parameters
    ----------
    argv : sequence of str or None
        The arguments after the program name; None: ``sys.argv[1:]``.

    Returns
    -------
    int
        The exit status: 0 success; 2 bad usage, config, input or output folder (and any ValueError of
        the library); 1 an I/O failure or an internal error; 130 Ctrl-C; 141 stdout closed early.
    """
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except UsageError as exc:
        return fail(f"error: {exc} (see darkspin --help)", EXIT_USAGE)
    except SystemExit as exc:  # --help
        return int(exc.code or 0)
    except KeyboardInterrupt:  # the argument types import the library
        return fail("interrupted", EXIT_INTERRUPTED)
    if args.version:
        from ...ensemble.montecarlo.files import package_version

        print(f"darkspin {package_version()}")
        return 0
    if args.command is None:
        return fail(f"error: choose a command: {', '.join(COMMANDS)} (see darkspin --help)", EXIT_USAGE)
    handler = COMMANDS[args.command]
    show_before = warnings.showwarning
    warnings.showwarning = one_line_warning
    try:
        status = handler(args)
        sys.stdout.flush()  # here, so a closed pipe is caught below and not at interpreter exit
        return status
    except CLIError as exc:
        return fail(str(exc), exc.status)
    except ValueError as exc:  # the library's bad-input errors (ConfigError included)
        return fail(str(exc), EXIT_USAGE)
    except KeyboardInterrupt:
        return fail("interrupted", EXIT_INTERRUPTED)
    except BrokenPipeError as exc:
        if _stdout_closed():  # the reader of our output left (`| head`): stop quietly
            _discard_stdout()
            return EXIT_PIPE
        return fail(os_message(exc), EXIT_IO)
    except OSError as exc:
        return fail(os_message(exc), EXIT_IO)
    except Exception as exc:  # a bug: one line, unless asked for the traceback
        if os.environ.get("DARKSPIN_DEBUG"):
            raise
        return fail(
            f"internal error: {exc.__class__.__name__}: {exc} (set DARKSPIN_DEBUG=1 for the traceback)", EXIT_IO
        )
    finally:
        warnings.showwarning = show_before


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
