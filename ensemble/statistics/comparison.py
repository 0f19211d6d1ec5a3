"""Monte Carlo against the exact master equation: one family-wise verdict over every test.

The families of tests each have their own builder: :mod:`.density_tests` (every element of rho and
rho_post), :mod:`.success_tests` (per-round success counts), :mod:`.record_tests` (record strings) and
:mod:`.jump_tests` (jump statistics, with distributions) and :mod:`.count_tests` (the count
distributions, with distributions). The statistics are documented in
:func:`compare`; their false-alarm rates and power are measured in tests/test_calibration.py and
benchmarks/calibration.py.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from ..results.master_equation import MasterEquationResult
from ..results.monte_carlo import MonteCarloResult
from .count_tests import CountTests, count_tests
from .density_tests import density_tests
from .goodness_of_fit import GoodnessOfFit
from .jump_tests import JumpTests, jump_family, jump_tests
from .record_tests import record_tests
from .significance import MIN_COUNT, sigma_from_p
from .success_tests import success_tests
from .trace_distance import trace_distance

#: Default family-wise threshold in sigma: the verdict is "consistent" while the Bonferroni-corrected
#: smallest p-value is >= erfc(THRESHOLD / sqrt 2) = 0.27 %. See :func:`compare`.
THRESHOLD = 3.0


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
    records: that G-test (:class:`GoodnessOfFit`, None without record tables); jumps, counts: the jump
    and count-distribution tests (:class:`JumpTests`, :class:`CountTests`; None without distributions);
    p_min, the smallest single-test p-value; p_value = min(1, n_tests p_min), the Bonferroni-corrected
    family-wise p-value; sigma, its normal-equivalent (two-sided); max_z, the largest single-test |z|
    (= sigma_from_p(p_min));
    threshold (sigma); consistent: sigma <= threshold (False when nothing could be tested or a value is
    NaN); verdict: 'consistent',
    'inconsistent at X sigma' (X = sigma; '> 37' where p underflows), 'inconsistent: ...' (NaN against a value) or
    'inconclusive: ...'; worst: where p_min occurs (kind 'rho', 'rho_post', 'p_success' or 'nan').

    Attributes
    ----------
    times : numpy.ndarray, shape (n,)
        The output times compared.
    ntraj : int
        Trajectories behind the Monte Carlo result.
    trace_distance, trace_distance_post : numpy.ndarray, shape (n,)
        Trace distance between the estimated and the exact rho (rho_post) at each time.
    z_max, z_max_post : numpy.ndarray, shape (n,)
        The largest element z at each time.
    z_elements, z_elements_post : numpy.ndarray, shape (n, d, d)
        Each element's normal-equivalent z.
    z_success, p_success_mc, p_success_exact, attempts : numpy.ndarray, shape (R,)
        The per-round success tests.
    n_tests : int
        The size of the family.
    p_min, p_value, sigma, max_z, threshold : float
        The smallest single-test p-value, the family-wise p-value, its sigma, the largest |z| and the threshold.
    consistent : bool
        sigma <= threshold.
    verdict : str
        'consistent', 'inconsistent at X sigma', 'inconsistent: ...' or 'inconclusive: ...'.
    worst : dict
        Where p_min occurs.
    records : GoodnessOfFit or None
        The G-test of the record strings.

    Examples
    --------
    >>> import darkspin as ds
    >>> protocol = ds.Protocol.paper(n_out=11)
    >>> mc = ds.simulate(ds.SpinPair(), protocol, ntraj=500, seed=1, progress=False)
    >>> result = ds.compare(mc, ds.solve_master_equation(ds.SpinPair(), protocol))
    >>> result.consistent, result.times.shape
    (True, (11,))
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
    counts: CountTests | None = None

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
        elif w.get("kind") == "count_distribution":
            lines.append(
                f"  worst: the count distribution of {'+'.join(w['channels'])} at t = {w['time']:.6g}"
                f" ({'post-selected' if w['post'] else 'all runs'}, G-test), {w['z']:.2f} sigma alone"
            )

        def mx(a: np.ndarray) -> str:
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
        if self.counts is not None:
            lines.append(f"  {self.counts}")
        if self.n_tests:
            lines.append(
                f"  {self.n_tests} tests, smallest p-value {self.p_min:.3g}; Bonferroni-corrected "
                f"p = {self.p_value:.3g} ({self.sigma:.2f} sigma)"
            )
        lines.append(f"  verdict (family-wise threshold {self.threshold:g} sigma): {self.verdict}")
        return "\n".join(lines)


def _check_same_grid(mc: MonteCarloResult, exact: MasterEquationResult) -> None:
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
        with sparse cells pooled (:func:`.record_tests`), one more test;
      * with distributions (``simulate(..., distributions=True)``): the mean number of jumps per run in
        each channel by the final time against the exact time integral of its rate, and the first-jump
        survival on the time grid against the exact no-jump probability (:func:`jump_tests`), K + 1
        more tests; and the histogram of the count N of every channel set at every output time, over
        all runs and the post-selected ones, against :func:`darkspin.count_distribution` (G-tests with
        sparse cells pooled, :func:`.count_tests`), one test per histogram with min_count runs.
    Elements identical in every trajectory and equal to the exact value within SE_FLOOR (coherences
    between S_z sectors, which every run keeps at exactly 0; the initial state) are tested but not
    counted: they cannot give a small p-value.
    Verdict: with m tests and smallest p-value p_min, the Bonferroni-corrected p = min(1, m p_min)
    bounds the chance that a correct simulation gives any p-value this small, whatever the correlations
    between times and elements. The run is "consistent" while sigma_from_p(p) <= threshold, so the
    false-alarm rate of a correct run is at most erfc(threshold / sqrt 2) (0.27 % at the default 3;
    measured rates are lower, see tests/test_calibration.py).
    Never "consistent" about missing data: a NaN on one side where the other has a value (e.g. a NaN in
    the Monte Carlo rho, or an exact rho_post NaN where trajectories were post-selected) makes it
    "inconsistent: ..."; ntraj = 0, or no matrix element with min_count trajectories (even if the success
    counts pass), "inconclusive: ...".

    threshold: family-wise threshold in sigma, a finite number > 0. min_count: integer >= 2.
    Returns a :class:`Comparison`.

    Parameters
    ----------
    mc_result : MonteCarloResult
        Trajectory estimates of a protocol.
    exact_result : MasterEquationResult
        The exact solution of the same model and protocol (same output times, instruments and rule).
    threshold : float
        The family-wise threshold in sigma (default 3, two-sided p = 0.27 %), a finite number > 0.
    min_count : int
        Fewest runs an estimate needs to be tested (fewer: the element is left out of the family).

    Returns
    -------
    Comparison
        Every test, the Bonferroni-corrected p-value and the verdict (``str(result)`` is a report).

    Raises
    ------
    ValueError
        Before any test, for results of different protocols, times, dimensions or instruments, a result of
        the wrong type, or a threshold that is not a finite number > 0.

    Examples
    --------
    >>> import darkspin as ds
    >>> protocol = ds.Protocol.paper(n_out=11)
    >>> mc = ds.simulate(ds.SpinPair(), protocol, ntraj=500, seed=1, progress=False)
    >>> ds.compare(mc, ds.solve_master_equation(ds.SpinPair(), protocol)).verdict
    'consistent'
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
    ntraj = int(mc_result.ntraj)
    td = trace_distance(mc_result.rho, exact_result.rho)
    td_post = trace_distance(mc_result.rho_post, exact_result.rho_post)
    density = density_tests(mc_result, exact_result, min_count)
    success = success_tests(mc_result, exact_result)
    records, record_family = record_tests(mc_result, exact_result)
    jumps = jump_tests(mc_result, exact_result, min_count)
    counts, count_family = count_tests(mc_result, exact_result, min_count)
    # the family of tests, in the order their smallest p-values are reported
    families = (density.family, success.family, record_family, jump_family(mc_result, jumps), count_family)
    candidates = [c for f in families for c in f.candidates]
    mismatch = [m for f in families for m in f.mismatch]
    n_tests = sum(f.n_tests for f in families)
    n_element_tests = density.n_tested
    z_el = density.z
    zs, attempts, p_exact = success.z, success.attempts, success.p_exact

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
        counts=counts,
    )
