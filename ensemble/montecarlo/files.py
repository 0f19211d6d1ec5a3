"""The Monte Carlo result file: saving a :class:`MonteCarloResult` as one .npz file and loading it back.

File format ``darkspin-result-2``: an uncompressed .npz holding exactly the members of ``_MEMBERS``
(the sums, counts, model, protocol, seed, trajectory ranges, why the run ended as JSON ``stats``,
and a SHA-256 ``checksum`` of all the others). :func:`load` reads only those members, checks each
one's declared dtype and shape in its .npy header before reading it, recomputes the checksum and
checks every cross-field invariant, and refuses anything else with one line. The checksum detects
damage and edits; it is not a signature (whoever recomputes it can forge a file), which is why the
invariants are checked as well. ``darkspin-result-1`` files (no checksum, no stats) still load, with
a warning, and are checked for consistency the same way.

Length: one format, read defensively. Every member's declared dtype and shape, the checksum and each
cross-field invariant (counts, ranges, records, distributions, stats) is checked before a result is
built, and those checks are the format's definition; split up, each piece would be meaningless alone.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
import stat
import warnings
import zipfile
from importlib import metadata

import numpy as np

from ...trajectories.checks import check_path
from ...trajectories.counting import COUNT_MAX_LIMIT
from ...trajectories.distributions import MAX_SNAPSHOTS, MAX_TIME_EDGES, DistributionSpec, infidelity_edges
from ...trajectories.instrument_json import MAX_JSON_CHARS
from ...trajectories.lindblad import MAX_CHANNELS, LindbladModel
from ...trajectories.model import SpinPair
from ...trajectories.plan import MAX_RECORD_ROUNDS, Model
from ...trajectories.protocol import MAX_DIM, MAX_OUTPUTS, MAX_ROUNDS, MIN_DIM, Protocol
from ...trajectories.segments import MAX_GATES, MAX_SEGMENTS
from ...trajectories.sums_kernel import FRAC_BITS, acc_layout
from ..results.monte_carlo import MAX_NTRAJ, MonteCarloResult, _check_stats, set_writer
from .atomic import atomic_write, temporary_name
from .distributions import DistributionSums
from .sums import EnsembleSums

FORMAT = "darkspin-result-2"
#: Older formats that still load (without a checksum to verify).
OLD_FORMATS = ("darkspin-result-1",)
#: Most disjoint trajectory ranges a result file may list.
MAX_RANGES = 10**6

_PARAMS = [f.name for f in dataclasses.fields(SpinPair)]
#: member: (dtype kind, itemsize in bytes (for text: most characters), shape; letters are sizes
#: bound while reading: n output times, r rounds, k ranges).
_MEMBERS = {
    "format": ("U", 64, ()),
    "version": ("U", 64, ()),
    "stats": ("U", 1024, ()),
    "checksum": ("U", 64, ()),
    "ntraj": ("i", 8, ()),
    "n_jumps": ("i", 8, ()),
    "seed": ("u", 8, ()),
    "params": ("f", 8, ("p",)),
    "param_names": ("U", 32, ("p",)),
    "rho0": ("c", 16, ("d", "d")),
    "times": ("f", 8, ("n",)),
    "measure_at": ("f", 8, ("r",)),
    "hi": ("i", 8, ("n", 2, "a")),
    "lo": ("i", 8, ("n", 2, "a")),
    "n_post": ("i", 8, ("n",)),
    "n_success": ("i", 8, ("r",)),
    "ranges": ("i", 8, ("k", 2)),
    "interrupted": ("b", 1, ()),
    # instruments and rule (issue 11): c is 2**r record cells, or 0 beyond MAX_RECORD_ROUNDS rounds
    "n_kept": ("i", 8, ("r",)),
    "record_counts": ("i", 8, ("c",)),
    "postselect": ("U", MAX_ROUNDS, ()),
    "measurement_observable": ("c", 16, ("r", "d", "d")),
    "measurement_readout_error": ("f", 8, ("r", 2)),
    "measurement_feedback": ("c", 16, ("r", 2, "d", "d")),
    "measurement_has_feedback": ("b", 1, ("r", 2)),
    # Kraus instruments, monitored windows, feedback on the rule state (issue 22): JSON, when present
    "instruments": ("U", MAX_JSON_CHARS, ()),
    # the model as data (issue 12): its kind, and its arrays for every kind
    "model_kind": ("U", 32, ()),
    "model_hamiltonian": ("c", 16, ("d", "d")),
    "model_jump_operators": ("c", 16, ("K", "d", "d")),
    "model_labels": ("U", 256, ("K",)),
    # distributions (issue 13), present all together or not at all: S snapshots, B infidelity edges (b =
    # B - 1 bins), T time edges (u = T + 1 first-jump cells), J = jump_max + 2 jump-count cells
    "dist_snap_kind": ("i", 8, ("S",)),
    "dist_snap_index": ("i", 8, ("S",)),
    "dist_target": ("c", 16, ("d",)),
    "dist_target_kind": ("i", 8, ()),
    "dist_fid_edges": ("f", 8, ("B",)),
    "dist_time_edges": ("f", 8, ("T",)),
    "dist_jump_max": ("i", 8, ()),
    "dist_fidelity": ("i", 8, ("S", 2, "b")),
    "dist_split_n": ("i", 8, ("S", 2)),
    "dist_split_hi": ("i", 8, ("S", 2)),
    "dist_split_lo": ("i", 8, ("S", 2)),
    "dist_jump_counts": ("i", 8, (2, "K", "J")),
    "dist_first_jump": ("i", 8, (2, "u")),
    "dist_waiting": ("i", 8, ("T",)),
    "dist_count_sums": ("i", 8, ("n", "K")),
    "dist_count_squares": ("i", 8, ("n", "K")),
    # count histograms (issue 22), present all together with the distributions or absent (files saved
    # before them): C channel sets, Q = count_max + 1 count cells
    "dist_count_sets": ("i", 8, ("C", "K")),
    "dist_count_max": ("i", 8, ()),
    "dist_counts": ("i", 8, ("C", 2, "n", "Q")),
    "dist_first_jump_channel": ("i", 8, (2, "K", "T")),
    # segments and gates (issue 21), present all together or not at all: m segments of at most M
    # channels, g gates
    "segment_at": ("f", 8, ("m",)),
    "segment_hamiltonian": ("c", 16, ("m", "d", "d")),
    "segment_jump_operators": ("c", 16, ("m", "M", "d", "d")),
    "segment_n_channels": ("i", 8, ("m",)),
    "segment_labels": ("U", 256, ("m", "M")),
    "gate_at": ("f", 8, ("g",)),
    "gate_unitary": ("c", 16, ("g", "d", "d")),
}
_COUNT_MEMBERS = {"dist_count_sets", "dist_count_max", "dist_counts", "dist_first_jump_channel"}
_DIST_MEMBERS = {k for k in _MEMBERS if k.startswith("dist_")} - _COUNT_MEMBERS
_SCHEDULE_MEMBERS = {k for k in _MEMBERS if k.startswith(("segment_", "gate_"))}
_MODEL_MEMBERS = {"model_kind", "model_hamiltonian", "model_jump_operators", "model_labels"}
#: Model classes a file can hold; each reloads bit for bit.
MODEL_KINDS = ("SpinPair", "LindbladModel")
_INSTRUMENT_MEMBERS = {
    "n_kept",
    "record_counts",
    "postselect",
    "measurement_observable",
    "measurement_readout_error",
    "measurement_feedback",
    "measurement_has_feedback",
}
_BOUNDS = {
    "n": (1, MAX_OUTPUTS),
    "r": (0, MAX_ROUNDS),
    "k": (0, MAX_RANGES),
    "c": (0, 2**MAX_RECORD_ROUNDS),
    "p": (0, len(_PARAMS)),
    "d": (MIN_DIM, MAX_DIM),
    "K": (0, MAX_CHANNELS),
    "C": (0, MAX_CHANNELS + 1),
    "Q": (1, COUNT_MAX_LIMIT + 1),
    "a": (acc_layout(MIN_DIM)[4], acc_layout(MAX_DIM)[4]),
    "S": (1, MAX_SNAPSHOTS),
    "B": (2, 10_000),
    "b": (1, 9_999),
    "T": (2, MAX_TIME_EDGES),
    "u": (3, MAX_TIME_EDGES + 1),
    "J": (2, 2**20),
    "m": (0, MAX_SEGMENTS),
    "M": (0, MAX_CHANNELS),
    "g": (0, MAX_GATES),
}
_REQUIRED = {
    FORMAT: set(_MEMBERS) - {"interrupted", "instruments"} - _DIST_MEMBERS - _COUNT_MEMBERS - _SCHEDULE_MEMBERS,
    "darkspin-result-1": set(_MEMBERS)
    - {"interrupted", "version", "stats", "checksum", "instruments"}
    - _INSTRUMENT_MEMBERS
    - _MODEL_MEMBERS
    - _DIST_MEMBERS
    - _COUNT_MEMBERS
    - _SCHEDULE_MEMBERS,
}
_OPTIONAL = {
    FORMAT: set(_DIST_MEMBERS) | _COUNT_MEMBERS | _SCHEDULE_MEMBERS | {"instruments"},
    "darkspin-result-1": {"interrupted", "version"},
}
# read in _MEMBERS' order (format and checksum first); each shape letter is bound where it first appears
_ORDER = list(_MEMBERS)


class _Refused(ValueError):
    """A specific reason a file is not a loadable result (the message follows 'result file PATH ')."""


def package_version() -> str:
    try:
        return metadata.version("darkspin")
    except metadata.PackageNotFoundError:  # running from a source tree
        return "0+unknown"


def check_save_path(path: str | os.PathLike[str], name: str = "save", probe: bool = True) -> str:
    """Where a result saved to ``path`` goes: the real path (symbolic links followed).

    ValueError naming ``name`` unless ``path`` is a str or os.PathLike, does not end in a separator,
    and names either nothing yet or a regular file (never a device, folder, pipe or socket: saving
    renames a temporary file over the target) in an existing folder. With ``probe``, a temporary file
    is created in that folder and removed, so an unwritable place fails here, before any work.
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
    """ValueError unless model is exactly a SpinPair or a LindbladModel and protocol exactly a Protocol.

    A file stores their data, so a subclass (with other behaviour) would come back as the base class
    and silently become another model.
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


set_writer(save)


def _dist_members(dist: DistributionSums) -> dict:
    spec = dist.spec
    return {
        "dist_snap_kind": np.asarray(spec.snap_kind, np.int64),
        "dist_snap_index": np.asarray(spec.snap_index, np.int64),
        "dist_target": np.asarray(spec.target, complex),
        "dist_target_kind": np.int64(spec.target_kind),
        "dist_fid_edges": np.asarray(spec.fid_edges, float),
        "dist_time_edges": np.asarray(spec.time_edges, float),
        "dist_jump_max": np.int64(spec.jump_max),
        "dist_fidelity": dist.fidelity,
        "dist_split_n": dist.split_n,
        "dist_split_hi": dist.split_hi,
        "dist_split_lo": dist.split_lo,
        "dist_jump_counts": dist.jump_counts,
        "dist_first_jump": dist.first_jump,
        "dist_waiting": dist.waiting,
        "dist_count_sums": dist.count_sums,
        "dist_count_squares": dist.count_squares,
        "dist_count_sets": np.asarray(spec.count_sets, np.int64),
        "dist_count_max": np.int64(spec.count_max),
        "dist_counts": dist.counts,
        "dist_first_jump_channel": dist.first_jump_channel,
    }


def _decode_dist(
    a: dict, protocol: Protocol, ntraj: int, n_jumps: int, n_post: np.ndarray, n_success: np.ndarray
) -> DistributionSums | None:
    """The stored distributions, after checking them against the counts they must add up to."""
    present = _DIST_MEMBERS & set(a)
    if not present:
        return None
    if present != _DIST_MEMBERS:
        raise ValueError(f"distribution members come all together; missing {sorted(_DIST_MEMBERS - present)}")
    kind, index = a["dist_snap_kind"], a["dist_snap_index"]
    if np.any((kind != 0) & (kind != 1)):
        raise ValueError("dist_snap_kind must hold 0 (round end) or 1 (output time)")
    top = np.where(kind == 0, protocol.rounds, protocol.times.size)
    if np.any(index < 0) or np.any(index >= top):
        raise ValueError("dist_snap_index points past the protocol's rounds or output times")
    tk, jm = int(a["dist_target_kind"]), int(a["dist_jump_max"])
    edges, tedges = a["dist_fid_edges"], a["dist_time_edges"]
    if tk not in (0, 1) or jm + 2 != a["dist_jump_counts"].shape[-1]:
        raise ValueError("dist_target_kind must be 0 or 1 and dist_jump_counts hold jump_max + 2 cells")
    if not np.array_equal(edges, infidelity_edges()) or a["dist_fidelity"].shape[-1] != edges.size - 1:
        raise ValueError("dist_fid_edges are not this darkspin's infidelity bins")
    if tedges[0] != 0.0 or np.any(np.diff(tedges) <= 0) or a["dist_first_jump"].shape[-1] != tedges.size + 1:
        raise ValueError("dist_time_edges must increase from 0, with one first-jump cell per bin plus two")
    K, n = a["dist_jump_counts"].shape[1], protocol.times.size
    counted = _COUNT_MEMBERS & set(a)
    if counted and counted != _COUNT_MEMBERS:
        raise ValueError(f"count histogram members come all together; missing {sorted(_COUNT_MEMBERS - counted)}")
    if counted:
        sets, cmax = a["dist_count_sets"], int(a["dist_count_max"])
        if np.any((sets != 0) & (sets != 1)) or cmax + 1 != a["dist_counts"].shape[-1]:
            raise ValueError("dist_count_sets must hold 0 or 1 and dist_counts count_max + 1 cells")
        cnt, fjk = a["dist_counts"], a["dist_first_jump_channel"]
    else:  # saved before the count histograms: none, and no first jump by channel
        sets, cmax = np.zeros((0, K), np.int64), 0
        cnt, fjk = np.zeros((0, 2, n, 1), np.int64), np.zeros((2, 0, tedges.size), np.int64)
    spec = DistributionSpec(True, kind, index, a["dist_target"], tk, edges, tedges, jm, sets, cmax)
    names = ("fidelity", "split_n", "split_hi", "split_lo", "jump_counts", "first_jump", "waiting")
    members = {k: a[f"dist_{k}"] for k in names + ("count_sums", "count_squares")}
    dist = DistributionSums(spec, **members, counts=cnt, first_jump_channel=fjk)
    counts = [dist.fidelity, dist.split_n, dist.jump_counts, dist.first_jump, dist.waiting, dist.count_sums]
    counts += [dist.counts, dist.first_jump_channel]
    if any(np.any(c < 0) for c in counts) or np.any(dist.count_squares < 0):
        raise ValueError("distribution counts must be >= 0")
    if np.any(dist.split_lo < 0) or np.any(dist.split_lo >= 2**FRAC_BITS):
        raise ValueError(f"dist_split_lo must lie in [0, 2**{FRAC_BITS})")
    # post-selected runs at each snapshot: after round k, or at output o
    posted = np.where(kind == 0, n_success[np.minimum(index, max(protocol.rounds - 1, 0))] if n_success.size else 0,
                      n_post[np.minimum(index, n_post.size - 1)])  # fmt: skip
    if np.any(dist.fidelity[:, 0].sum(-1) != ntraj) or np.any(dist.fidelity[:, 1].sum(-1) != posted):
        raise ValueError("dist_fidelity does not add up to ntraj and the post-selected counts")
    if np.any(dist.split_n.sum(-1) != posted) or np.any(dist.split_hi > dist.split_n):
        raise ValueError("dist_split_n does not add up to the post-selected counts")
    final_post = int(n_post[-1])
    if np.any(dist.jump_counts[0].sum(-1) != ntraj) or np.any(dist.jump_counts[1].sum(-1) != final_post):
        raise ValueError("dist_jump_counts does not add up to ntraj per channel")
    if dist.first_jump[0].sum() != ntraj or dist.first_jump[1].sum() != final_post:
        raise ValueError("dist_first_jump does not add up to ntraj")
    if dist.count_sums.shape[1] and int(dist.count_sums[-1].sum()) != n_jumps:
        raise ValueError("dist_count_sums at the final time do not add up to n_jumps")
    if np.any(dist.counts[:, 0].sum(-1) != ntraj) or np.any(dist.counts[:, 1].sum(-1) != n_post):
        raise ValueError("dist_counts does not add up to ntraj and the post-selected runs at every output time")
    if counted and np.any(dist.first_jump_channel.sum(1) != dist.first_jump[:, :-1]):
        raise ValueError("dist_first_jump_channel does not add up to dist_first_jump")
    if int(dist.waiting.sum()) != n_jumps - (ntraj - int(dist.first_jump[0, -1])):
        raise ValueError("dist_waiting does not hold one waiting time per jump after each run's first")
    return dist


def _checksum(arrays: dict) -> str:
    """SHA-256 (hex) of every member but 'checksum': name, dtype, shape and little-endian bytes each."""
    h = hashlib.sha256(b"darkspin-result checksum v1\x00")
    for name in sorted(k for k in arrays if k != "checksum"):
        arr = np.asarray(arrays[name])
        if arr.dtype.kind == "U":
            tag, body = "text", json.dumps(arr.tolist()).encode()
        else:
            canon = arr.dtype.newbyteorder("<")
            tag, body = canon.str, np.ascontiguousarray(arr, dtype=canon).tobytes()
        head = json.dumps([name, tag, list(arr.shape), len(body)]).encode()
        h.update(len(head).to_bytes(8, "little") + head + body)
    return h.hexdigest()


def model_members(model: Model) -> dict[str, np.ndarray]:
    """The model as file members: its kind, H (d, d), jump operators (K, d, d), labels (K,), and for a
    SpinPair its parameters (params, param_names; empty for other kinds)."""
    kind = type(model).__name__
    if kind not in MODEL_KINDS or type(model) not in (SpinPair, LindbladModel):
        raise ValueError(f"a {kind} model cannot be stored; only a plain SpinPair or LindbladModel reloads exactly")
    jumps = np.asarray(model.jump_operators(), complex)
    d = np.shape(model.hamiltonian())[0]
    spin = type(model) is SpinPair
    return {
        "model_kind": np.array(kind),
        "model_hamiltonian": np.asarray(model.hamiltonian(), complex),
        "model_jump_operators": jumps.reshape(-1, d, d),
        "model_labels": np.array([str(x) for x in model.jump_labels()], dtype="U256").reshape(-1),
        "params": np.array([getattr(model, k) for k in _PARAMS] if spin else [], np.float64),
        "param_names": np.array(_PARAMS if spin else [], dtype="U32"),
    }


def _decode_model(a: dict, fmt: str) -> Model:
    """The stored model, rebuilt exactly; its arrays must be the stored ones bit for bit."""
    kind = str(a["model_kind"]) if "model_kind" in a else "SpinPair"
    if kind not in MODEL_KINDS:
        raise ValueError(f"model_kind is {kind!r}, expected one of {MODEL_KINDS}")
    names = [str(x) for x in a["param_names"]]
    if kind == "SpinPair":
        if names != _PARAMS:
            raise ValueError(f"param_names are {names}, expected {_PARAMS}")
        model: Model = SpinPair(**{k: float(v) for k, v in zip(names, a["params"], strict=True)})
    else:
        if names:
            raise ValueError(f"a {kind} has no parameters, got param_names {names}")
        model = LindbladModel(a["model_hamiltonian"], a["model_jump_operators"], [str(x) for x in a["model_labels"]])
    if "model_kind" in a:
        mine = model_members(model)
        for name in _MODEL_MEMBERS - {"model_kind"}:
            if mine[name].shape != a[name].shape or not np.array_equal(mine[name], a[name]):
                raise ValueError(f"{name} does not match the model it is stored with")
    return model


def _decode(a: dict, fmt: str) -> MonteCarloResult:
    """A result from members already checked for dtype and shape; ValueError for any broken invariant."""
    model = _decode_model(a, fmt)
    present = _SCHEDULE_MEMBERS & set(a)
    if present and present != _SCHEDULE_MEMBERS:
        raise ValueError(f"segment and gate members come all together; missing {sorted(_SCHEDULE_MEMBERS - present)}")
    if present and np.any(a["segment_n_channels"] > a["segment_jump_operators"].shape[1]):
        raise ValueError("segment_n_channels exceeds the stored jump operators")
    protocol = Protocol.from_dict(a)
    if model.dim != protocol.rho0.shape[0]:
        raise ValueError(f"the model has dimension {model.dim} but rho0 {protocol.rho0.shape[0]}")
    if a["hi"].shape[-1] != acc_layout(model.dim)[4]:
        raise ValueError(f"'hi' has {a['hi'].shape[-1]} sums per output, expected {acc_layout(model.dim)[4]}")
    if not np.array_equal(protocol.rho0, a["rho0"]):
        raise ValueError("rho0 is not an exactly Hermitian density matrix")
    ntraj, n_jumps = int(a["ntraj"]), int(a["n_jumps"])
    if not 0 <= ntraj <= MAX_NTRAJ:
        raise ValueError(f"ntraj must lie in [0, 2**62], got {ntraj}")
    if n_jumps < 0 or (ntraj == 0 and n_jumps != 0):
        raise ValueError(f"n_jumps = {n_jumps} is impossible for ntraj = {ntraj}")
    hi, lo, n_post, n_success = a["hi"], a["lo"], a["n_post"], a["n_success"]
    if np.any(lo < 0) or np.any(lo >= 2**FRAC_BITS):
        raise ValueError(f"'lo' (the fractional words of the sums) must lie in [0, 2**{FRAC_BITS})")
    # only the rule 'last' lets runs re-enter the selection
    nested = protocol.postselect != "last"
    if np.any(n_success < 0) or np.any(n_success > ntraj) or (nested and np.any(np.diff(n_success) > 0)):
        raise ValueError(
            f"n_success must lie in [0, ntraj = {ntraj}]" + (" and not increase (the rule is nested)" if nested else "")
        )
    if fmt == FORMAT:
        n_kept, counts = a["n_kept"], a["record_counts"]
    else:  # before instruments: the rule was 'all', and record strings were not counted
        n_kept, counts = n_success.copy(), np.zeros(0, np.int64)
    if np.any(n_post < 0) or np.any(n_post > ntraj):
        raise ValueError(f"n_post must lie in [0, ntraj = {ntraj}]")
    # post-selected at an output time = successful in every round measured at or before it
    done = np.searchsorted(protocol.record_times, protocol.times, side="right")
    expect = np.where(done == 0, ntraj, n_success[np.maximum(done - 1, 0)] if n_success.size else ntraj)
    bad = np.flatnonzero(n_post != expect)
    if bad.size:
        raise ValueError(f"n_post disagrees with n_success at output {int(bad[0])}")
    # every term of a sum is at most 1 in size, so |sum| <= the number of trajectories summed
    count = np.stack([np.full(n_post.shape, ntraj), n_post], axis=1)[..., None]
    over = (hi < -count) | (hi + (lo > 0) > count)
    if np.any(over):
        where = np.argwhere(over)[0]
        raise ValueError(f"sums 'hi' exceed their trajectory count at output {int(where[0])}")
    ranges = a["ranges"]
    if ranges.size:
        starts, stops = ranges[:, 0], ranges[:, 1]
        if starts[0] < 0 or np.any(stops <= starts) or np.any(starts[1:] <= stops[:-1]) or stops[-1] > MAX_NTRAJ:
            raise ValueError(
                "ranges must be sorted, non-empty, disjoint, non-adjacent [start, stop) pairs within [0, 2**62]"
            )
        covered = int(np.sum(stops - starts))
    else:
        covered = 0
    if covered != ntraj:
        raise ValueError(f"ranges cover {covered} trajectories, not ntraj = {ntraj}")
    _check_records(protocol, ntraj, n_success, n_kept, counts)
    dist = _decode_dist(a, protocol, ntraj, n_jumps, n_post, n_success) if fmt == FORMAT else None
    sums = EnsembleSums(hi, lo, n_post, n_success, ntraj, n_jumps, n_kept, counts, dist)
    result = MonteCarloResult(model, protocol, sums, int(a["seed"]), ranges)
    if fmt == FORMAT:
        try:
            stats = json.loads(str(a["stats"]))
        except json.JSONDecodeError:
            raise ValueError("stats is not valid JSON") from None
    else:
        stats = {
            "end_condition": "interrupted" if bool(a.get("interrupted", False)) else "ntraj",
            "target": "final_post",
            "target_se": None,
            "max_ntraj": None,
        }
    result._stats = _check_stats(stats, result)
    return result


def _check_records(
    protocol: Protocol, ntraj: int, n_success: np.ndarray, n_kept: np.ndarray, counts: np.ndarray
) -> None:
    """Cross-checks of the per-round counts and the record table against the protocol's rule."""
    before = np.concatenate([[ntraj], n_success[:-1]])
    if np.any(n_kept < 0) or np.any(n_kept > n_success) or np.any(n_kept > before):
        raise ValueError("n_kept must lie in [0, min(n_success[k], n_success[k-1])]")
    R = protocol.rounds
    if counts.size == 0:
        return
    if counts.size != (2**R if R <= MAX_RECORD_ROUNDS else 0):
        raise ValueError(f"record_counts has {counts.size} cells, expected 2**{R}")
    if np.any(counts < 0) or int(counts.sum()) != ntraj:
        raise ValueError(f"record_counts must be >= 0 and add up to ntraj = {ntraj}")
    # run the rule's machine on every record string at once
    codes = np.arange(counts.size)
    state = np.zeros(counts.size, np.int64)
    sel = protocol.selection
    for k in range(R):
        state = sel.transitions[k, state, 1 - ((codes >> k) & 1)]
        if int(counts[sel.accepting[state]].sum()) != int(n_success[k]):
            raise ValueError(f"n_success of round {k + 1} disagrees with record_counts")


