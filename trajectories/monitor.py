"""A monitored window: a detector that watches some jump channels for a while and counts clicks.

Round k of a protocol with a :class:`Monitor` watches the listed channels on the window
[measure_at[k], measure_at[k] + duration). Each jump of a watched channel is detected with probability
``efficiency``; dark clicks arrive as a Poisson process of rate ``dark_rate``. At the window's end the
record is +1 if the clicks reached ``threshold``, else -1; the feedback of that record acts then and the
post-selection rule steps on it. Unseen jumps act on the state all the same: the monitor only reads.

Both solvers are exact. The trajectory kernel counts the detected jumps (one uniform per watched jump)
and, at the window's end, draws whether the dark count N ~ Poisson(dark_rate * duration) reaches the
clicks still missing (one uniform against the tail P(N >= n), which is the same law as drawing N). The
exact solver carries the state resolved by click level 0 .. threshold (the top level saturating) under
the count-resolved generator (:mod:`darkspin.ensemble.exact.monitor_generator`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from numpy.typing import ArrayLike
from scipy.special import gammainc

from .checks import check_integral, check_real
from .instrument_base import FeedbackInstrument
from .instrument_operators import NAMED_FEEDBACK, _name_of, check_feedback

#: Largest click threshold (the exact solver carries threshold + 1 levels).
MAX_THRESHOLD = 64


class Monitor(FeedbackInstrument):
    """A window of monitoring on some jump channels, read out as a click count; immutable.

    Usable wherever a :class:`~darkspin.trajectories.measurement.Measurement` is (one per round, or one
    for every round of a :class:`~darkspin.trajectories.protocol.Protocol`).

    Parameters
    ----------
    channels : sequence of str or int
        The watched channels, by label (``model.jump_labels()``, e.g. 'dephasing[0]') or by index;
        resolved against the model when the protocol is run (an unknown one is a ValueError then).
    duration : float
        D >= 0, the window's length (time unit of the model). D = 0 gives record -1 with certainty
        (for threshold >= 1).
    efficiency : float
        eta in [0, 1], the probability that a jump of a watched channel is detected.
    dark_rate : float
        r >= 0, the rate of false clicks (inverse time unit).
    threshold : int
        n >= 1: the record is +1 when the window saw at least n clicks (at most MAX_THRESHOLD).
    feedback : dict, optional
        As for Measurement: ``{record: U}`` or ``{(record, rule state): U}``, applied at the window's end.

    Raises
    ------
    ValueError
        Naming the parameter, for any input outside the ranges above.

    Examples
    --------
    >>> import numpy as np
    >>> import darkspin as ds
    >>> window = ds.Monitor(["dephasing[0]"], duration=50.0, efficiency=0.9, dark_rate=1e-4)
    >>> protocol = ds.Protocol("ud", [100, 200, 300, 400], np.linspace(0, 500, 11), measurement=window)
    >>> protocol.record_times.tolist()  # each round reports at its window's end
    [150.0, 250.0, 350.0, 450.0]
    >>> exact = ds.solve_master_equation(ds.SpinPair(), protocol)
    >>> round(float(exact.population("S").value_post[-1].real), 3)  # post-selected singlet at t = 500
    0.921
    """

    __slots__ = (
        "channels",
        "duration",
        "efficiency",
        "dark_rate",
        "threshold",
        "_feedback",
        "_history",
        "_dim",
        "_feedback_names",
    )

    def __init__(
        self,
        channels: Sequence[str | int],
        duration: float,
        efficiency: float = 1.0,
        dark_rate: float = 0.0,
        threshold: int = 1,
        feedback: Mapping[Any, str | ArrayLike] | None = None,
    ) -> None:
        if isinstance(channels, (str, int, np.integer)):
            channels = [channels]
        if not hasattr(channels, "__iter__"):
            raise ValueError(f"channels must be a list of channel labels or indices, got {channels!r}")
        chans: list[str | int] = []
        for c in channels:
            if isinstance(c, str):
                chans.append(c)
            elif isinstance(c, (int, np.integer)) and not isinstance(c, bool) and c >= 0:
                chans.append(int(c))
            else:
                raise ValueError(f"channels must hold channel labels (str) or indices (int >= 0), got {c!r}")
        if not chans:
            raise ValueError("channels must name at least one jump channel")
        self.channels: tuple[str | int, ...] = tuple(dict.fromkeys(chans))
        self.duration = check_real("duration", duration, 0.0)
        self.efficiency = check_real("efficiency", efficiency, 0.0, 1.0)
        self.dark_rate = check_real("dark_rate", dark_rate, 0.0)
        self.threshold = check_integral("threshold", threshold, 1, MAX_THRESHOLD)
        named = feedback is not None and all(isinstance(u, str) for u in dict(feedback).values())
        arrays = [np.asarray(u) for u in (dict(feedback) if feedback else {}).values() if not isinstance(u, str)]
        self._dim: int | None = arrays[0].shape[0] if arrays and arrays[0].ndim == 2 else (4 if named else None)
        self._feedback, self._history, self._feedback_names = check_feedback(feedback, self._dim or 4)
        keyed: list[tuple[int | tuple[int, int], np.ndarray]] = [*self._feedback.items(), *self._history.items()]
        for key, U in keyed:  # a reloaded monitor keeps its names
            name = self._feedback_names.get(key) or _name_of(U, NAMED_FEEDBACK)
            if name is not None:
                self._feedback_names[key] = name

    @property
    def kind(self) -> str:
        """The instrument's kind: always 'monitor' (str; a Measurement says 'projective' or 'weak')."""
        return "monitor"

    @property
    def dim(self) -> int | None:
        """The dimension d its feedback unitaries fix (int), or None if it has none (any d)."""
        return self._dim

    def unitaries(self, state: int | None = None, dim: int = 4) -> tuple[np.ndarray, np.ndarray]:
        """The feedback unitaries, in the order of RECORDS (as Measurement.unitaries).

        Parameters
        ----------
        state : int, optional
            The rule machine's state before the round (None: ignore the history keys).
        dim : int
            The dimension d (used when there is no feedback).

        Returns
        -------
        U : ndarray of complex128, shape (2, d, d)
            The unitary applied after each record (the identity where there is no feedback).
        has_feedback : ndarray of bool, shape (2,)
            Whether each record has feedback.

        Examples
        --------
        >>> import darkspin as ds
        >>> window = ds.Monitor([0], duration=50.0, feedback={+1: "flip1"})
        >>> U, has_feedback = window.unitaries()
        >>> U.shape, has_feedback.tolist()
        ((2, 4, 4), [True, False])
        """
        return self._picked_unitaries(state, self._dim or dim)

    def watched(self, labels: Sequence[str]) -> np.ndarray:
        """Which of a model's channels the window watches.

        Parameters
        ----------
        labels : sequence of str, length K
            The model's ``jump_labels()``.

        Returns
        -------
        ndarray of bool, shape (K,)
            True for each channel whose jumps the window counts.

        Raises
        ------
        ValueError
            Naming 'channels', for a label the model does not have or an index >= K.

        Examples
        --------
        >>> import darkspin as ds
        >>> window = ds.Monitor(["dephasing[0]"], duration=50.0)
        >>> ds.SpinPair().jump_labels(), window.watched(ds.SpinPair().jump_labels()).tolist()
        (['lowering[0]', 'raising[0]', 'dephasing[0]'], [False, False, True])
        """
        labels = list(labels)
        mask = np.zeros(len(labels), bool)
        for c in self.channels:
            if isinstance(c, str):
                if c not in labels:
                    raise ValueError(f"channels: the model has no channel {c!r}; its channels are {labels}")
                mask[labels.index(c)] = True
            else:
                if c >= len(labels):
                    raise ValueError(f"channels: index {c} is out of range for a model with {len(labels)} channels")
                mask[c] = True
        return mask

    def dark_tail(self) -> np.ndarray:
        """P(N >= n) for the dark count N ~ Poisson(dark_rate * duration), n = 0 .. threshold.

        Returns
        -------
        ndarray of float64, shape (threshold + 1,)
            P(N >= n), dimensionless; 1 at n = 0 (all zeros beyond it without dark counts).

        Examples
        --------
        >>> import darkspin as ds
        >>> window = ds.Monitor([0], duration=50.0, dark_rate=0.02, threshold=2)  # mean dark count 1
        >>> window.dark_tail().round(4).tolist()
        [1.0, 0.6321, 0.2642]
        """
        mu = self.dark_rate * self.duration
        n = np.arange(self.threshold + 1)
        # the regularised lower incomplete gamma function P(n, mu) is P(N >= n), accurate in both tails
        tail = gammainc(np.maximum(n, 1), mu) if mu > 0 else np.zeros(n.size)
        tail[0] = 1.0
        return np.asarray(tail, float)

    # ---- identity and display ----
    def _key(self) -> tuple[Any, ...]:
        fb, hist = self._feedback_key()
        return (self.channels, self.duration, self.efficiency, self.dark_rate, self.threshold, fb, hist)

    def describe(self) -> str:
        """One line: channels, window, efficiency, dark rate, threshold and feedback.

        Returns
        -------
        str
            The description (what ``repr`` shows and protocol descriptions quote).

        Examples
        --------
        >>> import darkspin as ds
        >>> ds.Monitor(["dephasing[0]"], duration=50.0, efficiency=0.9).describe()
        'monitor dephasing[0] for 50 (efficiency 0.9, dark rate 0, +1 from 1 click)'
        """
        chans = ", ".join(map(str, self.channels))
        parts = [
            f"monitor {chans} for {self.duration:g} (efficiency {self.efficiency:g}, dark rate {self.dark_rate:g}, "
            f"+1 from {self.threshold} click{'s' if self.threshold > 1 else ''})"
        ]
        return ", ".join(parts + self._feedback_parts())
