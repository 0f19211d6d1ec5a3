"""``darkspin optimize [STUDY.toml]``: the measurement times that maximise an exact objective, next to
the protocol's own, checked with trajectories.

analysis.studies.schedule.optimize_schedule does the search; an optional [optimize] section of the config gives
rounds, max_rounds, t_max, objective, min_yield, starts, vary ('measure_at', or 'gate_at': the times of the
protocol's [[protocol.gates]]), and the flags override it. The check runs the
optimised protocol with the config's [run] ntraj and seed.
"""

from __future__ import annotations

import argparse
import math
import os
import time
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from .exact import params_text
from .interrupts import compile_kernels

if TYPE_CHECKING:
    from ..config import RunConfig

#: Objectives of ``darkspin optimize`` (analysis.studies.schedule.OBJECTIVES, without importing it here).
OPTIMIZE_OBJECTIVES = ("fidelity", "yield", "fidelity_at_yield")
#: Keys of the [optimize] section.
OPTIMIZE_KEYS = ("rounds", "max_rounds", "t_max", "objective", "min_yield", "starts", "vary")


def optimize_settings(
    path: str | os.PathLike[str] | None, overrides: Sequence[str] = ()
) -> tuple[RunConfig, dict[str, Any]]:
    """The run config and the [optimize] settings of a study file.

    Parameters
    ----------
    path : str, os.PathLike or None
        The study (a run config with an optional [optimize] section); None: the embedded default.
    overrides : sequence of str
        ``section.key=value`` (--set) applied to the run config.

    Returns
    -------
    (RunConfig, dict)
        The run config and the [optimize] keys given (rounds, max_rounds, starts as int; t_max,
        min_yield as float; objective as str).

    Raises
    ------
    ConfigError
        For an unreadable file or a bad key, naming it.
    """
    import tomllib

    from ..config import ConfigError, apply_overrides, integer_key, load_config, parse_config, real_key

    if path is None:
        return load_config(None, overrides), {}
    try:
        with open(path, "rb") as fh:
            data = tomllib.load(fh)
    except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError):
        return load_config(path, overrides), {}  # raises the config's one-line message for this file
    section = data.pop("optimize", {})
    if not isinstance(section, dict):
        raise ConfigError(f"'optimize' must be a table ([optimize]), got {section!r}")
    for key in section:
        if key not in OPTIMIZE_KEYS:
            raise ConfigError(f"unknown key 'optimize.{key}' (accepted: {', '.join(OPTIMIZE_KEYS)})")
    out: dict[str, Any] = {}
    for key in ("rounds", "max_rounds", "starts"):
        if key in section:
            out[key] = integer_key(f"optimize.{key}", section[key], 1)
    for key in ("t_max", "min_yield"):
        if key in section:
            out[key] = real_key(f"optimize.{key}", section[key])
    if "objective" in section:
        if section["objective"] not in OPTIMIZE_OBJECTIVES:
            raise ConfigError(
                f"optimize.objective must be one of {', '.join(OPTIMIZE_OBJECTIVES)}, got {section['objective']!r}"
            )
        out["objective"] = section["objective"]
    if "rounds" in out and "max_rounds" in out:
        raise ConfigError("optimize.rounds and optimize.max_rounds exclude each other")
    if "vary" in section:
        if section["vary"] not in ("measure_at", "gate_at"):
            raise ConfigError(f"optimize.vary must be 'measure_at' or 'gate_at', got {section['vary']!r}")
        out["vary"] = section["vary"]
    return parse_config(apply_overrides(data, overrides), os.fspath(path)), out


def _times(ts: Iterable[float]) -> str:
    return "[" + ", ".join(f"{t:.6g}" for t in ts) + "]"


