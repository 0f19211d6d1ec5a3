"""The measurement-and-purification protocol: initial state, measurement rounds (times and instruments),
the post-selection rule, and the output grid."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import ArrayLike

from .measurement import Measurement
from .operators import basis_state
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
    measurement: one :class:`Measurement` for every round (default: perfect tau_z x tau_z, no
                 feedback), or a sequence of them, one per round.
    postselect:  the rule on the records: 'all' (every record -1 so far, default), 'last' (the latest
                 record -1), 'none', or a pattern of '-', '+', '?' with one character per round.

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
    measurement: Measurement | Sequence[Measurement] | None = None
    postselect: str = "all"
    if TYPE_CHECKING:  # set by __post_init__; not dataclass fields at run time
        _rho0: np.ndarray = dataclasses.field(init=False)
        measurements: tuple[Measurement, ...] = dataclasses.field(init=False)
        selection: PostSelection = dataclasses.field(init=False)

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
    def t_final(self) -> float:
        """The final output time (time unit)."""
        return float(self.times[-1])

    def events(self, times: ArrayLike | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The time-ordered event list of the rounds and the output times.

        At equal times measurements come first, in round order.

        Parameters
        ----------
        times : array_like of float, optional
            Other output times (sorted) to merge with the rounds instead of the protocol's own.

        Returns
        -------
        time : ndarray of float64, shape (m,)
        kind : ndarray of int64, shape (m,)
            0 for a measurement, 1 for an output.
        index : ndarray of int64, shape (m,)
            The round or output index.
        """
        out = self.times if times is None else np.asarray(times, float)
        t = np.concatenate([self.measure_at, out])
        kind = np.concatenate([np.zeros(self.rounds, np.int64), np.ones(out.size, np.int64)])
        idx = np.concatenate([np.arange(self.rounds), np.arange(out.size)]).astype(np.int64)
        order = np.lexsort((idx, kind, t))
        return t[order], kind[order], idx[order]

    def describe(self) -> str:
        """The instruments and the rule, in words.

        Returns
        -------
        str
        """
        if not self.rounds:
            return "no measurement rounds"
        distinct = list(dict.fromkeys(self.measurements))
        if len(distinct) == 1:
            inst = f"every round: {distinct[0].describe()}"
        else:
            inst = "; ".join(f"round {k + 1}: {m.describe()}" for k, m in enumerate(self.measurements))
        return f"{inst}; {self.selection.describe()}"

    def as_dict(self) -> dict[str, np.ndarray]:
        """Plain-data description, for saving.

        Returns
        -------
        dict of str to ndarray
            rho0 (d, d), measure_at (R,), times (n,), postselect (a 0-d string array) and the instruments
            as stacked arrays: measurement_observable (R, d, d), measurement_readout_error (R, 2),
            measurement_feedback (R, 2, d, d), measurement_has_feedback (R, 2).
        """
        per = [m.as_dict() for m in self.measurements]
        d = self.rho0.shape[0]
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
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Protocol:
        """Inverse of :meth:`as_dict` (files without instruments get today's defaults).

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
        meas = None
        if "measurement_observable" in data:
            meas = [
                Measurement.from_dict(
                    {
                        k: data[f"measurement_{k}"][i]
                        for k in ("observable", "readout_error", "feedback", "has_feedback")
                    }
                )
                for i in range(len(data["measurement_observable"]))
            ]
        return cls(
            data["rho0"],
            data["measure_at"],
            data["times"],
            measurement=meas,
            postselect=str(data.get("postselect", "all")),
        )

    def same_as(self, other: Protocol) -> bool:
        """Whether ``other`` describes the same protocol (state, times, instruments, rule), bit for bit.

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
        )


def _measurements(value: Any, rounds: int, dim: int) -> tuple[Measurement, ...]:
    """One Measurement per round from None, one Measurement, or a sequence of rounds of them."""
    if value is None:
        if dim != 4 and rounds:
            raise ValueError(
                f"measurement: the default tau_z x tau_z acts on two spins (d = 4); give a "
                f"Measurement with a ({dim}, {dim}) observable"
            )
        value = Measurement()
    if isinstance(value, Measurement):
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
            if not isinstance(m, Measurement):
                raise ValueError(f"measurement list entries must be Measurement objects, got {m!r}")
    for m in out[:1] + tuple(x for x in out[1:] if x is not out[0]):
        if m.dim != dim:
            raise ValueError(f"measurement acts on dimension {m.dim}, but the initial state has dimension {dim}")
    return out
