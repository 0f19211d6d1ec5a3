"""Ctrl-C in the command line: ending at once while the kernels compile, noticing it during a run,
and keeping it from the processes of a local Dask cluster."""

from __future__ import annotations

import contextlib
import gc
import os
import signal
import sys
import threading
from collections.abc import Iterator
from types import FrameType
from typing import TYPE_CHECKING

from .errors import EXIT_INTERRUPTED

if TYPE_CHECKING:
    from ...trajectories.lindblad import LindbladModel
    from ...trajectories.model import SpinPair
    from ...trajectories.protocol import Protocol


def _may_handle() -> bool:
    """Whether this thread may install a SIGINT handler (only the main thread can) and SIGINT is live."""
    main = threading.current_thread() is threading.main_thread()
    return main and signal.getsignal(signal.SIGINT) is not signal.SIG_IGN


@contextlib.contextmanager
def exit_on_interrupt(what: str) -> Iterator[None]:
    """Within the block, Ctrl-C ends the process at once: one line, exit 130.

    For the kernels' compilation (or loading from Numba's cache): a KeyboardInterrupt raised there lands
    in llvmlite's ctypes callbacks and finalizers, which print a traceback and swallow it (the run then
    goes on and exits 0), or it leaves the compiler half-done ("no compiled object yet"). Nothing of the
    command is written yet, and Numba writes its cache files by renaming, so ending at once loses nothing.

    Parameters
    ----------
    what : str
        Said in the line ``darkspin: interrupted (<what>)``.

    Yields
    ------
    None
    """
    if not _may_handle():
        yield
        return

    def handler(signum: int, frame: FrameType | None) -> None:
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
def noticing_interrupts() -> Iterator[dict[str, bool]]:
    """Ctrl-C raises KeyboardInterrupt as usual, and is also remembered.

    Yields
    ------
    dict
        ``{"seen": bool}``, True once a Ctrl-C came, so one that a library swallowed still ends the
        command with exit 130.
    """
    state = {"seen": False}
    if not _may_handle():
        yield state
        return

    def handler(signum: int, frame: FrameType | None) -> None:
        state["seen"] = True
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGINT, handler)
    try:
        yield state
    finally:
        signal.signal(signal.SIGINT, previous)


@contextlib.contextmanager
def interrupts_ignored() -> Iterator[None]:
    """SIGINT ignored within the block (processes started here inherit that), when we may change it.

    Yields
    ------
    None
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def compile_kernels(model: SpinPair | LindbladModel, protocol: Protocol, seed: int, ensemble: bool = True) -> None:
    """Compile (or load from Numba's cache) the trajectory kernels before any work, Ctrl-C ending at once.

    Parameters
    ----------
    model : SpinPair or LindbladModel
    protocol : Protocol
    seed : int
        The run's seed (one trajectory of it is run).
    ensemble : bool
        Also the ensemble kernel (not needed in this process when Dask workers run the batches).
    """
    from ...ensemble.montecarlo.simulation import run_batch
    from ...trajectories.single import run_trajectory

    with exit_on_interrupt("while compiling the kernels; nothing was written"):
        if ensemble:
            run_batch(model, protocol, seed, 0, 1, threads=1)
        run_trajectory(model, protocol, seed, 0)
        gc.collect()  # llvmlite's finalizers run now, not under a later Ctrl-C
