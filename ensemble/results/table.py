"""One base for the package's tables: named, read-only 1-d columns of one length, with the same access,
errors and exports for every table (:class:`~darkspin.ensemble.results.postselection.PostSelectionTable`,
:class:`~darkspin.analysis.studies.table.SweepTable`).

JSON form (:meth:`Table.to_dict`): ``{'meta', 'columns', 'formats'}`` with NaN as None and infinities
as 'inf' / '-inf', so ``json.dumps(table.to_dict(), allow_nan=False)`` works; text columns stay text.
"""

from __future__ import annotations

import csv
import fnmatch
import io
import json
import math
import os
import types
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, TypeVar

import numpy as np
from numpy.typing import ArrayLike

from ...trajectories.checks import check_path

T = TypeVar("T", bound="Table")

#: Infinities in the JSON form.
_INFINITIES = {"inf": math.inf, "-inf": -math.inf}


class ColumnError(KeyError, ValueError):
    """Unknown or duplicate column name (a KeyError for mapping-style access, a ValueError for callers)."""

    def __str__(self) -> str:  # KeyError would print the repr of the message
        return str(self.args[0]) if self.args else ""


def json_value(x: Any) -> Any:
    """A JSON-safe scalar.

    Parameters
    ----------
    x : Any
        A bool, integer, real number or text (Python or NumPy).

    Returns
    -------
    bool, int, float, str or None
        bool and int as they are, text as it is, NaN as None, infinities as 'inf' / '-inf', else a float.
    """
    if isinstance(x, (bool, np.bool_)):
        return bool(x)
    if isinstance(x, (int, np.integer)):
        return int(x)
    if isinstance(x, str):
        return str(x)
    x = float(x)
    if math.isnan(x):
        return None
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    return x


def from_json_value(x: Any) -> Any:
    """Inverse of :func:`json_value` for numbers: None -> NaN, 'inf' / '-inf' -> infinities.

    Parameters
    ----------
    x : Any
        A value of the JSON form.

    Returns
    -------
    Any
        The number (or ``x`` unchanged).
    """
    if x is None:
        return math.nan
    if isinstance(x, str) and x in _INFINITIES:
        return _INFINITIES[x]
    return x


def _from_json_column(values: Iterable[Any]) -> list[Any]:
    """A column of the JSON form: text if any entry is text other than an infinity, else numbers."""
    values = list(values)
    if any(isinstance(x, str) and x not in _INFINITIES for x in values):
        return values
    return [from_json_value(x) for x in values]


def format_cell(value: Any, spec: str) -> str:
    """One table cell: ``format(value, spec)``, with '-' for NaN and 'inf' / '-inf' for infinities.

    Parameters
    ----------
    value : Any
        The cell's value.
    spec : str
        A format spec for :func:`format` ('' shows the value as ``str`` does).

    Returns
    -------
    str
        The text of the cell (``str(value)`` if ``spec`` does not apply to it).
    """
    if isinstance(value, (float, np.floating)):
        if math.isnan(value):
            return "-"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
    try:
        return format(value, spec)
    except (ValueError, TypeError):
        return str(value)


