"""The table of a sweep: one row per point, one column per axis, then the exact and Monte Carlo columns."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from numpy.typing import ArrayLike

from ...ensemble.results.table import Table


class SweepTable(Table):
    """One row per sweep point, one column per axis, then the exact and (with trajectories) Monte Carlo
    columns.

    Access, errors and exports are those of every table (:class:`~darkspin.ensemble.results.table.Table`):
    ``table[name]``, ``names``, ``rows()``, ``to_dict()`` / ``from_dict``, ``to_json``, ``to_csv``,
    ``to_pandas``; ``str(table)`` prints an aligned text table (numbers right, text left, NaN as '-').

    Parameters
    ----------
    axes : sequence of str
        The axis names, in the order given (the first varies slowest on a grid); each names a column.
    columns : mapping of str to array_like
        Name -> 1-d values of length len(table): the axis columns (numbers as float64, ``rounds`` as
        int64, other values such as schedules or instruments as text), then fidelity_post, yield,
        p_success_1 .. p_success_R, concurrence_post, and with trajectories mc_ntraj and mc_X, mc_X_se,
        mc_X_lo, mc_X_hi for each X above (see :func:`~darkspin.analysis.studies.sweep`).
    meta : mapping, optional
        Plain settings of the run (points, seed, ntraj, common_random_numbers, paired, confidence,
        interrupted, target).

    Raises
    ------
    ValueError
        If a column is not 1-d or of another length, or an axis has no column.

    Examples
    --------
    >>> import darkspin as ds
    >>> table = ds.sweep(ds.SpinPair(), ds.Protocol.paper(n_out=11), {"lam2": [0.0126, 0.011]})
    >>> table.axes, len(table)
    (('lam2',), 2)
    """

    #: Numbers are shown with 6 significant digits; text as it is.
    DEFAULT_FORMAT = ".6g"

    def __init__(
        self, axes: Sequence[str], columns: Mapping[str, ArrayLike], meta: Mapping[str, Any] | None = None
    ) -> None:
        super().__init__(columns, None, meta)
        self._formats = {n: self.DEFAULT_FORMAT if c.dtype.kind == "f" else "" for n, c in self._columns.items()}
        self.axes = tuple(str(a) for a in axes)
        missing = [a for a in self.axes if a not in self._columns]
        if missing:
            raise ValueError(f"axes {missing} have no column")

    @classmethod
    def _from_parts(
        cls, data: Mapping[str, Any], columns: dict[str, list], formats: Mapping[str, str] | None, meta: dict
    ) -> SweepTable:
        return cls(data["axes"], columns, meta)

    @property
    def interrupted(self) -> bool:
        """True if the sweep was interrupted (Ctrl-C): unfinished points have mc_ntraj < ntraj."""
        return bool(self.meta.get("interrupted", False))

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable form: that of every table plus ``'axes'``.

        Returns
        -------
        dict
            ``{'meta', 'columns', 'formats', 'axes'}``; NaN -> None, infinities -> 'inf' / '-inf'.
        """
        return {**super().to_dict(), "axes": list(self.axes)}

    def __str__(self) -> str:
        names = self.names
        if not names:
            return "(empty sweep table)"
        body = [[self._cell(n, i) for n in names] for i in range(len(self))]
        widths = self._widths([names, *body])
        right = [self._columns[n].dtype.kind in "iuf" for n in names]
        return "\n".join(self._line(r, widths, right) for r in [names, *body]).rstrip()

    def __repr__(self) -> str:
        return f"SweepTable({len(self)} points, axes={self.axes}, {len(self._columns)} columns)"
