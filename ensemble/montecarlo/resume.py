"""Whether a saved Monte Carlo result can be extended by a run: the same model, protocol, seed and
distribution settings, compared bit for bit (else two random streams would be mixed in one result)."""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from ...trajectories.model import SpinPair
from ...trajectories.plan import Model
from ...trajectories.protocol import Protocol
from ..results.monte_carlo import MonteCarloResult
from .distribution_sums import DistributionSums
from .files import check_exact_types, model_members


def _same_bits(a: ArrayLike, b: ArrayLike) -> bool:
    a, b = np.asarray(a), np.asarray(b)
    return a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()


def check_resume(
    prev: MonteCarloResult, model: Model, protocol: Protocol, seed: int | None, dist: DistributionSums | None = None
) -> None:
    """The file's model, protocol and seed must be this run's, bit for bit (else two streams mix).

    Models are compared by content: their kind, H, jump operators and labels (and a SpinPair's
    parameters), not by class name alone.

    Parameters
    ----------
    prev : MonteCarloResult
        The result loaded from the resume file.
    model, protocol
        This run's; exactly a SpinPair or LindbladModel, and a Protocol.
    seed : int or None
        This run's seed; None takes the file's.
    dist : DistributionSums or None
        This run's (empty) distributions, whose binning the file's must share; None: no distributions.

    Raises
    ------
    ValueError
        Naming the first thing that differs.
    """
    check_exact_types(model, protocol, "resume")
    mine, theirs = model_members(model), model_members(prev.model)
    if type(model) is type(prev.model) is SpinPair:
        diffs = [
            f"{k}: file {float(getattr(prev.model, k))!r} vs {float(getattr(model, k))!r}"
            for k in model.as_dict()
            if not _same_bits(np.float64(getattr(prev.model, k)), np.float64(getattr(model, k)))
        ]
        if diffs:
            raise ValueError("resume file was made with other model parameters (" + "; ".join(diffs) + ")")
    for name, value in theirs.items():
        other = mine[name]
        if value.shape != other.shape or not _same_bits(value, other):
            where = ""
            if value.shape == other.shape and value.dtype.kind in "fc":
                k = np.flatnonzero(np.asarray(value != other).ravel())
                if k.size:
                    where = f" (first at flat index {int(k[0])})"
            raise ValueError(f"resume file was made with another model: {name} differs{where}")
    for name in ("rho0", "measure_at", "times"):
        if not _same_bits(getattr(prev.protocol, name), getattr(protocol, name)):
            raise ValueError(f"resume file was made with another protocol ({name} differs)")
    if prev.protocol.measurements != protocol.measurements:
        raise ValueError("resume file was made with other measurement instruments")
    mine_p, theirs_p = protocol.as_dict(), prev.protocol.as_dict()
    for what, keys in (
        ("segments", ("segment_at", "segment_hamiltonian", "segment_jump_operators")),
        ("gates", ("gate_at", "gate_unitary")),
    ):
        for key in keys:
            a, b = theirs_p.get(key), mine_p.get(key)
            same = a is None and b is None
            if a is not None and b is not None:
                same = a.shape == b.shape and _same_bits(a, b)
            if not same:
                raise ValueError(f"resume file was made with other {what} ({key} differs)")
    if prev.protocol.selection != protocol.selection:
        raise ValueError(
            f"resume file was made with the post-selection rule {prev.protocol.postselect!r}, "
            f"not {protocol.postselect!r}"
        )
    if seed is not None and seed != prev.seed:
        raise ValueError(f"resume file was made with seed {prev.seed}, not {seed}")
    theirs_dist = prev.sums.dist
    if (dist is None) != (theirs_dist is None):
        made = "with" if theirs_dist is not None else "without"
        raise ValueError(
            f"resume file was made {made} distributions; resume it with distributions={theirs_dist is not None}"
        )
    if dist is not None and theirs_dist is not None and not dist.same_binning(theirs_dist):
        raise ValueError(
            "resume file was made with other distribution settings (target_state, distribution_times or time_edges)"
        )
