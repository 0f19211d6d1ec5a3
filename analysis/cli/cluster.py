"""Where trajectories run: in this process, on a local Dask cluster (--workers K), or on a Dask
scheduler (--scheduler ADDRESS, which must answer and show a worker within --timeout seconds)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .errors import CLIError, one_line
from .interrupts import interrupts_ignored

#: Default seconds to reach a Dask scheduler and to wait for its first worker.
DASK_TIMEOUT = 20.0


def executor(workers: int | None, scheduler: str | None, timeout: float) -> tuple[Any, Callable[[], None]]:
    """The executor for --workers / --scheduler, and the function that closes it.

    Parameters
    ----------
    workers : int or None
        Start a local cluster of this many single-threaded worker processes (they ignore Ctrl-C).
    scheduler : str or None
        Connect to this Dask scheduler instead.
    timeout : float
        Seconds to connect to ``scheduler``, and again to wait for its first worker.

    Returns
    -------
    (executor, close)
        A dask.distributed Client (None when both ``workers`` and ``scheduler`` are None: run in this
        process) and a function without arguments that closes it (and the local cluster).

    Raises
    ------
    CLIError
        (exit 2) Without Dask installed, or if the scheduler does not answer or has no worker in time.
    """
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
        with interrupts_ignored():
            cluster = LocalCluster(
                n_workers=workers,
                threads_per_worker=1,
                processes=True,
                dashboard_address=None,
                silence_logs=logging.CRITICAL,
            )
        client = Client(cluster)

        def close() -> None:
            client.close()
            cluster.close()

        return client, close
    assert scheduler is not None  # workers is None here, so a scheduler was given
    handshake(scheduler, timeout)
    try:
        client = Client(scheduler, timeout=f"{timeout}s")
    except (OSError, TimeoutError, ValueError) as exc:
        raise CLIError(f"cannot connect to the Dask scheduler {scheduler!r}: {one_line(exc)}") from None
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


def handshake(address: str, timeout: float) -> None:
    """Open and close one Dask connection to ``address`` within ``timeout`` seconds.

    Client(timeout=...) bounds the TCP connect, not the handshake after it: a server that accepts and
    stays silent would hang it for minutes, and one that answers garbage can raise MemoryError.

    Parameters
    ----------
    address : str
        The scheduler's address (``tcp://host:port``).
    timeout : float
        Seconds.

    Raises
    ------
    CLIError
        (exit 2) If nothing answers in time, or what answers is not a Dask scheduler.
    """
    import asyncio

    from distributed.comm import connect

    async def probe() -> None:
        comm = await asyncio.wait_for(connect(address, timeout=timeout), timeout)
        await comm.close()

    try:
        asyncio.run(probe())
    except TimeoutError:
        raise CLIError(f"no Dask scheduler answered at {address!r} within {timeout:g} s (see --timeout)") from None
    except (OSError, ValueError, TypeError) as exc:
        raise CLIError(f"cannot connect to the Dask scheduler {address!r}: {one_line(exc)}") from None
    except Exception as exc:  # e.g. MemoryError from a length field of garbage
        raise CLIError(f"{address!r} does not answer as a Dask scheduler ({exc.__class__.__name__})") from None
