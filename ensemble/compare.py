"""Monte Carlo against the exact master equation: per-element and per-round tests whose variances do not
collapse when a rare path was never sampled, one family-wise verdict over all of them, trace distances,
and the 1/sqrt(ntraj) convergence of the estimate.

The statistics are documented in :func:`compare`; their false-alarm rates and power are measured in
tests/ensemble/test_calibration.py and benchmarks/calibration.py.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from ..trajectories.operators import BASIS_LABELS
from ..trajectories.plan import Model, check_model
from ..trajectories.protocol import Protocol
from ..trajectories.rng import SEED_MAX
from .goodness_of_fit import GoodnessOfFit, g_test
from .master_equation import MasterEquationResult, solve_master_equation
from .result import MonteCarloResult
from .simulation import resolve_seed, simulate

#: Floor on an element's effective standard error. Elements that are identical in every trajectory and
#: exactly known (t = 0, coherences a measurement has removed) have a variance bound of 0; their deviation
#: is then only rounding: the kernel's fixed-point sums resolve 2^-40 ~ 1e-12 and expm is accurate to
#: ~1e-13, so 1e-10 keeps such z far below 1 while any physical deviation stands out.
SE_FLOOR = 1e-10

#: Default minimum number of contributing trajectories for an element test: with fewer, even the
#: Student-t treatment of the sample variance is too rough for the far tails a family-wise test probes.
MIN_COUNT = 20

#: Default family-wise threshold in sigma: the verdict is "consistent" while the Bonferroni-corrected
#: smallest p-value is >= erfc(THRESHOLD / sqrt 2) = 0.27 %. See :func:`compare`.
THRESHOLD = 3.0


def _upper(d: int) -> np.ndarray:
    """The independent elements (i <= j) of a Hermitian d x d matrix, (d, d) bool."""
    return np.triu(np.ones((d, d), bool))


def _labels(d: int) -> tuple[str, ...]:
    """Basis-state names: uu, ud, du, dd for two spins, else 0 .. d-1."""
    return BASIS_LABELS if d == 4 else tuple(str(i) for i in range(d))


def trace_distance(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """0.5 * sum |eigenvalues(a - b)| of Hermitian (..., d, d) arrays; shape (...), NaN where either has NaN."""
    d = np.asarray(a) - np.asarray(b)
    flat = d.reshape(-1, *d.shape[-2:])
    out = np.full(flat.shape[0], np.nan)
    ok = np.all(np.isfinite(flat), axis=(-2, -1))
    if np.any(ok):
        h = flat[ok]
        h = 0.5 * (h + np.conj(np.swapaxes(h, -1, -2)))  # remove rounding-level anti-Hermitian parts
        out[ok] = 0.5 * np.sum(np.abs(np.linalg.eigvalsh(h)), axis=-1)
    return out.reshape(d.shape[:-2])


def sigma_from_p(p) -> np.ndarray:
    """Two-sided normal-equivalent significance of p-values: z with P(|N(0,1)| >= z) = p.

    p in [0, 1] (any shape); 1 -> 0, 0 -> inf, NaN -> NaN. Returns a float array (a float for scalars).
    """
    from scipy.special import ndtri  # scipy.special costs 0.2 s to import: only when comparing

    p = np.asarray(p, float)
    with np.errstate(invalid="ignore", divide="ignore"):
        z = np.where(p >= 1.0, 0.0, -ndtri(np.clip(p, 0.0, 1.0) / 2.0))
    z = np.where(np.isnan(p), np.nan, z)
    return float(z) if z.ndim == 0 else z


def variance_bound(exact: np.ndarray) -> np.ndarray:
    """Largest per-trajectory variance of each element consistent with the exact state; (..., d, d).

    A trajectory contributes x_ij = psi_i psi_j^* with a_i = |psi_i|^2 in [0, 1] and a_i + a_j <= 1, and
    the exact rho is the mean of x. Populations: Var x_ii = E a_i^2 - p_i^2 <= p_i (1 - p_i) with
    p_i = rho_ii. Coherences: Var x_ij = E a_i a_j - |rho_ij|^2 and a_i a_j <= a_i (1 - a_i), so by
    Jensen Var x_ij <= min(p_i (1 - p_i), p_j (1 - p_j)) - |rho_ij|^2 (>= 0 since |rho_ij|^2 <= p_i p_j).
    NaN where exact is NaN.
    """
    exact = np.asarray(exact)
    p = np.clip(np.real(np.diagonal(exact, axis1=-2, axis2=-1)), 0.0, 1.0)  # (..., d)
    d = p.shape[-1]
    q = p * (1.0 - p)
    v = np.minimum(q[..., :, None], q[..., None, :]) - np.abs(exact) ** 2
    eye = np.eye(d, dtype=bool)
    v = np.where(eye, q[..., :, None] * np.ones(d), v)
    return np.maximum(v, 0.0)


def element_p_values(est, se, exact, count, min_count: int = MIN_COUNT) -> np.ndarray:
    """Two-sided p-values of |est - exact| for each element, (n, d, d); NaN where not tested.

    est, exact: (n, d, d) complex means; se: (n, d, d) sample standard errors of the complex means;
    count: the contributing trajectories N, broadcasting to (n, 1, 1). With d = |est - exact|, the
    sample variance s^2 = N se^2 and the exact-state bound V of :func:`variance_bound`, each element is
    tested two ways, neither of which collapses when no trajectory took a rare path:

    * exact-state bound: per-run values differ from their mean by at most b = 1 and vary by at most V,
      so by Bernstein's inequality the mean deviates by d with probability <= 2 exp(-z1^2 / 2),
      z1 = d / sqrt((V + b d / 3) / N); p1 is the normal tail of z1 (a little below that bound; the
      d / 3 term is what keeps an excess of rare runs from looking like a many-sigma event).
    * guarded sample variance: runs that were not sampled but move the mean by d add at most b d to the
      variance, so z2 = d / sqrt((s^2 + b d) / N); p2 is the Student t tail with N - 1 degrees of freedom.
      (For a rare outcome of expected count lambda of which none was seen, z2 = sqrt(lambda).)

    z1 is exact-based and wins where trajectories are spread over rare outcomes; z2 wins where every
    run is close to the mean (variance far below V). The element's p-value is 2 min(p1, p2) (Bonferroni
    over the two), capped at 1. Effective standard errors are floored at :data:`SE_FLOOR`. NaN where
    N < min_count or any input is NaN.
    """
    from scipy.special import ndtr, stdtr

    est, exact = np.asarray(est), np.asarray(exact)
    se = np.asarray(se, float)
    count = np.broadcast_to(np.asarray(count, float), est.shape)
    d = np.abs(est - exact)
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        n = np.where(count > 0, count, np.nan)
        s1 = np.maximum(np.sqrt((variance_bound(exact) + d / 3.0) / n), SE_FLOOR)
        s2 = np.maximum(np.sqrt((n * se**2 + d) / n), SE_FLOOR)
        p1 = 2.0 * ndtr(-d / s1)
        p2 = 2.0 * stdtr(np.maximum(n - 1.0, 1.0), -d / s2)
        p = np.minimum(1.0, 2.0 * np.minimum(p1, p2))
    ok = (count >= min_count) & np.isfinite(d) & np.isfinite(se) & np.isfinite(p)
    return np.where(ok, p, np.nan)


def success_p_values(successes, attempts, p) -> np.ndarray:
    """Exact two-sided binomial p-values of the success counts per round, shape (rounds,).

    successes k of n attempts with exact conditional success probability p:
    min(1, 2 min(P(X <= k), P(X >= k))) for X ~ Binomial(n, p), exact in the tails (no normal
    approximation, so one rare failure where 0.02 were expected is not a 6-sigma event). For p = 0 or
    1 an impossible count gives 0. NaN where n = 0 or p is NaN (nothing to test).
    """
    from scipy.special import bdtr, bdtrc

    k = np.asarray(successes, float)
    n = np.asarray(attempts, float)
    p = np.asarray(p, float)
    ok = (n > 0) & np.isfinite(p)
    pp = np.where(ok, np.clip(p, 0.0, 1.0), 0.5)
    nn = np.where(ok, n, 1.0).astype(np.int64)
    kk = np.where(ok, k, 0.0)
    below = bdtr(kk, nn, pp)  # P(X <= k)
    above = np.where(kk >= 1, bdtrc(np.maximum(kk - 1.0, 0.0), nn, pp), 1.0)  # P(X >= k)
    out = np.minimum(1.0, 2.0 * np.minimum(below, above))
    return np.where(ok, out, np.nan)


def success_z(successes, attempts, p) -> np.ndarray:
    """Signed normal-equivalent z of the success counts per round, shape (rounds,).

    sign(k - n p) times :func:`sigma_from_p` of the exact binomial p-value of :func:`success_p_values`:
    0 where the count is as expected, +-inf for an impossible count (p = 0 or 1), NaN where n = 0 or p
    is NaN.
    """
    k = np.asarray(successes, float)
    n = np.asarray(attempts, float)
    z = np.asarray(sigma_from_p(success_p_values(successes, attempts, p)), float)
    with np.errstate(invalid="ignore"):
        sign = np.sign(k - n * np.asarray(p, float))
    return np.where(np.isnan(z), np.nan, np.where(z == 0, 0.0, sign * z))


def _nanmax_rows(z: np.ndarray) -> np.ndarray:
    flat = z.reshape(z.shape[0], -1)
    out = np.full(z.shape[0], np.nan)
    ok = np.any(~np.isnan(flat), axis=1)
    out[ok] = np.nanmax(flat[ok], axis=1)
    return out


@dataclasses.dataclass(frozen=True, eq=False)
class Comparison:
    """A Monte Carlo result against the exact solution of the same protocol (see :func:`compare`).

    Per output time (n,): trace_distance, trace_distance_post (NaN where undefined); z_max, z_max_post:
    the largest element z at that time (NaN where nothing was tested). z_elements, z_elements_post
    (n, d, d): each element's normal-equivalent z = :func:`sigma_from_p` of its p-value (NaN where not
    tested, inf where one side is NaN and the other has a value).
    Per round (R,): z_success (exact binomial, signed normal-equivalent), p_success_mc, p_success_exact,
    attempts.
    Whole run: n_tests, the tests counted (independent elements at every time, rho and rho_post, except
    those identical in every run and equal to the exact value; rounds; the record-string G-test);
    records: that G-test (:class:`GoodnessOfFit`, None without record tables); p_min, the smallest
    single-test p-value; p_value = min(1, n_tests p_min), the Bonferroni-corrected family-wise p-value;
    sigma, its normal-equivalent (two-sided); max_z, the largest single-test |z| (= sigma_from_p(p_min));
    threshold (sigma); consistent: sigma <= threshold (False when nothing could be tested or a value is
    NaN); verdict: 'consistent',
    'inconsistent at X sigma' (X = sigma; '> 37' where p underflows), 'inconsistent: ...' (NaN against a value) or
    'inconclusive: ...'; worst: where p_min occurs (kind 'rho', 'rho_post', 'p_success' or 'nan').
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
    n_tests: int = 0
    p_min: float = math.nan
    p_value: float = math.nan
    sigma: float = math.nan
    records: GoodnessOfFit | None = None
    jumps: JumpTests | None = None

    def __str__(self) -> str:
        w = self.worst
        lines = [
            f"Monte Carlo ({self.ntraj} trajectories) vs master equation, {self.times.size} output times, "
            f"{self.z_success.size} rounds"
        ]
        if w.get("kind") in ("rho", "rho_post"):
            lines.append(
                f"  worst element: {w['kind']}[{w['element']}] at t = {w['time']:.6g}: "
                f"{w['z']:.2f} sigma alone (deviation {w['deviation']:.3g}, {w['count']} trajectories)"
            )
        elif w.get("kind") == "p_success":
            lines.append(
                f"  worst: round {w['round']}, {w['successes']} successes of {w['attempts']} "
                f"({w['expected']:.6g} expected): {w['z']:.2f} sigma alone"
            )
        elif w.get("kind") == "nan":
            lines.append(f"  {w['what']}")
        elif w.get("kind") == "records":
            lines.append(f"  worst: the record strings (G-test), {w['z']:.2f} sigma alone")
        elif w.get("kind") == "mean_jumps":
            lines.append(f"  worst: mean jumps in channel {w['channel']}, {w['z']:.2f} sigma alone")
        elif w.get("kind") == "first_jump":
            lines.append(f"  worst: the first-jump survival (DKW), {w['z']:.2f} sigma alone")

        def mx(a):
            a = a[np.isfinite(a)]
            return f"{a.max():.3g}" if a.size else "n/a"

        lines.append(
            f"  trace distance: max {mx(self.trace_distance)} (unconditional), "
            f"{mx(self.trace_distance_post)} (post-selected)"
        )
        lines.append(f"  largest element z: {mx(self.z_max)} (unconditional), {mx(self.z_max_post)} (post-selected)")
        zs = ", ".join("-" if np.isnan(z) else f"{z:+.2f}" for z in self.z_success)
        lines.append(f"  success z per round (exact binomial): {zs or 'none'}")
        if self.records is not None:
            lines.append(f"  {self.records}")
        if self.jumps is not None:
            lines.append(f"  {self.jumps}")
        if self.n_tests:
            lines.append(
                f"  {self.n_tests} tests, smallest p-value {self.p_min:.3g}; Bonferroni-corrected "
                f"p = {self.p_value:.3g} ({self.sigma:.2f} sigma)"
            )
        lines.append(f"  verdict (family-wise threshold {self.threshold:g} sigma): {self.verdict}")
        return "\n".join(lines)


