"""The argument parser of ``darkspin``: its commands, options and argument types.

The number types are thin wrappers over trajectories.checks, imported when an argument is read (so
``darkspin --help`` stays light), and fail as argparse's ``argument --flag: must be ..., got ...``.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import NoReturn

from .cluster import DASK_TIMEOUT
from .optimize import OPTIMIZE_OBJECTIVES

FORMATS = ("png", "pdf", "svg")


class UsageError(Exception):
    """A command line argparse refused (reported as one line by main, exit 2)."""


class _Parser(argparse.ArgumentParser):
    """argparse that reports errors as one line (raised, so main() decides the exit)."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(message)


def _number(text: str) -> int | float | str:
    """``text`` as an int, else a float, else unchanged (for the checks to refuse with its repr)."""
    try:
        return int(text)
    except ValueError:
        try:
            return float(text)
        except ValueError:
            return text


def _type_error(exc: ValueError) -> argparse.ArgumentTypeError:
    # the checks say "<name> must be ..."; called with an empty name, and argparse names the flag
    return argparse.ArgumentTypeError(str(exc).strip())


def integer_in(low: int, high: int | None, accepted: str) -> Callable[[str], int]:
    """An argparse type: an integer in [low, high) (``1e5`` accepted, see checks.check_integral).

    Parameters
    ----------
    low : int
        The smallest accepted value.
    high : int or None
        One past the largest accepted value; None for no upper bound.
    accepted : str
        How the error message describes the accepted values (``an integer >= 1``).

    Returns
    -------
    callable
        str -> int, raising argparse.ArgumentTypeError for anything else.
    """

    def parse(text: str) -> int:
        from ...trajectories.checks import check_integral

        try:
            return check_integral("", _number(text), low, None if high is None else high - 1, accepted)
        except ValueError as exc:
            raise _type_error(exc) from None

    return parse


positive_int = integer_in(1, None, "an integer >= 1")
seed = integer_in(0, 2**64, "an integer in [0, 2**64)")


def real(text: str) -> float:
    """An argparse type: a finite real number.

    Parameters
    ----------
    text : str

    Returns
    -------
    float

    Raises
    ------
    argparse.ArgumentTypeError
        If ``text`` is not a finite real number.
    """
    from ...trajectories.checks import check_real

    try:
        return check_real("", _number(text))
    except ValueError as exc:
        raise _type_error(exc) from None


