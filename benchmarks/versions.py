"""Throughput of darkspin 0.1, the last release 0.3.0 and the working tree on the same workload, in one run.

Each version is installed from the git history into its own venv under ``.bench-venvs/`` (ignored by
git; built once, reused): ``git archive <commit> | tar -x`` into a folder, ``python -m venv`` and
``pip install -q <folder>`` with numpy, numba, llvmlite and scipy pinned to this interpreter's versions,
so only darkspin's code differs. The working tree runs in this interpreter with the repository root first
on ``PYTHONPATH``.

Every version runs in a child process of its own venv (a timing script passed with ``-c``, using only the
API darkspin 0.1 already had: ``simulate(SpinPair(...), Protocol.paper(n_out), ntraj, seed=1,
progress=False)``; 0.1 installs the layers as top-level packages, later versions under ``darkspin.``).
Children start once, warm up every case (Numba compile or cache load), then wait for orders: the parent
interleaves repetitions (rep 1: every case in every version, rep 2: the same in a rotated order, ...), so a
burst of load from other processes hits all versions alike. The summary gives medians, ratios of medians
to 0.1 and to 0.3.0, and checks that every version returns bit-identical sums.

Cases (``--ntraj`` runs, seed 1, ``NUMBA_NUM_THREADS = --threads``):
  paper-501  SpinPair(), Protocol.paper(501): |ud>, tau_z x tau_z measured at t = 100, 200, 300, 400,
             501 output times on [0, 500] (the paper's Fig. 3 right protocol)
  paper-11   the same with 11 output times
  rare-501   SpinPair(lam1=0.001, lam2=0.001), Protocol.paper(501): rare jumps, so per-output and
             per-round work dominate over events

``--gate`` exits with status 1 when any case of the working tree runs below ``GATE`` x 0.3.0 (median).

Run from the repository root::

    python benchmarks/versions.py --gate          # ~5 min (first run: + venv builds, ~2 min)
    python benchmarks/versions.py --quick         # ntraj 5*10^4, 3 repetitions
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CACHE = ROOT / ".bench-venvs"
#: (label, commit) of the versions installed from history; the working tree is added as "tree".
VERSIONS = (("0.1", "20844fe"), ("0.3.0", "f5fa46a"))
#: The release the gate compares with, and the least fraction of its throughput the tree must keep.
RELEASE = "0.3.0"
GATE = 0.95
#: name -> (SpinPair keywords, output times)
CASES = {
    "paper-501": ({}, 501),
    "paper-11": ({}, 11),
    "rare-501": ({"lam1": 0.001, "lam2": 0.001}, 501),
}
PINNED = ("numpy", "numba", "llvmlite", "scipy")
DEFAULTS = {"ntraj": 200_000, "repeat": 5}
QUICK = {"ntraj": 50_000, "repeat": 3}

# The child: imports whichever layout its version has, warms up every case, then times one case per
# line read from stdin and answers one JSON line (seconds, and a hash of the sums for bit-identity).
CHILD = r"""
import hashlib, json, sys, time
try:
    from darkspin.trajectories import SpinPair, Protocol
    from darkspin.ensemble import simulate
except ImportError:  # darkspin 0.1: the layers are top-level packages
    from trajectories import SpinPair, Protocol
    from ensemble import simulate
cases = json.loads(sys.argv[1])
ntraj = int(sys.argv[2])
def run(name, n):
    params, n_out = cases[name]
    return simulate(SpinPair(**params), Protocol.paper(n_out), n, seed=1, progress=False)
for name in cases:
    run(name, 1000)
print(json.dumps({"ready": True}), flush=True)
for line in sys.stdin:
    name = line.strip()
    t0 = time.perf_counter()
    res = run(name, ntraj)
    seconds = time.perf_counter() - t0
    h = hashlib.sha256()
    # the singlet sums: population("S") from 0.4 on (its .value is complex; .real holds the bits), singlet before
    singlet = res.population("S").value.real if hasattr(res, "_singlet") else res.singlet
    for a in (res.rho, res.rho_post, singlet, res.n_success, res.n_jumps):
        h.update(memoryview(__import__("numpy").ascontiguousarray(a)).cast("B"))
    print(json.dumps({"seconds": seconds, "hash": h.hexdigest()[:16]}), flush=True)
