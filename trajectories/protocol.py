"""The measurement-and-purification protocol: initial state, measurement rounds (times and instruments),
the post-selection rule, and the output grid.

The initial state is read in :mod:`.initial_state`, the time grids, rounds and windows checked in
:mod:`.protocol_checks`; the instrument, rule, segment and gate classes live in their own modules.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import ArrayLike

from .initial_state import INITIAL_LABELS as INITIAL_LABELS
from .initial_state import MAX_DIM as MAX_DIM
from .initial_state import MIN_DIM as MIN_DIM
from .initial_state import STATE_TOL as STATE_TOL
from .initial_state import initial_density_matrix as initial_density_matrix
from .instrument_json import instruments_from_json, instruments_to_json, needs_json
from .measurement import Measurement
from .monitor import Monitor
from .protocol_checks import MAX_TIME as MAX_TIME
from .protocol_checks import _as_times, _check_history, _check_windows, _measurements
from .segments import check_gates, check_segments, same_models, schedule_arrays, schedule_from_arrays
from .selection import PostSelection

#: Most output times a protocol may have. Memory grows with it (the ensemble sums hold ~1 KB per
#: output time per thread chunk; a loaded result ~3 KB per output time): 10**5 is far beyond any plot.
MAX_OUTPUTS = 100_000
#: Most measurement rounds a protocol may have.
MAX_ROUNDS = 100_000


#: Event kinds of :meth:`Protocol.events` (and of the plan's ev_kind).
EV_MEASURE, EV_OUTPUT, EV_SWITCH, EV_GATE, EV_OPEN = 0, 1, 2, 3, 4
#: Order of the kinds at one instant: segment switch, gate, measurement, output.
_PRIORITY = np.array([2, 3, 0, 1, 2], np.int64)


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
        """The paper's Fig. 3 right protocol: |ud>, measured at t = 100, 200, 300, 400, output on [0, 500].

        The times of the rounds are our choice: the paper does not state them.

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
        """Inverse of :meth:`as_dict`.

        Files without instruments get today's defaults; segments come back as LindbladModels with the same
        arrays, gates as arrays.

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
        """Whether ``other`` describes the same protocol, bit for bit.

        The same state, times, instruments, rule, segments' times and arrays, gates' times and unitaries.

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
