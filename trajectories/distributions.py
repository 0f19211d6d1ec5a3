"""What the distributions of runs are binned on: the fidelity snapshots, the bin edges, the jump-count
range, and the time grid; compiled into one :class:`DistributionSpec` that the ensemble kernel reads.

Fidelity F = |<target|psi>|^2 is binned in the infidelity u = 1 - F: one bin [0, 1e-8), ten
logarithmic bins per decade from 1e-8 to 0.1 (so 1 - F is resolved to 26 % of itself down to 1e-8),
then linear bins of 0.01 from 0.1 to 1 (the bulk, F <= 0.9). A snapshot is taken at the end of every
measurement round (the state after the measurement and its feedback, the post-selection flag after the
rule's step) and at chosen output times (default: the final one).

Jump counts per run and channel are counted 0, 1, ..., JUMP_MAX, with one overflow bin for more.
First-jump times and the waiting times between successive jumps of a run are binned on a time grid
(default DEFAULT_TIME_BINS equal bins on [0, t_final]); the first-jump histogram has one bin for runs
past the grid's end and one for runs that never jumped; the same split by the channel of the first jump.

Jump counts by each output time: N, the number of jumps of a channel set since t = 0, counted 0, 1, ...,
count_max - 1 with one cell for N >= count_max, for every set of :func:`.counting.count_sets` (all
channels, then each alone), over all runs and over the runs post-selected at that output time.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numpy.typing import ArrayLike

from .counting import COUNT_MAX, count_sets
from .operators import target_vector
from .protocol import Protocol
from .protocol_checks import _as_times

#: Infidelities below this share the first bin.
INFIDELITY_FLOOR = 1e-8
#: Logarithmic bins per decade of 1 - F between INFIDELITY_FLOOR and LINEAR_FROM.
BINS_PER_DECADE = 10
#: From this infidelity on, bins are linear with width LINEAR_STEP.
LINEAR_FROM, LINEAR_STEP = 0.1, 0.01
#: Jump counts per run and channel above this go to one overflow bin.
JUMP_MAX = 255
#: Equal bins of the default time grid on [0, t_final].
DEFAULT_TIME_BINS = 200
#: Most fidelity snapshots (round ends plus output times) one run may carry.
MAX_SNAPSHOTS = 256
#: Most edges of a user time grid.
MAX_TIME_EDGES = 100_001


def infidelity_edges() -> np.ndarray:
    """Bin edges of the infidelity 1 - F.

    Returns
    -------
    ndarray of float64, shape (B + 1,)
        Increasing from 0 to 1 (B = 161).
    """
    decades = round(np.log10(LINEAR_FROM / INFIDELITY_FLOOR))
    logs = INFIDELITY_FLOOR * 10.0 ** (np.arange(decades * BINS_PER_DECADE + 1) / BINS_PER_DECADE)
    linear = np.round(np.arange(LINEAR_FROM, 1.0 + LINEAR_STEP / 2, LINEAR_STEP), 12)
    return np.concatenate([[0.0], logs[:-1], linear])


class DistributionSpec(NamedTuple):
    """The compiled binning (S snapshots, B fidelity bins, T time bins; d the state dimension).

    on: accumulate at all; snap_kind (S,) 0 round end, 1 output time; snap_index (S,) round or output
    index; target (d,) complex and target_kind (0 the singlet formula |psi_1 - psi_2|^2 / 2, d = 4;
    1 |<target|psi>|^2); fid_edges (B + 1,) in 1 - F; time_edges (T + 1,) from 0; jump_max;
    count_sets (C, K) int64 0/1 masks of the channel sets whose jump counts by each output time are
    histogrammed, in count_max + 1 cells (the last: N >= count_max).
    """

    on: bool
    snap_kind: np.ndarray
    snap_index: np.ndarray
    target: np.ndarray
    target_kind: int
    fid_edges: np.ndarray
    time_edges: np.ndarray
    jump_max: int
    count_sets: np.ndarray
    count_max: int


def no_distributions(d: int) -> DistributionSpec:
    """The spec of a run without distributions (empty arrays, nothing accumulated).

    Parameters
    ----------
    d : int
        The state dimension.

    Returns
    -------
    DistributionSpec
    """
    return DistributionSpec(
        False,
        np.zeros(0, np.int64),
        np.zeros(0, np.int64),
        np.zeros(d, complex),
        2,
        np.zeros(2),
        np.zeros(2),
        0,
        np.zeros((0, 0), np.int64),
        0,
    )


def snapshots(protocol: Protocol, times: ArrayLike | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The fidelity snapshots: every round's end, then the output times ``times``, in time order.

    Parameters
    ----------
    protocol : Protocol
    times : array_like of float, optional
        Output times to snapshot, each one of ``protocol.times`` (time unit); None: the final one.

    Returns
    -------
    snap_kind : ndarray of int64, shape (S,)
        0 for a round end, 1 for an output time.
    snap_index : ndarray of int64, shape (S,)
        The round or output index.

    Raises
    ------
    ValueError
        If a time is not an output time, or there are no snapshots or more than MAX_SNAPSHOTS.
    """
    if times is None:
        out = np.array([protocol.times.size - 1], np.int64)
    else:
        t = _as_times("distribution_times", times, strict=True, max_size=MAX_SNAPSHOTS)
        out = np.searchsorted(protocol.times, t)
        bad = (out >= protocol.times.size) | (protocol.times[np.minimum(out, protocol.times.size - 1)] != t)
        if np.any(bad):
            raise ValueError(
                f"distribution_times must be output times of the protocol, got {float(t[np.argmax(bad)])!r}"
            )
    kind = np.concatenate([np.zeros(protocol.rounds, np.int64), np.ones(out.size, np.int64)])
    index = np.concatenate([np.arange(protocol.rounds, dtype=np.int64), out.astype(np.int64)])
    at = np.concatenate([protocol.record_times, protocol.times[out]])
    order = np.lexsort((kind, at))  # a round at an output time comes first, as in the events
    if kind.size == 0:  # nothing to bin (and a result without snapshots could not be saved)
        raise ValueError("distribution_times must hold at least one output time when the protocol has no rounds")
    if kind.size > MAX_SNAPSHOTS:
        raise ValueError(
            f"distributions: a run carries at most {MAX_SNAPSHOTS} fidelity snapshots (rounds plus "
            f"distribution_times), got {kind.size}"
        )
    return kind[order], index[order]


