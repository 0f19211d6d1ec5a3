"""Confidence intervals for quantities in [0, 1]: Wilson's for counts, :func:`mean_interval` for the mean
of a per-trajectory quantity. Both are valid at 0 and 1 and never of zero width. (No darkspin imports:
results, tables, histograms and sweeps all use them.)"""

from __future__ import annotations

from statistics import NormalDist
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

#: Default confidence level of the intervals in the table.
CONFIDENCE = 0.95
#: Tolerance of :func:`mean_interval` for a mean outside [0, 1]: the ensemble sums round each trajectory
#: to 2^-40, so an estimate of a quantity in [0, 1] can miss the range by ~1e-12.
ROUNDING = 1e-9


# ---- Wilson score interval ---------------------------------------------------------------------
def _num(x: float) -> int | float:
    """A count for a message: 5 rather than 5.0."""
    x = float(x)
    return int(x) if x.is_integer() else x


def _first(arr: np.ndarray, mask: np.ndarray) -> int | float:
    return _num(arr[mask].ravel()[0])


def _z_of(confidence: object) -> float:
    """The two-sided normal quantile of a confidence in (0, 1); ValueError naming 'confidence' otherwise."""
    if (
        isinstance(confidence, bool)
        or not isinstance(confidence, (int, float, np.floating))
        or not 0.0 < float(confidence) < 1.0
    ):
        raise ValueError(f"confidence must be a number in (0, 1), got {confidence!r}")
    return NormalDist().inv_cdf(0.5 + 0.5 * float(confidence))  # stdlib: scipy.stats costs 0.6 s to import


def wilson_interval(k: ArrayLike, n: ArrayLike, confidence: float = CONFIDENCE) -> tuple[Any, Any]:
    """Wilson score interval for a binomial probability from k successes in n trials.

    k, n: counts (scalars or arrays broadcasting together), 0 <= k <= n. confidence in (0, 1).
    Returns (low, high), floats for scalar input, else arrays of the broadcast shape; both NaN where
    n = 0. With z = Phi^-1(1 - (1 - confidence)/2):
    (k + z^2/2)/(n + z^2) -+ z sqrt(k (n - k)/n + z^2/4)/(n + z^2); low = 0 exactly at k = 0 and
    high = 1 exactly at k = n.

    Parameters
    ----------
    k : array_like of int
        Successes, 0 <= k <= n.
    n : array_like of int
        Trials, >= 0, broadcasting with k.
    confidence : float
        The confidence level, in (0, 1).

    Returns
    -------
    tuple of (float or numpy.ndarray, float or numpy.ndarray)
        (low, high), as described above.

    Raises
    ------
    ValueError
        For a confidence outside (0, 1), negative, non-finite or non-integral counts, k > n, or shapes that
        do not broadcast.

    Examples
    --------
    >>> import darkspin as ds
    >>> low, high = ds.wilson_interval(0, 100)
    >>> float(low), round(float(high), 4)
    (0.0, 0.037)
    """
    z = _z_of(confidence)
    k_arr = np.asarray(k, dtype=float)
    n_arr = np.asarray(n, dtype=float)
    for name, arr in (("k", k_arr), ("n", n_arr)):
        bad = ~np.isfinite(arr) | (arr < 0)
        if np.any(bad):
            raise ValueError(f"{name} must be a finite count >= 0, got {name}={_first(arr, bad)!r}")
    try:
        k_arr, n_arr = np.broadcast_arrays(k_arr, n_arr)
    except ValueError:
        raise ValueError(f"k and n must broadcast together, got shapes {k_arr.shape} and {n_arr.shape}") from None
    over = k_arr > n_arr
    if np.any(over):
        i = np.flatnonzero(over.ravel())[0]
        raise ValueError(
            "k must be <= n (successes cannot exceed trials), got "
            f"k={_num(k_arr.ravel()[i])} > n={_num(n_arr.ravel()[i])}"
        )
    z2 = z * z
    with np.errstate(invalid="ignore", divide="ignore"):
        denom = n_arr + z2
        centre = (k_arr + 0.5 * z2) / denom
        half = z * np.sqrt(k_arr * (n_arr - k_arr) / n_arr + 0.25 * z2) / denom
        low = np.clip(centre - half, 0.0, 1.0)
        high = np.clip(centre + half, 0.0, 1.0)
    # the closed form gives exactly 0 / 1 there; pin them against rounding
    low = np.where(k_arr == 0, 0.0, low)
    high = np.where(k_arr == n_arr, 1.0, high)
    empty = n_arr == 0
    low = np.where(empty, np.nan, low)
    high = np.where(empty, np.nan, high)
    if low.ndim == 0:
        return float(low), float(high)
    return low, high


