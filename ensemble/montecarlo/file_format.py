"""The result file format ``darkspin-result-2``: its members with their declared dtypes and shapes, the
bounds of the shape letters, which members each format requires, and the checksum over them.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from importlib import metadata

import numpy as np

from ...trajectories.counting import COUNT_MAX_LIMIT
from ...trajectories.distributions import MAX_SNAPSHOTS, MAX_TIME_EDGES
from ...trajectories.instrument_json import MAX_JSON_CHARS
from ...trajectories.lindblad import MAX_CHANNELS, LindbladModel
from ...trajectories.model import SpinPair
from ...trajectories.plan import MAX_RECORD_ROUNDS, Model
from ...trajectories.protocol import MAX_DIM, MAX_OUTPUTS, MAX_ROUNDS, MIN_DIM
from ...trajectories.segments import MAX_GATES, MAX_SEGMENTS
from ...trajectories.sums_kernel import acc_layout
from .distribution_sums import DistributionSums

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
    """The installed darkspin version, written into every result file.

    Returns
    -------
    str
        The version string, or "0+unknown" when running from a source tree that was never installed.
    """
    try:
        return metadata.version("darkspin")
    except metadata.PackageNotFoundError:  # running from a source tree
        return "0+unknown"


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
    """The model as file members.

    Parameters
    ----------
    model : SpinPair or LindbladModel
        Exactly one of these classes (a subclass would reload as its base class).

    Returns
    -------
    dict of str to ndarray
        model_kind (text), model_hamiltonian (d, d) complex, model_jump_operators (K, d, d) complex,
        model_labels (K,) text, and for a SpinPair its parameters: params (9,) float64 and param_names
        (9,) text (both empty for other kinds).

    Raises
    ------
    ValueError
        For a model of any other class.
    """
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
