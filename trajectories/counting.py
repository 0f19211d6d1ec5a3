"""Counting statistics: which jump channels are counted, and the count range.

N is the number of jumps of a set of channels (all of them by default) since t = 0. Its distribution
is kept for n = 0, 1, ..., n_max - 1 and one saturating cell for N >= n_max, at every output time:
exactly by :func:`darkspin.count_distribution`, and as integer histograms by the ensemble kernel when
``simulate(..., distributions=True)`` (one histogram per channel set, see :func:`count_sets`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from .checks import check_count

#: Default n_max: counts 0 .. COUNT_MAX - 1 and one cell for N >= COUNT_MAX.
COUNT_MAX = 16
#: Largest n_max accepted (the exact hierarchy has n_max + 1 levels of d^2 each).
COUNT_MAX_LIMIT = 4096


def check_n_max(n_max: Any) -> int:
    """The count range n_max, checked.

    Parameters
    ----------
    n_max : int
        Counts 0 .. n_max - 1 are resolved, N >= n_max shares one cell.

    Returns
    -------
    int

    Raises
    ------
    ValueError
        Naming ``n_max``, unless an integer in [1, COUNT_MAX_LIMIT].
    """
    return check_count("n_max", n_max, 1, COUNT_MAX_LIMIT)


def channel_mask(channels: Any, labels: Sequence[str], name: str = "channels") -> np.ndarray:
    """The channels counted, as a mask over the model's channels.

    Parameters
    ----------
    channels : None, int, str, or a sequence of int and str
        None: every channel; else channel indices in [0, K) and / or labels, each at most once.
    labels : sequence of str, length K
        The model's channel names (``model.jump_labels()``).
    name : str
        The parameter's name in messages.

    Returns
    -------
    ndarray of bool, shape (K,)

    Raises
    ------
    ValueError
        Naming ``name``: an unknown label, an index out of range, a repeated or empty selection.
    """
    labels = tuple(labels)
    K = len(labels)
    if channels is None:
        return np.ones(K, bool)
    items = [channels] if isinstance(channels, (str, int, np.integer)) else channels
    try:
        items = list(items)
    except TypeError:
        raise ValueError(
            f"{name} must be None, a channel label or index, or a sequence of them, got {channels!r}"
        ) from None
    if not items:
        raise ValueError(f"{name} must name at least one channel, got an empty selection")
    mask = np.zeros(K, bool)
    for c in items:
        if isinstance(c, str):
            if c not in labels:
                raise ValueError(f"{name}: unknown channel {c!r}; the model's channels are {list(labels)}")
            k = labels.index(c)
        elif isinstance(c, (int, np.integer)) and not isinstance(c, (bool, np.bool_)) and 0 <= c < K:
            k = int(c)
        else:
            raise ValueError(f"{name} must hold channel labels {list(labels)} or indices in [0, {K}), got {c!r}")
        if mask[k]:
            raise ValueError(f"{name} names channel {labels[k]!r} twice")
        mask[k] = True
    return mask


def count_sets(K: int) -> np.ndarray:
    """The channel sets the ensemble kernel histograms N of: all channels, then each channel alone
    (only all channels when K = 1; none when K = 0).

    Parameters
    ----------
    K : int
        Number of channels.

    Returns
    -------
    ndarray of int64, shape (C, K)
        C = 0 (K = 0), 1 (K = 1) or K + 1; row c is the 0/1 mask of set c.
    """
    if K == 0:
        return np.zeros((0, 0), np.int64)
    sets = [np.ones(K, np.int64)]
    if K > 1:
        sets += list(np.eye(K, dtype=np.int64))
    return np.array(sets, np.int64)
