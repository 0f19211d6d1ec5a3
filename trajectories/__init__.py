"""darkspin.trajectories: the two-spin STM model, the protocol and the Numba trajectory kernels."""

from .measurement import Measurement
from .model import SpinPair, exchange_from_bandwidth, phase_space
from .protocol import Protocol
from .selection import PostSelection
from .single import Trajectory, run_trajectory

__all__ = [
    "SpinPair",
    "Protocol",
    "Measurement",
    "PostSelection",
    "Trajectory",
    "run_trajectory",
    "exchange_from_bandwidth",
    "phase_space",
]