@dataclasses.dataclass(frozen=True)
class JumpTests:
    """The jump statistics of a run with distributions against their exact values.

    mean_jumps_z (K,): per channel, the signed z of the mean number of jumps per run by the final time,
    (mc - exact) / sqrt((s^2 + |mc - exact|) / N) (s^2 the sample variance; the |mc - exact| term is the
    variance unsampled runs could add, counts moving in steps of 1, so a channel no run fired in is
    not a false alarm); mean_jumps_p (K,) its two-sided Student-t p-value; survival_distance: the largest
    |S_mc(t) - S_exact(t)| of the first-jump survival over the time grid (edges past the final output time,
    where runs stop, compare with S_exact(t_final)); survival_p: its
    Dvoretzky-Kiefer-Wolfowitz bound min(1, 2 exp(-2 N D^2)), valid for any distribution.
    """

    mean_jumps_z: np.ndarray
    mean_jumps_p: np.ndarray
    survival_distance: float
    survival_p: float

    def __str__(self) -> str:
        zs = ", ".join("-" if np.isnan(z) else f"{z:+.2f}" for z in self.mean_jumps_z)
        return (
            f"mean jumps per channel z: {zs or 'none'}; first-jump survival: max deviation "
            f"{self.survival_distance:.3g} (DKW p = {self.survival_p:.3g})"
        )