class Table:
    """Named read-only 1-d columns of one length, in order, with display formats and plain ``meta``.

    Parameters
    ----------
    columns : mapping of str to array_like
        Column name -> values, each 1-d and of the same length (copied and made read-only).
    formats : mapping of str to str, optional
        Format spec (for :func:`format`) of some columns; the others get :attr:`DEFAULT_FORMAT`.
    meta : mapping, optional
        Plain settings of the table (numbers, text, flags).

    Raises
    ------
    ValueError
        If a column is not 1-d or has another length than the first.
    """

    #: Format spec of a column that ``formats`` does not name.
    DEFAULT_FORMAT = ".4g"

    def __init__(
        self,
        columns: Mapping[str, ArrayLike],
        formats: Mapping[str, str] | None = None,
        meta: Mapping[str, Any] | None = None,
    ) -> None:
        cols: dict[str, np.ndarray] = {}
        length = None
        for name, values in dict(columns).items():
            arr = np.array(values)
            if arr.ndim != 1:
                raise ValueError(f"column {name!r} must be 1-d, got shape {arr.shape}")
            if length is None:
                length = arr.size
            elif arr.size != length:
                raise ValueError(f"column {name!r} has {arr.size} rows, expected {length}")
            arr.setflags(write=False)
            cols[str(name)] = arr
        self._columns = cols
        self._formats = {name: (formats or {}).get(name, self.DEFAULT_FORMAT) for name in cols}
        self.meta = dict(meta or {})

    # ---- mapping-style access ----
    @property
    def names(self) -> list[str]:
        """Column names in order (list of str, a fresh copy)."""
        return list(self._columns)

    @property
    def columns(self) -> Mapping[str, np.ndarray]:
        """Read-only view: column name -> read-only 1-d array of shape (len(table),)."""
        return types.MappingProxyType(self._columns)

    @property
    def formats(self) -> dict[str, str]:
        """Format spec (for :func:`format`) of each column: column name -> spec (dict of str, a fresh copy)."""
        return dict(self._formats)

    def __len__(self) -> int:
        return next(iter(self._columns.values())).size if self._columns else 0

    def __contains__(self, name: object) -> bool:
        return name in self._columns

    def __getitem__(self, name: str) -> np.ndarray:
        """The column ``name`` as a read-only 1-d array.

        Parameters
        ----------
        name : str
            A column name.

        Returns
        -------
        numpy.ndarray, shape (len(self),)

        Raises
        ------
        ColumnError
            (a KeyError and a ValueError) if there is no such column; the message lists the columns.
        """
        try:
            return self._columns[name]
        except KeyError:
            raise ColumnError(f"no column {name!r}; columns are {self.names}") from None

    def rows(self) -> list[dict[str, Any]]:
        """One dict per row.

        Returns
        -------
        list of dict
            Column name -> Python scalar (NaN and infinities kept as floats), one dict per row.

        Examples
        --------
        >>> import darkspin as ds
        >>> table = ds.solve_master_equation(ds.SpinPair(), ds.Protocol.paper(n_out=11)).postselection()
        >>> row = table.rows()[0]
        >>> row["round"], row["time"], round(row["p_success"], 4)
        (1, 100.0, 0.5703)
        """
        return [{name: col[i].item() for name, col in self._columns.items()} for i in range(len(self))]

    # ---- serialisation ----
    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable form of the table.

        Returns
        -------
        dict
            ``{'meta': {...}, 'columns': {name: list}, 'formats': {name: spec}}``; NaN -> None,
            infinities -> 'inf' / '-inf', text kept as text.

        Examples
        --------
        >>> import darkspin as ds
        >>> table = ds.solve_master_equation(ds.SpinPair(), ds.Protocol.paper(n_out=11)).postselection()
        >>> data = table.to_dict()
        >>> sorted(data), data["columns"]["round"]
        (['columns', 'formats', 'meta'], [1, 2, 3, 4])
        """
        return {
            "meta": {k: json_value(v) for k, v in self.meta.items()},
            "columns": {name: [json_value(x) for x in col.tolist()] for name, col in self._columns.items()},
            "formats": dict(self._formats),
        }

    @classmethod
    def _from_parts(
        cls: type[T], data: Mapping[str, Any], columns: dict[str, list], formats: Mapping[str, str] | None, meta: dict
    ) -> T:
        """Build the table from the parts of its JSON form (subclasses with other arguments override)."""
        return cls(columns, formats, meta)

    @classmethod
    def from_dict(cls: type[T], data: Mapping[str, Any]) -> T:
        """Inverse of :meth:`to_dict` (also after a JSON round trip).

        Parameters
        ----------
        data : mapping
            The output of :meth:`to_dict`.

        Returns
        -------
        Table
            A table of this class with the same columns, formats and meta.

        Raises
        ------
        ValueError
            If ``data`` is not such a dict.

        Examples
        --------
        >>> import darkspin as ds
        >>> table = ds.solve_master_equation(ds.SpinPair(), ds.Protocol.paper(n_out=11)).postselection()
        >>> again = type(table).from_dict(table.to_dict())
        >>> type(again).__name__, again.names == table.names, again["round"].tolist()
        ('PostSelectionTable', True, [1, 2, 3, 4])
        """
        try:
            cols = {name: _from_json_column(values) for name, values in data["columns"].items()}
            meta = {
                k: from_json_value(v) if v is None or (isinstance(v, str) and v in _INFINITIES) else v
                for k, v in data.get("meta", {}).items()
            }
            return cls._from_parts(data, cols, data.get("formats"), meta)
        except (KeyError, AttributeError, TypeError) as exc:
            raise ValueError(f"data is not a {cls.__name__} dict ({exc!r})") from None

    def to_json(self, **kwargs: Any) -> str:
        """The JSON text of :meth:`to_dict`.

        Parameters
        ----------
        **kwargs
            Passed to :func:`json.dumps` (``indent=...``).

        Returns
        -------
        str
            The JSON text (NaN as null, infinities as "inf" / "-inf").

        Examples
        --------
        >>> import json
        >>> import darkspin as ds
        >>> table = ds.solve_master_equation(ds.SpinPair(), ds.Protocol.paper(n_out=11)).postselection()
        >>> json.loads(table.to_json())["columns"]["round"]
        [1, 2, 3, 4]
        """
        return json.dumps(self.to_dict(), **kwargs)

    def to_csv(self, path: str | os.PathLike[str] | None = None) -> str:
        """The table as CSV text: a header row, then one row per table row.

        Floats are written exactly, as Python's repr ('nan' for NaN, 'inf' for infinity).

        Parameters
        ----------
        path : str or os.PathLike, optional
            Also write the text to this file.

        Returns
        -------
        str
            The CSV text.

        Raises
        ------
        ValueError
            If ``path`` is not a path.

        Examples
        --------
        >>> import darkspin as ds
        >>> table = ds.solve_master_equation(ds.SpinPair(), ds.Protocol.paper(n_out=11)).postselection()
        >>> text = table.to_csv("postselection.csv")
        >>> text.splitlines()[0]
        'round,time,p_success,p_cumulative,attempts_per_success,end_time,singlet_post'
        """
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(self.names)
        for row in self.rows():
            writer.writerow([repr(v) if isinstance(v, float) else v for v in row.values()])
        text = buf.getvalue()
        if path is not None:
            with open(os.fspath(check_path("path", path)), "w", encoding="utf-8", newline="") as fh:
                fh.write(text)
        return text

    def to_pandas(self) -> Any:
        """The columns as a ``pandas.DataFrame``.

        Returns
        -------
        pandas.DataFrame
            One column per table column, same names and order, one row per table row.

        Raises
        ------
        ImportError
            If pandas (optional for darkspin) is not installed; the message says how to install it.
        """
        try:
            import pandas as pd
        except ImportError:
            raise ImportError(
                f"{type(self).__name__}.to_pandas needs pandas, which darkspin does not require: pip install "
                "pandas (or use table.to_dict() / table.to_csv())"
            ) from None
        return pd.DataFrame({k: np.array(v) for k, v in self._columns.items()})

    # ---- display ----
    def select(self, columns: str | Sequence[str] | None = None) -> list[str]:
        """Column names picked by names or shell-style patterns, in table order.

        Parameters
        ----------
        columns : str, sequence of str, or None
            Names or patterns (``fnmatch``: ``'mc_yield*'``, ``'p_success_*'``); None: every column.

        Returns
        -------
        list of str
            The matching names, each once, in the table's column order.

        Raises
        ------
        ColumnError
            If a name or pattern matches no column; the message lists the columns.

        Examples
        --------
        >>> import darkspin as ds
        >>> table = ds.solve_master_equation(ds.SpinPair(), ds.Protocol.paper(n_out=11)).postselection()
        >>> table.select("p_*"), table.select(["singlet_post", "round"])
        (['p_success', 'p_cumulative'], ['round', 'singlet_post'])
        """
        if columns is None:
            return self.names
        wanted = [columns] if isinstance(columns, str) else list(columns)
        for w in wanted:
            if not isinstance(w, str) or not fnmatch.filter(self._columns, w):
                raise ColumnError(f"no column matches {w!r}; columns are {self.names}")
        return [n for n in self._columns if any(fnmatch.fnmatchcase(n, w) for w in wanted)]

    def to_text(self, columns: str | Sequence[str] | None = None) -> str:
        """An aligned text table of some columns (numbers right, text left, NaN as '-').

        Parameters
        ----------
        columns : str, sequence of str, or None
            As for :meth:`select`; None: every column.

        Returns
        -------
        str
            A header line, then one line per row.

        Raises
        ------
        ColumnError
            If a name or pattern matches no column.

        Examples
        --------
        >>> import darkspin as ds
        >>> table = ds.solve_master_equation(ds.SpinPair(), ds.Protocol.paper(n_out=11)).postselection()
        >>> print(table.to_text(["round", "p_success"]))
        round  p_success
            1     57.03%
            2     89.40%
            3     98.33%
            4     99.76%
        """
        names = self.select(columns)
        if not names:
            return "(empty table)"
        body = [[self._cell(n, i) for n in names] for i in range(len(self))]
        widths = self._widths([names, *body])
        right = [self._columns[n].dtype.kind in "iuf" for n in names]
        return "\n".join(self._line(r, widths, right).rstrip() for r in [names, *body])

    def show(self, columns: str | Sequence[str] | None = None) -> None:
        """Print :meth:`to_text` of some columns (``print(table)`` shows a compact default).

        Parameters
        ----------
        columns : str, sequence of str, or None
            Names or shell-style patterns (``table.show(["rounds", "mc_p_success_*"])``); None: every
            column.

        Raises
        ------
        ColumnError
            If a name or pattern matches no column.

        Examples
        --------
        >>> import darkspin as ds
        >>> table = ds.solve_master_equation(ds.SpinPair(), ds.Protocol.paper(n_out=11)).postselection()
        >>> table.show("round")
        round
            1
            2
            3
            4
        """
        print(self.to_text(columns))

    # ---- display helpers ----
    def _cell(self, name: str, i: int) -> str:
        """The text of column ``name`` in row ``i``, in the column's format."""
        return format_cell(self._columns[name][i], self._formats[name])

    @staticmethod
    def _widths(lines: Sequence[Sequence[str]]) -> list[int]:
        """The width of each column of text cells (the longest cell)."""
        return [max(len(line[j]) for line in lines) for j in range(len(lines[0]))] if lines else []

    @staticmethod
    def _line(cells: Sequence[str], widths: Sequence[int], right: Sequence[bool]) -> str:
        """One aligned line: cells padded to ``widths`` (right-aligned where ``right``), two spaces apart."""
        return "  ".join(c.rjust(w) if r else c.ljust(w) for c, w, r in zip(cells, widths, right, strict=True))
