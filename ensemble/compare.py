"""Monte Carlo against the exact master equation: deviations in units of their standard errors, trace
distances, success-probability z-scores, and the 1/sqrt(ntraj) convergence of the estimate."""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from ..trajectories.model import SpinPair
from ..trajectories.operators import BASIS_LABELS
from ..trajectories.protocol import Protocol
from ..trajectories.rng import SEED_MAX

from .master_equation import MasterEquationResult, solve_master_equation
from .result import MonteCarloResult
from .simulation import resolve_seed, simulate

#: Floor on a standard error when forming z = |deviation| / se. Matrix elements that are identical in
#: every trajectory (e.g. at t = 0, or coherences a measurement has removed) have se = 0; their
#: deviation is then only rounding: the kernel's fixed-point sums resolve 2^-40 ~ 1e-12 and expm is
#: accurate to ~1e-13, so 1e-10 keeps such z far below 1 while any physical deviation stands out.
SE_FLOOR = 1e-10

#: Default minimum number of contributing trajectories for an element's z-score: with fewer the
#: sample standard error is itself too uncertain (Student t tails) for a 5-sigma criterion.
MIN_COUNT = 20


def trace_distance(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """0.5 * sum |eigenvalues(a - b)| of Hermitian (..., 4, 4) arrays; shape (...), NaN where either has NaN."""
    d = np.asarray(a) - np.asarray(b)
    flat = d.reshape(-1, *d.shape[-2:])
    out = np.full(flat.shape[0], np.nan)
    ok = np.all(np.isfinite(flat), axis=(-2, -1))
    if np.any(ok):
        h = flat[ok]
        h = 0.5 * (h + np.conj(np.swapaxes(h, -1, -2)))  # remove rounding-level anti-Hermitian parts
        out[ok] = 0.5 * np.sum(np.abs(np.linalg.eigvalsh(h)), axis=-1)
    return out.reshape(d.shape[:-2])


def _element_z(est, se, exact, count, min_count):
    """|est - exact| / se_eff, (n, 4, 4), se_eff = max(sqrt(se^2 + 1/count^2), SE_FLOOR).

    The 1/count term is the one-trajectory resolution: paths so rare that no trajectory took them
    leave the sample se at 0, yet one trajectory moves an element by at most 1/count. NaN where
    count < min_count or anything is NaN.
    """
    count = np.asarray(count, float)
    with np.errstate(invalid="ignore", divide="ignore"):
        se_eff = np.maximum(np.sqrt(se**2 + 1.0 / count**2), SE_FLOOR)
        z = np.abs(est - exact) / se_eff
    z = np.where(np.isfinite(se), z, np.nan)  # se NaN (fewer than 2 trajectories) -> NaN, not the floor
    return np.where(count < min_count, np.nan, z)


def _nanmax_rows(z: np.ndarray) -> np.ndarray:
    flat = z.reshape(z.shape[0], -1)
    out = np.full(z.shape[0], np.nan)
    ok = np.any(np.isfinite(flat), axis=1)
    out[ok] = np.nanmax(flat[ok], axis=1)
    return out


def success_z(successes, attempts, p) -> np.ndarray:
    """Binomial z-scores (successes - n p) / sqrt(n p (1 - p)) per round, shape (rounds,).

    p is the exact conditional success probability, n the Monte Carlo attempts. For p = 0 or 1 the
    outcome is deterministic: z = 0 if successes == n p, else +-inf (an impossible count). NaN where
    n = 0 or p is NaN (nothing to test). The normal approximation needs n p (1 - p) >> 1.
    """
    s = np.asarray(successes, float)
    n = np.asarray(attempts, float)
    p = np.asarray(p, float)
    dev = s - n * p
    var = n * p * (1.0 - p)
    with np.errstate(invalid="ignore", divide="ignore"):
        z = np.where(var > 0, dev / np.sqrt(np.where(var > 0, var, 1.0)), 0.0)
        # p in {0, 1}: only successes == n p is possible
        z = np.where((var <= 0) & (dev != 0), np.sign(dev) * np.inf, z)
    return np.where((n > 0) & np.isfinite(p), z, np.nan)


@dataclasses.dataclass(frozen=True, eq=False)
class Comparison:
    """A Monte Carlo result against the exact solution of the same protocol.

    Per output time (n,): trace_distance, trace_distance_post (NaN where undefined); z_max, z_max_post:
    the largest |deviation| / sqrt(se^2 + 1/N^2) over the 4 x 4 complex elements (NaN where fewer than
    min_count trajectories contribute). z_elements, z_elements_post (n, 4, 4): the per-element values.
    Per round (R,): z_success (binomial, signed), p_success_mc, p_success_exact, attempts.
    max_z: largest of all |z| (NaN if nothing could be compared); consistent: max_z <= threshold;
    verdict: 'consistent' or 'inconsistent at X sigma'; worst: where max_z occurs.
    """

    times: np.ndarray
    ntraj: int
    trace_distance: np.ndarray
    trace_distance_post: np.ndarray
    z_max: np.ndarray
    z_max_post: np.ndarray
    z_elements: np.ndarray
    z_elements_post: np.ndarray
    z_success: np.ndarray
    p_success_mc: np.ndarray
    p_success_exact: np.ndarray
    attempts: np.ndarray
    threshold: float
    max_z: float
    consistent: bool
    verdict: str
    worst: dict

    def __str__(self) -> str:
        w = self.worst
        lines = [f"Monte Carlo ({self.ntraj} trajectories) vs master equation, {self.times.size} output times, "
                 f"{self.z_success.size} rounds"]
        if w.get("kind") in ("rho", "rho_post"):
            lines.append(f"  worst element: {w['kind']}[{w['element']}] at t = {w['time']:.6g}: "
                         f"{w['z']:.2f} sigma (deviation {w['deviation']:.3g})")
        elif w.get("kind") == "p_success":
            lines.append(f"  worst: success probability of round {w['round']}: {w['z']:.2f} sigma")

        def mx(a):
            a = a[np.isfinite(a)]
            return f"{a.max():.3g}" if a.size else "n/a"

        lines.append(f"  trace distance: max {mx(self.trace_distance)} (unconditional), "
                     f"{mx(self.trace_distance_post)} (post-selected)")
        lines.append(f"  largest element z: {mx(self.z_max)} (unconditional), {mx(self.z_max_post)} (post-selected)")
        zs = ", ".join("-" if np.isnan(z) else f"{z:+.2f}" for z in self.z_success)
        lines.append(f"  success z per round: {zs or 'none'}")
        lines.append(f"  verdict (threshold {self.threshold:g} sigma): {self.verdict}")
        return "\n".join(lines)


def _check_same_grid(mc: MonteCarloResult, exact: MasterEquationResult):
    t1, t2 = np.asarray(mc.protocol.times), np.asarray(exact.protocol.times)
    if t1.shape != t2.shape or not np.array_equal(t1, t2):
        raise ValueError(f"mc_result and exact_result must share the output times; got {t1.size} and "
                         f"{t2.size} times that differ")
    m1, m2 = np.asarray(mc.protocol.measure_at), np.asarray(exact.protocol.measure_at)
    if m1.shape != m2.shape or not np.array_equal(m1, m2):
        raise ValueError(f"mc_result and exact_result must share the measurement rounds; got measure_at "
                         f"{m1.tolist()} and {m2.tolist()}")


def compare(mc_result: MonteCarloResult, exact_result: MasterEquationResult, threshold: float = 5.0,
            min_count: int = MIN_COUNT) -> Comparison:
    """Compare a Monte Carlo result with the exact master-equation result of the same protocol.

    Both must share output times and measurement times (ValueError otherwise); the models and initial
    states are not checked, since detecting a difference there is the point of the comparison.
    threshold: largest |z| (in standard errors) still called consistent, > 0.
    min_count: element z-scores need at least this many contributing trajectories (ntraj for rho,
    n_post for rho_post), >= 2.
    Element z = |rho_mc - rho_exact| / sqrt(se^2 + 1/N^2) with se the standard error of the complex mean
    and N the contributing trajectories (the 1/N term covers paths too rare to have been sampled);
    success z-scores are binomial, see :func:`success_z`. Returns a :class:`Comparison`.
    """
    if not isinstance(mc_result, MonteCarloResult):
        raise ValueError(f"mc_result must be a MonteCarloResult, got {type(mc_result).__name__}")
    if not isinstance(exact_result, MasterEquationResult):
        raise ValueError(f"exact_result must be a MasterEquationResult, got {type(exact_result).__name__}")
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float, np.floating)) \
            or not math.isfinite(threshold) or threshold <= 0:
        raise ValueError(f"threshold must be a finite number > 0 (in standard errors), got {threshold!r}")
    if isinstance(min_count, bool) or not isinstance(min_count, (int, np.integer)) or min_count < 2:
        raise ValueError(f"min_count must be an integer >= 2, got {min_count!r}")
    _check_same_grid(mc_result, exact_result)

    n = mc_result.times.size
    td = trace_distance(mc_result.rho, exact_result.rho)
    td_post = trace_distance(mc_result.rho_post, exact_result.rho_post)
    z_el = _element_z(mc_result.rho, mc_result.rho_se, exact_result.rho,
                      np.full((n, 1, 1), mc_result.ntraj), min_count)
    z_el_post = _element_z(mc_result.rho_post, mc_result.rho_post_se, exact_result.rho_post,
                           np.asarray(mc_result.n_post)[:, None, None], min_count)
    succ = np.asarray(mc_result.n_success, np.int64)
    attempts = np.concatenate([[mc_result.ntraj], succ])[:succ.size]
    zs = success_z(succ, attempts, exact_result.p_success)

    candidates = []  # (z, description)
    for kind, z in (("rho", z_el), ("rho_post", z_el_post)):
        if np.any(np.isfinite(z)):
            flat = int(np.nanargmax(np.where(np.isnan(z), -np.inf, z)))
            t, i, j = np.unravel_index(flat, z.shape)
            est = mc_result.rho if kind == "rho" else mc_result.rho_post
            ref = exact_result.rho if kind == "rho" else exact_result.rho_post
            candidates.append((float(z[t, i, j]), {
                "kind": kind, "time": float(mc_result.times[t]), "time_index": int(t),
                "element": f"{BASIS_LABELS[i]},{BASIS_LABELS[j]}", "index": (int(i), int(j)),
                "deviation": float(abs(est[t, i, j] - ref[t, i, j]))}))
    if np.any(~np.isnan(zs)):
        k = int(np.nanargmax(np.where(np.isnan(zs), -np.inf, np.abs(zs))))
        candidates.append((float(abs(zs[k])), {"kind": "p_success", "round": k + 1}))
    if candidates:
        max_z, worst = max(candidates, key=lambda c: c[0])
        worst = {**worst, "z": max_z}
        consistent = bool(max_z <= threshold)
        verdict = "consistent" if consistent else f"inconsistent at {max_z:.1f} sigma"
    else:
        max_z, worst, consistent = math.nan, {}, False
        verdict = "inconclusive: nothing with a standard error to compare"
    for a in (td, td_post, z_el, z_el_post, zs):
        a.setflags(write=False)
    return Comparison(
        times=mc_result.times, ntraj=int(mc_result.ntraj), trace_distance=td, trace_distance_post=td_post,
        z_max=_nanmax_rows(z_el), z_max_post=_nanmax_rows(z_el_post), z_elements=z_el,
        z_elements_post=z_el_post, z_success=zs, p_success_mc=np.asarray(mc_result.p_success, float),
        p_success_exact=np.asarray(exact_result.p_success, float), attempts=attempts,
        threshold=float(threshold), max_z=float(max_z), consistent=consistent, verdict=verdict, worst=worst)


