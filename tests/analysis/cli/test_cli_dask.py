"""The command line with Dask: a scheduler that is not one, or has no workers, ends with one line and exit 2
within --timeout; Ctrl-C to the whole process group with --workers prints one line, not every worker's
traceback.

Each test runs the command in a real process (a hang must fail the test by its timeout, not stall the
suite); about 25 s in all on a busy 2-core machine.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from cli_calls import one_error_line as _one_error_line
from cli_calls import start_run

from darkspin.ensemble import load

pytestmark = pytest.mark.subprocess

distributed = pytest.importorskip("dask.distributed")

SMALL = """
[protocol]
measure_at = [100.0, 200.0]
t_final = 300.0
n_out = 31

[run]
ntraj = 2000000
seed = 5
batch_size = 20000
"""


@pytest.fixture
def config(tmp_path) -> Path:
    path = tmp_path / "run.toml"
    path.write_text(SMALL)
    return path


def _run(argv, timeout=90):
    return subprocess.run(
        [sys.executable, "-m", "darkspin.analysis.cli", *map(str, argv)],
        capture_output=True,
        text=True,
        timeout=timeout,
    )


class _FakeServer:
    """A TCP server on 127.0.0.1 that accepts connections and then says nothing, or sends garbage."""

    def __init__(self, reply: bytes | None):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.address = f"tcp://127.0.0.1:{self.sock.getsockname()[1]}"
        self.reply, self.conns = reply, []
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.conns.append(conn)
            if self.reply:
                conn.sendall(self.reply)

    def close(self):
        self.sock.close()
        for c in self.conns:
            c.close()


@pytest.mark.parametrize(
    "reply, needle",
    [
        (None, "no Dask scheduler answered at"),  # once a hang of minutes: Client's timeout misses the handshake
        (b"HTTP/1.1 200 OK\r\n\r\nhello" * 10, "does not answer as a Dask scheduler"),  # once a MemoryError
    ],
)
def test_scheduler_that_is_not_dask(config, tmp_path, reply, needle):
    server = _FakeServer(reply)
    try:
        t0 = time.monotonic()
        proc = _run(
            ["run", config, "--scheduler", server.address, "--timeout", 2, "--out", tmp_path / "o", "--no-progress"]
        )
        elapsed = time.monotonic() - t0
    finally:
        server.close()
    assert proc.returncode == 2, proc.stderr
    assert needle in _one_error_line(proc.stderr)
    assert elapsed < 60
    assert not (tmp_path / "o" / "result.npz").exists()


def test_scheduler_without_workers(config, tmp_path):
    import logging

    cluster = distributed.LocalCluster(n_workers=0, dashboard_address=None, silence_logs=logging.ERROR)
    try:
        proc = _run(
            [
                "run",
                config,
                "--scheduler",
                cluster.scheduler_address,
                "--timeout",
                2,
                "--out",
                tmp_path / "o",
                "--no-progress",
            ]
        )
    finally:
        cluster.close()
    assert proc.returncode == 2, proc.stderr
    assert "has no workers (waited 2 s" in _one_error_line(proc.stderr)


def test_ctrl_c_to_the_process_group_with_workers(config, tmp_path):
    """Ctrl-C in a terminal signals the whole process group: the workers too. One line, exit 130, the
    finished batches kept."""
    out = tmp_path / "o"
    proc = start_run(config, out, "--workers", 2, new_session=True)
    try:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                if load(out / "result.npz").ntraj >= 40000:
                    break
            except ValueError:
                pass
            time.sleep(0.1)
        assert proc.poll() is None, proc.stderr.read()
        os.killpg(proc.pid, signal.SIGINT)
        _, stderr = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 130, stderr
    line = _one_error_line(stderr)
    assert "interrupted:" in line and "trajectories saved to" in line
    assert load(out / "result.npz").ntraj >= 40000
