"""darkspin.ensemble: many trajectories, the exact master equation, and the comparison of the two."""
from .master_equation import MasterEquationResult, solve_master_equation, steady_states
from .result import MonteCarloResult, load
from .simulate import run_batch, simulate
from .sums import EnsembleSums

__all__ = ["MasterEquationResult", "MonteCarloResult", "EnsembleSums", "solve_master_equation",
           "steady_states", "simulate", "run_batch", "load"]