# ---- convergence -------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True, eq=False)
class Convergence:
    """Error of the Monte Carlo estimate against ntraj.

    ntraj (k,); seeds (k, repeats): the independent seed of each run; times (m,): the output times
    averaged over (those > 0); distances (k, repeats, m): trace distance of rho to the exact rho;
    distance (k,): its average over repeats and times; distance_se (k,): standard error of that average
    from the spread over repeats (NaN for repeats = 1); slope, intercept: least-squares fit
    log(distance) = intercept + slope log(ntraj) (expected slope -1/2); slope_se: the slope's standard
    error propagated from distance_se (NaN for repeats = 1).
    """

    ntraj: np.ndarray
    seeds: np.ndarray
    times: np.ndarray
    distances: np.ndarray
    distance: np.ndarray
    distance_se: np.ndarray
    slope: float
    intercept: float
    slope_se: float

    @property
    def repeats(self) -> int:
        return int(self.seeds.shape[1])

    def __str__(self) -> str:
        lines = [f"Convergence of rho to the exact solution (trace distance averaged over t > 0"
                 + (f" and {self.repeats} runs per point)" if self.repeats > 1 else ")"),
                 f"{'ntraj':>10}  {'distance':>10}  {'se':>9}"]
        lines += [f"{n:>10d}  {d:>10.4g}  {e:>9.2g}" for n, d, e in zip(self.ntraj, self.distance, self.distance_se)]
        err = f" +- {self.slope_se:.3f}" if np.isfinite(self.slope_se) else ""
        lines.append(f"slope of log distance vs log ntraj: {self.slope:+.3f}{err} (expected -0.5)")
        return "\n".join(lines)


