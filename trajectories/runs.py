"""Per-run records of many trajectories, from one parallel kernel call: the records, jump counts, first
jumps, final states (and, when asked, every jump) of runs start .. start + ntraj - 1 of a seed's
streams, the same runs :func:`darkspin.simulate` sums with that seed."""

from __future__ import annotations

import dataclasses
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

import numba
import numpy as np
from numba import njit, prange
from numpy.typing import NDArray

from . import interruptible
from .checks import check_count
from .jump_budget import check_jump_budget
from .kernel import trajectory
from .plan import Model, Plan, check_model, compile_plan
from .protocol import Protocol
from .rng import SEED_MAX, seed_state
from .run_log import bare_log
from .segments import channel_labels
from .signatures import canonical
from .sums_kernel import SMALL_CALL, chunk_bounds, trajectory_buffers

#: What run_trajectories can keep per run (see :class:`Runs`).
KEEP = ("records", "outcomes", "post", "n_jumps", "first_jump", "final_state", "states", "jumps")
DEFAULT_KEEP = ("records", "n_jumps", "first_jump", "final_state")
#: Most bytes of per-run arrays one call may return (a larger study runs in index ranges).
MAX_BYTES = 2**32
#: Most jumps a call with keep "jumps" may log in all (24 bytes each).
MAX_LOGGED_JUMPS = 10**8
#: Compiled plans kept for repeated calls on the same model and protocol objects.
_PLAN_CACHE: OrderedDict[tuple[int, int], tuple[Model, Protocol, Plan]] = OrderedDict()
_PLAN_CACHE_SIZE = 8


def plan_for(model: Model, protocol: Protocol) -> Plan:
    """The compiled plan of (model, protocol), cached by object identity (both are immutable).

    Parameters
    ----------
    model : SpinPair or LindbladModel
    protocol : Protocol

    Returns
    -------
    Plan

    Raises
    ------
    ValueError
        As :func:`compile_plan`.
    """
    key = (id(model), id(protocol))
    hit = _PLAN_CACHE.get(key)
    if hit is not None and hit[0] is model and hit[1] is protocol:
        _PLAN_CACHE.move_to_end(key)
        return hit[2]
    plan = canonical(interruptible.detached(compile_plan, model, protocol))  # compiles kernels the first time
    _PLAN_CACHE[key] = (model, protocol, plan)
    while len(_PLAN_CACHE) > _PLAN_CACHE_SIZE:
        _PLAN_CACHE.popitem(last=False)
    return plan


