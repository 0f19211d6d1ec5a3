"""Writing a result file: the checks before a run that will save (the path, the exact model and protocol
types) and the encoding of a :class:`MonteCarloResult` into the members of the format, written atomically.
"""

from __future__ import annotations

import json
import os
import stat

import numpy as np

from ...trajectories.checks import check_path
from ...trajectories.lindblad import LindbladModel
from ...trajectories.model import SpinPair
from ...trajectories.plan import Model
from ...trajectories.protocol import Protocol
from ..results.monte_carlo import MonteCarloResult
from .atomic import atomic_write, temporary_name
from .file_format import (
    FORMAT,
    _checksum,
    _dist_members,
    model_members,
    package_version,
)
from .file_read import _decode


def check_save_path(path: str | os.PathLike[str], name: str = "save", probe: bool = True) -> str:
    """Where a result saved to ``path`` goes: the real path (symbolic links followed).

    Parameters
    ----------
    path : str or os.PathLike
        The file to write; it must not end in a separator and must name nothing yet or a regular file
        (never a device, folder, pipe or socket: saving renames a temporary file over the target) in an
        existing folder.
    name : str
        The parameter's name in messages.
    probe : bool
        Create and remove a temporary file in that folder, so an unwritable place fails here, before any
        work.

    Returns
    -------
    str
        The real path.

    Raises
    ------
    ValueError
        Naming ``name``, for any path outside the rules above or a folder that cannot be written.
    """
    path = check_path(name, path)
    if path.endswith(tuple(s for s in (os.sep, os.altsep, "/") if s)):
        raise ValueError(f"{name} path {path!r} names a folder, not a file")
    real = os.path.realpath(path)
    try:
        st = os.stat(real)
    except FileNotFoundError:
        st = None
    except OSError as exc:
        raise ValueError(f"{name} path {path!r} cannot be used ({exc.strerror or exc})") from None
    if st is not None and not stat.S_ISREG(st.st_mode):
        what = "a folder" if stat.S_ISDIR(st.st_mode) else "not a regular file"
        raise ValueError(f"{name} path {path!r} exists and is {what}; only a regular file is ever replaced")
    folder = os.path.dirname(real)
    if not os.path.isdir(folder):
        raise ValueError(f"{name} path {path!r}: folder {folder!r} does not exist")
    if probe:
        tmp = temporary_name(real)
        try:
            fd = os.open(tmp, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
        except OSError as exc:
            raise ValueError(
                f"{name} path {path!r}: cannot create a file in {folder!r} ({exc.strerror or exc})"
            ) from None
        os.close(fd)
        os.unlink(tmp)
    return real


def check_exact_types(model: Model, protocol: Protocol, name: str = "save") -> None:
    """Check that a result of ``model`` and ``protocol`` can be stored and reloaded exactly.

    A file stores their data, so a subclass (with other behaviour) would come back as the base class
    and silently become another model.

    Parameters
    ----------
    model : Model
        Must be exactly a SpinPair or a LindbladModel.
    protocol : Protocol
        Must be exactly a Protocol.
    name : str
        The parameter's name in messages.

    Raises
    ------
    ValueError
        Naming ``name``, for a model or protocol of any other class.
    """
    if type(model) not in (SpinPair, LindbladModel):
        raise ValueError(
            f"{name}: a result of a {type(model).__name__} model cannot be stored; only a plain "
            "SpinPair or LindbladModel reloads exactly (convert with model.to_lindblad() or "
            "LindbladModel(model.hamiltonian(), model.jump_operators(), model.jump_labels()))"
        )
    if type(protocol) is not Protocol:
        raise ValueError(
            f"{name}: a result of a {type(protocol).__name__} protocol cannot be stored; only a "
            "plain Protocol reloads exactly"
        )


def encode(result: MonteCarloResult) -> dict[str, np.ndarray | np.generic]:
    """The file members of ``result`` (see ``_MEMBERS``), its checksum included.

    Parameters
    ----------
    result : MonteCarloResult

    Returns
    -------
    dict of str to numpy.ndarray or numpy scalar
        Member name -> array (counts and the seed as NumPy scalars), ready for ``np.savez``.
    """
    data: dict[str, np.ndarray | np.generic] = {
        "format": np.array(FORMAT),
        "version": np.array(package_version()),
        "hi": result.sums.hi,
        "lo": result.sums.lo,
        "n_post": result.sums.n_post,
        "n_success": result.sums.n_success,
        "ntraj": np.int64(result.sums.ntraj),
        "n_jumps": np.int64(result.sums.n_jumps),
        **model_members(result.model),
        "seed": np.uint64(result.seed),
        **result.protocol.as_dict(),
        "ranges": result.ranges,
        "n_kept": result.sums.n_kept,
        "record_counts": result.sums.record_counts,
        "stats": np.array(json.dumps(result._stats, sort_keys=True, allow_nan=False)),
    }
    if result.sums.dist is not None:
        data.update(_dist_members(result.sums.dist))
    data["checksum"] = np.array(_checksum(data))
    return data


def save(result: MonteCarloResult, path: str | os.PathLike[str]) -> str:
    """Write everything needed to reload or extend ``result`` to one .npz file (atomically).

    Also reachable as ``result.save(path)``.

    Parameters
    ----------
    result : MonteCarloResult
    path : str or os.PathLike
        The file to write; a symbolic link is followed.

    Returns
    -------
    str
        ``path`` as a str.

    Raises
    ------
    ValueError
        With nothing written, if the target exists and is not a regular file, its folder is missing, the
        model is not exactly a SpinPair or LindbladModel or the protocol not exactly a Protocol (they
        would not reload exactly), or the result is inconsistent (e.g. ranges that do not add up to
        ntraj), since :func:`load` would refuse it.
    OSError
        If writing fails (no partial file is left).
    """
    shown = check_path("path", path)
    check_exact_types(result.model, result.protocol, "path")
    real = check_save_path(shown, "path", probe=False)
    data = encode(result)
    try:
        _decode(data, FORMAT)
    except ValueError as exc:
        raise ValueError(f"cannot save an inconsistent result: {exc}") from None
    # no member is named allow_pickle, the one keyword of savez that is not an array
    atomic_write(real, lambda fh: np.savez(fh, **data))  # type: ignore[arg-type]
    return shown