def jump_tests(mc: MonteCarloResult, exact: MasterEquationResult, min_count: int = MIN_COUNT) -> JumpTests | None:
    """:class:`JumpTests` of a result with distributions (None without, or with fewer than min_count runs)."""
    from scipy.special import stdtr

    dist = mc.distributions
    N = int(mc.ntraj)
    if dist is None or N < min_count:
        return None
    est, se = dist.mean_jumps[-1], dist.mean_jumps_se[-1]
    ex = np.asarray(exact.mean_jumps)[-1]
    dev = est - ex
    with np.errstate(invalid="ignore", divide="ignore"):
        s_eff = np.maximum(np.sqrt(se**2 + np.abs(dev) / N), SE_FLOOR)
        z = dev / s_eff
        p = np.minimum(1.0, 2.0 * stdtr(N - 1.0, -np.abs(z)))
    h = dist.first_jump()
    # runs stop at the final output time: past it a run that has not jumped never will
    t = np.minimum(h.edges, exact.protocol.t_final)
    D = float(np.max(np.abs(h.survival() - exact.no_jump_probability(t))))
    # the survival values are exact at the edges up to ~1e-13: no deviation below that is real
    D = 0.0 if D <= 1e-12 else D
    return JumpTests(z, p, D, float(min(1.0, 2.0 * math.exp(-2.0 * N * D * D))))