@dataclasses.dataclass(frozen=True, eq=False)
class Runs:
    """Per-run arrays of runs ``index`` (N,) of stream ``seed`` (R rounds, K channels, n outputs, d).

    Each array field is None unless it was kept.

    Attributes
    ----------
    seed : int
        The stream.
    index : ndarray of int64, shape (N,)
        The runs' indices in the stream.
    labels : tuple of str, length K
        Channel names.
    times : ndarray of float64, shape (n,)
        The output times (time unit).
    records, outcomes : ndarray of int8, shape (N, R), or None
        +1 / -1: the detector's record, the true outcome.
    post : ndarray of bool, shape (N, n), or None
        Post-selected by the rule at each output time.
    n_jumps : ndarray of int64, shape (N, K), or None
        Jumps per channel.
    first_jump : ndarray of float64, shape (N,), or None
        Time of the first jump (inf: none).
    final_state : ndarray of complex128, shape (N, d), or None
        The normalised state at the final output time.
    states : ndarray of complex128, shape (N, n, d), or None
    jump_times, jump_channels, jump_residuals : ndarray, shape (J,), or None
        Every jump as ragged arrays (float64, int64, float64).
    jump_offsets : ndarray of int64, shape (N + 1,), or None
        Run i's jumps are at jump_offsets[i]:jump_offsets[i + 1]; see :meth:`jumps_of`.

    Examples
    --------
    >>> import darkspin as ds
    >>> runs = ds.run_trajectories(ds.SpinPair(), ds.Protocol.paper(n_out=11), 100, seed=1, keep=("records", "jumps"))
    >>> runs.records.shape, runs.jumps_of(0)[0].ndim
    ((100, 4), 1)
    """

    seed: int
    index: np.ndarray
    labels: tuple[str, ...]
    times: np.ndarray
    records: np.ndarray | None = None
    outcomes: np.ndarray | None = None
    post: np.ndarray | None = None
    n_jumps: np.ndarray | None = None
    first_jump: np.ndarray | None = None
    final_state: np.ndarray | None = None
    states: np.ndarray | None = None
    jump_times: np.ndarray | None = None
    jump_channels: np.ndarray | None = None
    jump_residuals: np.ndarray | None = None
    jump_offsets: np.ndarray | None = None

    def __len__(self) -> int:
        """Number N of runs."""
        return int(self.index.size)

    def jumps_of(self, i: int) -> tuple[NDArray[np.float64], NDArray[np.int64]]:
        """The jumps of one run of this call (needs ``keep`` to include "jumps").

        Parameters
        ----------
        i : int
            Position of the run in this call, in [-N, N - 1] for N runs: run ``index[i]`` of the stream.
            Negative positions count from the end, as in a Python sequence (-1 is the last run).

        Returns
        -------
        times : ndarray of float64, shape (J_i,)
            Times of run i's jumps, ascending (time unit of the model).
        channels : ndarray of int64, shape (J_i,)
            The channel (index into ``labels``) of each jump.

        Raises
        ------
        ValueError
            If the jumps were not kept.
        TypeError
            If ``i`` is not an integer.
        IndexError
            If ``i`` is outside [-N, N - 1]; the message names that range.

        Examples
        --------
        >>> import darkspin as ds
        >>> runs = ds.run_trajectories(ds.SpinPair(), ds.Protocol.paper(n_out=11), 100, seed=1, keep=("jumps",))
        >>> times, channels = runs.jumps_of(0)
        >>> times.size, round(float(times[0]), 3), [runs.labels[c] for c in channels[:2]]
        (13, 1.676, ['lowering[0]', 'dephasing[0]'])
        """
        if self.jump_offsets is None or self.jump_times is None or self.jump_channels is None:
            raise ValueError('jumps_of needs run_trajectories(..., keep=(..., "jumps"))')
        if isinstance(i, (bool, np.bool_)) or not isinstance(i, (int, np.integer)):
            raise TypeError(f"run index must be an integer, got {type(i).__name__}")
        n = len(self)
        if not -n <= i < n:
            raise IndexError(f"run index must be in [{-n}, {n - 1}] (negative counts from the end), got {int(i)}")
        i = int(i) % n
        a, b = self.jump_offsets[i], self.jump_offsets[i + 1]
        return self.jump_times[a:b], self.jump_channels[a:b]


@njit(cache=True, parallel=True, nogil=True)
def per_run(
    seed: np.uint64,
    start: int,
    ntraj: int,
    nchunks: int,
    plan: Plan,
    rec: np.ndarray,
    outc: np.ndarray,
    posts: np.ndarray,
    counts: np.ndarray,
    first: np.ndarray,
    final: np.ndarray,
    states_all: np.ndarray,
    offsets: np.ndarray,
    jt: np.ndarray,
    jk: np.ndarray,
    jr: np.ndarray,
    abort: np.ndarray,
) -> None:
    """Runs start .. start + ntraj - 1, writing row i - start of every output with rows (0 rows: not kept).

    Setting ``abort[0]`` stops every chunk within a few thousand jumps (the outputs are then incomplete).

    Parameters
    ----------
    seed : numpy.uint64
    start, ntraj : int
        The runs.
    nchunks : int
        Parallel chunks (>= 1).
    plan : Plan
    rec, outc : ndarray of int8, shape (N, R)
        Written: records and true outcomes.
    posts : ndarray of bool, shape (N, n)
    counts : ndarray of int64, shape (N, K)
    first : ndarray of float64, shape (N,)
        Time of the first jump (inf: no jump).
    final : ndarray of complex128, shape (N, d)
    states_all : ndarray of complex128, shape (N, n, d)
    offsets : ndarray of int64, shape (N + 1,)
    jt, jk, jr : ndarray, shape (J,) (float64, int64, float64)
        Every jump of run i at offsets[i]:offsets[i + 1] (size 0: not logged).
    abort : ndarray of int64, shape (1,)
        Nonzero: stop.
    """
    n_out, rounds = plan.n_out, plan.rounds
    d = plan.heff.shape[0]
    nk = max(plan.jumps.shape[0], 1)
    for ch in prange(nchunks):
        lo, hi = chunk_bounds(start, ntraj, nchunks, ch)
        rng, states, post, outcomes, records = trajectory_buffers(n_out, rounds, d)
        log = bare_log(nk, d)
        one_t = np.zeros(1 if first.size > 0 else 0)
        one_k = np.zeros(one_t.size, np.int64)
        one_r = np.zeros(one_t.size)
        for traj in range(lo, hi):
            if abort[0] != 0:
                break
            i = traj - start
            seed_state(rng, seed, traj)
            if jt.size > 0:
                a, b = offsets[i], offsets[i + 1]
                nj = trajectory(rng, plan, states, post, outcomes, records, jt[a:b], jk[a:b], jr[a:b], log, abort)
                t0 = jt[a] if nj > 0 else np.inf
            else:
                nj = trajectory(rng, plan, states, post, outcomes, records, one_t, one_k, one_r, log, abort)
                t0 = one_t[0] if nj > 0 and one_t.size > 0 else np.inf
            if nj < 0:
                break
            if rec.shape[0] > 0:
                rec[i, :] = records[:rounds]
            if outc.shape[0] > 0:
                outc[i, :] = outcomes[:rounds]
            if posts.shape[0] > 0:
                posts[i, :] = post
            if counts.shape[0] > 0:
                counts[i, :] = log.kcount[: counts.shape[1]]
            if first.size > 0:
                first[i] = t0
            if final.shape[0] > 0:
                final[i, :] = states[n_out - 1]
            if states_all.shape[0] > 0:
                states_all[i] = states


