"""Monte Carlo results: estimates from the exact sums, and saving/loading them as one .npz file."""

from __future__ import annotations

import dataclasses
import os
import tempfile
import zipfile
from importlib import metadata

import numpy as np

from ..trajectories.kernel import N_ACC
from ..trajectories.model import SpinPair
from ..trajectories.plan import MAX_RECORD_ROUNDS
from ..trajectories.protocol import Protocol

from .sums import EnsembleSums

FORMAT = "darkspin-result-2"
_PARAMS = [f.name for f in dataclasses.fields(SpinPair)]


def package_version() -> str:
    try:
        return metadata.version("darkspin")
    except metadata.PackageNotFoundError:  # running from a source tree
        return "0+unknown"


class MonteCarloResult:
    """Trajectory estimates of the protocol, shaped like :class:`MasterEquationResult`.

    Attributes (n output times, R rounds):
        times (n,); rho, rho_post (n, 4, 4) complex estimates (rho_post NaN where no trajectory is
        post-selected); rho_se, rho_post_se (n, 4, 4) real standard errors of the complex elements;
        singlet, singlet_se, singlet_post, singlet_post_se (n,) singlet population and its standard
        error; p_success (R,) = n_success[k] / n_success[k-1]; p_cumulative (R,) = n_success / ntraj;
        n_success (R,); n_post (n,); ntraj; seed; n_jumps; ranges (k, 2) the trajectory index ranges
        [start, stop) summed; interrupted (True if a KeyboardInterrupt cut the run short).
    """

    def __init__(self, model: SpinPair, protocol: Protocol, sums: EnsembleSums, seed: int,
                 ranges=None, interrupted: bool = False):
        self.model, self.protocol, self.sums, self.seed = model, protocol, sums, int(seed)
        self.ranges = np.zeros((0, 2), np.int64) if ranges is None else _normalise_ranges(ranges)
        self.interrupted = interrupted
        self.times = protocol.times
        (self.rho, self.rho_se, self.rho_post, self.rho_post_se, self.singlet, self.singlet_se,
         self.singlet_post, self.singlet_post_se) = sums.estimates()
        self.ntraj = sums.ntraj
        self.n_jumps = sums.n_jumps
        self.n_post = sums.n_post
        self.n_success = sums.n_success
        self.n_kept = sums.n_kept
        self.record_counts = sums.record_counts
        prev = np.concatenate([[sums.ntraj], sums.n_success[:-1]]).astype(float)
        with np.errstate(invalid="ignore", divide="ignore"):
            # of the runs post-selected before round k, the fraction still post-selected after it
            self.p_success = np.where(prev > 0, sums.n_kept / prev, np.nan)
            self.p_cumulative = sums.n_success / float(sums.ntraj) if sums.ntraj else \
                np.full(sums.n_success.shape, np.nan)

    def __repr__(self):
        state = ", interrupted" if self.interrupted else ""
        return (f"MonteCarloResult(ntraj={self.ntraj}, seed={self.seed}, rounds={self.protocol.rounds}, "
                f"outputs={self.times.size}{state})")

    def max_singlet_se(self) -> float:
        """Largest standard error of the singlet population, unconditional and post-selected."""
        both = np.concatenate([self.singlet_se, self.singlet_post_se])
        both = both[np.isfinite(both)]
        return float(both.max()) if both.size else float("inf")

    def postselection(self):
        """Per-round post-selection statistics (see :func:`ensemble.postselection.postselection_table`)."""
        from .postselection import postselection_table
        return postselection_table(self)

    # ---- persistence -----------------------------------------------------------------------------
    def save(self, path) -> str:
        """Write everything needed to reload or extend this run to one .npz file (atomically)."""
        path = os.fspath(path)
        data = {
            "format": np.array(FORMAT), "version": np.array(package_version()),
            "hi": self.sums.hi, "lo": self.sums.lo, "n_post": self.sums.n_post,
            "n_success": self.sums.n_success, "ntraj": np.int64(self.sums.ntraj),
            "n_jumps": np.int64(self.sums.n_jumps),
            "params": np.array([getattr(self.model, k) for k in _PARAMS]),
            "param_names": np.array(_PARAMS), "seed": np.uint64(self.seed),
            "n_kept": self.sums.n_kept, "record_counts": self.sums.record_counts,
            **self.protocol.as_dict(), "ranges": self.ranges,
            "interrupted": np.bool_(self.interrupted),
        }
        folder = os.path.dirname(os.path.abspath(path)) or "."
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=".darkspin-", suffix=".npz")
        try:
            with os.fdopen(fd, "wb") as fh:
                np.savez(fh, **data)
            os.replace(tmp, path)
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise
        return path