# ---- interval for the mean of a per-trajectory quantity in [0, 1] ------------------------------------
def mean_interval(mean: ArrayLike, se: ArrayLike, n: ArrayLike, confidence: float = CONFIDENCE) -> tuple[Any, Any]:
    """Confidence interval for the mean of a per-trajectory quantity in [0, 1] (a population, the singlet
    fidelity), valid at 0 and 1 and never of zero width.

    mean: sample mean m over n trajectories; se: its sample standard error (sample variance
    s^2 = n se^2; NaN for n = 1); n: trajectories (>= 0); arrays broadcast together. confidence in (0, 1).
    Returns (low, high), floats for scalar input, else arrays; both NaN where n = 0 or mean is NaN.

    With z = Phi^-1(1 - (1 - confidence)/2) the interval is {mu in [0, 1]: (m - mu)^2 <= z^2 (s^2 +
    |m - mu|) / n}, i.e. m -+ h clipped to [0, 1] with h = z^2/(2n) + sqrt(z^4/(4 n^2) + z^2 se^2).
    The |m - mu| term is the variance that trajectories not sampled could add: runs that move the mean
    by |m - mu| lie within 1 of it, so they add at most |m - mu| to the variance. It keeps the interval
    valid when the sample variance collapses, e.g. every post-selected run at singlet fidelity 1 where
    the exact value is 0.99997: then the interval is [1 - z^2/n, 1], close to Wilson's [n/(n + z^2), 1]
    for n successes in n. Otherwise it is the normal interval m -+ z se, slightly widened. h >= z^2/n > 0 always;
    for n = 1 (no se) s^2 = 1/4, the largest variance of a quantity in [0, 1].

    Parameters
    ----------
    mean : array_like of float
        Estimates of a quantity in [0, 1] (e.g. a population), scalars or arrays broadcasting with ``se``
        and ``n``.
    se : array_like of float
        Their standard errors, >= 0.
    n : array_like of int
        The numbers of runs behind each estimate, >= 0.
    confidence : float
        The confidence level, in (0, 1).

    Returns
    -------
    tuple of (float or numpy.ndarray, float or numpy.ndarray)
        (low, high), within [0, 1], never of zero width; NaN where n = 0.

    Raises
    ------
    ValueError
        For a confidence outside (0, 1), negative or non-finite counts, or shapes that do not broadcast.

    Examples
    --------
    >>> import darkspin as ds
    >>> low, high = ds.mean_interval(0.9996, 0.0001, 50_000)
    >>> bool(low < 0.9996 < high <= 1.0)
    True
    """
    z = _z_of(confidence)
    m = np.asarray(mean, dtype=float)
    e = np.asarray(se, dtype=float)
    n_arr = np.asarray(n, dtype=float)
    bad = ~np.isfinite(n_arr) | (n_arr < 0)
    if np.any(bad):
        raise ValueError(f"n must be a finite count >= 0, got n={_first(n_arr, bad)!r}")
    try:
        m, e, n_arr = (np.array(a) for a in np.broadcast_arrays(m, e, n_arr))
    except ValueError:
        raise ValueError(
            f"mean, se and n must broadcast together, got shapes {m.shape}, {e.shape} and {n_arr.shape}"
        ) from None
    with np.errstate(invalid="ignore"):
        outside = (m < -ROUNDING) | (m > 1 + ROUNDING) | (e < 0)
    if np.any(outside):
        raise ValueError(
            "mean must lie in [0, 1] and se be >= 0 (a per-trajectory quantity in [0, 1]), got "
            f"mean={float(m[outside][0])!r}, se={float(e[outside][0])!r}"
        )
    m = np.clip(m, 0.0, 1.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        nn = np.where(n_arr > 0, n_arr, np.nan)
        var = np.where(np.isfinite(e), nn * e**2, 0.25)  # sample variance; unknown for one run
        c = z * z / nn
        h = 0.5 * c + np.sqrt(0.25 * c * c + c * var)
        low = np.clip(m - h, 0.0, 1.0)
        high = np.clip(m + h, 0.0, 1.0)
    empty = (n_arr == 0) | np.isnan(m)
    low = np.where(empty, np.nan, low)
    high = np.where(empty, np.nan, high)
    if low.ndim == 0:
        return float(low), float(high)
    return low, high


def standard_error_floor(n: ArrayLike) -> Any:
    """The smallest standard error a mean of n per-trajectory values in [0, 1] is credited with: 1 / n.

    It is the standard error the mean would have if one of its n runs lay at the far end of [0, 1]
    from the others (sqrt((1/n)(1 - 1/n)/n) ~ 1/n): what a single rare event not yet seen would add.
    A sample standard error below it means those runs have not been seen (e.g. none of ~1000
    post-selected runs has jumped while the exact infidelity is 4e-4), not that the mean is known that
    well. It is the Wilson-style counterpart of :func:`mean_interval`'s smallest half-width z^2/n
    (about half of that half-width expressed as a standard error, z/n with z = 1.96); the target_se
    stopping rule uses max(se, 1/n).

    Parameters
    ----------
    n : array_like
        Trajectories averaged (>= 0; n = 0 gives inf).

    Returns
    -------
    float or numpy.ndarray
        1 / n, of the shape of ``n`` (a float for scalar input).
    """
    with np.errstate(divide="ignore"):
        floor = 1.0 / np.asarray(n, dtype=float)
    return float(floor) if floor.ndim == 0 else floor
