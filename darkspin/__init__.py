"""darkspin: quantum-jump trajectories of two spins in an STM, checked against the exact master equation.

``import darkspin as ds`` gives the public API; the three layers are ``darkspin.trajectories`` (what is
simulated: model, instruments, rules, protocol, kernels), ``darkspin.ensemble`` (many runs, the exact
solver, comparison) and ``darkspin.analysis`` (measures, spectra, figures, the command line). The physics
is in docs/physics.md.

Names are imported on first use, so ``import darkspin`` is instant and a Ctrl-C at start-up never lands
inside numpy's or scipy's import machinery.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

#: public name -> the subpackage that defines it
_API = {
    **{
        name: "trajectories"
        for name in (
            "SpinPair",
            "LindbladModel",
            "liouvillian_to_qutip",
            "liouvillian_from_qutip",
            "Protocol",
            "Measurement",
            "PostSelection",
            "Trajectory",
            "run_trajectory",
            "run_trajectories",
            "Runs",
            "exchange_from_bandwidth",
            "phase_space",
        )
    },
    **{
        name: "ensemble"
        for name in (
            "simulate",
            "run_batch",
            "solve_master_equation",
            "solve_many",
            "steady_states",
            "compare",
            "trace_distance",
            "load",
            "postselection_table",
            "wilson_interval",
            "mean_interval",
            "MonteCarloResult",
            "MasterEquationResult",
            "EnsembleSums",
            "Comparison",
            "g_test",
            "ProtocolResult",
            "Distributions",
            "Histogram",
            "InfidelitySplit",
            "no_jump_probability",
            "mean_jumps",
        )
    },
    **{
        name: "analysis.studies"
        for name in (
            "sweep",
            "SweepTable",
            "optimize_schedule",
            "Schedule",
            "convergence",
        )
    },
}

__all__ = sorted(_API)

if TYPE_CHECKING:  # for type checkers and IDEs; at run time __getattr__ imports lazily
    from .analysis.studies import (  # noqa: F401
        Schedule,
        SweepTable,
        convergence,
        optimize_schedule,
        sweep,
    )
    from .ensemble import (  # noqa: F401
        Comparison,
        Distributions,
        EnsembleSums,
        Histogram,
        InfidelitySplit,
        MasterEquationResult,
        MonteCarloResult,
        ProtocolResult,
        compare,
        g_test,
        load,
        mean_interval,
        mean_jumps,
        no_jump_probability,
        postselection_table,
        run_batch,
        simulate,
        solve_many,
        solve_master_equation,
        steady_states,
        trace_distance,
        wilson_interval,
    )
    from .trajectories import (  # noqa: F401
        LindbladModel,
        Measurement,
        PostSelection,
        Protocol,
        Runs,
        SpinPair,
        Trajectory,
        exchange_from_bandwidth,
        liouvillian_from_qutip,
        liouvillian_to_qutip,
        phase_space,
        run_trajectories,
        run_trajectory,
    )


def __getattr__(name: str) -> Any:
    if name in _API:
        value = getattr(importlib.import_module(f".{_API[name]}", __name__), name)
        globals()[name] = value
        return value
    if name in ("trajectories", "ensemble", "analysis"):
        return importlib.import_module(f".{name}", __name__)
    if name == "__version__":
        from .ensemble.result import package_version

        return package_version()
    raise AttributeError(f"module 'darkspin' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_API) | {"trajectories", "ensemble", "analysis", "__version__"})
