"""Directions in which an optimised schedule's objective is flat: other schedules that score the same.

Moving the times by FLAT_STEP * t_max along a direction d (both ways where the move keeps the times
ordered within [0, t_max], else the feasible way) and seeing the objective change by at most FLAT_TOL
relative to its size marks d as flat. The directions tried: each single time, all times together, and
(for an interior optimum of at most MAX_HESSIAN_ROUNDS rounds) the eigenvectors of a finite-difference
Hessian at the same step, which catch flat combinations of times. The flat directions found are
orthonormalised; a well-defined optimum has none.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

#: Step, as a fraction of t_max, along each direction tried.
FLAT_STEP = 0.01
#: Largest relative change of the objective over that step for a flat direction.
FLAT_TOL = 1e-9
#: Most rounds for which the Hessian's eigenvectors are tried too (its cost grows as R^2).
MAX_HESSIAN_ROUNDS = 12

Evaluate = Callable[[Sequence[np.ndarray]], list[float]]


def _feasible(times: np.ndarray, t_max: float) -> bool:
    return bool(np.all(times >= 0.0) and np.all(times <= t_max) and np.all(np.diff(times) >= 0.0))


def _moves(times: np.ndarray, d: np.ndarray, step: float, t_max: float) -> list[np.ndarray]:
    """The feasible moves times +- step d (a tenth of the step, then a hundredth, where the full one is not)."""
    out = []
    for sign in (1.0, -1.0):
        for s in (step, step / 10, step / 100):
            t = times + sign * s * d
            if _feasible(t, t_max):
                out.append(t)
                break
    return out


def _hessian_directions(times: np.ndarray, evaluate: Evaluate, step: float, t_max: float) -> list[np.ndarray]:
    """Eigenvectors of the central finite-difference Hessian at ``step`` (none if a point is infeasible)."""
    R = times.size
    eye = np.eye(R)
    pairs = [(i, j) for i in range(R) for j in range(i, R)]
    points = []
    for i, j in pairs:
        for a, b in ((1, 1), (1, -1), (-1, 1), (-1, -1)):
            points.append(times + step * (a * eye[i] + b * eye[j]))
    if not all(_feasible(p, t_max) for p in points):
        return []
    f = np.array(evaluate(points)).reshape(len(pairs), 4)
    if not np.all(np.isfinite(f)):
        return []
    H = np.zeros((R, R))
    for (i, j), (pp, pm, mp, mm) in zip(pairs, f, strict=True):
        H[i, j] = H[j, i] = (pp - pm - mp + mm) / (4 * step * step)
    return list(np.linalg.eigh(H)[1].T)


def flat_directions(
    times: np.ndarray, value: float, evaluate: Evaluate, t_max: float, step: float = FLAT_STEP, tol: float = FLAT_TOL
) -> np.ndarray:
    """The orthonormal directions in which the objective stays within ``tol`` over a step.

    Parameters
    ----------
    times : ndarray, shape (R,)
        The optimised schedule (non-decreasing, in [0, t_max]; model time unit).
    value : float
        The objective there.
    evaluate : callable
        ``evaluate(list of schedules) -> list of objective values``.
    t_max : float
        Latest allowed time.
    step : float
        Step as a fraction of t_max.
    tol : float
        Largest change, relative to max(|value|, 1e-300), of a flat direction.

    Returns
    -------
    ndarray, shape (m, R)
        m >= 0 orthonormal flat directions in the space of the times.
    """
    times = np.asarray(times, float)
    R = times.size
    if R == 0 or not np.isfinite(value):
        return np.zeros((0, R))
    h = step * t_max
    candidates = [*np.eye(R), np.ones(R) / np.sqrt(R)]
    if R <= MAX_HESSIAN_ROUNDS:
        candidates += _hessian_directions(times, evaluate, h, t_max)
    moves = [_moves(times, d, h, t_max) for d in candidates]
    flat_points = [m for ms in moves for m in ms]
    values = iter(evaluate(flat_points)) if flat_points else iter(())
    limit = tol * max(abs(value), 1e-300)
    found: list[np.ndarray] = []
    for d, ms in zip(candidates, moves, strict=True):
        changes = [abs(next(values) - value) for _ in ms]
        if not ms or not all(c <= limit for c in changes):
            continue
        v = np.array(d, float)
        for u in found:  # Gram-Schmidt: keep only new directions
            v = v - np.dot(u, v) * u
        norm = float(np.linalg.norm(v))
        if norm > 0.1:
            found.append(v / norm)
    return np.array(found).reshape(len(found), R)


def describe_flat(directions: np.ndarray) -> str:
    """A short text of flat directions: 'measure_at[k]' for a single time, else the vector.

    Parameters
    ----------
    directions : ndarray, shape (m, R)
        As from :func:`flat_directions`.

    Returns
    -------
    str
        '' if there are none.
    """
    parts = []
    for d in directions:
        big = np.flatnonzero(np.abs(d) > 1e-6)
        if big.size == 1:
            parts.append(f"measure_at[{int(big[0])}]")
        else:
            parts.append("(" + ", ".join(f"{x:.2g}" for x in d) + ")")
    return "; ".join(parts)