def _read_member(zf: zipfile.ZipFile, name: str, dims: dict) -> np.ndarray:
    """One member, its .npy header checked against _MEMBERS (binding n, r, k in ``dims``) before reading."""
    kind, size, template = _MEMBERS[name]
    info = zf.getinfo(name + ".npy")
    with zf.open(info) as fh:
        try:
            version = np.lib.format.read_magic(fh)
            if version == (1, 0):
                shape, fortran, dtype = np.lib.format.read_array_header_1_0(fh)
            elif version == (2, 0):
                shape, fortran, dtype = np.lib.format.read_array_header_2_0(fh)
            else:
                raise ValueError
        except (ValueError, TypeError, SyntaxError, EOFError):
            raise _Refused(f"is corrupt: member {name!r} is not a valid .npy array") from None
        want = []
        ok = (
            dtype.kind == kind
            and dtype.fields is None
            and dtype.subdtype is None
            and (dtype.itemsize <= 4 * size if kind == "U" else dtype.itemsize == size)
            and len(shape) == len(template)
        )
        for got, t in zip(shape, template, strict=False):  # a length mismatch already failed
            if isinstance(t, int):
                ok = ok and got == t
                want.append(str(t))
            elif t in dims:
                ok = ok and got == dims[t]
                want.append(str(dims[t]))
            else:
                low, high = _BOUNDS[t]
                ok = ok and low <= got <= high
                want.append(f"{t} in [{low}, {high}]")
                if ok:
                    dims[t] = got
        if not ok:
            expected = {
                "U": f"text of at most {size} characters",
                "i": "int64",
                "u": "uint64",
                "f": "float64",
                "c": "complex128",
                "b": "bool",
            }[kind]
            got_dtype = f"text of {dtype.itemsize // 4} characters" if dtype.kind == "U" else str(dtype)
            raise _Refused(
                f"is inconsistent: {name!r} has dtype {got_dtype} and shape {tuple(shape)}; "
                f"expected {expected} of shape ({', '.join(want)}{',' if len(want) == 1 else ''})"
            )
        nbytes = math.prod(shape) * dtype.itemsize
        if info.file_size != fh.tell() + nbytes:
            raise _Refused(f"is corrupt: member {name!r} does not hold the data its header declares")
        data = fh.read(nbytes)
    if len(data) != nbytes:
        raise _Refused(f"is corrupt: member {name!r} is truncated")
    arr = np.frombuffer(data, dtype=dtype).reshape(shape, order="F" if fortran else "C")
    return arr.astype(dtype.newbyteorder("="), order="C", copy=True)


