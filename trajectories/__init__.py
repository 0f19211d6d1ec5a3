"""darkspin.trajectories: the two-spin STM model, the protocol and the Numba trajectory kernels."""
from .model import SpinPair, exchange_from_bandwidth, phase_space
