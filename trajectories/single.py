"""One trajectory of the protocol, kept whole for inspection and plotting."""

from __future__ import annotations

import dataclasses

import numpy as np

from .checks import check_count
from .kernel import trajectory
from .plan import Model, check_model
from .protocol import Protocol
from .rng import SEED_MAX, seed_state
from .run_log import bare_log
from .runs import plan_for
from .segments import channel_labels

#: Most jumps run_trajectory logs (24 bytes each: 240 MB at the limit).
MAX_JUMPS = 10**7


@dataclasses.dataclass(frozen=True, eq=False)
class Trajectory:
    """A single quantum-jump run.

    Attributes
    ----------
    times : ndarray of float64, shape (n,)
        Output times (time unit).
    states : ndarray of complex128, shape (n, d)
        Normalised state at each output time.
    post : ndarray of bool, shape (n,)
        Post-selected: follows the protocol's post-selection rule on the records.
    jump_times : ndarray of float64, shape (J,)
    jump_channels : ndarray of int64, shape (J,)
        Indices into ``labels``.
    jump_labels : tuple of str, length J
    jump_residuals : ndarray of float64, shape (J,)
        Relative residual of each jump-time root.
    outcomes : ndarray of int, shape (rounds,)
        The true outcomes +1 or -1.
    labels : tuple of str
        Every channel's name.
    seed, index : int
        The stream used.
    records : ndarray of int, shape (rounds,)
        What the detector reported (equal to outcomes without readout error).

    Examples
    --------
    >>> import darkspin as ds
    >>> traj = ds.run_trajectory(ds.SpinPair(), ds.Protocol.paper(n_out=11), seed=1, index=3)
    >>> traj.times.shape, traj.jump_times.shape == traj.jump_channels.shape
    ((11,), True)
    """

    times: np.ndarray
    states: np.ndarray
    post: np.ndarray
    jump_times: np.ndarray
    jump_channels: np.ndarray
    jump_labels: tuple[str, ...]
    jump_residuals: np.ndarray
    outcomes: np.ndarray
    labels: tuple[str, ...]
    seed: int
    index: int
    records: np.ndarray

    @property
    def singlet(self) -> np.ndarray:
        """|<S|psi(t)>|^2 on the output grid: ndarray of float64, shape (n,), in [0, 1] (two spins only)."""
        return 0.5 * np.abs(self.states[:, 1] - self.states[:, 2]) ** 2


def run_trajectory(model: Model, protocol: Protocol, seed: int, index: int = 0, max_jumps: int = 100_000) -> Trajectory:
    """Run trajectory ``index`` of the stream ``seed``: the same one that ``simulate`` sums with that seed.

    seed: integer in [0, 2**64); index: integer in [0, 2**64); max_jumps: integer in [0, MAX_JUMPS = 10**7],
    the most jumps logged (the trajectory itself is the same whatever the log size).

    Parameters
    ----------
    model : SpinPair or LindbladModel
        The system.
    protocol : Protocol
        What is done to it.
    seed, index : int
        The stream and the run in it, each in [0, 2**64).
    max_jumps : int
        As above.

    Returns
    -------
    Trajectory

    Raises
    ------
    ValueError
        Naming the parameter, for a value out of range, a protocol that is not a Protocol, or a model
        that does not fit it.

    Examples
    --------
    >>> import darkspin as ds
    >>> traj = ds.run_trajectory(ds.SpinPair(), ds.Protocol.paper(n_out=11), seed=1, index=0)
    >>> traj.states.shape, len(traj.records)
    ((11, 4), 4)
    """
    check_count("seed", seed, 0, SEED_MAX)
    check_count("index", index, 0, SEED_MAX)
    check_count("max_jumps", max_jumps, 0, MAX_JUMPS)
    max_jumps = int(max_jumps)
    if not isinstance(protocol, Protocol):
        raise ValueError(f"protocol must be a Protocol, got {type(protocol).__name__}")
    check_model(model, protocol)
    p = plan_for(model, protocol)  # compiled once per (model, protocol) pair, not per call
    rng = np.empty(4, np.uint64)
    seed_state(rng, np.uint64(seed), np.uint64(index))
    states = np.empty((p.n_out, p.heff.shape[0]), complex)
    post = np.empty(p.n_out, bool)
    outcomes = np.zeros(max(p.rounds, 1), np.int8)
    records = np.zeros(max(p.rounds, 1), np.int8)
    jt, jk, jr = np.empty(max_jumps), np.empty(max_jumps, np.int64), np.empty(max_jumps)
    log = bare_log(p.jumps.shape[0], p.heff.shape[0])
    n = trajectory(rng, p, states, post, outcomes, records, jt, jk, jr, log, np.zeros(1, np.int64))
    n = min(n, max_jumps)
    labels = tuple(channel_labels(model, protocol.segments))
    return Trajectory(
        protocol.times,
        states,
        post,
        jt[:n].copy(),
        jk[:n].copy(),
        tuple(labels[k] for k in jk[:n]),
        jr[:n].copy(),
        outcomes[: p.rounds].astype(int),
        labels,
        int(seed),
        int(index),
        records[: p.rounds].astype(int),
    )