def default_time_edges(protocol: Protocol) -> np.ndarray:
    """DEFAULT_TIME_BINS equal bins on [0, t_final] ([0, 1] if t_final = 0).

    Parameters
    ----------
    protocol : Protocol

    Returns
    -------
    ndarray of float64, shape (T + 1,)
        The edges (time unit).
    """
    return np.linspace(0.0, protocol.t_final if protocol.t_final > 0 else 1.0, DEFAULT_TIME_BINS + 1)


def check_time_edges(edges: ArrayLike) -> np.ndarray:
    """A time grid: strictly increasing, starting at 0, at least 2 and at most MAX_TIME_EDGES edges.

    Parameters
    ----------
    edges : array_like of float, shape (T + 1,)

    Returns
    -------
    ndarray of float64, shape (T + 1,)

    Raises
    ------
    ValueError
        Naming 'time_edges', for anything else.
    """
    t = _as_times("time_edges", edges, strict=True, max_size=MAX_TIME_EDGES)
    if t.size < 2 or t[0] != 0.0:
        raise ValueError(f"time_edges must start at 0 and hold at least 2 edges, got {t.size} starting at {t[:1]}")
    return t


def distribution_spec(
    protocol: Protocol,
    d: int,
    target_state: str | ArrayLike | None = None,
    distribution_times: ArrayLike | None = None,
    time_edges: ArrayLike | None = None,
    channels: int = 0,
) -> DistributionSpec:
    """Check and compile the binning of :func:`darkspin.simulate`'s ``distributions=True``.

    target_state: None (the singlet; two spins), a two-spin label or a d-vector; distribution_times:
    output times to snapshot besides the round ends (default: the final time); time_edges: the grid of
    first-jump and waiting times (default :func:`default_time_edges`).

    Parameters
    ----------
    protocol : Protocol
    d : int
        The model's dimension.
    target_state : str, array_like of shape (d,), or None
    distribution_times : array_like of float, optional
    time_edges : array_like of float, optional
    channels : int
        The model's number of channels K (the channel sets of the count histograms; 0: none).

    Returns
    -------
    DistributionSpec

    Raises
    ------
    ValueError
        Naming the parameter.
    """
    target = target_vector(target_state, d)
    kind, index = snapshots(protocol, distribution_times)
    edges = default_time_edges(protocol) if time_edges is None else check_time_edges(time_edges)
    singlet = target_state is None or (isinstance(target_state, str) and target_state == "S")
    sets = count_sets(channels)
    return DistributionSpec(
        True, kind, index, target, 0 if singlet else 1, infidelity_edges(), edges, JUMP_MAX, sets, COUNT_MAX
    )
