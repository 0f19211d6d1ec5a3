"""darkspin.trajectories: what is simulated, as data (the STM pair and any Lindblad model, instruments,
post-selection rules, the protocol), the plan that compiles them, and the Numba trajectory kernels."""

from . import numba_cache

numba_cache.install()  # before any kernel module is imported: it decides where their compiled code goes

from .lindblad import LindbladModel, liouvillian_from_qutip, liouvillian_to_qutip
from .measurement import Measurement
from .model import SpinPair, exchange_from_bandwidth, phase_space
from .monitor import Monitor
from .protocol import Protocol
from .runs import Runs, run_trajectories
from .sanity import UnitSlipWarning
from .selection import PostSelection
from .single import Trajectory, run_trajectory

__all__ = [
    "SpinPair",
    "LindbladModel",
    "liouvillian_to_qutip",
    "liouvillian_from_qutip",
    "Protocol",
    "Measurement",
    "Monitor",
    "PostSelection",
    "Trajectory",
    "run_trajectory",
    "run_trajectories",
    "Runs",
    "exchange_from_bandwidth",
    "phase_space",
    "UnitSlipWarning",
]