def load(path: str | os.PathLike[str]) -> MonteCarloResult:
    """Read a result written by :func:`save` (``result.save(path)``).

    path: str or os.PathLike of a regular file. Only the known members are read, each after its
    declared dtype and shape are checked; the checksum and every cross-field invariant (counts within
    ntraj, n_success non-increasing, n_post implied by n_success, sums bounded by their counts, ranges
    disjoint and adding up to ntraj, exact parameter names, seed a uint64, stats consistent) are
    verified. Anything else raises a one-line ValueError naming the file. A darkspin-result-1 file
    loads with a UserWarning (it has no checksum, so edits to it cannot be detected).

    Parameters
    ----------
    path : str or os.PathLike
        A ``.npz`` file written by ``simulate(..., save=path)`` or ``darkspin run``.

    Returns
    -------
    MonteCarloResult
        The saved result with its model and protocol, bit for bit; ``darkspin-result-1`` files load with
        a warning.

    Raises
    ------
    ValueError
        For a missing file, a file that is not a darkspin result, a failed checksum or any broken
        invariant between its fields (the message names the file and what is wrong).

    Examples
    --------
    >>> import darkspin as ds
    >>> mc = ds.simulate(ds.SpinPair(), ds.Protocol.paper(n_out=11), ntraj=200, seed=1, progress=False, save="run.npz")
    >>> again = ds.load("run.npz")
    >>> again.ntraj, bool((again.rho == mc.rho).all())
    (200, True)
    """
    path = check_path("path", path)
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise ValueError(f"result file {path!r} does not exist") from None
    except OSError as exc:
        raise ValueError(f"result file {path!r} cannot be read ({exc.strerror or exc})") from None
    if not stat.S_ISREG(st.st_mode):
        raise ValueError(f"result file {path!r} is not a regular file")
    try:
        with zipfile.ZipFile(path) as zf:
            result, fmt = _load_zip(zf)
    except _Refused as exc:
        raise ValueError(f"result file {path!r} {exc}") from None
    except (
        OSError,
        EOFError,
        zipfile.BadZipFile,
        zipfile.LargeZipFile,
        KeyError,
        TypeError,
        IndexError,
        UnicodeError,
        NotImplementedError,
        RuntimeError,
    ) as exc:
        raise ValueError(
            f"result file {path!r} is corrupt or not a darkspin result ({exc.__class__.__name__})"
        ) from None
    except ValueError as exc:
        raise ValueError(f"result file {path!r} is inconsistent: {exc}") from None
    if fmt != FORMAT:
        warnings.warn(
            f"result file {path!r} is in the old format {fmt!r}, which has no checksum: edits to it "
            "cannot be detected (saving it again writes the current format)",
            UserWarning,
            stacklevel=2,
        )
    return result


