"""Exact counting statistics (ds.count_distribution, ds.first_jump_density) against closed forms, the
exact mean number of jumps, and QuTiP's stationary current and noise.

Closed forms are written here: a decaying two-level system from the excited state (N = 0 with
probability e^{-gamma t}, else 1; first-jump density gamma e^{-gamma t}) and a channel L = sqrt(gamma) 1,
whose jumps come at the constant rate gamma whatever the state, so N is Poisson(gamma t), also through
measurement rounds and post-selection (the records do not depend on N).
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import darkspin as ds

from reference import SM, SX, SZ

GAMMA = 0.7


def decay_model(gamma: float = GAMMA) -> ds.LindbladModel:
    return ds.LindbladModel(np.zeros((2, 2)), [math.sqrt(gamma) * SM], ["decay"])


def poisson_model(gamma: float = GAMMA) -> ds.LindbladModel:
    # a driven qubit that also decays, plus a state-independent counter channel
    return ds.LindbladModel(0.8 * SX, [math.sqrt(0.3) * SM, math.sqrt(gamma) * np.eye(2)], ["decay", "clock"])


def poisson(mean: np.ndarray, n_max: int) -> np.ndarray:
    n = np.arange(n_max)
    p = np.exp(-mean[:, None]) * mean[:, None] ** n / np.array([math.factorial(k) for k in n])
    return np.concatenate([p, 1.0 - p.sum(axis=1, keepdims=True)], axis=1)


def test_decaying_two_level_closed_form():
    times = np.linspace(0, 6, 13)
    protocol = ds.Protocol(np.array([1.0, 0]), (), times)  # SM = |d><u|: start in u
    P = ds.count_distribution(decay_model(), protocol, n_max=3)
    q = np.exp(-GAMMA * times)
    want = np.stack([q, 1 - q, 0 * q, 0 * q], axis=1)
    np.testing.assert_allclose(P, want, rtol=0, atol=1e-13)
    P1 = ds.count_distribution(decay_model(), protocol, channels="decay", n_max=1)
    np.testing.assert_allclose(P1, want[:, :2], rtol=0, atol=1e-13)
    f = ds.first_jump_density(decay_model(), protocol)
    np.testing.assert_allclose(f[:, 0], GAMMA * q, rtol=1e-12, atol=1e-14)


def test_poisson_counter_through_rounds_and_postselection():
    times = np.linspace(0, 8, 17)
    meas = ds.Measurement(SZ)
    protocol = ds.Protocol(np.array([1.0, 0]), (1.0, 2.5, 4.0), times, measurement=meas)
    want = poisson(GAMMA * times, 6)
    for post in (False, True):
        P = ds.count_distribution(poisson_model(), protocol, channels=["clock"], n_max=6, post=post)
        np.testing.assert_allclose(P, want, rtol=0, atol=1e-12)
    # counting both channels differs from the clock alone (a wrong channel set would not pass above)
    both = ds.count_distribution(poisson_model(), protocol, n_max=6)
    assert np.max(np.abs(both - want)) > 0.05
    # a wrong rate fails the closed form (negative control of the comparison itself)
    wrong = ds.count_distribution(poisson_model(1.05 * GAMMA), protocol, channels="clock", n_max=6)
    assert np.max(np.abs(wrong - want)) > 1e-3


def test_sums_to_one_and_mean_equals_mean_jumps():
    model = ds.SpinPair(lam1=0.3, lam2=0.2)
    protocol = ds.Protocol("ud", (1.0, 2.0, 2.0, 3.5), np.linspace(0, 5, 21))
    mean = ds.mean_jumps(model, protocol)
    labels = model.jump_labels()
    for channels in (None, labels[0], [0, 2]):
        P = ds.count_distribution(model, protocol, channels=channels, n_max=30)
        np.testing.assert_allclose(P.sum(axis=1), 1.0, rtol=0, atol=1e-12)
        assert P.min() >= 0.0
        assert np.max(P[:, -1]) < 1e-12  # n_max is large: nothing in the top cell
        k = np.ones(len(labels), bool) if channels is None else ds.trajectories.counting.channel_mask(channels, labels)
        np.testing.assert_allclose(P @ np.arange(31), mean[:, k].sum(axis=1), rtol=1e-10, atol=1e-13)
    post = ds.count_distribution(model, protocol, n_max=4, post=True)
    np.testing.assert_allclose(post.sum(axis=1), 1.0, rtol=0, atol=1e-12)
    # post-selection changes the distribution (the records select runs)
    assert np.max(np.abs(post - ds.count_distribution(model, protocol, n_max=4))) > 1e-4


def test_first_jump_density_integrates_to_one_minus_no_jump():
    model = ds.SpinPair(lam1=0.3, lam2=0.2)
    protocol = ds.Protocol("ud", (1.0, 2.0), np.linspace(0, 3, 4))
    t = np.linspace(0, 3, 3001)
    f = ds.first_jump_density(model, protocol, times=t).sum(axis=1)
    # Simpson on each smooth piece between rounds (the density jumps at a round)
    from scipy.integrate import simpson

    total = sum(simpson(f[i : i + 1001], x=t[i : i + 1001]) for i in (0, 1000, 2000))
    p0 = ds.no_jump_probability(model, protocol, [3.0])[0]
    assert abs(total - (1 - p0)) < 1e-9
    # the density of one channel alone is the decay of P(N_k = 0)
    labels = model.jump_labels()
    fk = ds.first_jump_density(model, protocol, channels=labels[0], times=[0.5])[0]
    assert np.all(fk[1:] == 0) and fk[0] > 0


def test_long_time_current_and_noise_match_qutip():
    qutip = pytest.importorskip("qutip")
    gamma, omega = 1.0, 0.6
    H = omega * SX
    c = math.sqrt(gamma) * SM
    model = ds.LindbladModel(H, [c], ["decay"])
    t1, t2 = 30.0, 40.0
    protocol = ds.Protocol(np.array([0, 1.0]), (), np.array([0.0, t1, t2]))
    P = ds.count_distribution(model, protocol, n_max=90)
    assert np.max(P[:, -1]) < 1e-12
    n = np.arange(91)
    mean = P @ n
    var = P @ n**2 - mean**2
    third = P @ n**3 - 3 * mean * var - mean**3  # the third cumulant
    L = qutip.liouvillian(qutip.Qobj(H), [qutip.Qobj(c)])
    # qutip 5.3's own steady state of L gave a wrong current here (0.209): hand it the steady state
    rhoss = qutip.steadystate(qutip.Qobj(H), [qutip.Qobj(c)])
    cumulants = qutip.countstat_current_noise(L, [qutip.Qobj(c)], rhoss=rhoss)
    current, noise, skewness = (float(np.real(np.ravel(a)[0])) for a in cumulants)
    assert abs((mean[2] - mean[1]) / (t2 - t1) - current) < 1e-9
    assert abs((var[2] - var[1]) / (t2 - t1) - noise) < 1e-8
    assert abs((third[2] - third[1]) / (t2 - t1) - skewness) < 1e-7


@pytest.mark.parametrize(
    "kwargs, name",
    [
        ({"channels": "nope"}, "channels"),
        ({"channels": [0, 0]}, "channels"),
        ({"channels": []}, "channels"),
        ({"channels": 5}, "channels"),
        ({"n_max": 0}, "n_max"),
        ({"n_max": 2.5}, "n_max"),
        ({"n_max": True}, "n_max"),
        ({"post": "yes"}, "post"),
    ],
)
def test_bad_input_names_the_parameter(kwargs, name):
    protocol = ds.Protocol(np.array([0, 1.0]), (), np.linspace(0, 1, 3))
    with pytest.raises(ValueError, match=name) as info:
        ds.count_distribution(decay_model(), protocol, **kwargs)
    assert "\n" not in str(info.value)
    if "channels" in kwargs:
        with pytest.raises(ValueError, match="channels"):
            ds.first_jump_density(decay_model(), protocol, channels=kwargs["channels"])
    with pytest.raises(ValueError, match="protocol"):
        ds.count_distribution(decay_model(), "protocol")


def test_waiting_time_density_of_pumped_decay_closed_form():
    # incoherent pump d -> u at rate p and decay u -> d at rate g: jumps alternate, so after a decay the
    # wait for the pump is Exp(p) and vice versa; each is half of the stationary jumps
    g, p = 0.7, 0.3
    model = ds.LindbladModel(np.zeros((2, 2)), [math.sqrt(g) * SM, math.sqrt(p) * SM.T], ["decay", "pump"])
    tau = np.linspace(0, 10, 21)
    w = ds.waiting_time_density(model, tau)
    np.testing.assert_allclose(w[:, 0], 0.5 * g * np.exp(-g * tau), rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(w[:, 1], 0.5 * p * np.exp(-p * tau), rtol=1e-12, atol=1e-15)
    # counting the decays only: from one decay to the next is Exp(p) * Exp(g) (a convolution)
    wd = ds.waiting_time_density(model, tau, channels="decay")[:, 0]
    np.testing.assert_allclose(wd, g * p / (g - p) * (np.exp(-p * tau) - np.exp(-g * tau)), rtol=1e-11, atol=1e-15)
    with pytest.raises(ValueError, match="rho"):
        ds.waiting_time_density(decay_model(), tau)  # steady state |d><d|: nothing fires
    with pytest.raises(ValueError, match="channels"):
        ds.waiting_time_density(model, tau, channels="nope")
    with pytest.raises(ValueError, match="times"):
        ds.waiting_time_density(model, [-1.0])


def test_waiting_time_density_integrates_to_one_minus_no_jump():
    # from the state right after a stationary jump, J rho_ss / tr(J rho_ss), the waiting-time density
    # integrates to 1 - P(no jump by tau); that state as a protocol's rho0 gives P(N = 0) independently
    model = ds.SpinPair(lam1=0.3, lam2=0.2, theta=0.4)
    rho = ds.steady_states(model)[0]
    after = sum(L @ rho @ L.conj().T for L in model.jump_operators())
    after /= np.trace(after).real
    tau = np.linspace(0, 20, 2001)
    from scipy.integrate import simpson

    w = ds.waiting_time_density(model, tau).sum(axis=1)
    p0 = ds.count_distribution(model, ds.Protocol(after, (), np.array([0.0, 20.0])), n_max=1)[-1, 0]
    assert abs(simpson(w, x=tau) - (1 - p0)) < 1e-8
    assert 0.05 < 1 - p0 < 0.999  # a non-trivial check


def test_protocols_the_counting_statistics_do_not_cover_are_refused_in_one_line():
    # segments and gates change the generator over time: refused before any work, not silently ignored
    timed = ds.Protocol.paper(n_out=11)
    timed = ds.Protocol(timed.initial, timed.measure_at, timed.times, gates=[(150.0, "flip1")])
    with pytest.raises(ValueError, match="^protocol: exact counting statistics") as err:
        ds.count_distribution(ds.SpinPair(), timed)
    assert "\n" not in str(err.value)
    with pytest.raises(ValueError, match="^protocol: exact counting statistics"):
        ds.first_jump_density(ds.SpinPair(), timed)
