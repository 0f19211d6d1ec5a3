"""Subprocess helper of tests/trajectories/test_kernel.py: run one ensemble and save it.

Usage: python _thread_probe.py SPEC_JSON OUT_PATH. SPEC_JSON holds "model" (SpinPair fields),
"initial", "measure_at", "t_final", "n_out", "ntraj", "seed" and optional "batch_size". The Numba
thread count is whatever NUMBA_NUM_THREADS says in this process's environment; it is stored next to
the result as OUT_PATH + ".threads" so the test can check the environment took effect.
"""

from __future__ import annotations

import json
import sys

import numba
import numpy as np

from darkspin.ensemble import simulate
from darkspin.trajectories import Protocol, SpinPair


def build(spec: dict):
    """(model, protocol, ntraj, seed, batch_size) from the JSON spec."""
    model = SpinPair(**spec["model"])
    protocol = Protocol(spec["initial"], tuple(spec["measure_at"]), np.linspace(0.0, spec["t_final"], spec["n_out"]))
    return model, protocol, int(spec["ntraj"]), int(spec["seed"]), spec.get("batch_size")


def main(argv: list[str]) -> None:
    spec = json.loads(argv[1])
    model, protocol, ntraj, seed, batch_size = build(spec)
    result = simulate(model, protocol, ntraj, seed, batch_size=batch_size, progress=False)
    result.save(argv[2])
    with open(argv[2] + ".threads", "w") as fh:
        fh.write(str(numba.get_num_threads()))


if __name__ == "__main__":
    main(sys.argv)
