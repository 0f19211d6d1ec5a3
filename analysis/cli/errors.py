"""How ``darkspin`` fails: exit statuses, the CLIError to raise, and the one line printed on stderr."""

from __future__ import annotations

import contextlib
import sys
from typing import TextIO

#: 2 bad usage, config, input file or output folder; 1 an I/O failure or an internal error;
#: 130 Ctrl-C; 141 (128 + SIGPIPE) stdout was a pipe closed early.
EXIT_USAGE, EXIT_IO, EXIT_INTERRUPTED, EXIT_PIPE = 2, 1, 130, 141


class CLIError(Exception):
    """A failure to report as one line, with an exit status.

    Parameters
    ----------
    message : str
        What went wrong (printed as ``darkspin: <message>``).
    status : int
        The exit status (default EXIT_USAGE).
    """

    def __init__(self, message: str, status: int = EXIT_USAGE) -> None:
        super().__init__(message)
        self.status = status


def one_line(text: object) -> str:
    """``text`` on one line, NumPy scalars written as plain numbers.

    Parameters
    ----------
    text : object
        A message or an exception.

    Returns
    -------
    str
    """
    from ..config import plain_numbers

    return plain_numbers(" ".join(str(text).split()))


def fail(message: str, status: int) -> int:
    """Print ``darkspin: <message>`` on stderr (if it can be written) and return ``status``.

    Parameters
    ----------
    message : str
    status : int
        The exit status to return.

    Returns
    -------
    int
        ``status``.
    """
    with contextlib.suppress(OSError, ValueError):
        print(f"darkspin: {one_line(message)}", file=sys.stderr)
    return status


def one_line_warning(
    message: Warning | str,
    category: type[Warning],
    filename: str,
    lineno: int,
    file: TextIO | None = None,
    line: str | None = None,
) -> None:
    """A ``warnings.showwarning`` that prints ``darkspin: warning: <message>`` on one line.

    Parameters
    ----------
    message, category, filename, lineno, file, line
        As :func:`warnings.showwarning` receives them (only ``message`` and ``file`` are used).
    """
    print(f"darkspin: warning: {one_line(message)}", file=sys.stderr if file is None else file)


def os_message(exc: OSError) -> str:
    """``<file>: <reason>`` of an OSError (``I/O error: <reason>`` when it names no file).

    Parameters
    ----------
    exc : OSError

    Returns
    -------
    str
    """
    reason = exc.strerror or str(exc) or exc.__class__.__name__
    return f"{exc.filename}: {reason}" if exc.filename is not None else f"I/O error: {reason}"
