"""darkspin.ensemble: many trajectories, the exact master equation, and the comparison of the two."""
from .master_equation import MasterEquationResult, solve_master_equation, steady_states
