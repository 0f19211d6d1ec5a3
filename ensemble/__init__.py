"""darkspin.ensemble: many trajectories, the exact master equation, and the comparison of the two.

Subpackages, bottom up: ``results`` (plain result data and the post-selection table), ``exact`` (the
master-equation solver), ``montecarlo`` (simulate, sums, distributions, the result file) and
``statistics`` (intervals and the tests of Monte Carlo against exact).
"""

from .deprecated import exact_table, postselection_table
from .exact.batch import solve_many
from .exact.jump_statistics import mean_jumps, no_jump_probability
from .exact.solver import solve_master_equation
from .exact.steady import steady_states
from .montecarlo.distributions import Distributions, DistributionSums, Histogram, InfidelitySplit
from .montecarlo.files import load
from .montecarlo.options import RunOptions
from .montecarlo.simulation import run_batch, simulate
from .montecarlo.sums import EnsembleSums
from .results.master_equation import MasterEquationResult, PostSelectionUndefinedWarning
from .results.monte_carlo import MonteCarloResult
from .results.postselection import PostSelectionTable
from .results.protocol_result import Expectation, ProtocolResult
from .statistics.comparison import Comparison, compare
from .statistics.goodness_of_fit import GoodnessOfFit, g_test
from .statistics.intervals import mean_interval, wilson_interval
from .statistics.jump_tests import JumpTests
from .statistics.trace_distance import trace_distance

__all__ = [
    "MasterEquationResult",
    "MonteCarloResult",
    "EnsembleSums",
    "PostSelectionUndefinedWarning",
    "RunOptions",
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