def check_keep(keep: str | Sequence[str]) -> tuple[str, ...]:
    """``keep`` as a tuple of names from KEEP (a single name is accepted).

    Parameters
    ----------
    keep : str or sequence of str

    Returns
    -------
    tuple of str

    Raises
    ------
    ValueError
        Naming ``keep`` and KEEP, for anything else.
    """
    if isinstance(keep, str):
        keep = (keep,)
    try:
        names = tuple(keep)
    except TypeError:
        raise ValueError(f"keep must be a sequence of names from {KEEP}, got {keep!r}") from None
    bad = [k for k in names if not isinstance(k, str) or k not in KEEP]
    if bad:
        raise ValueError(f"keep must name fields from {KEEP}, got {bad[0]!r}")
    return names


def run_trajectories(
    model: Model,
    protocol: Protocol,
    ntraj: int,
    seed: int,
    start: int = 0,
    keep: str | Sequence[str] = DEFAULT_KEEP,
    threads: int | None = None,
) -> Runs:
    """Per-run arrays of trajectories start .. start + ntraj - 1 of stream ``seed``, in parallel.

    Run i here is run i of :func:`darkspin.simulate` with the same seed: their record strings and jump
    counts add up to that result's record_counts and n_jumps, integer for integer, and any index range
    equals the same slice of a longer call.

    ntraj: integer in [1, 2**62]; seed: integer in [0, 2**64); start: integer with start + ntraj <= 2**62;
    keep: names from KEEP (default DEFAULT_KEEP); "jumps" logs every jump (the runs are then done
    twice: once to count the jumps, once to log them; at most MAX_LOGGED_JUMPS in all); the arrays kept
    may take at most MAX_BYTES = 4 GiB (run larger studies in index ranges). threads: Numba threads
    (default all). The jump budget of :func:`darkspin.simulate` applies (a run expected to take more
    than MAX_RUN_JUMPS = 10**9 jumps is refused; a call of more than WARN_TOTAL_JUMPS in all warns).
    Ctrl-C stops the call within a second or two (KeyboardInterrupt; nothing is returned).

    Parameters
    ----------
    model : SpinPair or LindbladModel
    protocol : Protocol
    ntraj, seed, start : int
        As above.
    keep : str or sequence of str
        As above.
    threads : int, optional
        As above.

    Returns
    -------
    Runs

    Raises
    ------
    ValueError
        Naming the parameter, for a value out of range, too many bytes or jumps, or a model that does
        not fit the protocol.
    KeyboardInterrupt
        On Ctrl-C; the next call works (a compile it interrupted finishes in the background).

    Examples
    --------
    >>> import darkspin as ds
    >>> runs = ds.run_trajectories(ds.SpinPair(), ds.Protocol.paper(n_out=11), 100, seed=1)
    >>> runs.records.shape, runs.n_jumps.shape
    ((100, 4), (100, 3))
    """
    ntraj = check_count("ntraj", ntraj)
    seed = check_count("seed", seed, 0, SEED_MAX)
    start = check_count("start", start, 0, 2**62)
    if start + ntraj > 2**62:
        raise ValueError(f"start + ntraj must be <= 2**62 (the runs simulate can sum), got {start + ntraj}")
    keep = check_keep(keep)
    if not isinstance(protocol, Protocol):
        raise ValueError(f"protocol must be a Protocol, got {type(protocol).__name__}")
    d = check_model(model, protocol)
    if threads is not None:
        threads = check_count("threads", threads, 1, 2**31)
    plan = plan_for(model, protocol)
    n_out, R = plan.n_out, plan.rounds
    K = max(plan.jumps.shape[0], 1)
    row_bytes = {
        "records": R,
        "outcomes": R,
        "post": n_out,
        "n_jumps": 8 * K,
        "first_jump": 8,
        "final_state": 16 * d,
        "states": 16 * d * n_out,
        "jumps": 8,
    }
    need = ntraj * sum(row_bytes[k] for k in set(keep))
    if need > MAX_BYTES:
        raise ValueError(
            f"ntraj: keeping {', '.join(keep)} for {ntraj} runs needs {need / 2**30:.3g} GiB, more than "
            f"MAX_BYTES = {MAX_BYTES / 2**30:g} GiB; run the study in index ranges (start=...)"
        )
    check_jump_budget(plan, ntraj)  # last: its warning is for calls that will run

    def rows(name: str, shape: tuple[int, ...], dtype: Any) -> np.ndarray:
        return np.zeros((ntraj, *shape) if name in keep else (0, *shape), dtype)

    want_counts = "n_jumps" in keep or "jumps" in keep
    out = {
        "records": rows("records", (R,), np.int8),
        "outcomes": rows("outcomes", (R,), np.int8),
        "post": rows("post", (n_out,), np.bool_),
        "n_jumps": np.zeros((ntraj if want_counts else 0, K), np.int64),
        "first_jump": np.zeros(ntraj if "first_jump" in keep else 0),
        "final_state": rows("final_state", (d,), np.complex128),
        "states": rows("states", (n_out, d), np.complex128),
    }
    no_f, no_k = np.zeros(0), np.zeros(0, np.int64)
    offsets = np.zeros(1, np.int64)
    before = numba.get_num_threads()
    want = before if threads is None else min(threads, numba.config.NUMBA_NUM_THREADS)  # type: ignore[attr-defined]
    try:
        numba.set_num_threads(want if ntraj >= SMALL_CALL else 1)
        nchunks = max(1, min(ntraj, 4 * numba.get_num_threads()))

        def call(jt: np.ndarray, jk: np.ndarray, jr: np.ndarray) -> None:
            abort = np.zeros(1, np.int64)
            try:
                interruptible.call(
                    per_run, np.uint64(seed), int(start), int(ntraj), int(nchunks), plan,
                    out["records"], out["outcomes"], out["post"], out["n_jumps"], out["first_jump"],
                    out["final_state"], out["states"], offsets, jt, jk, jr, abort, abort=abort,
                )  # fmt: skip
            except interruptible.Interrupted:
                raise KeyboardInterrupt from None  # the runs are incomplete: nothing to return

        call(no_f, no_k, no_f)
        jt = jk = jr = None
        if "jumps" in keep:
            offsets = np.concatenate([[0], np.cumsum(out["n_jumps"].sum(axis=1))]).astype(np.int64)
            total = int(offsets[-1])
            if total > MAX_LOGGED_JUMPS:
                raise ValueError(
                    f"keep 'jumps': these {ntraj} runs jump {total} times, more than MAX_LOGGED_JUMPS = "
                    f"{MAX_LOGGED_JUMPS:g}; run fewer at a time (start=...)"
                )
            jt, jk, jr = np.zeros(total), np.zeros(total, np.int64), np.zeros(total)
            if total:
                call(jt, jk, jr)
    finally:
        numba.set_num_threads(before)
    return Runs(
        seed=seed,
        index=np.arange(start, start + ntraj, dtype=np.int64),
        labels=tuple(channel_labels(model, protocol.segments)),
        times=protocol.times,
        records=out["records"] if "records" in keep else None,
        outcomes=out["outcomes"] if "outcomes" in keep else None,
        post=out["post"] if "post" in keep else None,
        n_jumps=out["n_jumps"][:, : plan.jumps.shape[0]] if "n_jumps" in keep else None,
        first_jump=out["first_jump"] if "first_jump" in keep else None,
        final_state=out["final_state"] if "final_state" in keep else None,
        states=out["states"] if "states" in keep else None,
        jump_times=jt,
        jump_channels=jk,
        jump_residuals=jr,
        jump_offsets=offsets if "jumps" in keep else None,
    )
