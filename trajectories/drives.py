"""Smooth drives as segments: H(t) = H0 + sum_j f_j(t) H_j on [t0, t1], piecewise constant by the midpoint rule.

Step k of ``steps`` (width h = (t1 - t0) / steps) holds H0 + sum_j f_j(t0 + (k + 1/2) h) H_j. The
propagator over a step is then exact to O(h^3) per step, so the state at t1 has an error O(h^2) (the
exponential midpoint rule, a second-order Magnus integrator): halving the step divides it by about 4.
docs/time_dependence.md gives the details.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from .checks import check_count, check_real
from .lindblad import LindbladModel

#: Most steps a drive may have.
MAX_STEPS = 100_000


def _terms(terms: Any, d: int) -> list[tuple[Callable[[float], float], np.ndarray]]:
    if isinstance(terms, (str, bytes)) or not isinstance(terms, Sequence) or not terms:
        raise ValueError("drive terms must be a non-empty list of (f, H_j) pairs, f a callable of t")
    out = []
    for j, term in enumerate(terms):
        if not isinstance(term, (tuple, list)) or len(term) != 2 or not callable(term[0]):
            raise ValueError(f"drive term {j} must be a pair (f, H_j) with f a callable of t, got {term!r}"[:200])
        try:
            H = np.array(term[1], dtype=complex)
        except (TypeError, ValueError):
            raise ValueError(f"drive term {j}: H_j must be a ({d}, {d}) array of numbers") from None
        if H.shape != (d, d) or not np.all(np.isfinite(H)):
            raise ValueError(f"drive term {j}: H_j must be a finite ({d}, {d}) array, got shape {H.shape}")
        if np.max(np.abs(H - H.conj().T)) > 1e-12 * max(1.0, float(np.max(np.abs(H)))):
            raise ValueError(f"drive term {j}: H_j must be Hermitian")
        out.append((term[0], 0.5 * (H + H.conj().T)))
    return out


def drive_segments(
    model: Any,
    terms: Sequence[tuple[Callable[[float], float], Any]],
    t0: float,
    t1: float,
    steps: int,
) -> list[tuple[float, Any]]:
    """Segments of constant H approximating H(t) = H0 + sum_j f_j(t) H_j on [t0, t1] (midpoint rule).

    H0 and the jump operators are ``model``'s; from t1 on ``model`` itself holds again. Pass the result
    (possibly with other segments, in time order) as ``Protocol(..., segments=...)``.

    Parameters
    ----------
    model : SpinPair or LindbladModel
        The undriven model (energy unit).
    terms : sequence of (callable, array_like of shape (d, d))
        f_j(t) -> real (time unit in, dimensionless out) and the Hermitian H_j (energy unit).
    t0, t1 : float
        The drive's window, 0 <= t0 < t1 (time unit).
    steps : int
        Number of constant pieces, 1 <= steps <= MAX_STEPS.

    Returns
    -------
    list of (float, model)
        ``steps`` LindbladModels at t0 + k h, then (t1, model).

    Raises
    ------
    ValueError
        Naming the item, for bad terms, times or steps, or an f_j that returns a value that is not a
        finite real number (the step's midpoint is named).

    Examples
    --------
    >>> import numpy as np
    >>> import darkspin as ds
    >>> model = ds.SpinPair()
    >>> X1 = np.kron([[0, 1], [1, 0]], np.eye(2))  # tau_x on spin 1
    >>> segments = ds.drive_segments(model, [(lambda t: 0.01 * np.cos(t), X1)], 100.0, 200.0, 4)
    >>> [t for t, _ in segments], segments[-1][1] is model
    ([100.0, 125.0, 150.0, 175.0, 200.0], True)
    >>> protocol = ds.Protocol("ud", [], np.linspace(0, 300, 4), segments=segments)
    """
    d = int(np.shape(model.hamiltonian())[0])
    fs = _terms(terms, d)
    t0 = check_real("drive t0", t0, 0.0)
    t1 = check_real("drive t1", t1, t0, low_open=True)
    steps = check_count("drive steps", steps, 1, MAX_STEPS)
    H0 = np.asarray(model.hamiltonian(), complex)
    jumps = np.asarray(model.jump_operators(), complex).reshape(-1, d, d)
    labels = list(model.jump_labels())
    h = (t1 - t0) / steps
    out: list[tuple[float, Any]] = []
    for k in range(steps):
        tm = t0 + (k + 0.5) * h
        H = H0.copy()
        for j, (f, Hj) in enumerate(fs):
            v = f(tm)
            if isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, float, np.integer, np.floating)):
                raise ValueError(f"drive term {j}: f({tm!r}) must return a real number, got {v!r}")
            if not math.isfinite(float(v)):
                raise ValueError(f"drive term {j}: f({tm!r}) returned {float(v)!r}; it must be finite")
            H = H + float(v) * Hj
        out.append((t0 + k * h, LindbladModel(H, jumps, labels)))
    out.append((t1, model))
    return out
