"""Peak memory of ensemble.simulate for many trajectories of the Fig. 3 right protocol (Protocol.paper()).

Streaming sums mean memory should not grow with the number of trajectories: the target is a peak
RSS increase below 200 MB for 10**7 trajectories of Protocol.paper() under SpinPair() (a few
minutes at ~1e5 trajectories/s). Run from the repository root, in an environment with
``pip install -e ".[test,distributed]"``::

    python benchmarks/memory.py                 # 10**7 trajectories
    python benchmarks/memory.py --ntraj 100000  # quick check

Reported (MB = 2**20 bytes):
  baseline RSS    resident set after imports and a small warm-up run (Numba compile / cache load)
  peak increase   ru_maxrss after the run minus ru_maxrss before it (the process high-water mark)
  VmHWM increase  Linux only: the high-water mark is reset after the warm-up (/proc/self/clear_refs)
                  so this is the run's own peak above the baseline, even if the warm-up peaked higher
  tracemalloc     (--tracemalloc) peak of Python/NumPy allocations during the run
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
import tracemalloc

from darkspin.ensemble import simulate
from darkspin.trajectories import Protocol, SpinPair

TARGET_MB = 200.0
MB = 2.0**20


def maxrss_mb() -> float:
    """Peak resident set size of this process so far, MB (ru_maxrss is KiB on Linux, bytes on macOS)."""
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss / MB if sys.platform == "darwin" else rss * 1024 / MB


def _status_mb(field: str) -> float | None:
    """A memory field of /proc/self/status (VmRSS, VmHWM) in MB, or None off Linux."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) * 1024 / MB
    except OSError:
        pass
    return None


def reset_hwm() -> bool:
    """Reset the Linux RSS high-water mark (VmHWM) to the current RSS; False if not possible."""
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
        return True
    except OSError:
        return False


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--ntraj", type=int, default=10**7, help="trajectories (default 10**7)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--batch-size", type=int, default=None, help="default: simulate's own choice")
    ap.add_argument("--n-out", type=int, default=501, help="output times of Protocol.paper (default 501)")
    ap.add_argument("--tracemalloc", action="store_true", help="also trace Python/NumPy allocations")
    ap.add_argument("--progress", action="store_true", help="show the tqdm bar")
    args = ap.parse_args(argv)
    if args.ntraj < 1:
        ap.error(f"--ntraj must be >= 1, got {args.ntraj}")

    model, protocol = SpinPair(), Protocol.paper(args.n_out)
    simulate(model, protocol, 2000, seed=0, progress=False)  # compile / load the Numba cache
    base_rss, base_peak = _status_mb("VmRSS"), maxrss_mb()
    hwm_ok = reset_hwm()
    if args.tracemalloc:
        tracemalloc.start()

    t0 = time.perf_counter()
    result = simulate(model, protocol, args.ntraj, seed=args.seed, batch_size=args.batch_size, progress=args.progress)
    elapsed = time.perf_counter() - t0

    traced = tracemalloc.get_traced_memory()[1] / MB if args.tracemalloc else None
    peak = maxrss_mb()
    hwm = _status_mb("VmHWM") if hwm_ok else None
    rss = _status_mb("VmRSS")
    increase = peak - base_peak
    own = (hwm - base_rss) if hwm is not None and base_rss is not None else None

    print(
        f"ntraj            {result.ntraj} in {elapsed:.1f} s ({result.ntraj / elapsed:.3g} traj/s), "
        f"{result.n_jumps} jumps, max singlet se {result.max_singlet_se():.2g}"
    )
    if base_rss is not None:
        print(f"baseline RSS     {base_rss:.1f} MB (after imports, compile and a warm-up run)")
    print(f"ru_maxrss        {base_peak:.1f} MB before, {peak:.1f} MB after: peak increase {increase:.1f} MB")
    if own is not None:
        print(f"VmHWM increase   {own:.1f} MB above the baseline during the run (RSS at the end {rss:.1f} MB)")
    if traced is not None:
        print(f"tracemalloc      {traced:.1f} MB peak of Python/NumPy allocations during the run")
    worst = max(increase, own if own is not None else increase)
    verdict = "OK" if worst < TARGET_MB else "ABOVE TARGET"
    print(f"target           < {TARGET_MB:.0f} MB increase: {verdict} ({worst:.1f} MB)")
    return 0 if worst < TARGET_MB else 1


if __name__ == "__main__":
    sys.exit(main())
