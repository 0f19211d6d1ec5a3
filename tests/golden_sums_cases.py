"""The cases of tests/data/golden_sums.npz: integer ensemble sums the shared-branch path must reproduce bit for bit.

The file was written by darkspin 0.3 + main at commit 7f1142e (before the shared-branch path existed) with

    NUMBA_CACHE_DIR=.nbcache .venv/bin/python tests/golden_sums_cases.py

which prints the file's sha256; tests/trajectories/test_shared_branches.py checks that digest before it
trusts the file. Every case runs the ensemble kernel directly, as ``simulate`` does:
:func:`darkspin.trajectories.sums_kernel.sums_with_table` with table_rows -1, the default table (seed,
runs and chunks below); the arrays are stored as ``<case>/<name>``.
"""

from __future__ import annotations

import hashlib
import math
import sys
from pathlib import Path
from typing import Any

import numpy as np
from model_builders import chain, three_spin_chain

import darkspin as ds
from darkspin.trajectories.distributions import distribution_spec, no_distributions
from darkspin.trajectories.plan import compile_plan
from darkspin.trajectories.signatures import canonical
from darkspin.trajectories.sums_kernel import sums_with_table

from reference import SZ

PATH = Path(__file__).parent / "data" / "golden_sums.npz"
#: The names of the ensemble kernel's integer outputs, in its order (dist: its eight arrays).
NAMES = ("acc", "n_post", "n_success", "n_kept", "record_counts", "n_jumps")
DIST_NAMES = ("fidelity", "split_n", "split_q", "jump_counts", "first_jump", "waiting", "count_sums", "count_squares")
#: Distribution arrays added after the golden file was made (compared shared against plain, not against the file).
NEW_DIST_NAMES = ("count_histograms", "first_jump_by_channel")


def _mixed_rho() -> np.ndarray:
    ud = np.array([0, 1, 0, 0], complex)
    du = np.array([0, 0, 1, 0], complex)
    s = (ud - du) / math.sqrt(2)
    uu = np.array([1, 0, 0, 0], complex)
    return 0.5 * np.outer(ud, ud) + 0.25 * np.outer(du, du) + 0.15 * np.outer(s, s) + 0.1 * np.outer(uu, uu)


def cases() -> dict[str, tuple[Any, ds.Protocol, bool, int, int, int]]:
    """name -> (model, protocol, distributions, ntraj, seed, nchunks)."""
    times101 = np.linspace(0.0, 500.0, 101)
    meas = (100.0, 200.0, 300.0, 400.0)
    noisy = ds.Measurement("zz", readout_error=(0.05, 0.1), feedback={1: "flip1"})
    psi8 = np.zeros(8, complex)
    psi8[1] = 1.0
    chain_protocol = ds.Protocol(
        psi8, (2.0, 4.0), np.linspace(0, 6, 13), measurement=ds.Measurement(chain(3, SZ, 0) @ chain(3, SZ, 1))
    )
    return {
        "paper": (ds.SpinPair(), ds.Protocol.paper(), False, 3000, 11, 3),
        "rare": (ds.SpinPair(lam1=0.001, lam2=0.001), ds.Protocol.paper(), False, 3000, 12, 3),
        "readout_feedback_last": (
            ds.SpinPair(),
            ds.Protocol("ud", meas, times101, measurement=noisy, postselect="last"),
            False,
            3000,
            13,
            3,
        ),
        "readout_all_pattern": (
            ds.SpinPair(lam1=0.01, lam2=0.02),
            ds.Protocol("ud", meas, times101, measurement=ds.Measurement("zz", readout_error=0.1), postselect="-?--"),
            False,
            3000,
            14,
            2,
        ),
        "mixed": (ds.SpinPair(), ds.Protocol(_mixed_rho(), meas, times101), False, 3000, 15, 3),
        "mixed_feedback_dist": (
            ds.SpinPair(lam1=0.01, lam2=0.01),
            ds.Protocol(_mixed_rho(), meas, times101, measurement=noisy, postselect="last"),
            True,
            3000,
            16,
            3,
        ),
        "paper_dist": (ds.SpinPair(), ds.Protocol.paper(), True, 2000, 17, 2),
        "rare_dist": (ds.SpinPair(lam1=0.001, lam2=0.001), ds.Protocol.paper(), True, 2000, 18, 2),
        "chain_d8": (three_spin_chain(), chain_protocol, True, 2000, 19, 3),
    }


def run_case(model: Any, protocol: ds.Protocol, dist: bool, ntraj: int, seed: int, nchunks: int) -> dict[str, Any]:
    """The integer sums of one case, by name."""
    plan = canonical(compile_plan(model, protocol))  # the library's one signature: no extra compile
    d = plan.heff.shape[0]
    target = None if d == 4 else np.eye(d)[1]
    spec = canonical(distribution_spec(protocol, d, target) if dist else no_distributions(d))
    abort, done = np.zeros(1, np.int64), np.zeros(nchunks, np.int64)
    out = sums_with_table(np.uint64(seed), 0, ntraj, nchunks, plan, spec, abort, done, -1)
    sums = {name: np.asarray(a) for name, a in zip(NAMES, out[:6], strict=True)}
    if dist:
        sums.update({name: np.asarray(a) for name, a in zip(DIST_NAMES + NEW_DIST_NAMES, out[6], strict=True)})
    return sums


def digest(path: Path) -> str:
    """sha256 of the file's bytes."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


def main() -> None:
    """Write PATH and print its sha256."""
    arrays = {}
    for name, case in cases().items():
        for key, a in run_case(*case).items():
            arrays[f"{name}/{key}"] = a
    PATH.parent.mkdir(exist_ok=True)
    with PATH.open("wb") as fh:
        np.savez_compressed(fh, **arrays)
    print(PATH, digest(PATH), file=sys.stdout)


if __name__ == "__main__":
    main()
