"""What every test of a Monte Carlo result against the exact one reports: a two-sided p-value, its
normal-equivalent sigma, and its place in the family of tests the verdict is taken over."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numpy.typing import ArrayLike

#: Floor on an element's effective standard error. Elements that are identical in every trajectory and
#: exactly known (t = 0, coherences a measurement has removed) have a variance bound of 0; their deviation
#: is then only rounding: the kernel's fixed-point sums resolve 2^-40 ~ 1e-12 and expm is accurate to
#: ~1e-13, so 1e-10 keeps such z far below 1 while any physical deviation stands out.
SE_FLOOR = 1e-10

#: Default minimum number of contributing trajectories for an element test: with fewer, even the
#: Student-t treatment of the sample variance is too rough for the far tails a family-wise test probes.
MIN_COUNT = 20


class TestFamily(NamedTuple):
    """One family's share of the verdict: candidates, (p-value, where) of its smallest p-values in the
    order they are reported; n_tests, the tests it counts; mismatch, NaN-against-value messages."""

    candidates: list[tuple[float, dict]]
    n_tests: int
    mismatch: list[str]


def sigma_from_p(p: ArrayLike) -> np.ndarray | float:
    """Two-sided normal-equivalent significance of p-values: z with P(|N(0,1)| >= z) = p.

    p in [0, 1] (any shape); 1 -> 0, 0 -> inf, NaN -> NaN. Returns a float array (a float for scalars).
    """
    from scipy.special import ndtri  # scipy.special costs 0.2 s to import: only when comparing

    p = np.asarray(p, float)
    with np.errstate(invalid="ignore", divide="ignore"):
        z = np.where(p >= 1.0, 0.0, -ndtri(np.clip(p, 0.0, 1.0) / 2.0))
    z = np.where(np.isnan(p), np.nan, z)
    return float(z) if z.ndim == 0 else z
