"""Calling the ``darkspin`` command line in-process, for the CLI tests."""

from __future__ import annotations

import contextlib
import io
import signal
import subprocess
import sys

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


def start_run(cfg, out, *extra, env=None, new_session: bool = False) -> subprocess.Popen:
    """``darkspin run CFG --out OUT --no-progress EXTRA...`` in a child process (stderr piped, text), with
    SIGINT at its default (a background shell may hand us SIGINT ignored; the child must see it);
    ``new_session``: its own process group, as in a terminal."""
    return subprocess.Popen(
        [sys.executable, "-m", "darkspin.analysis.cli", "run", str(cfg), "--out", str(out), "--no-progress"]
        + [str(x) for x in extra],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        start_new_session=new_session,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