def _check_same_grid(mc: MonteCarloResult, exact: MasterEquationResult):
    t1, t2 = np.asarray(mc.protocol.times), np.asarray(exact.protocol.times)
    if t1.shape != t2.shape or not np.array_equal(t1, t2):
        raise ValueError(
            f"mc_result and exact_result must share the output times; got {t1.size} and {t2.size} times that differ"
        )
    m1, m2 = np.asarray(mc.protocol.measure_at), np.asarray(exact.protocol.measure_at)
    if m1.shape != m2.shape or not np.array_equal(m1, m2):
        raise ValueError(
            f"mc_result and exact_result must share the measurement rounds; got measure_at "
            f"{m1.tolist()} and {m2.tolist()}"
        )
    d1, d2 = np.shape(mc.rho)[-1], np.shape(exact.rho)[-1]
    if d1 != d2:
        raise ValueError(f"mc_result and exact_result must have one dimension; got d = {d1} and d = {d2}")
    if mc.protocol.measurements != exact.protocol.measurements:
        raise ValueError("mc_result and exact_result must share the measurement instruments; they differ")
    if mc.protocol.selection != exact.protocol.selection:
        raise ValueError(
            f"mc_result and exact_result must share the post-selection rule; got "
            f"{mc.protocol.postselect!r} and {exact.protocol.postselect!r}"
        )