def _load_zip(zf: zipfile.ZipFile) -> tuple[MonteCarloResult, str]:
    names = zf.namelist()
    if len(names) != len(set(names)):
        raise _Refused("is corrupt: it has duplicate members")
    present = {n[:-4] for n in names if n.endswith(".npy")}
    if "format" not in present:
        raise _Refused("is not a darkspin result (it has no format tag)")
    dims: dict = {}
    fmt = str(_read_member(zf, "format", dims))
    if fmt not in _REQUIRED:
        raise _Refused(f"has format {fmt!r}; this darkspin reads {FORMAT!r} and {OLD_FORMATS}")
    unknown = sorted(set(names) - {k + ".npy" for k in _REQUIRED[fmt] | _OPTIONAL[fmt]})
    if unknown:
        raise _Refused(f"is not a {fmt} file: unexpected members {unknown}")
    missing = sorted(_REQUIRED[fmt] - present)
    if missing:
        raise _Refused(f"is not a complete {fmt} file: it lacks members {missing}")
    a = {"format": np.array(fmt)}
    for name in _ORDER:
        if name != "format" and name in present:
            a[name] = _read_member(zf, name, dims)
    if fmt == FORMAT and str(a["checksum"]) != _checksum(a):
        raise _Refused("fails its checksum: it was edited or damaged after it was saved")
    return _decode(a, fmt), fmt
