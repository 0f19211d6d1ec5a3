"""One compiled signature per kernel: the arguments of every kernel call given the same Numba types.

Numba compiles a kernel once for each distinct tuple of argument types, and a cold compile of the ensemble
kernel takes minutes. The types of a :class:`~.plan.Plan` (or a :class:`~.distributions.DistributionSpec`)
depend on more than its dtypes: an array marked read-only (a selection rule's table, a gate's unitary, a
protocol's times) types as ``readonly array``, pickling hands it back writable (process pools, Dask
workers), and a NumPy integer of another width types as another integer. Each such difference compiled
the whole kernel again, in every process that met it. :func:`canonical` gives every array field as a
writable C-contiguous array (a copy only where one is needed) and every scalar as a Python int, float or
bool, so every caller, in every process, shares one signature and one cache entry. The values, and so
the results, are unchanged bit for bit.
"""

from __future__ import annotations

from typing import Any, NamedTuple, TypeVar

import numpy as np

T = TypeVar("T", bound=NamedTuple)


def _field(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        flags = value.flags
        if flags.writeable and flags.c_contiguous and flags.aligned:
            return value
        return np.array(value, order="C")  # a fresh copy: writable, C-contiguous, aligned
    if isinstance(value, bool | np.bool_):
        return bool(value)
    if isinstance(value, int | np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        return float(value)
    if isinstance(value, tuple) and hasattr(value, "_fields"):
        return _rebuilt(value)
    return value


def _rebuilt(value: Any) -> Any:
    fields = [_field(v) for v in value]
    if all(a is b for a, b in zip(fields, value, strict=True)):
        return value
    return type(value)(*fields)


def canonical(value: T) -> T:
    """The same named tuple with every field in the one form the kernels are compiled for.

    Parameters
    ----------
    value : NamedTuple
        A kernel argument made of arrays and scalars (a Plan, a DistributionSpec, a RunLog).

    Returns
    -------
    NamedTuple
        ``value`` itself when every field already has that form, else a copy of the tuple whose arrays are
        writable, C-contiguous and aligned (copied where they were not) and whose NumPy scalars are Python
        ``int``, ``float`` or ``bool``; nested named tuples likewise. Equal to ``value`` field by field.

    Examples
    --------
    >>> import numpy as np
    >>> import darkspin as ds
    >>> from darkspin.trajectories.plan import compile_plan
    >>> from darkspin.trajectories.signatures import canonical
    >>> plan = compile_plan(ds.SpinPair(), ds.Protocol.paper(n_out=11))
    >>> same = canonical(plan)
    >>> all(f.flags.writeable for f in same if isinstance(f, np.ndarray))
    True
    """
    result: T = _rebuilt(value)
    return result
