"""A run's log: what one trajectory records besides its output states (counts, round states, waiting times).

:func:`run_log` builds one in Python, :func:`bare_log` inside Numba code; :func:`bin_of` bins a time.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, NamedTuple

import numpy as np
from numba import njit

if TYPE_CHECKING:
    from numpy.typing import ArrayLike


class RunLog(NamedTuple):
    """Per-run extras :func:`trajectory` fills (K channels, R rounds, n outputs, T time bins).

    kcount (K,) int64 jumps per channel (always); round_states (R, d) complex, the normalised state
    after each round (rows 0: not kept); round_jumps (R,) int64 jumps before each round's end (size 0:
    not kept); out_counts (n, K) int64 jumps per channel by each output time (rows 0: not kept);
    wait_edges (T + 1,) and wait_hist (T + 1,) int64: waiting times between successive jumps are
    added to wait_hist (bin T: past the last edge; size 0: not binned).
    """

    kcount: np.ndarray
    round_states: np.ndarray
    round_jumps: np.ndarray
    out_counts: np.ndarray
    wait_edges: np.ndarray
    wait_hist: np.ndarray


def run_log(nk: int, d: int, rounds: int = 0, n_out: int = 0, wait_edges: ArrayLike | None = None) -> RunLog:
    """A :class:`RunLog` keeping round states and jumps for ``rounds`` rounds, counts at ``n_out`` outputs,
    and a waiting-time histogram on ``wait_edges`` (None: none).

    Parameters
    ----------
    nk : int
        Number K of channels.
    d : int
        State dimension.
    rounds, n_out : int
        Rows of the round and output logs (0: not kept).
    wait_edges : array_like of float, shape (T + 1,), optional
        Increasing time edges (time unit).

    Returns
    -------
    RunLog
    """
    edges = np.zeros(0) if wait_edges is None else np.ascontiguousarray(wait_edges, dtype=np.float64)
    return RunLog(
        np.zeros(max(nk, 1), np.int64),
        np.zeros((rounds, d), np.complex128),
        np.zeros(rounds, np.int64),
        np.zeros((n_out, max(nk, 1)), np.int64),
        edges,
        np.zeros(edges.size, np.int64),
    )


@njit(cache=True)
def bare_log(nk: int, d: int) -> RunLog:
    """A :class:`RunLog` that keeps only the per-channel counts (usable inside Numba code).

    Parameters
    ----------
    nk : int
        Number K of channels.
    d : int
        State dimension.

    Returns
    -------
    RunLog
    """
    return RunLog(
        np.zeros(max(nk, 1), np.int64),
        np.zeros((0, d), np.complex128),
        np.zeros(0, np.int64),
        np.zeros((0, max(nk, 1)), np.int64),
        np.zeros(0),
        np.zeros(0, np.int64),
    )


@njit(cache=True, inline="always")
def bin_of(edges: np.ndarray, x: float) -> int:
    """Bin of x on increasing ``edges``.

    Parameters
    ----------
    edges : ndarray of float64, shape (m,)
    x : float

    Returns
    -------
    int
        i with edges[i] <= x < edges[i + 1]; m - 1 past the end, -1 before the start.
    """
    return np.searchsorted(edges, x, side="right") - 1  # type: ignore[return-value]  # an integer scalar