def _nan_mismatch(est, se, exact, count):
    """(n, d, d) bool: one side is NaN while the other has a value (count >= 1 trajectories)."""
    has = np.broadcast_to(np.asarray(count) >= 1, est.shape)
    bad_mc = ~np.isfinite(est) | (np.broadcast_to(np.asarray(count) >= 2, est.shape) & ~np.isfinite(se))
    return has & (bad_mc | ~np.isfinite(exact)) & _upper(est.shape[-1])


def compare(
    mc_result: MonteCarloResult,
    exact_result: MasterEquationResult,
    threshold: float = THRESHOLD,
    min_count: int = MIN_COUNT,
) -> Comparison:
    """Test a Monte Carlo result against the exact master-equation result of the same protocol.

    Both must share output times and measurement times (ValueError otherwise); the models and initial
    states are not checked, since detecting a difference there is the point of the comparison.

    Tests (each gives a two-sided p-value):
      * every independent element (i <= j) of rho at every output time, N = ntraj, and of rho_post,
        N = n_post at that time, when N >= min_count: :func:`element_p_values` (variances bounded by
        the exact state, so a rare path no trajectory took is not a false alarm);
      * every round's success count against the exact conditional probability, with attempts = the
        runs post-selected after the previous round (ntraj for the first) and successes = those still
        post-selected after this one: :func:`success_p_values` (exact binomial);
      * the counts of the record strings (R <= 16 rounds) against their exact probabilities: a G-test
        with sparse cells pooled (:func:`darkspin.ensemble.goodness_of_fit.g_test`), one more test;
      * with distributions (``simulate(..., distributions=True)``): the mean number of jumps per run in
        each channel by the final time against the exact time integral of its rate, and the first-jump
        survival on the time grid against the exact no-jump probability (:func:`jump_tests`), K + 1
        more tests.
    Elements identical in every trajectory and equal to the exact value within SE_FLOOR (coherences
    between S_z sectors, which every run keeps at exactly 0; the initial state) are tested but not
    counted: they cannot give a small p-value.
    Verdict: with m tests and smallest p-value p_min, the Bonferroni-corrected p = min(1, m p_min)
    bounds the chance that a correct simulation gives any p-value this small, whatever the correlations
    between times and elements. The run is "consistent" while sigma_from_p(p) <= threshold, so the
    false-alarm rate of a correct run is at most erfc(threshold / sqrt 2) (0.27 % at the default 3;
    measured rates are lower, see tests/ensemble/test_calibration.py).
    Never "consistent" about missing data: a NaN on one side where the other has a value (e.g. a NaN in
    the Monte Carlo rho, or an exact rho_post NaN where trajectories were post-selected) makes it
    "inconsistent: ..."; ntraj = 0, or no matrix element with min_count trajectories (even if the success
    counts pass), "inconclusive: ...".

    threshold: family-wise threshold in sigma, a finite number > 0. min_count: integer >= 2.
    Returns a :class:`Comparison`.
    """
    if not isinstance(mc_result, MonteCarloResult):
        raise ValueError(f"mc_result must be a MonteCarloResult, got {type(mc_result).__name__}")
    if not isinstance(exact_result, MasterEquationResult):
        raise ValueError(f"exact_result must be a MasterEquationResult, got {type(exact_result).__name__}")
    if (
        isinstance(threshold, bool)
        or not isinstance(threshold, (int, float, np.floating))
        or not math.isfinite(threshold)
        or threshold <= 0
    ):
        raise ValueError(f"threshold must be a finite number > 0 (family-wise, in sigma), got {threshold!r}")
    if isinstance(min_count, bool) or not isinstance(min_count, (int, np.integer)) or min_count < 2:
        raise ValueError(f"min_count must be an integer >= 2, got {min_count!r}")
    _check_same_grid(mc_result, exact_result)

    n = mc_result.times.size
    ntraj = int(mc_result.ntraj)
    names = _labels(np.shape(exact_result.rho)[-1])
    times = np.asarray(mc_result.times)
    td = trace_distance(mc_result.rho, exact_result.rho)
    td_post = trace_distance(mc_result.rho_post, exact_result.rho_post)
    kinds = {
        "rho": (
            np.asarray(mc_result.rho),
            np.asarray(mc_result.rho_se),
            np.asarray(exact_result.rho),
            np.full((n, 1, 1), ntraj),
        ),
        "rho_post": (
            np.asarray(mc_result.rho_post),
            np.asarray(mc_result.rho_post_se),
            np.asarray(exact_result.rho_post),
            np.asarray(mc_result.n_post)[:, None, None],
        ),
    }
    p_el, z_el, counted, mismatch = {}, {}, {}, []
    for kind, (est, se, ex, count) in kinds.items():
        p = element_p_values(est, se, ex, count, min_count)
        bad = _nan_mismatch(est, se, ex, count) if ntraj > 0 else np.zeros(est.shape, bool)
        z = np.asarray(sigma_from_p(p), float)
        z = np.where(bad | bad.swapaxes(-1, -2), np.inf, z)
        p_el[kind], z_el[kind] = np.where(_upper(est.shape[-1]), p, np.nan), z
        # identical in every run and equal to the exact value: a structural zero (a coherence between S_z
        # sectors) or an exactly known element; it cannot give a small p-value, so it is not counted
        with np.errstate(invalid="ignore"):
            trivial = (se == 0) & (np.abs(est - ex) <= SE_FLOOR)
        counted[kind] = int(np.count_nonzero(~np.isnan(p_el[kind]) & ~trivial))
        for t, i, j in zip(*np.nonzero(bad), strict=True):
            side = "Monte Carlo" if not np.isfinite(est[t, i, j]) or not np.isfinite(se[t, i, j]) else "exact"
            mismatch.append(
                f"{side} {kind}[{names[i]},{names[j]}] is NaN at t = {times[t]:.6g} "
                f"where the other side has a value ({int(np.ravel(count)[t if np.size(count) > 1 else 0])}"
                f" trajectories)"
            )

    # of the runs post-selected before round k (all runs for k = 0), those still post-selected after it
    succ = np.asarray(mc_result.n_kept, np.int64)
    attempts = np.concatenate([[ntraj], np.asarray(mc_result.n_success, np.int64)])[: succ.size]
    p_exact = np.asarray(exact_result.p_success, float)
    p_succ = success_p_values(succ, attempts, p_exact)
    zs = success_z(succ, attempts, p_exact)
    for k in np.flatnonzero((attempts > 0) & np.isnan(p_exact)):
        mismatch.append(f"exact p_success of round {k + 1} is NaN where the Monte Carlo has {attempts[k]} attempts")
        zs[k] = math.inf

    # the family of tests
    candidates = []  # (p, description)
    for kind in kinds:
        p = p_el[kind]
        if np.any(~np.isnan(p)):
            flat = int(np.nanargmin(p))
            t, i, j = np.unravel_index(flat, p.shape)
            est, _, ex, count = kinds[kind]
            candidates.append(
                (
                    float(p[t, i, j]),
                    {
                        "kind": kind,
                        "time": float(times[t]),
                        "time_index": int(t),
                        "element": f"{names[i]},{names[j]}",
                        "index": (int(i), int(j)),
                        "deviation": float(abs(est[t, i, j] - ex[t, i, j])),
                        "count": int(np.broadcast_to(count, (n, 1, 1))[t, 0, 0]),
                    },
                )
            )
    if np.any(~np.isnan(p_succ)):
        k = int(np.nanargmin(p_succ))
        candidates.append(
            (
                float(p_succ[k]),
                {
                    "kind": "p_success",
                    "round": k + 1,
                    "successes": int(succ[k]),
                    "attempts": int(attempts[k]),
                    "expected": float(attempts[k] * p_exact[k]),
                },
            )
        )
    records = None
    counts, probs = np.asarray(mc_result.record_counts), np.asarray(exact_result.record_probabilities)
    if ntraj > 0 and counts.size and counts.shape == probs.shape:
        records = g_test(counts, probs / probs.sum())
        if not math.isnan(records.p_value):
            candidates.append(
                (
                    records.p_value,
                    {
                        "kind": "records",
                        "statistic": records.statistic,
                        "dof": records.dof,
                        "impossible": records.impossible,
                    },
                )
            )
    jumps = jump_tests(mc_result, exact_result, min_count)
    n_jump_tests = 0
    if jumps is not None:
        for k in np.flatnonzero(np.isfinite(jumps.mean_jumps_p)):
            n_jump_tests += 1
            labels = tuple(mc_result.model.jump_labels())
            candidates.append(
                (float(jumps.mean_jumps_p[k]), {"kind": "mean_jumps", "channel": labels[k] if labels else str(k)})
            )
        n_jump_tests += 1
        candidates.append((jumps.survival_p, {"kind": "first_jump", "distance": jumps.survival_distance}))
    n_element_tests = int(sum(np.count_nonzero(~np.isnan(p)) for p in p_el.values()))
    n_tests = (
        sum(counted.values())
        + int(np.count_nonzero(~np.isnan(p_succ)))
        + int(records is not None and not math.isnan(records.p_value))
        + n_jump_tests
    )

    p_min = p_value = sigma = max_z = math.nan
    worst: dict = {}
    if candidates:
        p_min, worst = min(candidates, key=lambda c: c[0])
        max_z = float(sigma_from_p(p_min))
        worst = {**worst, "z": max_z, "p_value": p_min}
        p_value = min(1.0, max(n_tests, 1) * p_min)
        sigma = float(sigma_from_p(p_value))
    if mismatch:
        consistent = False
        verdict = f"inconsistent: {mismatch[0]}" + (f" (and {len(mismatch) - 1} more)" if len(mismatch) > 1 else "")
        worst = {"kind": "nan", "what": mismatch[0], "count": len(mismatch)}
        p_min = p_value = 0.0
        sigma = max_z = math.inf
    elif ntraj == 0:
        consistent, verdict = False, "inconclusive: no trajectories"
    elif candidates and sigma > threshold:
        consistent = False
        # p underflows to 0 beyond ~37.5 sigma
        verdict = f"inconsistent at {sigma:.1f} sigma" if math.isfinite(sigma) else "inconsistent at > 37 sigma"
    elif not n_element_tests:
        consistent = False
        verdict = f"inconclusive: no matrix element has min_count = {min_count} trajectories to test"
    else:
        consistent, verdict = True, "consistent"
    z_success = np.asarray(zs, float)
    for a in (td, td_post, z_el["rho"], z_el["rho_post"], z_success):
        a.setflags(write=False)
    return Comparison(
        times=mc_result.times,
        ntraj=ntraj,
        trace_distance=td,
        trace_distance_post=td_post,
        z_max=_nanmax_rows(z_el["rho"]),
        z_max_post=_nanmax_rows(z_el["rho_post"]),
        z_elements=z_el["rho"],
        z_elements_post=z_el["rho_post"],
        z_success=z_success,
        p_success_mc=np.asarray(mc_result.p_success, float),
        p_success_exact=p_exact,
        attempts=attempts,
        threshold=float(threshold),
        max_z=float(max_z),
        consistent=consistent,
        verdict=verdict,
        worst=worst,
        n_tests=n_tests,
        p_min=float(p_min),
        p_value=float(p_value),
        sigma=float(sigma),
        records=records,
        jumps=jumps,
    )


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
        lines = [
            "Convergence of rho to the exact solution (trace distance averaged over t > 0"
            + (f" and {self.repeats} runs per point)" if self.repeats > 1 else ")"),
            f"{'ntraj':>10}  {'distance':>10}  {'se':>9}",
        ]
        lines += [
            f"{n:>10d}  {d:>10.4g}  {e:>9.2g}"
            for n, d, e in zip(self.ntraj, self.distance, self.distance_se, strict=True)
        ]
        err = f" +- {self.slope_se:.3f}" if np.isfinite(self.slope_se) else ""
        lines.append(f"slope of log distance vs log ntraj: {self.slope:+.3f}{err} (expected -0.5)")
        return "\n".join(lines)


