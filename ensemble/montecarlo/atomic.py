"""The one way darkspin writes a file: whole or not at all."""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Callable, Iterator
from typing import IO

#: every temporary file darkspin writes starts with this, so a later start can find what a kill left
TEMPORARY_PREFIX = ".darkspin-"


def temporary_name(path: str | os.PathLike[str], suffix: str = ".part") -> str:
    """A fresh hidden name beside ``path`` for a file being written.

    Parameters
    ----------
    path : str or os.PathLike
        The file that will be replaced.
    suffix : str
        The temporary file's ending.

    Returns
    -------
    str
        ``<folder>/.darkspin-<name>.<random>.part``.
    """
    folder, name = os.path.split(os.fspath(path))
    return os.path.join(folder, f"{TEMPORARY_PREFIX}{name}.{secrets.token_hex(4)}{suffix}")


def remove_stale_temporaries(folder: str | os.PathLike[str], before: float) -> list[str]:
    """Remove the temporary files a killed write left in ``folder``.

    Only regular files directly in ``folder`` whose name starts with TEMPORARY_PREFIX and that were last
    modified before ``before`` are removed: a newer one may belong to a write still going on.

    Parameters
    ----------
    folder : str or os.PathLike
        The folder to clean (not its subfolders); a missing folder has nothing to clean.
    before : float
        A time as ``time.time()`` gives it (seconds since the epoch), e.g. when the command started.

    Returns
    -------
    list of str
        The names of the files removed, sorted (a file that cannot be removed is left and not listed).
    """
    removed = []
    try:
        entries = list(os.scandir(folder))
    except (FileNotFoundError, NotADirectoryError):
        return []
    for entry in entries:
        if not entry.name.startswith(TEMPORARY_PREFIX):
            continue
        with contextlib.suppress(OSError):
            if entry.is_file(follow_symlinks=False) and entry.stat(follow_symlinks=False).st_mtime < before:
                os.unlink(entry.path)
                removed.append(entry.name)
    return sorted(removed)


def atomic_write(path: str | os.PathLike[str], write: Callable[[IO[bytes]], object] | bytes | str) -> None:
    """Write ``path`` whole or not at all: into a temporary file beside it, then renamed over it.

    Parameters
    ----------
    path : str or os.PathLike
        The target; its folder must exist.
    write : callable, bytes or str
        The content: text (written as UTF-8), bytes, or a function that writes to the binary file
        object it is given (``lambda fh: np.savez(fh, **arrays)``).

    Raises
    ------
    OSError
        If writing or renaming fails; the error names ``path`` and no temporary file is left.
    """
    tmp = temporary_name(path)
    try:
        with open(tmp, "xb") as fh:
            if isinstance(write, str):
                fh.write(write.encode("utf-8"))
            elif isinstance(write, bytes):
                fh.write(write)
            else:
                write(fh)
        os.replace(tmp, path)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        if isinstance(exc, OSError) and exc.filename in (None, tmp):  # name the target, not the temporary
            raise OSError(exc.errno, exc.strerror or str(exc), os.fspath(path)) from exc
        raise


@contextlib.contextmanager
def naming_file(file: str | None) -> Iterator[None]:
    """Re-raise an OSError that names no file (a full disk deep in a write) as one naming ``file``.

    Parameters
    ----------
    file : str or None
        The file being written (None: errors pass unchanged).

    Returns
    -------
    Iterator[None]
        A context manager; network errors (ConnectionError, TimeoutError) pass unchanged.

    Raises
    ------
    OSError
        The original error, naming ``file`` if it named none.
    """
    try:
        yield
    except OSError as exc:
        if file is None or exc.filename is not None or isinstance(exc, (ConnectionError, TimeoutError)):
            raise
        raise OSError(exc.errno, exc.strerror or str(exc), file) from exc