def cmd_optimize(args: argparse.Namespace) -> int:
    """Run ``darkspin optimize``.

    Parameters
    ----------
    args : argparse.Namespace
        config, rounds, max_rounds, t_max, objective, min_yield, starts, ntraj, seed, no_progress, set.

    Returns
    -------
    int
        0.

    Raises
    ------
    ValueError
        For a bad config or optimiser setting (the message names the parameter, exit 2).
    """
    from ...ensemble import compare, simulate
    from ...ensemble.exact.solver import solve_master_equation
    from ...ensemble.statistics.intervals import mean_interval
    from ..studies.flatness import FLAT_STEP, FLAT_TOL, describe_flat
    from ..studies.schedule import optimize_schedule

    cfg, opt = optimize_settings(args.config, args.set)
    cfg = cfg.replace(**{k: v for k, v in (("ntraj", args.ntraj), ("seed", args.seed)) if v is not None})
    if args.rounds is not None:
        opt.pop("max_rounds", None)
    if args.max_rounds is not None:
        opt.pop("rounds", None)
    flags = {"rounds": args.rounds, "max_rounds": args.max_rounds, "t_max": args.t_max}
    flags.update(objective=args.objective, min_yield=args.min_yield, starts=args.starts)
    opt.update({k: v for k, v in flags.items() if v is not None})
    t0 = time.perf_counter()
    sched = optimize_schedule(cfg.model, cfg.protocol, **opt)  # ValueErrors name the parameter: exit 2
    elapsed = time.perf_counter() - t0
    own = solve_master_equation(cfg.model, cfg.protocol)
    own_f = float(own.population("S").value_post[-1].real)
    own_y = float(own.p_cumulative[-1]) if own.p_cumulative.size else 1.0
    name = sched.objective_name
    own_value = own_y if name == "yield" else own_f
    if name == "fidelity_at_yield" and not own_y >= opt["min_yield"]:
        own_value = -math.inf  # misses the yield floor
    print(f"model: {params_text(cfg.model)}")
    print(f"protocol: initial {cfg.initial}, {cfg.protocol.describe()}, final output time {cfg.t_final:g}")
    print(f"objective: {name}" + (f" (yield >= {opt['min_yield']:g})" if name == "fidelity_at_yield" else ""))
    gates = opt.get("vary") == "gate_at"  # the gate times were searched, the rounds kept
    varied = "gate_at" if gates else "measure_at"
    count = "gates" if gates else "rounds"
    print(f"{'schedule':<11} {count:>6} {'objective':>14} {'fidelity':>14} {'yield':>14}  {varied}")
    print(
        f"{'protocol':<11} {sched.rounds if gates else cfg.protocol.rounds:>6} {own_value:>14.10f} {own_f:>14.10f} "
        f"{own_y:>14.10f}  {_times(cfg.protocol.gate_at if gates else cfg.protocol.measure_at)}"
    )
    print(
        f"{'optimised':<11} {sched.rounds:>6} {sched.objective:>14.10f} {sched.fidelity:>14.10f} "
        f"{sched.yield_:>14.10f}  {_times(sched.measure_at)}"
    )
    print(f"({sched.evaluations} exact solves in {elapsed:.1f} s)")
    if len(sched.flat_directions):
        print(
            f"the optimum is flat along {describe_flat(sched.flat_directions)}: moving there by "
            f"{100 * FLAT_STEP:g}% of t_max changes the objective by < {FLAT_TOL:g}, other schedules score the same"
        )
    exact = solve_master_equation(cfg.model, sched.protocol)
    compile_kernels(cfg.model, sched.protocol, cfg.seed, ensemble=True)
    mc = simulate(
        cfg.model,
        sched.protocol,
        cfg.ntraj,
        cfg.seed,
        batch_size=cfg.batch_size,
        progress=not args.no_progress,
        target_se=cfg.target_se,
        max_ntraj=cfg.max_ntraj,
    )
    n = int(mc.n_post[-1])
    s_post = mc.population("S")
    m = float(s_post.value_post[-1].real)
    lo, hi = mean_interval(m, float(s_post.se_post[-1]), n)
    print(
        f"trajectories ({mc.ntraj}, seed {mc.seed}): post-selected singlet at t = {cfg.t_final:g}: "
        f"{m:.6f} (95 % interval [{lo:.6f}, {hi:.6f}], {n} runs), "
        f"exact {float(exact.population('S').value_post[-1].real):.6f}"
    )
    print(f"trajectories vs exact: {compare(mc, exact).verdict}")
    return 0
