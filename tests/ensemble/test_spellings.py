"""One spelling per quantity: the canonical ones, and the older ones kept for one minor version with a
DeprecationWarning that names the replacement. Also the run settings defined once (RunOptions)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

import darkspin as ds
from darkspin.ensemble import exact_table, postselection_table
from darkspin.trajectories.operators import basis_state

MODEL = ds.SpinPair(lam1=0.2, lam2=0.2)
PROTOCOL = ds.Protocol("ud", (2.0, 4.0), (0.0, 2.0, 4.0, 6.0))


@pytest.fixture(scope="module")
def exact():
    return ds.solve_master_equation(MODEL, PROTOCOL)


@pytest.fixture(scope="module")
def mc():
    return ds.simulate(MODEL, PROTOCOL, 400, 5, progress=False, distributions=True)


def _same_table(a, b) -> None:
    assert a.names == b.names and a.meta == b.meta
    for name in a.names:
        np.testing.assert_array_equal(a[name], b[name])


def test_postselection_table_is_deprecated(mc, exact):
    with pytest.warns(DeprecationWarning, match=r"use result\.postselection\(\)"):
        _same_table(postselection_table(mc), mc.postselection())
    with pytest.warns(DeprecationWarning, match=r"use result\.postselection\(\)"):
        _same_table(postselection_table(mc, 0.9), mc.postselection(0.9))
    with pytest.warns(DeprecationWarning, match=r"use result\.postselection\(\)"):
        _same_table(postselection_table(exact), exact.postselection())
    with pytest.warns(DeprecationWarning), pytest.raises(ValueError, match="must be a MonteCarloResult or"):
        postselection_table("not a result")
    assert ds.postselection_table is postselection_table


def test_exact_table_is_deprecated(exact, mc):
    with pytest.warns(DeprecationWarning, match=r"use exact\.postselection\(\)"):
        _same_table(exact_table(exact), exact.postselection())
    with pytest.warns(DeprecationWarning), pytest.raises(ValueError, match="must be a MasterEquationResult"):
        exact_table(mc)


def test_no_jump_probability_spellings(exact):
    canonical = ds.no_jump_probability(MODEL, PROTOCOL)
    with pytest.warns(DeprecationWarning, match=r"use ds\.no_jump_probability\(result\.model, result\.protocol\)"):
        np.testing.assert_array_equal(exact.p_no_jump, canonical)
    times = [0.5, 3.0, 5.5]
    with pytest.warns(DeprecationWarning, match=r"ds\.no_jump_probability\(result\.model, result\.protocol, times\)"):
        np.testing.assert_array_equal(exact.no_jump_probability(times), ds.no_jump_probability(MODEL, PROTOCOL, times))


def test_mean_jumps_spelling(exact):
    with pytest.warns(DeprecationWarning, match=r"use ds\.mean_jumps\(result\.model, result\.protocol\)"):
        np.testing.assert_array_equal(exact.mean_jumps, ds.mean_jumps(MODEL, PROTOCOL))


def test_batched_results_keep_the_deprecated_jump_attributes():
    (res,) = ds.solve_many([MODEL], PROTOCOL)
    with pytest.warns(DeprecationWarning):
        np.testing.assert_array_equal(res.p_no_jump, ds.no_jump_probability(MODEL, PROTOCOL))


def test_interrupted_is_deprecated(mc):
    assert mc.stats["end_condition"] == "ntraj"
    with pytest.warns(DeprecationWarning, match=r'use result\.stats\["end_condition"\] == "interrupted"'):
        assert mc.interrupted is False


def test_survival_always_returns_the_values(mc):
    h = mc.distributions.first_jump()
    value = h.survival()
    assert isinstance(value, np.ndarray) and value.shape == h.edges.shape
    low, high = h.survival_interval()
    assert np.all(low <= value) and np.all(value <= high)
    low90, high90 = h.survival_interval(confidence_level=0.9)
    assert np.all(low90 >= low) and np.all(high90 <= high)
    with pytest.warns(DeprecationWarning, match=r"survival_interval"):
        old = h.survival(confidence=0.95)
    np.testing.assert_array_equal(old[0], value)
    np.testing.assert_array_equal(old[1], low)
    np.testing.assert_array_equal(old[2], high)
    with pytest.raises(ValueError, match="confidence"):
        h.survival_interval(1.5)


def test_run_options_validate_like_simulate():
    assert ds.RunOptions() == ds.RunOptions(None, None, None, "final_post", None, True)
    with pytest.raises(ValueError, match=r"batch_size must be an integer in \[1, 2\*\*62\], got 0"):
        ds.RunOptions(batch_size=0)
    with pytest.raises(ValueError, match="target_se must be a finite number >= 1e-10, got 0.0"):
        ds.RunOptions(target_se=0.0)
    with pytest.raises(ValueError, match="target must be one of"):
        ds.RunOptions(target="min")
    with pytest.raises(ValueError, match="progress must be True or False, got 1"):
        ds.RunOptions(progress=1)
    with pytest.raises(dataclasses.FrozenInstanceError):
        ds.RunOptions().progress = False
    assert ds.RunOptions(target_se=1).target_se == 1.0 and type(ds.RunOptions(target_se=1).target_se) is float
    with pytest.raises(ValueError, match="max_ntraj must be >= ntraj = 10, got 5"):
        ds.simulate(MODEL, PROTOCOL, 10, 1, options=ds.RunOptions(max_ntraj=5, target_se=0.1, progress=False))


def test_simulate_takes_options_and_keywords(mc):
    opts = ds.RunOptions(batch_size=100, progress=True)
    a = ds.simulate(MODEL, PROTOCOL, 400, 5, options=opts, progress=False, distributions=True)
    assert a.sums.identical(mc.sums)
    with pytest.raises(TypeError, match="unexpected keyword argument 'batchsize'"):
        ds.simulate(MODEL, PROTOCOL, 10, 1, batchsize=5)
    with pytest.raises(ValueError, match="options must be a RunOptions"):
        ds.simulate(MODEL, PROTOCOL, 10, 1, options={"progress": False})


# ---- the singlet population: result.population("S") -------------------------------------------------
SINGLET_FIELDS = {  # deprecated field -> the matching part of population("S")
    "singlet": "value",
    "singlet_se": "se",
    "singlet_post": "value_post",
    "singlet_post_se": "se_post",
}


def _bits(x: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(x, np.float64).view(np.uint64)


@pytest.mark.parametrize("ntraj", [400, 1], ids=["run", "one_run_nan_se"])
def test_singlet_population_is_the_kernel_sums_bit_for_bit(ntraj):
    mc = ds.simulate(MODEL, PROTOCOL, ntraj, 5, progress=False)
    pop = mc.population("S")
    assert pop.value.dtype == pop.value_post.dtype == complex and pop.se.dtype == pop.se_post.dtype == float
    for field, part in SINGLET_FIELDS.items():
        with pytest.warns(
            DeprecationWarning, match=rf"^MonteCarloResult\.{field} is deprecated; use result\.population"
        ):
            old = getattr(mc, field)
        new = getattr(pop, part)
        if part.startswith("value"):
            assert np.all(new.imag == 0)
            new = new.real
        assert old.dtype == new.dtype and np.array_equal(_bits(old), _bits(new)), field  # NaN in the same places
    if ntraj == 1:
        assert np.all(np.isnan(pop.se)) and np.all(np.isnan(pop.se_post))


def test_singlet_deprecation_messages(mc):
    replacements = {
        "singlet": "value.real",
        "singlet_se": "se",
        "singlet_post": "value_post.real",
        "singlet_post_se": "se_post",
    }
    for field, tail in replacements.items():
        with pytest.warns(DeprecationWarning) as record:
            getattr(mc, field)
        assert [str(w.message) for w in record] == [
            f"MonteCarloResult.{field} is deprecated; use result.population('S').{tail}"
        ]
        assert record[0].filename == __file__  # attributed to the caller


def test_singlet_population_spellings_agree(mc):
    by_label = mc.population("S")
    singlet = basis_state("S")
    for v in (singlet, -singlet, 1j * singlet, np.exp(0.3j) * singlet):
        same = mc.population(v)
        for a, b in zip(by_label, same, strict=True):
            np.testing.assert_array_equal(a, b)
    # the exact standard error is never above the bound expect gives
    bound = mc.expect(np.outer(singlet, singlet.conj()))
    np.testing.assert_allclose(by_label.value, bound.value, rtol=0, atol=1e-11)
    assert np.all(by_label.se <= bound.se + 1e-12)


def test_other_states_keep_the_expect_bound(mc):
    for state in ("T1", "ud", np.array([0, 1, 1, 0]) / np.sqrt(2)):
        v = basis_state(state) if isinstance(state, str) else state.astype(complex)
        bound = mc.expect(np.outer(v, v.conj()))
        for a, b in zip(mc.population(state), bound, strict=True):
            np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match="normalised"):
        mc.population(basis_state("S") + 0.5 * basis_state("T1"))  # |<S|v>| = 1, but not a state
    with pytest.raises(ValueError, match="normalised"):
        mc.population(np.array([0, 1, -1, 0, 0]) / np.sqrt(2))


def test_exact_singlet_population_is_unchanged(exact):
    s = basis_state("S")
    for a, b in zip(exact.population("S"), exact.expect(np.outer(s, s.conj())), strict=True):
        np.testing.assert_array_equal(a, b)


def test_singlet_needs_two_spins():
    model = ds.LindbladModel(
        np.diag([0.0, 1.0, 2.0]).astype(complex), [0.3 * np.diag([1.0, -1.0, 0.0]).astype(complex)], ["dephasing"]
    )
    mc = ds.simulate(model, ds.Protocol(np.array([1.0, 0, 0]), (), (0.0, 1.0)), 4, 1, progress=False)
    with pytest.raises(ValueError, match="named states exist for two spins"):
        mc.population("S")
    v = np.array([1.0, 0, 0])
    for a, b in zip(mc.population(v), mc.expect(np.outer(v, v)), strict=True):
        np.testing.assert_array_equal(a, b)
