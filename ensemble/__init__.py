"""darkspin.ensemble: many trajectories, the exact master equation, and the comparison of the two."""

from .compare import Comparison, JumpTests, compare, trace_distance
from .distributions import Distributions, DistributionSums, Histogram, InfidelitySplit
from .exact_batch import solve_many
from .goodness_of_fit import GoodnessOfFit, g_test
from .intervals import mean_interval, wilson_interval
from .jump_statistics import mean_jumps, no_jump_probability
from .master_equation import MasterEquationResult, solve_master_equation, steady_states
from .postselection import PostSelectionTable, exact_table, postselection_table
from .protocol_result import Expectation, ProtocolResult
from .result import MonteCarloResult, load
from .simulation import run_batch, simulate
from .sums import EnsembleSums

__all__ = [
    "MasterEquationResult",
    "MonteCarloResult",
    "EnsembleSums",
    "solve_master_equation",
    "solve_many",
    "steady_states",
    "simulate",
    "run_batch",
    "load",
    "Comparison",
    "JumpTests",
    "compare",
    "trace_distance",
    "PostSelectionTable",
    "exact_table",
    "postselection_table",
    "wilson_interval",
    "mean_interval",
    "GoodnessOfFit",
    "g_test",
    "ProtocolResult",
    "Expectation",
    "Distributions",
    "DistributionSums",
    "Histogram",
    "InfidelitySplit",
    "no_jump_probability",
    "mean_jumps",
]
