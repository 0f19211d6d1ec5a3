"""Calling a compiled kernel so that Ctrl-C works: the call runs in a worker thread while the main thread
waits in short steps, so a KeyboardInterrupt never lands inside Numba's compiler (where it leaves
llvmlite half-done: "no compiled object yet") nor waits for a kernel that never looks for signals.

A KeyboardInterrupt while the kernel compiles reaches the caller at once; the compile finishes in the
background and the next call waits for it. One while the kernel runs sets ``abort[0] = 1`` (kernels
given an abort flag stop within a few thousand jumps) and, once the worker has stopped, reaches the
caller as :class:`Interrupted` carrying what the kernel returned.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable
from typing import Any, TypeVar

import numba
import numpy as np

T = TypeVar("T")

#: Seconds between the main thread's looks at a running call (how soon Ctrl-C is noticed).
POLL = 0.05
#: Seconds a first call may take before a one-line note says the kernel is being compiled.
COMPILE_NOTE_AFTER = 2.0


class Interrupted(KeyboardInterrupt):
    """A KeyboardInterrupt that stopped a kernel call early (through its abort flag).

    Attributes
    ----------
    value : object
        What the kernel returned when it stopped (its partial work).
    """

    def __init__(self, value: Any) -> None:
        super().__init__()
        self.value = value


def _signature(kernel: Any, args: tuple[Any, ...]) -> tuple[Any, ...] | None:
    """The Numba argument types a call of ``kernel`` with ``args`` compiles for (None: not a dispatcher)."""
    typeof = getattr(kernel, "typeof_pyval", None)
    if typeof is None:
        return None
    return tuple(typeof(a) for a in args)


def call(kernel: Any, *args: Any, abort: np.ndarray | None = None) -> Any:
    """``kernel(*args)``, with Ctrl-C handled as the module says.

    Outside the main thread (executors, Dask workers) signals never arrive, so the kernel is called
    directly.

    Parameters
    ----------
    kernel : numba Dispatcher or callable
        Compiled with ``nogil=True`` so the main thread keeps running while it works.
    *args
        Its arguments.
    abort : ndarray of int64, shape (1,), optional
        The kernel's abort flag; set to 1 on Ctrl-C. None: the call cannot stop early, and a Ctrl-C
        while it runs waits for it, then raises KeyboardInterrupt.

    Returns
    -------
    object
        What the kernel returned.

    Raises
    ------
    KeyboardInterrupt
        On Ctrl-C during the compile (at once) or during a call without ``abort`` (once it ends).
    Interrupted
        On Ctrl-C during a call with ``abort``, once the kernel has stopped.
    """
    if threading.current_thread() is not threading.main_thread():
        return kernel(*args)
    sig = _signature(kernel, args)
    threads = numba.get_num_threads()  # the caller's choice: Numba's thread count is per thread
    compiled = threading.Event()
    cancelled = threading.Event()
    finished = threading.Event()
    box: dict[str, Any] = {}

    def work() -> None:
        try:
            numba.set_num_threads(threads)
            if sig is not None:
                kernel.compile(sig)  # waits for a compile another call left running
            compiled.set()
            if not cancelled.is_set():
                box["value"] = kernel(*args)
        except BaseException as exc:  # handed to the main thread
            box["error"] = exc
        finally:
            compiled.set()
            finished.set()

    # waiting on an Event, not join(): a KeyboardInterrupt in join() marks a running thread as ended
    threading.Thread(target=work, name="darkspin-kernel", daemon=True).start()
    noted = sig is None or sig in getattr(kernel, "overloads", {})
    waited = 0.0
    try:
        while not finished.wait(POLL):
            waited += POLL
            if not noted and waited >= COMPILE_NOTE_AFTER and not compiled.is_set():
                noted = True
                name = getattr(kernel, "__name__", "kernel")
                sys.stderr.write(
                    f"darkspin: compiling {name} for these argument types (a minute or two, once; cached afterwards)\n"
                )
    except KeyboardInterrupt:
        cancelled.set()
        if not compiled.is_set():
            # the compile goes on in the background; the next call waits for it
            raise
        if abort is not None:
            abort[0] = 1
        _wait_through_interrupts(finished)
        if "error" in box:
            raise _plain(box["error"]) from None
        if abort is not None and "value" in box:
            raise Interrupted(box["value"]) from None
        raise
    if "error" in box:
        raise _plain(box["error"])
    return box["value"]


def detached(fn: Callable[..., T], *args: Any) -> T:
    """``fn(*args)`` in a worker thread; on Ctrl-C the KeyboardInterrupt reaches the caller at once while
    ``fn`` finishes in the background (for work that compiles kernels, such as compiling a plan).

    Parameters
    ----------
    fn : callable
    *args
        Its arguments.

    Returns
    -------
    object
        What ``fn`` returned.

    Raises
    ------
    KeyboardInterrupt
        On Ctrl-C, at once.
    """
    if threading.current_thread() is not threading.main_thread():
        return fn(*args)
    box: dict[str, Any] = {}
    finished = threading.Event()

    def work() -> None:
        try:
            box["value"] = fn(*args)
        except BaseException as exc:  # handed to the main thread
            box["error"] = exc
        finally:
            finished.set()

    threading.Thread(target=work, name="darkspin-compile", daemon=True).start()
    while not finished.wait(POLL):
        pass
    if "error" in box:
        raise _plain(box["error"])
    return box["value"]


def _plain(error: BaseException) -> BaseException:
    """``error``, or a RuntimeError saying plainly that Python must be restarted when it is Numba's
    compiler left half-done by an interrupt elsewhere (the state cannot be repaired in this process)."""
    if isinstance(error, RuntimeError) and "no compiled object yet" in str(error):
        broken = RuntimeError(
            "Numba's compiler was left half-done by an earlier Ctrl-C during a compile; restart Python "
            f"(the kernel cache on disk is intact) [{error}]"
        )
        broken.__cause__ = error
        return broken
    return error


def _wait_through_interrupts(finished: threading.Event) -> None:
    """Wait for ``finished``, ignoring further Ctrl-C (the kernel has been told to stop)."""
    while not finished.is_set():
        try:
            finished.wait(POLL)
        except KeyboardInterrupt:
            continue
