"""darkspin.analysis.studies: studies built on many exact solutions and runs: parameter sweeps, schedule
design and the convergence of the Monte Carlo estimate."""

from .convergence import Convergence, convergence
from .schedule import Schedule, optimize_schedule
from .sweeps import sweep
from .table import SweepTable

__all__ = ["sweep", "SweepTable", "optimize_schedule", "Schedule", "convergence", "Convergence"]
