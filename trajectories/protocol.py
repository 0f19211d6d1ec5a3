"""The measurement-and-purification protocol: initial state, measurement rounds (times and instruments),
the post-selection rule, and the output grid.

Length: the protocol's checks and its event list carry the rules that every solver reads (instruments,
windows, segments and gates, their order at equal times); the instrument, rule, segment and gate classes
themselves live in their own modules.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import ArrayLike

from .instrument_json import instruments_from_json, instruments_to_json, needs_json
from .measurement import Measurement
from .monitor import Monitor
from .operators import basis_state
from .segments import check_gates, check_segments, same_models, schedule_arrays, schedule_from_arrays
from .selection import PostSelection

#: Tolerance on the norm of an initial state vector and on trace/hermiticity of an initial rho.
STATE_TOL = 1e-10

#: Most output times a protocol may have. Memory grows with it (the ensemble sums hold ~1 KB per
#: output time per thread chunk; a loaded result ~3 KB per output time): 10**5 is far beyond any plot.
MAX_OUTPUTS = 100_000
#: Most measurement rounds a protocol may have.
MAX_ROUNDS = 100_000
#: Latest output or measurement time, in the model's time unit (1/nu for the presets). The exact
#: solver's propagators lose accuracy from ~1e14, and the kernel's propagators overflow near 1e155.
MAX_TIME = 1e12

INITIAL_LABELS = ("uu", "ud", "du", "dd", "S", "T2")

#: Event kinds of :meth:`Protocol.events` (and of the plan's ev_kind).
EV_MEASURE, EV_OUTPUT, EV_SWITCH, EV_GATE, EV_OPEN = 0, 1, 2, 3, 4
#: Order of the kinds at one instant: segment switch, gate, measurement, output.
_PRIORITY = np.array([2, 3, 0, 1, 2], np.int64)


def _has_bool(values: Any) -> bool:
    """True if ``values`` (any nesting of sequences and arrays) holds a bool, which numpy would take for 0/1."""
    if isinstance(values, (bool, np.bool_)):
        return True
    if isinstance(values, np.ndarray):
        return values.dtype.kind == "b" or (values.dtype.kind == "O" and any(map(_has_bool, values.flat)))
    if isinstance(values, (list, tuple)):
        return any(map(_has_bool, values))
    return False


def _numeric(name: str, values: Any) -> None:
    """Reject strings, bytes, bools and objects that numpy would silently convert."""
    if isinstance(values, (str, bytes)) or np.asarray(values).dtype.kind not in "iufc" or _has_bool(values):
        raise ValueError(f"{name} must hold real numbers (not booleans or strings), got {_short(values)}")


def _short(values: Any) -> str:
    """A value for an error message: plain Python numbers, at most a few of them."""
    if isinstance(values, np.generic):
        return repr(values.item())
    if isinstance(values, np.ndarray):
        if values.size > 8:
            return f"an array of shape {values.shape}"
        return repr(values.tolist())
    text = repr(values)
    return text if len(text) <= 80 else text[:77] + "..."


def _as_times(name: str, values: ArrayLike, *, strict: bool, max_size: int) -> np.ndarray:
    try:
        raw = np.asarray(values)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a 1-d sequence of real times, got {_short(values)}") from None
    if raw.ndim != 1:
        raise ValueError(f"{name} must be a 1-d sequence of real times, got shape {raw.shape}")
    if raw.size > max_size:
        raise ValueError(f"{name} may hold at most {max_size} times, got {raw.size}")
    _numeric(name, values)
    if raw.dtype.kind == "c":
        raise ValueError(f"{name} must hold real times, got complex numbers")
    try:
        arr = np.array(raw, dtype=float)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a 1-d sequence of real times, got {_short(values)}") from None
    bad = np.flatnonzero(~np.isfinite(arr))
    if bad.size:
        raise ValueError(f"{name} must be finite, got {float(arr[bad[0]])!r} at index {int(bad[0])}")
    if arr.size and arr[0] < 0:
        raise ValueError(f"{name} must be >= 0, got {float(arr[0])!r}")
    if arr.size and arr.max() > MAX_TIME:
        raise ValueError(f"{name} must be <= MAX_TIME = {MAX_TIME:g} (model time unit), got {float(arr.max())!r}")
    d = np.diff(arr)
    if strict and np.any(d <= 0):
        raise ValueError(f"{name} must be strictly increasing")
    if not strict and np.any(d < 0):
        raise ValueError(f"{name} must be sorted (non-decreasing)")
    return arr


#: Dimensions of the state space a protocol accepts (two spins: 4).
MIN_DIM, MAX_DIM = 2, 64


def initial_density_matrix(initial: Any) -> np.ndarray:
    """The initial density matrix of a protocol.

    Parameters
    ----------
    initial : str, array_like of shape (d,) or (d, d), or qutip.Qobj
        A two-spin label in INITIAL_LABELS (d = 4), a normalised d-vector, a d x d density matrix, or a
        QuTiP Qobj ket or density matrix; 2 <= d <= 64.

    Returns
    -------
    ndarray of complex128, shape (d, d)
        Exactly Hermitian.

    Raises
    ------
    ValueError
        Naming 'initial', for an unknown label, a wrong shape, or a vector or matrix that is not a state.
    """
    if hasattr(initial, "full") and hasattr(initial, "dims"):  # a qutip.Qobj, read without importing qutip
        initial = np.asarray(initial.full())
        if initial.ndim == 2 and initial.shape[1] == 1:
            initial = initial[:, 0]
    if isinstance(initial, str):
        if initial not in INITIAL_LABELS:
            raise ValueError(f"initial must be one of {INITIAL_LABELS}, a 4-vector or a 4x4 matrix; got {initial!r}")
        v = basis_state(initial)
        return np.outer(v, v.conj())
    try:
        _numeric("initial", initial)
        arr = np.array(initial, dtype=complex)
    except (TypeError, ValueError):
        raise ValueError(f"initial must be a label, a 4-vector or a 4x4 matrix, got {_short(initial)}") from None
    if not np.all(np.isfinite(arr)):
        raise ValueError("initial must contain finite numbers only")
    d = arr.shape[0] if arr.ndim in (1, 2) and arr.size else 0
    if not MIN_DIM <= d <= MAX_DIM:
        raise ValueError(
            f"initial must have shape (d,) or (d, d) with {MIN_DIM} <= d <= {MAX_DIM}, got shape {arr.shape}"
        )
    if arr.shape == (d,):
        norm = np.linalg.norm(arr)
        if abs(norm - 1) > STATE_TOL:
            raise ValueError(
                f"initial state vector must be normalised (|psi| = 1 within {STATE_TOL}), got {float(norm)!r}"
            )
        rho = np.outer(arr, arr.conj()) / norm**2
        return 0.5 * (rho + rho.conj().T)  # exactly Hermitian (an FMA in outer may break the symmetry)
    if arr.shape == (d, d):
        if np.max(np.abs(arr - arr.conj().T)) > STATE_TOL:
            raise ValueError("initial density matrix must be Hermitian")
        tr = np.trace(arr).real
        if abs(tr - 1) > STATE_TOL:
            raise ValueError(f"initial density matrix must have trace 1 (within {STATE_TOL}), got {float(tr)!r}")
        ev = np.linalg.eigvalsh(arr)
        if ev[0] < -STATE_TOL:
            raise ValueError(
                f"initial density matrix must be positive semidefinite, lowest eigenvalue {float(ev[0])!r}"
            )
        return 0.5 * (arr + arr.conj().T)
    raise ValueError(f"initial must have shape (d,) or (d, d), got shape {arr.shape}")


@dataclasses.dataclass(frozen=True, eq=False)
class Protocol:
    """Start from ``initial`` at t = 0, measure at ``measure_at``, post-select on the records, output on ``times``.

    initial:     a two-spin label ('uu', 'ud', 'du', 'dd', 'S', 'T2'), a normalised d-vector, a d x d density
                 matrix or a QuTiP Qobj (2 <= d <= 64; d must be the model's dimension).
    measure_at:  non-decreasing measurement times, each in [0, times[-1]]; shape (rounds,). Two equal
                 times are two rounds at the same instant.
    times:       strictly increasing output times >= 0; shape (n,); the last one is the final time.
    measurement: one :class:`Measurement` or :class:`Monitor` for every round (default: perfect
                 tau_z x tau_z, no feedback), or a sequence of them, one per round. A monitored round k
                 watches [measure_at[k], measure_at[k] + duration) and issues its record at the end,
                 which must be <= times[-1]; no other round may fall inside the window.
    postselect:  the rule on the records: 'all' (every record -1 so far, default), 'last' (the latest
                 record -1), 'none', or a pattern of '-', '+', '?' with one character per round.
    segments:    (t, model) pairs, strictly increasing t in [0, times[-1]]: from t on that model (a
                 SpinPair or LindbladModel of dimension d) replaces the one before; the model given
                 to the solvers holds from t = 0 (docs/time_dependence.md).
    gates:       (t, gate) pairs, non-decreasing t in [0, times[-1]]: the unitary applied at time t, an
                 array or a name ('flip1', 'flip2', 'rx1(pi/2)', ('ry12', angle); :mod:`.gates`).

    At equal times the order is: segment switch, gate, measurement, output.

    Limits (module constants): at most MAX_OUTPUTS = 100 000 output times and MAX_ROUNDS = 100 000
    rounds; every time <= MAX_TIME = 1e12 in the model's time unit. Booleans are not times.

    A measurement at an output time is applied *before* that output is recorded, so the output at
    t_k already shows the post-measurement state. Before the first round every run is post-selected.

    Parameters
    ----------
    initial : str, array_like of shape (d,) or (d, d), or qutip.Qobj
    measure_at : array_like of float, shape (rounds,)
        Time unit of the model.
    times : array_like of float, shape (n,)
        Time unit of the model.
    measurement : Measurement or sequence of Measurement, optional
    postselect : str
    segments : sequence of (float, model), optional
    gates : sequence of (float, str or tuple or array_like of shape (d, d)), optional

    Raises
    ------
    ValueError
        Naming the parameter, for any input outside the ranges above.

    Examples
    --------
    >>> import numpy as np
    >>> import darkspin as ds
    >>> protocol = ds.Protocol("ud", measure_at=[100, 200], times=np.linspace(0, 300, 31), postselect="last")
    >>> protocol.rounds, protocol.t_final
    (2, 300.0)
    """

    initial: Any = "ud"
    #: array_like in; a read-only float64 ndarray (rounds,) after construction
    measure_at: Any = (100.0, 200.0, 300.0, 400.0)
    #: array_like in; a read-only float64 ndarray (n,) after construction
    times: Any = tuple(np.linspace(0.0, 500.0, 501))
    measurement: Measurement | Monitor | Sequence[Measurement | Monitor] | None = None
    postselect: str = "all"
    segments: Any = ()
    gates: Any = ()
    if TYPE_CHECKING:  # set by __post_init__; not dataclass fields at run time
        _rho0: np.ndarray = dataclasses.field(init=False)
        measurements: tuple[Measurement | Monitor, ...] = dataclasses.field(init=False)
        selection: PostSelection = dataclasses.field(init=False)
        gate_unitaries: np.ndarray = dataclasses.field(init=False)

    def __post_init__(self) -> None:
        rho0 = initial_density_matrix(self.initial)
        times = _as_times("times", self.times, strict=True, max_size=MAX_OUTPUTS)
        if times.size == 0:
            raise ValueError("times must hold at least one output time")
        meas = _as_times("measure_at", self.measure_at, strict=False, max_size=MAX_ROUNDS)
        if meas.size and meas[-1] > times[-1]:
            raise ValueError(
                f"measure_at must lie in [0, times[-1]] = [0, {float(times[-1])!r}], got {float(meas[-1])!r}"
            )
        measurements = _measurements(self.measurement, meas.size, rho0.shape[0])
        selection = PostSelection(self.postselect, meas.size)
        _check_windows(measurements, meas, float(times[-1]))
        _check_history(measurements, selection.n_states)
        segments = check_segments(self.segments, rho0.shape[0], float(times[-1]))
        gates, gate_U = check_gates(self.gates, rho0.shape[0], float(times[-1]))
        object.__setattr__(self, "segments", segments)
        object.__setattr__(self, "gates", gates)
        object.__setattr__(self, "gate_unitaries", gate_U)
        general = any(isinstance(m, Monitor) or m.kind != "projective" or m.history_feedback for m in measurements)
        if (segments or gates) and general:
            raise ValueError(
                "segments and gates cannot yet be combined with Kraus instruments, monitored windows or "
                "feedback on the rule state: use projective measurements (Measurement(observable, ...))"
            )
        times.setflags(write=False)
        meas.setflags(write=False)
        rho0.setflags(write=False)
        object.__setattr__(self, "times", times)
        object.__setattr__(self, "measure_at", meas)
        object.__setattr__(self, "_rho0", rho0)
        object.__setattr__(self, "measurements", measurements)
        object.__setattr__(self, "selection", selection)

    @classmethod
    def paper(cls, n_out: int = 501) -> Protocol:
        """Fig. 3 right: |ud>, measurements at t = 100, 200, 300, 400 (our choice: the paper does not state
        the times), output on [0, 500].

        Parameters
        ----------
        n_out : int
            Number of output times (evenly spaced on [0, 500]).

        Returns
        -------
        Protocol
        """
        return cls("ud", (100.0, 200.0, 300.0, 400.0), np.linspace(0.0, 500.0, n_out))

    @property
    def rho0(self) -> np.ndarray:
        """Initial density matrix, (d, d) complex128 (read-only)."""
        return self._rho0

    @property
    def rounds(self) -> int:
        """Number of measurement rounds."""
        return int(self.measure_at.size)

    @property
    def record_times(self) -> np.ndarray:
        """When each round issues its record: measure_at, plus the window of a monitored round; (rounds,)."""
        dur = np.array([m.duration if isinstance(m, Monitor) else 0.0 for m in self.measurements])
        return self.measure_at + dur if dur.size else np.array(self.measure_at)

    @property
    def has_monitor(self) -> bool:
        """True if some round is a monitored window."""
        return any(isinstance(m, Monitor) for m in self.measurements)

    @property
    def segment_at(self) -> np.ndarray:
        """The segments' start times, (m,) float64 (time unit)."""
        return np.array([t for t, _ in self.segments], float)

    @property
    def gate_at(self) -> np.ndarray:
        """The gates' times, (G,) float64 (time unit)."""
        return np.array([t for t, _ in self.gates], float)

    @property
    def is_timed(self) -> bool:
        """Whether the protocol has segments or gates."""
        return bool(self.segments or self.gates)

    @property
    def t_final(self) -> float:
        """The final output time (time unit)."""
        return float(self.times[-1])

    def events(
        self, times: ArrayLike | None = None, windows: bool = False
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The time-ordered event list of the segment switches, gates, rounds and output times.

        A round's event is when it issues its record (:attr:`record_times`). At equal times the order is:
        segment switch, gate, measurement, output; within a kind, index order; a monitored window opens
        just before its own round's record (a window of length 0) and after the records of earlier rounds.

        Parameters
        ----------
        times : array_like of float, optional
            Other output times (sorted) to merge with the rounds instead of the protocol's own.
        windows : bool
            Also list the opening of each monitored window (kind 2).

        Returns
        -------
        time : ndarray of float64, shape (m,)
        kind : ndarray of int64, shape (m,)
            EV_MEASURE (0) for a measurement (a record), EV_OUTPUT (1) for an output, EV_SWITCH (2) for a
            segment switch, EV_GATE (3) for a gate, EV_OPEN (4) for a window's opening (with ``windows``).
        index : ndarray of int64, shape (m,)
            The round or output index; for a switch the number of the segment that starts (1 for
            segments[0]: segment 0 is the model at t = 0); for a gate its index.
        """
        out = self.times if times is None else np.asarray(times, float)
        m, g = len(self.segments), len(self.gates)
        opens = (
            np.flatnonzero([isinstance(x, Monitor) for x in self.measurements]).astype(np.int64)
            if windows
            else np.zeros(0, np.int64)
        )
        t = np.concatenate([self.record_times, out, self.segment_at, self.gate_at, self.measure_at[opens]])
        kind = np.concatenate(
            [
                np.full(self.rounds, EV_MEASURE, np.int64),
                np.full(out.size, EV_OUTPUT, np.int64),
                np.full(m, EV_SWITCH, np.int64),
                np.full(g, EV_GATE, np.int64),
                np.full(opens.size, EV_OPEN, np.int64),
            ]
        )
        idx = np.concatenate([np.arange(self.rounds), np.arange(out.size), np.arange(1, m + 1), np.arange(g), opens])
        idx = idx.astype(np.int64)
        # rounds and window openings share a priority: each opening just before its own record
        sub = np.where(kind == EV_MEASURE, 2 * idx + 1, np.where(kind == EV_OPEN, 2 * idx, idx))
        order = np.lexsort((sub, _PRIORITY[kind], t))
        return t[order], kind[order], idx[order]

    def describe(self) -> str:
        """The instruments and the rule (and when the model switches and gates act), in words.

        Returns
        -------
        str
        """
        timed = ""
        if self.segments:
            timed += f"; model switches at t = {', '.join(format(t, 'g') for t in self.segment_at)}"
        if self.gates:
            timed += f"; gates at t = {', '.join(format(t, 'g') for t in self.gate_at)}"
        if not self.rounds:
            return "no measurement rounds" + timed
        distinct = list(dict.fromkeys(self.measurements))
        if len(distinct) == 1:
            inst = f"every round: {distinct[0].describe()}"
        else:
            inst = "; ".join(f"round {k + 1}: {m.describe()}" for k, m in enumerate(self.measurements))
        return f"{inst}; {self.selection.describe()}{timed}"

    def as_dict(self) -> dict[str, np.ndarray]:
        """Plain-data description, for saving.

        Returns
        -------
        dict of str to ndarray
            rho0 (d, d), measure_at (R,), times (n,), postselect (a 0-d string array) and the instruments
            as stacked arrays: measurement_observable (R, d, d), measurement_readout_error (R, 2),
            measurement_feedback (R, 2, d, d), measurement_has_feedback (R, 2); with segments or gates
            also the arrays of :func:`.segments.schedule_arrays`.
        """
        d = self.rho0.shape[0]
        per = [_plain_arrays(m, d) for m in self.measurements]
        # empty stacks keep the dtypes of full ones (a file checks them on load)
        stack = {
            k: (np.stack([x[k] for x in per]) if per else np.zeros(shape, dtype))
            for k, shape, dtype in (
                ("observable", (0, d, d), complex),
                ("readout_error", (0, 2), float),
                ("feedback", (0, 2, d, d), complex),
                ("has_feedback", (0, 2), bool),
            )
        }
        return {
            "rho0": np.array(self.rho0),
            "measure_at": np.array(self.measure_at),
            "times": np.array(self.times),
            "postselect": np.array(self.postselect),
            **{f"measurement_{k}": v for k, v in stack.items()},
            **(
                {"instruments": np.array(instruments_to_json(self.measurements))}
                if needs_json(self.measurements)
                else {}
            ),
            **(schedule_arrays(self.segments, self.gate_at, self.gate_unitaries) if self.is_timed else {}),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Protocol:
        """Inverse of :meth:`as_dict` (files without instruments get today's defaults; segments come back as
        LindbladModels with the same arrays, gates as arrays).

        Parameters
        ----------
        data : Mapping
            The keys of :meth:`as_dict`.

        Returns
        -------
        Protocol

        Raises
        ------
        ValueError
            As the constructor.
        """
        meas: Any = None
        if "instruments" in data:
            meas = instruments_from_json(str(data["instruments"]))
        elif "measurement_observable" in data:
            meas = [
                Measurement.from_dict(
                    {
                        k: data[f"measurement_{k}"][i]
                        for k in ("observable", "readout_error", "feedback", "has_feedback")
                    }
                )
                for i in range(len(data["measurement_observable"]))
            ]
        segments, gates = schedule_from_arrays(data)
        return cls(
            data["rho0"],
            data["measure_at"],
            data["times"],
            measurement=meas,
            postselect=str(data.get("postselect", "all")),
            segments=segments,
            gates=gates,
        )

    def same_as(self, other: Protocol) -> bool:
        """Whether ``other`` describes the same protocol (state, times, instruments, rule, segments' times and
        arrays, gates' times and unitaries), bit for bit.

        Parameters
        ----------
        other : Protocol

        Returns
        -------
        bool
        """
        return (
            np.array_equal(self.rho0, other.rho0)
            and np.array_equal(self.measure_at, other.measure_at)
            and np.array_equal(self.times, other.times)
            and self.measurements == other.measurements
            and self.selection == other.selection
            and np.array_equal(self.segment_at, other.segment_at)
            and all(same_models(a, b) for (_, a), (_, b) in zip(self.segments, other.segments, strict=True))
            and np.array_equal(self.gate_at, other.gate_at)
            and np.array_equal(self.gate_unitaries, other.gate_unitaries)
        )


def _plain_arrays(m: Measurement | Monitor, d: int) -> dict[str, np.ndarray]:
    """A round's arrays for saving; Kraus instruments and monitors (saved as JSON) fill them with zeros."""
    if isinstance(m, Measurement) and m.kind == "projective":
        return m.as_dict()
    U, has = m.unitaries(None, d) if isinstance(m, Monitor) else m.unitaries()
    return {"observable": np.zeros((d, d), complex), "readout_error": np.zeros(2), "feedback": U, "has_feedback": has}


def _check_windows(measurements: tuple[Measurement | Monitor, ...], meas: np.ndarray, t_end: float) -> None:
    """Each monitored window ends by the last output time and holds no other round."""
    for k, m in enumerate(measurements):
        if not isinstance(m, Monitor) or m.duration == 0.0:
            continue
        t0, t1 = float(meas[k]), float(meas[k]) + m.duration
        if t1 > t_end:
            raise ValueError(
                f"measurement: the window of round {k + 1} ends at {t1:g}, after the last output time {t_end:g}"
            )
        inside = np.flatnonzero((meas >= t0) & (meas < t1))
        inside = inside[inside != k]
        if inside.size:
            raise ValueError(
                f"measurement: the window of round {k + 1} [{t0:g}, {t1:g}) overlaps round {int(inside[0]) + 1} "
                f"at t = {float(meas[inside[0]]):g}; windows may not overlap other rounds"
            )


def _check_history(measurements: tuple[Measurement | Monitor, ...], n_states: int) -> None:
    """Every (record, state) feedback key names a state of the rule's machine."""
    for m in dict.fromkeys(measurements):
        for _, s in m.history_feedback:
            if s >= n_states:
                raise ValueError(
                    f"feedback: rule state {s} does not exist; the post-selection rule has states 0 .. {n_states - 1}"
                )


def _measurements(value: Any, rounds: int, dim: int) -> tuple[Measurement | Monitor, ...]:
    """One Measurement per round from None, one Measurement, or a sequence of rounds of them."""
    if value is None:
        if dim != 4 and rounds:
            raise ValueError(
                f"measurement: the default tau_z x tau_z acts on two spins (d = 4); give a "
                f"Measurement with a ({dim}, {dim}) observable"
            )
        value = Measurement()
    out: tuple[Measurement | Monitor, ...]
    if isinstance(value, (Measurement, Monitor)):
        out = (value,) * rounds
    elif isinstance(value, (str, bytes, dict)):
        raise ValueError(f"measurement must be a Measurement or a list of them, got {value!r}")
    else:
        try:
            out = tuple(value)
        except TypeError:
            raise ValueError(f"measurement must be a Measurement or a list of them, got {value!r}") from None
        if len(out) != rounds:
            raise ValueError(
                f"measurement must be one Measurement or a list of one per round ({rounds}), got {len(out)}"
            )
        for m in out:
            if not isinstance(m, (Measurement, Monitor)):
                raise ValueError(f"measurement list entries must be Measurement or Monitor objects, got {m!r}")
    for m in out[:1] + tuple(x for x in out[1:] if x is not out[0]):
        if m.dim is not None and m.dim != dim:
            raise ValueError(f"measurement acts on dimension {m.dim}, but the initial state has dimension {dim}")
    return out