def positive_real(text: str) -> float:
    """An argparse type: a finite real number > 0.

    Parameters
    ----------
    text : str

    Returns
    -------
    float

    Raises
    ------
    argparse.ArgumentTypeError
        If ``text`` is not a finite real number > 0.
    """
    from ...trajectories.checks import check_real

    try:
        return check_real("", _number(text), 0.0, low_open=True)
    except ValueError as exc:
        raise _type_error(exc) from None


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``darkspin``.

    Returns
    -------
    argparse.ArgumentParser
        With the subcommands run, show, exact, steady, spectra, sweep and optimize; its ``error``
        raises :class:`UsageError` instead of exiting.
    """
    p = _Parser(
        prog="darkspin",
        description="Quantum-jump trajectories of two spins in an STM: "
        "dark-state purification by repeated tau_z x tau_z measurements.",
    )
    p.add_argument("--version", action="store_true", help="print the version and exit")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    r = sub.add_parser("run", help="simulate the protocol, compare with the master equation, write figures")
    r.add_argument("config", nargs="?", metavar="CONFIG.toml", help="run config (default: the paper's Fig. 3 right)")
    r.add_argument("--ntraj", type=positive_int, metavar="N", help="trajectories (overrides [run] ntraj)")
    r.add_argument("--seed", type=seed, metavar="S", help="random seed (overrides [run] seed)")
    _outputs(r, "result.npz, summary.json, postselection.txt and figures; a result.npz there is resumed")
    _cluster(r)
    _overrides(r)

    s = sub.add_parser("show", help="reload a saved run; print its table and comparison")
    s.add_argument("result", metavar="RESULT.npz")
    s.add_argument("--out", metavar="DIR", help="also write summary.json, postselection.txt and figures here")
    s.add_argument("--format", choices=FORMATS, default="png", help="figure format (default png)")

    e = sub.add_parser("exact", help="exact protocol table from the master equation (no trajectories)")
    e.add_argument("config", nargs="?", metavar="CONFIG.toml", help="run config (default: the paper's Fig. 3 right)")
    e.add_argument("--figures", action="store_true", help="also draw protocol.png (Fig. 3 right, exact curves)")
    _outputs(e, "the figure (implies --figures)")
    _overrides(e)

    st = sub.add_parser("steady", help="Fig. 3 left: entanglement of the steady-state family, p_c")
    st.add_argument("--V", type=real, default=2.5, help="bias voltage in units of nu (default 2.5)")
    _outputs(st, "steady.png")

    sp = sub.add_parser("spectra", help="Fig. 2: correlation spectra C1, C2, C3 and their lines")
    sp.add_argument("--omega-max", type=real, default=12.0, help="largest frequency, units of nu (default 12)")
    _outputs(sp, "spectra.png")

    w = sub.add_parser("sweep", help="exact (and trajectory) results over a grid of parameters: CSV and figures")
    w.add_argument("study", metavar="STUDY.toml", help="a run config with a [sweep] section naming the axes")
    w.add_argument(
        "--ntraj",
        type=integer_in(0, None, "an integer >= 0"),
        metavar="N",
        help="trajectories per point (default: run.ntraj if the file gives it, else 0: exact only)",
    )
    _outputs(w, "sweep.csv, summary.json, the figure and points/ (a sweep there is resumed)")
    _cluster(w)
    _overrides(w)

    o = sub.add_parser("optimize", help="choose the measurement times; check them with trajectories")
    o.add_argument("config", nargs="?", metavar="STUDY.toml", help="run config, optional [optimize] section")
    og = o.add_mutually_exclusive_group()
    og.add_argument("--rounds", type=positive_int, metavar="N", help="measurements (default: the protocol's)")
    og.add_argument("--max-rounds", type=positive_int, metavar="M", help="best number of rounds in 1..M")
    o.add_argument("--t-max", type=positive_real, metavar="T", help="latest measurement time (default: t_final)")
    o.add_argument("--objective", choices=OPTIMIZE_OBJECTIVES, help="what to maximise (default fidelity)")
    o.add_argument("--min-yield", type=real, metavar="Y", help="yield floor for fidelity_at_yield")
    o.add_argument("--starts", type=positive_int, metavar="K", help="local searches (default 8)")
    o.add_argument("--ntraj", type=positive_int, metavar="N", help="trajectories of the check (overrides [run])")
    o.add_argument("--seed", type=seed, metavar="S", help="random seed of the check (overrides [run] seed)")
    o.add_argument("--no-progress", action="store_true", help="no progress bar")
    _overrides(o)
    return p


def _outputs(q: argparse.ArgumentParser, what: str) -> None:
    """--out DIR and --format."""
    q.add_argument("--out", metavar="DIR", help=f"folder for {what} (default ./darkspin-out/<timestamp>/)")
    q.add_argument("--format", choices=FORMATS, default="png", help="figure format (default png)")


def _cluster(q: argparse.ArgumentParser) -> None:
    """--workers K | --scheduler ADDRESS, --timeout and --no-progress: where and how trajectories run."""
    g = q.add_mutually_exclusive_group()
    g.add_argument("--workers", type=positive_int, metavar="K", help="run on a local Dask cluster of K workers")
    g.add_argument("--scheduler", metavar="ADDRESS", help="run on an existing Dask scheduler")
    q.add_argument(
        "--timeout",
        type=positive_real,
        default=DASK_TIMEOUT,
        metavar="SECONDS",
        help=f"with --scheduler: seconds to connect, and to wait for a worker (default {DASK_TIMEOUT:g})",
    )
    q.add_argument("--no-progress", action="store_true", help="no progress bar")


def _overrides(q: argparse.ArgumentParser) -> None:
    """--set SECTION.KEY=VALUE, repeatable."""
    q.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="SECTION.KEY=VALUE",
        help="override a config key (repeatable), the value as TOML: --set model.lam2=0.01",
    )