def convergence(model: SpinPair, protocol: Protocol, ntraj_list, seed: int | None = None, *,
                repeats: int = 1, **simulate_kwargs) -> Convergence:
    """Run :func:`ensemble.simulate` ``repeats`` times for each ntraj in ``ntraj_list`` and measure the
    distance of rho to the exact solution.

    Run r of point i uses seed + i * repeats + r, so all runs are independent. The statistic is the trace
    distance averaged over the output times > 0 (at t = 0 an exactly known initial state gives 0) and
    over the repeats; since the estimate is unbiased it scales as ntraj^-1/2. One run's time average
    fluctuates by ~30-40% (the error is strongly correlated in time), so the slope of 4 points spanning
    a factor 64 has an sd of ~0.12 for repeats = 1 and ~0.035 for repeats = 16.
    ntraj_list: at least two distinct integers >= 1. seed: integer in [0, 2**64 - len(ntraj_list) *
    repeats], or None (one is drawn). repeats: integer >= 1. simulate_kwargs go to simulate
    (progress defaults to False). Returns a :class:`Convergence`.
    """
    if not isinstance(model, SpinPair):
        raise ValueError(f"model must be a SpinPair, got {type(model).__name__}")
    if not isinstance(protocol, Protocol):
        raise ValueError(f"protocol must be a Protocol, got {type(protocol).__name__}")
    try:
        ntraj = [n for n in ntraj_list]
    except TypeError:
        raise ValueError(f"ntraj_list must be a sequence of integers >= 1, got {ntraj_list!r}") from None
    if any(isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1 for n in ntraj):
        raise ValueError(f"ntraj_list must be a sequence of integers >= 1, got {ntraj_list!r}")
    if len(set(int(n) for n in ntraj)) < 2:
        raise ValueError(f"ntraj_list needs at least two distinct values to fit a slope, got {ntraj_list!r}")
    if isinstance(repeats, bool) or not isinstance(repeats, (int, np.integer)) or repeats < 1:
        raise ValueError(f"repeats must be an integer >= 1, got {repeats!r}")
    seed = resolve_seed(seed)
    if seed + len(ntraj) * repeats - 1 > SEED_MAX:
        raise ValueError(f"seed must be <= 2**64 - len(ntraj_list) * repeats so that every run's seed fits, "
                         f"got {seed}")
    keep = np.asarray(protocol.times) > 0
    if not np.any(keep):
        raise ValueError("protocol must have at least one output time > 0")
    simulate_kwargs.setdefault("progress", False)

    exact = solve_master_equation(model, protocol)
    seeds = np.array([[seed + i * repeats + r for r in range(repeats)] for i in range(len(ntraj))],
                     dtype=np.uint64)
    distances = np.array([[trace_distance(simulate(model, protocol, int(n), int(seeds[i, r]),
                                                   **simulate_kwargs).rho, exact.rho)[keep]
                           for r in range(repeats)] for i, n in enumerate(ntraj)])
    per_run = distances.mean(axis=2)  # (k, repeats)
    distance = per_run.mean(axis=1)
    distance_se = per_run.std(axis=1, ddof=1) / math.sqrt(repeats) if repeats > 1 \
        else np.full(len(ntraj), np.nan)
    x = np.log(np.array(ntraj, float))
    with np.errstate(divide="ignore"):
        y = np.log(distance)
    if np.all(np.isfinite(y)):
        slope, intercept = np.polyfit(x, y, 1)
        # unweighted least squares: slope = sum (x - xbar) y / Sxx, with var(log d) ~ (se / d)^2
        dx = x - x.mean()
        slope_se = math.sqrt(float(np.sum(dx**2 * (distance_se / distance) ** 2))) / float(np.sum(dx**2))
    else:
        slope = intercept = slope_se = math.nan
    return Convergence(np.array(ntraj, np.int64), seeds, np.asarray(protocol.times)[keep], distances,
                       distance, distance_se, float(slope), float(intercept), float(slope_se))
