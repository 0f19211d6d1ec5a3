"""How many jumps a call will take, estimated before any work, so a protocol that would run for hours is
refused (or announced) instead of hanging without a word.

The estimate is an upper one: a state never decays faster than the largest eigenvalue of
Gamma = sum_k L_k^dag L_k, so one run jumps at most about t_final * lambda_max(Gamma) times on average.
"""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from .plan import Plan

#: Most jumps one run may be expected to take (an upper estimate): above it a call is refused.
MAX_RUN_JUMPS = 1e9
#: Expected jumps of a whole call above which a one-line RuntimeWarning says it will take minutes.
WARN_TOTAL_JUMPS = 1e9


def jumps_per_run(plan: Plan) -> float:
    """Upper estimate of the mean number of jumps of one run: t_final * lambda_max(sum_k L_k^dag L_k).

    Parameters
    ----------
    plan : Plan
        The compiled model and protocol.

    Returns
    -------
    float
        Jumps (dimensionless); 0 for a model without channels.
    """
    gamma = np.asarray(plan.gamma)
    if gamma.size == 0:
        return 0.0
    rate = float(np.linalg.eigvalsh(0.5 * (gamma + gamma.conj().T))[-1])
    t_final = float(plan.ev_time.max()) if plan.ev_time.size else 0.0
    return max(rate, 0.0) * t_final


def check_jump_budget(plan: Plan, ntraj: int) -> float:
    """Refuse a call whose runs would each take more than MAX_RUN_JUMPS jumps; warn (one line,
    RuntimeWarning) when all ``ntraj`` runs together are expected to take more than WARN_TOTAL_JUMPS.

    Parameters
    ----------
    plan : Plan
        The compiled model and protocol.
    ntraj : int
        Runs the call will do.

    Returns
    -------
    float
        The estimated jumps per run.

    Raises
    ------
    ValueError
        Naming t_final, the largest total jump rate and MAX_RUN_JUMPS, when one run is over the bound.
    """
    per_run = jumps_per_run(plan)
    t_final = float(plan.ev_time.max()) if plan.ev_time.size else 0.0
    rate = per_run / t_final if t_final > 0 else 0.0
    if per_run > MAX_RUN_JUMPS:
        raise ValueError(
            f"t_final: one run would take about {per_run:.3g} jumps (t_final = {t_final:g} times the largest "
            f"total jump rate lambda_max(sum_k L_k^dag L_k) = {rate:.3g}), more than MAX_RUN_JUMPS = "
            f"{MAX_RUN_JUMPS:.0e}; shorten the protocol or lower the rates"
        )
    total = per_run * ntraj
    if total > WARN_TOTAL_JUMPS:
        warnings.warn(
            f"about {total:.2g} jumps expected ({ntraj} runs of up to {per_run:.3g}): this will take minutes",
            RuntimeWarning,
            stacklevel=3,
        )
    return per_run
