"""darkspin.trajectories: the two-spin STM model, the protocol and the Numba trajectory kernels."""
import os as _os

# Idle OpenMP threads spin by default and steal cores from other processes on a shared machine;
# our parallel regions are whole batches, so sleeping between them costs nothing. Users may override.
_os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
from .model import SpinPair, exchange_from_bandwidth, phase_space
from .protocol import Protocol
from .single import Trajectory, run_trajectory

__all__ = ["SpinPair", "Protocol", "Trajectory", "run_trajectory", "exchange_from_bandwidth", "phase_space"]
