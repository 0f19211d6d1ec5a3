"""darkspin: quantum-jump trajectories of two spins in an STM, checked against the exact master equation.

``import darkspin as ds`` gives the public API; the three layers are ``darkspin.trajectories`` (what is
simulated: model, protocol, kernels), ``darkspin.ensemble`` (many runs, the exact solver, comparison) and
``darkspin.analysis`` (measures, spectra, figures, the command line). The physics is in docs/physics.md.
"""

from .ensemble import (
    Comparison,
    EnsembleSums,
    MasterEquationResult,
    MonteCarloResult,
    compare,
    convergence,
    load,
    postselection_table,
    run_batch,
    simulate,
    solve_master_equation,
    steady_states,
    trace_distance,
    wilson_interval,
)
from .trajectories import (
    Measurement,
    PostSelection,
    Protocol,
    SpinPair,
    Trajectory,
    exchange_from_bandwidth,
    phase_space,
    run_trajectory,
)

__all__ = ["SpinPair", "Protocol", "Measurement", "PostSelection", "Trajectory", "run_trajectory", "exchange_from_bandwidth", "phase_space",
           "simulate", "run_batch", "solve_master_equation", "steady_states", "compare", "convergence",
           "trace_distance", "load", "postselection_table", "wilson_interval", "MonteCarloResult",
           "MasterEquationResult", "EnsembleSums", "Comparison"]


def __getattr__(name: str):
    from .ensemble.result import package_version

    if name == "__version__":
        return package_version()
    raise AttributeError(f"module 'darkspin' has no attribute {name!r}")
