"""Output folders of the command line: made, checked and locked before any work; and the resume point
of a run folder that already holds a result.npz."""

from __future__ import annotations

import contextlib
import tempfile
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, TextIO, cast

from .errors import CLIError

if TYPE_CHECKING:
    from ...ensemble.results.monte_carlo import MonteCarloResult
    from ...trajectories.model import SpinPair
    from ..config import RunConfig

#: Lock file of an output folder (an exclusive flock while a command writes there).
LOCK_NAME = ".darkspin.lock"


@contextlib.contextmanager
def output_folder(path: str | Path | None) -> Iterator[Path]:
    """Create (if needed), check and lock the output folder before any work.

    Parameters
    ----------
    path : str, Path or None
        The folder; None for a fresh ``./darkspin-out/<timestamp>/``.

    Yields
    ------
    Path
        The folder, locked (LOCK_NAME) until the block ends. Temporary files that a killed save left in it
        (or in its ``points/``) are removed first, with a warning naming them.

    Raises
    ------
    CLIError
        (exit 2) If it is unusable or another darkspin command holds its lock.
    """
    if path is None:
        base = Path("darkspin-out") / time.strftime("%Y%m%d-%H%M%S")
        path, k = base, 1
        while path.exists():
            k += 1
            path = base.with_name(f"{base.name}-{k}")
    from ...ensemble.montecarlo.atomic import TEMPORARY_PREFIX, remove_stale_temporaries

    started = time.time()
    path = Path(path)
    try:
        path.mkdir(parents=True, exist_ok=True)
        # root ignores permission bits, so try an actual write
        with tempfile.NamedTemporaryFile(dir=path, prefix=f"{TEMPORARY_PREFIX}probe-"):
            pass
    except OSError as exc:
        raise CLIError(f"output directory {str(path)!r} is not usable: {exc.strerror or exc}") from None
    lock = _lock(path)
    try:
        # the folder is locked: a temporary file older than this start was left by a killed save
        stale = [path / n for n in remove_stale_temporaries(path, started)]
        stale += [path / "points" / n for n in remove_stale_temporaries(path / "points", started)]
        if stale:
            warnings.warn(
                f"removed {len(stale)} temporary file{'s' if len(stale) > 1 else ''} left by an interrupted "
                f"save: {', '.join(str(p) for p in stale)}",
                RuntimeWarning,
                stacklevel=3,
            )
        yield path
    finally:
        if lock is not None:
            lock.close()  # releases the flock


def _lock(folder: Path) -> TextIO | None:
    """An open file holding an exclusive flock on folder/LOCK_NAME (None where flock does not exist)."""
    try:
        import fcntl
    except ImportError:  # not POSIX: no lock
        return None
    try:
        fh = open(folder / LOCK_NAME, "a")  # noqa: SIM115 (held open: the lock lasts as long as the file)
    except OSError as exc:
        raise CLIError(f"output directory {str(folder)!r} is not usable: {exc.strerror or exc}") from None
    try:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        fh.close()
        raise CLIError(
            f"output directory {str(folder)!r} is in use by another darkspin command (it holds "
            f"{LOCK_NAME}): wait for it to end, or choose another --out"
        ) from None
    except OSError as exc:  # a file system without locks (some NFS): go on, and say so
        warnings.warn(
            f"cannot lock {folder / LOCK_NAME} ({exc.strerror or exc}): nothing stops another "
            "darkspin command from writing to the same folder",
            RuntimeWarning,
            stacklevel=2,
        )
    return fh


def differences(prev: MonteCarloResult, cfg: RunConfig) -> list[str]:
    """How the saved run ``prev`` differs from the config.

    Parameters
    ----------
    prev : MonteCarloResult
        The run saved in the folder.
    cfg : RunConfig
        The run asked for.

    Returns
    -------
    list of str
        One phrase per difference, keys spelled as in the config; empty if ``prev`` can be resumed.
    """
    import numpy as np

    out = []
    here = cfg.model.as_dict()
    for key, value in cast("SpinPair", prev.model).as_dict().items():  # saved by the command line
        if value != here[key]:
            via = " (from model.bandwidth)" if cfg.bandwidth is not None and key in ("J_ex", "J_DM") else ""
            out.append(f"model.{key}{via} is {value!r} there, {here[key]!r} here")
    if not np.array_equal(prev.protocol.rho0, cfg.protocol.rho0):
        out.append("protocol.initial differs")
    if not np.array_equal(prev.protocol.measure_at, cfg.protocol.measure_at):
        out.append(
            f"protocol.measure_at is {[float(t) for t in prev.protocol.measure_at]!r} there, "
            f"{list(cfg.measure_at)!r} here"
        )
    if not np.array_equal(prev.protocol.times, cfg.protocol.times):
        if cfg.times is not None:
            out.append("protocol.times differs")
        else:
            t = prev.protocol.times
            out.append(
                f"the output times differ (there: {t.size} from {float(t[0])!r} to {float(t[-1])!r}; "
                f"here: protocol.t_final = {cfg.t_final!r}, protocol.n_out = {cfg.n_out})"
            )
    if prev.protocol.selection != cfg.protocol.selection:
        out.append(f"protocol.postselect is {prev.protocol.postselect!r} there, {cfg.protocol.postselect!r} here")
    if prev.protocol.measurements != cfg.protocol.measurements:
        out.append(f"the instruments differ (there: {prev.protocol.describe()}; here: {cfg.protocol.describe()})")
    if prev.seed != cfg.seed:
        out.append(f"run.seed (or --seed) is {prev.seed} there, {cfg.seed} here")
    return out


def resume_point(result_path: Path, cfg: RunConfig) -> int | None:
    """Trajectories already saved in ``result_path``; prints what is left to run.

    Parameters
    ----------
    result_path : Path
        The run folder's result.npz.
    cfg : RunConfig
        The run asked for.

    Returns
    -------
    int or None
        The saved trajectory count; None if there is no file.

    Raises
    ------
    CLIError
        (exit 2) If the file cannot be read or holds another run.
    """
    from ...ensemble.montecarlo.files import load

    if not result_path.exists():
        return None
    advice = "use another --out, or delete it to start over"
    try:
        prev = load(result_path)
    except ValueError as exc:
        raise CLIError(f"{result_path} exists but cannot be resumed ({exc}): {advice}") from None
    diffs = differences(prev, cfg)
    if diffs:
        raise CLIError(f"{result_path} holds another run ({'; '.join(diffs)}): {advice}")
    inside = sum(max(0, min(int(b), cfg.ntraj) - int(a)) for a, b in prev.ranges)
    extra = prev.ntraj - inside
    beyond = f" (and {extra} beyond, kept)" if extra else ""
    if inside >= cfg.ntraj and cfg.target_se is None:
        print(f"{result_path.name} already holds {prev.ntraj} trajectories ({cfg.ntraj} asked): nothing left to run")
    else:
        print(f"resuming from {result_path.name}: {inside} of {cfg.ntraj} trajectories done{beyond}")
    return prev.ntraj
