"""What the instruments of a round share: feedback unitaries keyed by record or by (record, rule state),
their read-only views, identity by value and the feedback part of a one-line description.

:class:`~darkspin.Measurement` and :class:`~darkspin.Monitor` derive from :class:`FeedbackInstrument`;
each supplies ``_key()`` (what makes two instruments equal) and ``describe()``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .instrument_operators import RECORDS


class FeedbackInstrument:
    """Base of the instruments: feedback views, equality and hashing by value, and ``repr``.

    A subclass sets ``_feedback`` ({record: U}), ``_history`` ({(record, rule state): U}) and
    ``_feedback_names`` (the names of named unitaries, by key), and defines ``_key()`` and ``describe()``.
    """

    __slots__ = ()
    _feedback: dict[int, np.ndarray]
    _history: dict[tuple[int, int], np.ndarray]
    _feedback_names: dict[int | tuple[int, int], str]

    @property
    def feedback(self) -> dict[int, np.ndarray]:
        """{record: unitary (d, d)} for the records that trigger feedback."""
        return dict(self._feedback)

    @property
    def history_feedback(self) -> dict[tuple[int, int], np.ndarray]:
        """{(record, rule state before the round): unitary (d, d)}: feedback that depends on the history."""
        return dict(self._history)

    def _picked_unitaries(self, state: int | None, dim: int) -> tuple[np.ndarray, np.ndarray]:
        """(U (2, d, d), has_feedback (2,)) in the order of RECORDS; the identity where nothing acts."""
        eye = np.eye(dim, dtype=complex)
        pick = dict(self._feedback)
        if state is not None:
            pick.update({r: U for (r, s), U in self._history.items() if s == state})
        return np.stack([pick.get(r, eye) for r in RECORDS]), np.array([r in pick for r in RECORDS])

    def _feedback_key(self) -> tuple[tuple[Any, ...], tuple[Any, ...]]:
        """The feedback tables as bytes; adding +0 turns -0.0 into 0.0, so equal matrices have equal bytes."""
        fb = tuple((r, (self._feedback[r] + 0j).tobytes()) for r in sorted(self._feedback))
        hist = tuple((k, (self._history[k] + 0j).tobytes()) for k in sorted(self._history))
        return fb, hist

    def _feedback_parts(self) -> list[str]:
        """'on +1 apply flip1', ...: the feedback of a one-line description, plain records first."""
        names = self._feedback_names
        parts = [f"on {r:+d} apply {names.get(r, 'a unitary')}" for r in sorted(self._feedback, reverse=True)]
        for r, st in sorted(self._history, key=lambda k: (-k[0], k[1])):
            parts.append(f"on {r:+d} in rule state {st} apply {names.get((r, st), 'a unitary')}")
        return parts

    def _key(self) -> tuple[Any, ...]:
        raise NotImplementedError

    def describe(self) -> str:
        """One line describing the instrument.

        Returns
        -------
        str
        """
        raise NotImplementedError

    def __eq__(self, other: object) -> bool:
        return isinstance(other, type(self)) and self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.describe()})"