"""


@dataclass
class Version:
    """One darkspin version: its interpreter, environment and timings per case."""

    label: str
    python: str
    env: dict[str, str]
    seconds: dict[str, list[float]] = field(default_factory=dict)
    hashes: dict[str, set[str]] = field(default_factory=dict)
    proc: subprocess.Popen[str] | None = None


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options (``--quick`` fills what is not given explicitly)."""
    ap = argparse.ArgumentParser(
        description=(__doc__ or "").split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--ntraj", type=int, default=None, help=f"runs per timed call (default {DEFAULTS['ntraj']})")
    ap.add_argument("--repeat", type=int, default=None, help=f"interleaved repetitions (default {DEFAULTS['repeat']})")
    ap.add_argument("--threads", type=int, default=2, help="NUMBA_NUM_THREADS of every child (default 2)")
    ap.add_argument("--cases", default=",".join(CASES), help=f"comma-separated subset of {', '.join(CASES)}")
    ap.add_argument("--quick", action="store_true", help=f"ntraj {QUICK['ntraj']}, repeat {QUICK['repeat']}")
    ap.add_argument("--no-tree", action="store_true", help="time the installed versions only")
    ap.add_argument("--gate", action="store_true", help=f"exit 1 if the tree is below {GATE} x {RELEASE} in any case")
    args = ap.parse_args(argv)
    base = QUICK if args.quick else DEFAULTS
    for key, value in base.items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    args.cases = [c for c in args.cases.split(",") if c]
    unknown = [c for c in args.cases if c not in CASES]
    if unknown:
        ap.error(f"unknown case(s) {unknown}; known: {list(CASES)}")
    if args.gate and args.no_tree:
        ap.error("--gate needs the working tree")
    return args


def pinned_requirements() -> list[str]:
    """``name==version`` of this interpreter's numerical stack, so every venv runs the same Numba."""
    from importlib.metadata import PackageNotFoundError, version

    out = []
    for name in PINNED:
        try:
            out.append(f"{name}=={version(name)}")
        except PackageNotFoundError:
            pass
    return out


def install(label: str, commit: str) -> str:
    """The venv python of ``commit``, building ``.bench-venvs/<label>-<commit>/`` on first use."""
    home = CACHE / f"{label}-{commit}"
    python = home / "venv" / "bin" / "python"
    done = home / "installed"
    if done.exists():
        return str(python)
    home.mkdir(parents=True, exist_ok=True)
    print(f"building the venv of darkspin {label} ({commit}) in {home} ...", flush=True)
    with tempfile.TemporaryDirectory(dir=home) as src:
        archive = subprocess.run(["git", "-C", str(ROOT), "archive", commit], check=True, capture_output=True)
        subprocess.run(["tar", "-x", "-C", src], input=archive.stdout, check=True)
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(home / "venv")], check=True)
        pip = [str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check"]
        subprocess.run([*pip, src, *pinned_requirements()], check=True)
    done.write_text(commit + "\n")
    return str(python)


def start(version: Version, args: argparse.Namespace) -> None:
    """Launch the child of ``version``; it warms up every case before answering 'ready'."""
    cases = {name: CASES[name] for name in args.cases}
    version.proc = subprocess.Popen(
        [version.python, "-c", CHILD, json.dumps(cases), str(args.ntraj)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=version.env,
        cwd=tempfile.gettempdir(),  # never import the working tree by accident
    )
    reply(version)


def reply(version: Version) -> dict[str, object]:
    """The child's next JSON line; RuntimeError if it died."""
    assert version.proc is not None and version.proc.stdout is not None
    line = version.proc.stdout.readline()
    if not line:
        raise RuntimeError(f"darkspin {version.label}: timing child exited with {version.proc.wait()}")
    result: dict[str, object] = json.loads(line)
    return result


def time_case(version: Version, case: str, ntraj: int) -> float:
    """Trajectories per second of one call of ``case`` in ``version``."""
    assert version.proc is not None and version.proc.stdin is not None
    version.proc.stdin.write(case + "\n")
    version.proc.stdin.flush()
    answer = reply(version)
    version.seconds.setdefault(case, []).append(float(answer["seconds"]))  # type: ignore[arg-type]
    version.hashes.setdefault(case, set()).add(str(answer["hash"]))
    return ntraj / float(answer["seconds"])  # type: ignore[arg-type]


def versions(args: argparse.Namespace) -> list[Version]:
    """The installed versions and (unless --no-tree) the working tree, with their child environments."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "NUMBA_NUM_THREADS")}
    env["NUMBA_NUM_THREADS"] = str(args.threads)
    out = [Version(label, install(label, commit), dict(env)) for label, commit in VERSIONS]
    if not args.no_tree:
        out.append(Version("tree", sys.executable, dict(env, PYTHONPATH=str(ROOT))))
    return out


def main(argv: list[str] | None = None) -> int:
    """Build, warm up, time interleaved, print the summary; the exit status of ``--gate``."""
    args = parse_args(argv)
    vs = versions(args)
    load = os.getloadavg()[0]
    print(
        f"darkspin versions benchmark: {', '.join(v.label for v in vs)}; cases {', '.join(args.cases)}; "
        f"ntraj {args.ntraj}, {args.repeat} interleaved repetitions, {args.threads} threads; "
        f"{os.cpu_count()} cores, load average {load:.2f}",
        flush=True,
    )
    for v in vs:
        start(v, args)
    try:
        for rep in range(args.repeat):
            order = vs[rep % len(vs) :] + vs[: rep % len(vs)]
            parts = []
            for case in args.cases:
                for v in order:
                    parts.append(f"{case}/{v.label} {time_case(v, case, args.ntraj):,.0f}")
            print(f"rep {rep + 1}/{args.repeat}: " + "  ".join(parts) + "  [traj/s]", flush=True)
    finally:
        for v in vs:
            if v.proc is not None:
                v.proc.stdin.close()  # type: ignore[union-attr]
                v.proc.wait()
    return summary(vs, args)


def summary(vs: list[Version], args: argparse.Namespace) -> int:
    """Print medians and ratios; 1 if ``--gate`` and the tree falls below GATE x RELEASE somewhere."""
    rate = {(v.label, c): args.ntraj / statistics.median(v.seconds[c]) for v in vs for c in args.cases}
    bar = "=" * 78
    print(bar)
    print(
        f"SUMMARY: medians of {args.repeat} (traj/s), ntraj {args.ntraj}, {args.threads} threads, "
        f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f} (shared machine)"
    )
    failed = []
    for case in args.cases:
        hashes = {h for v in vs for h in v.hashes[case]}
        same = "bit-identical" if len(hashes) == 1 else f"RESULTS DIFFER ({len(hashes)} hashes)"
        print(f"  {case}: ({same})")
        for v in vs:
            r = rate[(v.label, case)]
            rel = f"x{r / rate[('0.1', case)]:.2f} of 0.1, x{r / rate[(RELEASE, case)]:.2f} of {RELEASE}"
            spread = [args.ntraj / s for s in v.seconds[case]]
            print(f"    {v.label:<6} {r:>10,.0f}  ({rel}; min {min(spread):,.0f}, max {max(spread):,.0f})")
        if not args.no_tree and rate[("tree", case)] < GATE * rate[(RELEASE, case)]:
            failed.append(case)
    if args.gate:
        verdict = f"FAILS on {', '.join(failed)}" if failed else "passes"
        print(f"  GATE (tree >= {GATE} x {RELEASE} in every case): {verdict}")
    print(bar)
    return 1 if args.gate and failed else 0


if __name__ == "__main__":
    sys.exit(main())
