"""Post-selection rules on the measurement records, as one small finite-state machine.

A rule reads the records r_1, r_2, ... (+1 or -1) one round at a time. Its machine has states
0 .. S-1, starts in state 0, moves by ``transitions[k, s, i]`` on record RECORDS[i] in round k, and
a run counts as post-selected while its state is accepting. Before the first round every run is
post-selected. The trajectory kernel steps the machine per run; the exact solver keeps one
unnormalised density matrix per state. Both read the same tables, so they agree by construction.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

#: The named rules.
NAMED_RULES = ("all", "last", "none")
PATTERN_CHARS = "-+?"


class PostSelection:
    """A post-selection rule: ``"all"`` (every record -1 so far, the paper's), ``"last"`` (the latest
    record -1), ``"none"`` (keep every run), or a pattern with one character per round from ``-``
    (record -1), ``+`` (record +1), ``?`` (either), e.g. ``"?+--"``.

    rounds: the protocol's number of rounds (a pattern must have exactly that length).
    transitions: (rounds, S, 2) int64, next state per (round, state, record index: 0 for +1, 1 for -1);
    accepting: (S,) bool.

    Parameters
    ----------
    rule : str
        As above.
    rounds : int
        As above.

    Raises
    ------
    ValueError
        For an unknown rule, a bad pattern character, or a pattern of the wrong length.

    Examples
    --------
    >>> import darkspin as ds
    >>> rule = ds.PostSelection("?+--", rounds=4)
    >>> rule.n_states >= 2
    True
    """

    __slots__ = ("rule", "rounds", "transitions", "accepting")

    def __init__(self, rule: str, rounds: int) -> None:
        if not isinstance(rule, str):
            raise ValueError(f"postselect must be 'all', 'last', 'none' or a pattern of '-', '+', '?', got {rule!r}")
        R = int(rounds)
        if rule in ("all", "none"):
            # state 0: still selected; state 1: a +1 was recorded (absorbing)
            tr = np.zeros((R, 2, 2), np.int64)
            if rule == "all":
                tr[:, 0, 0] = 1
                tr[:, 1, :] = 1
            accepting = np.array([True, rule == "none"])
        elif rule == "last":
            # state 0: the latest record was -1 (or no round yet); state 1: it was +1
            tr = np.zeros((R, 2, 2), np.int64)
            tr[:, :, 0] = 1
            accepting = np.array([True, False])
        else:
            bad = sorted(set(rule) - set(PATTERN_CHARS))
            if bad:
                raise ValueError(
                    f"postselect pattern may only contain '-', '+', '?' (or be 'all', 'last', 'none'), got {rule!r}"
                )
            if len(rule) != R:
                raise ValueError(
                    f"postselect pattern must have one character per round ({R}), got {rule!r} of length {len(rule)}"
                )
            tr = np.ones((R, 2, 2), np.int64)
            for k, c in enumerate(rule):
                if c in "+?":
                    tr[k, 0, 0] = 0
                if c in "-?":
                    tr[k, 0, 1] = 0
            accepting = np.array([True, False])
        tr = np.ascontiguousarray(tr)
        tr.setflags(write=False)
        accepting.setflags(write=False)
        self.rule, self.rounds, self.transitions, self.accepting = rule, R, tr, accepting

    @property
    def n_states(self) -> int:
        """Number S of machine states (int; 2 for every named rule and pattern)."""
        return int(self.accepting.size)

    def run(self, records: Iterable[int]) -> np.ndarray:
        """Whether one record string is post-selected after each round.

        Parameters
        ----------
        records : iterable of int, length R
            The records, +1 or -1 (anything but 1 counts as -1).

        Returns
        -------
        ndarray of bool, shape (R,)
            True where the run is post-selected after that round (R the number of records read, at most
            ``rounds``).

        Examples
        --------
        >>> import darkspin as ds
        >>> ds.PostSelection("all", rounds=3).run([-1, -1, +1]).tolist()
        [True, True, False]
        >>> ds.PostSelection("?+-", rounds=3).run([+1, +1, -1]).tolist()
        [True, True, True]
        """
        s, out = 0, []
        for k, r in enumerate(records):
            s = int(self.transitions[k, s, 0 if r == 1 else 1])
            out.append(bool(self.accepting[s]))
        return np.array(out, bool)

    def describe(self) -> str:
        """The rule in words.

        Returns
        -------
        str
            One line.

        Examples
        --------
        >>> import darkspin as ds
        >>> ds.PostSelection("last", rounds=4).describe()
        'post-select runs whose latest record is -1'
        """
        return {
            "all": "post-select runs whose every record is -1",
            "last": "post-select runs whose latest record is -1",
            "none": "keep every run (no post-selection)",
        }.get(self.rule, f"post-select runs whose records match {self.rule!r} ('?' = either)")

    def __eq__(self, other: object) -> bool:
        return isinstance(other, PostSelection) and (self.rule, self.rounds) == (other.rule, other.rounds)

    def __hash__(self) -> int:
        return hash((self.rule, self.rounds))

    def __repr__(self) -> str:
        return f"PostSelection({self.rule!r}, rounds={self.rounds})"
