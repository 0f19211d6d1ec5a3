"""The discretisation error of a drive made of segments (:func:`darkspin.trajectories.drives.drive_segments`),
estimated by halving the step.

The midpoint rule's error at a fixed time is C h^2 + O(h^3) (docs/time_dependence.md), so with N and 2N
steps rho_N - rho_2N = (3/4) C h^2 and the error of rho_N is about (4/3) |rho_N - rho_2N|; that of rho_2N
a quarter of it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import numpy as np

from ...trajectories.checks import check_count
from ...trajectories.drives import MAX_STEPS
from ...trajectories.plan import Model
from ...trajectories.protocol import Protocol
from ..results.master_equation import MasterEquationResult
from .solver import solve_master_equation


class StepError(NamedTuple):
    """Exact solutions with N and 2N drive steps and the estimated error of the N-step one.

    Attributes
    ----------
    result : MasterEquationResult
        The solution with ``steps`` (N) drive steps.
    fine : MasterEquationResult
        The solution with 2 ``steps`` drive steps.
    error : numpy.ndarray, shape (n,)
        The estimated largest elementwise error of ``result.rho`` at each output time,
        (4/3) max |rho_N - rho_2N|.
    error_post : numpy.ndarray, shape (n,)
        The same for ``result.rho_post`` (NaN where the post-selected state is undefined).

    Examples
    --------
    >>> import numpy as np
    >>> import darkspin as ds
    >>> model = ds.SpinPair()
    >>> X1 = np.kron([[0, 1], [1, 0]], np.eye(2))  # tau_x on spin 1
    >>> def build(n):
    ...     drive = ds.drive_segments(model, [(lambda t: 0.01 * np.cos(t), X1)], 0.0, 100.0, n)
    ...     return ds.Protocol("ud", [], np.linspace(0, 100, 3), segments=drive)
    >>> coarse, finer = ds.solve_with_step_error(model, build, 50), ds.solve_with_step_error(model, build, 100)
    >>> round(float(coarse.error[-1] / finer.error[-1]), 1)  # second order: twice the steps, about 1/4 the error
    3.9
    """

    result: MasterEquationResult
    fine: MasterEquationResult
    error: np.ndarray
    error_post: np.ndarray


def solve_with_step_error(model: Model, build: Callable[[int], Protocol], steps: int) -> StepError:
    """Solve with a drive of ``steps`` and of 2 ``steps`` steps and estimate the discretisation error.

    Parameters
    ----------
    model : SpinPair or LindbladModel
        The model at t = 0.
    build : callable
        build(n) -> Protocol whose segments discretise the drive with n steps (e.g. with
        :func:`darkspin.trajectories.drives.drive_segments`).
    steps : int
        N, 1 <= N <= MAX_STEPS / 2.

    Returns
    -------
    StepError

    Raises
    ------
    ValueError
        Naming 'steps' or 'build', for a bad count or a build that does not return a Protocol.

    Examples
    --------
    >>> import numpy as np
    >>> import darkspin as ds
    >>> model = ds.SpinPair()
    >>> X1 = np.kron([[0, 1], [1, 0]], np.eye(2))  # tau_x on spin 1
    >>> def build(n):
    ...     drive = ds.drive_segments(model, [(lambda t: 0.01 * np.cos(t), X1)], 0.0, 100.0, n)  # resonant
    ...     return ds.Protocol("ud", [], np.linspace(0, 100, 3), segments=drive)
    >>> estimate = ds.solve_with_step_error(model, build, 100)
    >>> estimate.error.shape, f"{float(estimate.error[-1]):.1e}"  # (4/3) max |rho_100 - rho_200| at t = 100
    ((3,), '2.7e-03')
    """
    steps = check_count("steps", steps, 1, MAX_STEPS // 2)
    if not callable(build):
        raise ValueError(f"build must be a callable n -> Protocol, got {type(build).__name__}")
    protocols = [build(steps), build(2 * steps)]
    for n, p in zip((steps, 2 * steps), protocols, strict=True):
        if not isinstance(p, Protocol):
            raise ValueError(f"build({n}) must return a Protocol, got {type(p).__name__}")
    coarse, fine = (solve_master_equation(model, p) for p in protocols)
    err = 4.0 / 3.0 * np.max(np.abs(coarse.rho - fine.rho), axis=(1, 2))
    err_post = 4.0 / 3.0 * np.max(np.abs(coarse.rho_post - fine.rho_post), axis=(1, 2))
    return StepError(coarse, fine, err, err_post)
