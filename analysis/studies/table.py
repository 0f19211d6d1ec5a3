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
    ``to_pandas``. ``print(table)`` shows a compact aligned text table (:meth:`compact_columns`: the axes,
    fidelity and yield with their intervals; numbers right, text left, NaN as '-') and says how many
    columns it leaves out; ``table.show(columns)`` prints any columns (names or patterns such as
    ``'mc_p_success_*'``), ``table.show()`` all of them.

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
        """True if the sweep was interrupted (Ctrl-C): unfinished points have mc_ntraj < ntraj (bool)."""
        return bool(self.meta.get("interrupted", False))

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable form: that of every table plus ``'axes'``.

        Returns
        -------
        dict
            ``{'meta', 'columns', 'formats', 'axes'}``; NaN -> None, infinities -> 'inf' / '-inf'.

        Examples
        --------
        >>> import darkspin as ds
        >>> table = ds.sweep(ds.SpinPair(), ds.Protocol.paper(n_out=11), {"lam2": [0.0126, 0.011]})
        >>> data = table.to_dict()
        >>> data["axes"], data["columns"]["lam2"]
        (['lam2'], [0.0126, 0.011])
        """
        return {**super().to_dict(), "axes": list(self.axes)}

    def compact_columns(self) -> list[str]:
        """The columns ``print(table)`` shows, in table order.

        They are the axes, then fidelity_post and yield (exact), then with trajectories mc_fidelity_post
        and mc_yield with their intervals (_lo, _hi).

        Returns
        -------
        list of str
            Names of existing columns, in table order.

        Examples
        --------
        >>> import darkspin as ds
        >>> table = ds.sweep(ds.SpinPair(), ds.Protocol.paper(n_out=11), {"lam2": [0.0126, 0.011]})
        >>> table.compact_columns()
        ['lam2', 'fidelity_post', 'yield']
        """
        keep = {*self.axes, *str(self.meta.get("derived", "")).split(), "fidelity_post", "yield"}
        for q in ("fidelity_post", "yield"):
            keep.update(f"mc_{q}{s}" for s in ("", "_lo", "_hi"))
        return [n for n in self._columns if n in keep]

    def __str__(self) -> str:
        if not self.names:
            return "(empty sweep table)"
        if "fidelity_post" not in self._columns:  # not a sweep's own table: every column
            return self.to_text()
        text = self._compact()
        hidden = len(self.names) - len(self.compact_columns())
        if hidden:
            first = next(n for n in self.names if n not in self.compact_columns())
            text += f"\n({hidden} more columns: table.show() prints all, table.show(['{first}', ...]) some)"
        return text

    def _compact(self) -> str:
        """The compact text table of ``print(table)`` without its last line."""
        shown = self.compact_columns()
        # X, X_lo, X_hi shown as one column 'X [95%]' with cells 'value [lo, hi]'
        conf = self.meta.get("confidence")
        tag = f"{100 * conf:g}%" if isinstance(conf, (int, float)) and conf == conf else "CI"
        groups = [
            [n, f"{n}_lo", f"{n}_hi"] if f"{n}_lo" in shown else [n] for n in shown if n[-3:] not in ("_lo", "_hi")
        ]
        headers = [g[0] if len(g) == 1 else f"{g[0]} [{tag}]" for g in groups]
        body = []
        for i in range(len(self)):
            cells = [self._cell(g[0], i) for g in groups]
            body.append(
                [
                    c if len(g) == 1 else f"{c} [{self._cell(g[1], i)}, {self._cell(g[2], i)}]"
                    for c, g in zip(cells, groups, strict=True)
                ]
            )
        widths = self._widths([headers, *body])
        right = [self._columns[g[0]].dtype.kind in "iuf" for g in groups]
        return "\n".join(self._line(r, widths, right).rstrip() for r in [headers, *body])

    def __repr__(self) -> str:
        return f"SweepTable({len(self)} points, axes={self.axes}, {len(self._columns)} columns)"