def _normalise_ranges(ranges) -> np.ndarray:
    r = np.asarray(ranges, np.int64).reshape(-1, 2)
    r = r[np.argsort(r[:, 0], kind="stable")]
    merged: list[list[int]] = []
    for a, b in r:
        if merged and a <= merged[-1][1]:
            if a < merged[-1][1]:
                raise ValueError("trajectory ranges overlap: the same trajectories would be summed twice")
            merged[-1][1] = max(merged[-1][1], int(b))
        else:
            merged.append([int(a), int(b)])
    return np.array(merged, np.int64).reshape(-1, 2)


def load(path) -> MonteCarloResult:
    """Read a result written by :meth:`MonteCarloResult.save`; ValueError for a corrupt or foreign file."""
    path = os.fspath(path)
    if not os.path.exists(path):
        raise ValueError(f"result file {path!r} does not exist")
    try:
        loaded = np.load(path, allow_pickle=False)
        if not isinstance(loaded, np.lib.npyio.NpzFile):  # a bare .npy array
            raise ValueError("not an .npz archive")
        with loaded as f:
            data = {k: f[k] for k in f.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, KeyError, TypeError) as exc:
        raise ValueError(f"result file {path!r} is corrupt or not a darkspin result ({exc.__class__.__name__})") from None
    need = ["format", "hi", "lo", "n_post", "n_success", "ntraj", "n_jumps", "params", "param_names",
            "seed", "rho0", "measure_at", "times", "ranges", "n_kept", "record_counts", "postselect",
            "measurement_observable", "measurement_readout_error", "measurement_feedback",
            "measurement_has_feedback"]
    missing = [k for k in need if k not in data]
    if missing or str(data["format"]) != FORMAT:
        raise ValueError(f"result file {path!r} is not a {FORMAT} file (missing {missing or 'format tag'})")
    try:
        names = [str(x) for x in data["param_names"]]
        model = SpinPair(**{k: float(v) for k, v in zip(names, data["params"])})
        protocol = Protocol.from_dict(data)
        n, rounds = protocol.times.size, protocol.rounds
        shapes = {"hi": (n, 2, N_ACC), "lo": (n, 2, N_ACC), "n_post": (n,), "n_success": (rounds,),
                  "n_kept": (rounds,), "record_counts": (2**rounds if rounds <= MAX_RECORD_ROUNDS else 0,)}
        for k, shape in shapes.items():
            if data[k].shape != shape or data[k].dtype != np.int64:
                raise ValueError(f"array {k!r} has shape {data[k].shape}, expected {shape}")
        sums = EnsembleSums(data["hi"], data["lo"], data["n_post"], data["n_success"],
                            int(data["ntraj"]), int(data["n_jumps"]), data["n_kept"], data["record_counts"])
        ranges = data["ranges"]
        if int(np.sum(ranges[:, 1] - ranges[:, 0])) != sums.ntraj if ranges.size else sums.ntraj != 0:
            raise ValueError("trajectory ranges do not add up to ntraj")
        return MonteCarloResult(model, protocol, sums, int(data["seed"]), ranges,
                                bool(data.get("interrupted", False)))
    except (ValueError, TypeError, IndexError) as exc:
        raise ValueError(f"result file {path!r} is inconsistent: {exc}") from None
