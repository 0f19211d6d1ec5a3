# The public names of darkspin, each written once. Type checkers and editors read this file;
# darkspin/__init__.py parses it to build ``__all__`` and import each name lazily on first use.
# Names imported from ``.ensemble.deprecated`` still work but warn, and are not in ``__all__``.

from . import analysis as analysis
from . import ensemble as ensemble
from . import trajectories as trajectories
from .analysis.studies.convergence import Convergence as Convergence
from .analysis.studies.convergence import convergence as convergence
from .analysis.studies.derived import DerivedAxis as DerivedAxis
from .analysis.studies.per_time import PerUnitTime as PerUnitTime
from .analysis.studies.schedule import Schedule as Schedule
from .analysis.studies.schedule import optimize_schedule as optimize_schedule
from .analysis.studies.sweeps import sweep as sweep
from .analysis.studies.table import SweepTable as SweepTable
from .ensemble.deprecated import exact_table as exact_table
from .ensemble.deprecated import postselection_table as postselection_table
from .ensemble.exact.batch import solve_many as solve_many
from .ensemble.exact.counting import count_distribution as count_distribution
from .ensemble.exact.counting import first_jump_density as first_jump_density
from .ensemble.exact.counting import waiting_time_density as waiting_time_density
from .ensemble.exact.jump_statistics import mean_jumps as mean_jumps
from .ensemble.exact.jump_statistics import no_jump_probability as no_jump_probability
from .ensemble.exact.solver import solve_master_equation as solve_master_equation
from .ensemble.exact.steady import steady_states as steady_states
from .ensemble.exact.step_error import StepError as StepError
from .ensemble.exact.step_error import solve_with_step_error as solve_with_step_error
from .ensemble.montecarlo.distribution_sums import DistributionSums as DistributionSums
from .ensemble.montecarlo.distributions import Distributions as Distributions
from .ensemble.montecarlo.files import load as load
from .ensemble.montecarlo.histogram import Histogram as Histogram
from .ensemble.montecarlo.histogram import InfidelitySplit as InfidelitySplit
from .ensemble.montecarlo.options import RunOptions as RunOptions
from .ensemble.montecarlo.simulation import run_batch as run_batch
from .ensemble.montecarlo.simulation import simulate as simulate
from .ensemble.montecarlo.sums import EnsembleSums as EnsembleSums
from .ensemble.results.master_equation import MasterEquationResult as MasterEquationResult
from .ensemble.results.master_equation import PostSelectionUndefinedWarning as PostSelectionUndefinedWarning
from .ensemble.results.monte_carlo import MonteCarloResult as MonteCarloResult
from .ensemble.results.postselection import PostSelectionTable as PostSelectionTable
from .ensemble.results.protocol_result import Expectation as Expectation
from .ensemble.results.protocol_result import ProtocolResult as ProtocolResult
from .ensemble.statistics.comparison import Comparison as Comparison
from .ensemble.statistics.comparison import compare as compare
from .ensemble.statistics.goodness_of_fit import GoodnessOfFit as GoodnessOfFit
from .ensemble.statistics.goodness_of_fit import g_test as g_test
from .ensemble.statistics.intervals import mean_interval as mean_interval
from .ensemble.statistics.intervals import wilson_interval as wilson_interval
from .ensemble.statistics.jump_tests import JumpTests as JumpTests
from .ensemble.statistics.trace_distance import trace_distance as trace_distance
from .trajectories.bath import exchange_from_bandwidth as exchange_from_bandwidth
from .trajectories.bath import phase_space as phase_space
from .trajectories.drives import drive_segments as drive_segments
from .trajectories.gates import gate_unitary as gate_unitary
from .trajectories.lindblad import LindbladModel as LindbladModel
from .trajectories.measurement import Measurement as Measurement
from .trajectories.model import SpinPair as SpinPair
from .trajectories.monitor import Monitor as Monitor
from .trajectories.protocol import Protocol as Protocol
from .trajectories.qutip_interop import liouvillian_from_qutip as liouvillian_from_qutip
from .trajectories.qutip_interop import liouvillian_to_qutip as liouvillian_to_qutip
from .trajectories.runs import Runs as Runs
from .trajectories.runs import run_trajectories as run_trajectories
from .trajectories.sanity import UnitSlipWarning as UnitSlipWarning
from .trajectories.selection import PostSelection as PostSelection
from .trajectories.single import Trajectory as Trajectory
from .trajectories.single import run_trajectory as run_trajectory

__version__: str
__all__: list[str]
