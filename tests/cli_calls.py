"""Calling the ``darkspin`` command line in-process, for the CLI tests."""

from __future__ import annotations

import contextlib
import io

from darkspin.analysis.cli import main


def call(argv) -> tuple[int, str, str]:
    """(exit status, stdout, stderr) of ``darkspin`` with ``argv`` (items converted to str)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        status = main([str(a) for a in argv])
    return status, out.getvalue(), err.getvalue()


def one_error_line(err: str) -> str:
    """The single ``darkspin: ...`` line a failing command must print on stderr (no traceback)."""
    lines = err.strip("\n").splitlines()
    assert len(lines) == 1, f"expected one line on stderr, got {err!r}"
    assert "Traceback" not in err
    assert lines[0].startswith("darkspin: ")
    return lines[0]