def convergence(
    model: Model, protocol: Protocol, ntraj_list, seed: int | None = None, *, repeats: int = 1, **simulate_kwargs
) -> Convergence:
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
    if not isinstance(protocol, Protocol):
        raise ValueError(f"protocol must be a Protocol, got {type(protocol).__name__}")
    check_model(model, protocol)
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
        raise ValueError(f"seed must be <= 2**64 - len(ntraj_list) * repeats so that every run's seed fits, got {seed}")
    keep = np.asarray(protocol.times) > 0
    if not np.any(keep):
        raise ValueError("protocol must have at least one output time > 0")
    simulate_kwargs.setdefault("progress", False)

    exact = solve_master_equation(model, protocol)
    seeds = np.array([[seed + i * repeats + r for r in range(repeats)] for i in range(len(ntraj))], dtype=np.uint64)
    distances = np.array(
        [
            [
                trace_distance(simulate(model, protocol, int(n), int(seeds[i, r]), **simulate_kwargs).rho, exact.rho)[
                    keep
                ]
                for r in range(repeats)
            ]
            for i, n in enumerate(ntraj)
        ]
    )
    per_run = distances.mean(axis=2)  # (k, repeats)
    distance = per_run.mean(axis=1)
    distance_se = per_run.std(axis=1, ddof=1) / math.sqrt(repeats) if repeats > 1 else np.full(len(ntraj), np.nan)
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
    return Convergence(
        np.array(ntraj, np.int64),
        seeds,
        np.asarray(protocol.times)[keep],
        distances,
        distance,
        distance_se,
        float(slope),
        float(intercept),
        float(slope_se),
    )
