"""Time as data: the protocol's segments (piecewise-constant models) and gates (instant unitaries).

A segment ``(t, model)`` replaces the model in force from time t on (the model given to the solvers
holds from t = 0 until the first segment); a gate ``(t, U)`` applies the unitary U at time t (names in
:mod:`.gates`). At equal times the order is: segment switch, gate, measurement, output.

This module checks both lists and turns them into plain arrays for saving (:func:`schedule_arrays`) and
back (:func:`schedule_from_arrays`).
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from .gates import gate_unitary
from .lindblad import LindbladModel

#: Most segments and most gates a protocol may have.
MAX_SEGMENTS = 100_000
MAX_GATES = 100_000
#: What a segment's model must offer (as the model given to the solvers).
_INTERFACE = ("hamiltonian", "jump_operators", "jump_labels", "effective_hamiltonian", "liouvillian")


def _entries(name: str, value: Any, limit: int) -> list[tuple[Any, Any]]:
    """The (time, item) pairs of a list of segments or gates, shape-checked."""
    if value is None:
        return []
    if isinstance(value, (str, bytes, Mapping)) or not isinstance(value, (Sequence, np.ndarray)):
        raise ValueError(f"{name} must be a list of (time, item) pairs, got {type(value).__name__}")
    out = list(value)
    if len(out) > limit:
        raise ValueError(f"{name} may hold at most {limit} entries, got {len(out)}")
    for i, e in enumerate(out):
        if not isinstance(e, (tuple, list)) or len(e) != 2:
            raise ValueError(f"{name}[{i}] must be a (time, item) pair, got {e!r}"[:200])
    return [(e[0], e[1]) for e in out]


def _time(name: str, value: Any, t_final: float) -> float:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise ValueError(f"{name} time must be a real number, got {value!r}")
    t = float(value)
    if not (math.isfinite(t) and 0.0 <= t <= t_final):
        raise ValueError(f"{name} time must lie in [0, t_final] = [0, {t_final!r}], got {t!r}")
    return t


def check_segments(value: Any, dim: int, t_final: float) -> tuple[tuple[float, Any], ...]:
    """The protocol's segments, checked: strictly increasing times in [0, t_final], models of dimension d.

    Parameters
    ----------
    value : sequence of (float, model) pairs, or None
        Each model a SpinPair, a LindbladModel or anything offering their interface.
    dim : int
        The protocol's dimension d.
    t_final : float
        The last output time (time unit).

    Returns
    -------
    tuple of (float, model)

    Raises
    ------
    ValueError
        Naming the entry ('segments[i]'), for a time outside [0, t_final], times out of order, a model
        lacking the interface or of another dimension.
    """
    out: list[tuple[float, Any]] = []
    for i, (t, model) in enumerate(_entries("segments", value, MAX_SEGMENTS)):
        name = f"segments[{i}]"
        t = _time(name, t, t_final)
        missing = [m for m in _INTERFACE if not callable(getattr(model, m, None))]
        if missing:
            raise ValueError(
                f"{name} model must be a SpinPair or a LindbladModel, got {type(model).__name__} "
                f"(lacks {', '.join(missing)})"
            )
        d = int(np.shape(model.hamiltonian())[0])
        if d != dim:
            raise ValueError(f"{name} model has dimension {d}, but the protocol's initial state has dimension {dim}")
        if out and t <= out[-1][0]:
            raise ValueError(
                f"segments times must be strictly increasing: {name} at t = {t!r} follows t = {out[-1][0]!r}"
            )
        out.append((t, model))
    return tuple(out)


def check_gates(value: Any, dim: int, t_final: float) -> tuple[tuple[tuple[float, Any], ...], np.ndarray]:
    """The protocol's gates, checked: non-decreasing times in [0, t_final], unitaries of dimension d.

    Parameters
    ----------
    value : sequence of (float, gate) pairs, or None
        Each gate a name, a (rotation name, angle) pair or a (d, d) unitary (:mod:`.gates`). Gates at
        one time apply in list order.
    dim : int
        The protocol's dimension d.
    t_final : float
        The last output time (time unit).

    Returns
    -------
    gates : tuple of (float, gate)
        The times as floats, the gates as given.
    unitaries : ndarray of complex128, shape (G, d, d)
        Read-only.

    Raises
    ------
    ValueError
        Naming the entry ('gates[i]'), for a time outside [0, t_final], times out of order, an unknown
        name or a matrix that is not a unitary of dimension d.
    """
    out: list[tuple[float, Any]] = []
    mats = []
    for i, (t, g) in enumerate(_entries("gates", value, MAX_GATES)):
        name = f"gates[{i}]"
        t = _time(name, t, t_final)
        if out and t < out[-1][0]:
            raise ValueError(
                f"gates times must be sorted (non-decreasing): {name} at t = {t!r} follows t = {out[-1][0]!r}"
            )
        mats.append(gate_unitary(name, g, dim))
        out.append((t, g))
    U = np.array(mats, complex).reshape(len(mats), dim, dim)
    U.setflags(write=False)
    return tuple(out), U


def schedule_arrays(
    segments: Sequence[tuple[float, Any]], gate_at: np.ndarray, gate_U: np.ndarray
) -> dict[str, np.ndarray]:
    """Segments and gates as plain arrays (the protocol's part of a result file).

    Parameters
    ----------
    segments : sequence of (float, model)
    gate_at : ndarray of float64, shape (G,)
    gate_U : ndarray of complex128, shape (G, d, d)

    Returns
    -------
    dict of str to ndarray
        segment_at (m,), segment_hamiltonian (m, d, d), segment_jump_operators (m, M, d, d) padded with
        zeros to the most channels M, segment_n_channels (m,), segment_labels (m, M), gate_at (G,),
        gate_unitary (G, d, d).
    """
    d = gate_U.shape[1]
    hs = [np.asarray(m.hamiltonian(), complex) for _, m in segments]
    js = [np.asarray(m.jump_operators(), complex).reshape(-1, d, d) for _, m in segments]
    M = max((j.shape[0] for j in js), default=0)
    jumps = np.zeros((len(js), M, d, d), complex)
    labels = np.full((len(js), M), "", dtype="U256")
    for i, (j, (_, m)) in enumerate(zip(js, segments, strict=True)):
        jumps[i, : j.shape[0]] = j
        labels[i, : j.shape[0]] = [str(x) for x in m.jump_labels()]
    return {
        "segment_at": np.array([t for t, _ in segments], float),
        "segment_hamiltonian": np.array(hs, complex).reshape(len(hs), d, d),
        "segment_jump_operators": jumps,
        "segment_n_channels": np.array([j.shape[0] for j in js], np.int64),
        "segment_labels": labels,
        "gate_at": np.array(gate_at, float),
        "gate_unitary": np.array(gate_U, complex),
    }


def schedule_from_arrays(
    data: Mapping[str, Any],
) -> tuple[list[tuple[float, LindbladModel]], list[tuple[float, np.ndarray]]]:
    """Inverse of :func:`schedule_arrays`: segments as LindbladModels (the same H and jump operators bit
    for bit), gates as arrays; empty lists when ``data`` has no such keys.

    Parameters
    ----------
    data : Mapping
        The keys of :func:`schedule_arrays`.

    Returns
    -------
    segments : list of (float, LindbladModel)
    gates : list of (float, ndarray)

    Raises
    ------
    ValueError
        As LindbladModel, for stored arrays that are not a model.
    """
    segs: list[tuple[float, LindbladModel]] = []
    if "segment_at" in data:
        for i, t in enumerate(np.asarray(data["segment_at"], float)):
            k = int(data["segment_n_channels"][i])
            model = LindbladModel(
                np.asarray(data["segment_hamiltonian"][i]),
                np.asarray(data["segment_jump_operators"][i][:k]),
                [str(x) for x in data["segment_labels"][i][:k]],
            )
            segs.append((float(t), model))
    gates: list[tuple[float, np.ndarray]] = []
    if "gate_at" in data:
        gates = [(float(t), np.asarray(U)) for t, U in zip(data["gate_at"], data["gate_unitary"], strict=True)]
    return segs, gates


def same_models(a: Any, b: Any) -> bool:
    """Whether two models have the same H, jump operators and labels, bit for bit.

    Parameters
    ----------
    a, b : model

    Returns
    -------
    bool
    """
    if a is b:
        return True
    return (
        np.array_equal(np.asarray(a.hamiltonian()), np.asarray(b.hamiltonian()))
        and np.array_equal(np.asarray(a.jump_operators()), np.asarray(b.jump_operators()))
        and list(a.jump_labels()) == list(b.jump_labels())
    )


def channel_labels(model: Any, segments: Sequence[tuple[float, Any]]) -> list[str]:
    """The names of the channels the kernel counts: channel k is the k-th jump operator of the segment
    in force, named as in the model at t = 0, or for k beyond its channels as in the first segment that
    has a channel k.

    Parameters
    ----------
    model : model
        The model at t = 0.
    segments : sequence of (float, model)

    Returns
    -------
    list of str
        K = the most channels of any segment.
    """
    labels = [str(x) for x in model.jump_labels()]
    for _, m in segments:
        more = [str(x) for x in m.jump_labels()]
        labels.extend(more[len(labels) :])
    return labels
