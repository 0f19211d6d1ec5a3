"""The exact solver with the general instruments of issue 22 (Kraus instruments, monitored windows, feedback
on the rule state) against a brute force written here: one branch per record prefix, each propagated
with exp of the full Liouvillian (and, through a window, of a count-resolved hierarchy built here from
the jump operators), on random models. Everything agrees to 1e-10.

Also: eta = 0 without dark clicks never clicks; a window of length 0 gives -1 with certainty; a long
window with eta = 1 converges to the projector on the sector the channel sees; a Kraus instrument that
is the projector gives the projective results bit for bit.
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.linalg

import darkspin as ds
from darkspin.trajectories.lindblad import LindbladModel

from reference import SZ, k1, k2

TOL = 1e-10


def _sup(K: np.ndarray) -> np.ndarray:
    return np.kron(K, K.conj())


def random_model(d: int, K: int, seed: int) -> LindbladModel:
    rng = np.random.default_rng(seed)
    A = rng.normal(size=(d, d)) + 1j * rng.normal(size=(d, d))
    H = 0.3 * (A + A.conj().T)
    jumps = 0.25 * (rng.normal(size=(K, d, d)) + 1j * rng.normal(size=(K, d, d)))
    return LindbladModel(H, jumps, [f"c{k}" for k in range(K)])


def random_kraus(d: int, n_plus: int, n_minus: int, seed: int) -> dict[int, list[np.ndarray]]:
    """A complete random instrument: A_j S^{-1/2} with S = sum A^dag A."""
    rng = np.random.default_rng(seed)
    A = rng.normal(size=(n_plus + n_minus, d, d)) + 1j * rng.normal(size=(n_plus + n_minus, d, d))
    S = np.einsum("kji,kjl->il", A.conj(), A)
    w, v = np.linalg.eigh(S)
    root = v @ np.diag(w**-0.5) @ v.conj().T
    M = [a @ root for a in A]
    return {1: M[:n_plus], -1: M[n_plus:]}


def brute_force(model, protocol) -> dict[str, np.ndarray]:
    """rho, rho_post, p_success and the record probabilities, by walking the tree of record prefixes."""
    d = protocol.rho0.shape[0]
    L = np.asarray(model.liouvillian(), complex)
    jumps = np.asarray(model.jump_operators(), complex)
    labels = list(model.jump_labels())
    tr, acc = protocol.selection.transitions, protocol.selection.accepting
    R = protocol.rounds
    # branches: (code, rule state, vec of rho or level stack (levels, d^2))
    branches = [(0, 0, protocol.rho0.reshape(-1).astype(complex))]
    window = None  # (generator, levels)
    out_rho, out_post = [], []
    p_success = np.full(R, np.nan)
    events = []
    for k, m in enumerate(protocol.measurements):
        if isinstance(m, ds.Monitor):
            events.append((protocol.measure_at[k], 0, 2 * k, "open", k))
            events.append((protocol.measure_at[k] + m.duration, 0, 2 * k + 1, "record", k))
        else:
            events.append((protocol.measure_at[k], 0, 2 * k + 1, "record", k))
    events += [(t, 1, i, "out", i) for i, t in enumerate(protocol.times)]
    events.sort(key=lambda e: (e[0], e[1], e[2]))
    t = 0.0
    for te, _, _, what, k in events:
        if te > t:
            E = scipy.linalg.expm((L if window is None else window[0]) * (te - t))
            branches = [(c, s, E @ v) for c, s, v in branches]
            t = te
        if what == "out":
            vs = [(s, v if window is None else v.reshape(window[1], d * d).sum(0)) for _, s, v in branches]
            rho = sum(v for _, v in vs).reshape(d, d)
            post = sum((v for s, v in vs if acc[s]), np.zeros(d * d, complex)).reshape(d, d)
            out_rho.append(rho)
            out_post.append(post / np.trace(post).real)
            continue
        m = protocol.measurements[k]
        if what == "open":
            n = m.threshold
            J = sum(_sup(jumps[c if isinstance(c, int) else labels.index(c)]) for c in m.channels)
            up = m.efficiency * J + m.dark_rate * np.eye(d * d)
            G = np.zeros(((n + 1) * d * d, (n + 1) * d * d), complex)
            for lev in range(n + 1):
                blk = slice(lev * d * d, (lev + 1) * d * d)
                G[blk, blk] = L if lev == n else L - up
                if lev < n:
                    G[(lev + 1) * d * d : (lev + 2) * d * d, blk] = up
            window = (G, n + 1)
            branches = [(c, s, np.concatenate([v, np.zeros(n * d * d, complex)])) for c, s, v in branches]
            continue
        new = []
        pre = kept = 0.0
        for c, s, v in branches:
            for r, rec in enumerate((1, -1)):
                if window is not None:
                    lv = v.reshape(window[1], d * d)
                    part = lv[-1] if rec == 1 else lv[:-1].sum(0)
                    U, on = m.unitaries(s, d)
                    w = _sup(U[r]) @ part if on[r] else part
                else:
                    w = (
                        sum(wt * _sup(Kop) @ v for wt, Kop in m.weighted_kraus(s)[r])
                        if m.weighted_kraus(s)[r]
                        else 0 * v
                    )
                s2 = int(tr[k, s, r])
                new.append((c + (2**k if rec == 1 else 0), s2, w))
                mass = np.trace(w.reshape(d, d)).real
                if acc[s]:
                    pre += mass
                    if acc[s2]:
                        kept += mass
        p_success[k] = kept / pre
        branches = new
        window = None
    rec = np.zeros(2**R)
    for c, _, v in branches:
        rec[c] += np.trace(v.reshape(d, d)).real
    return {"rho": np.array(out_rho), "rho_post": np.array(out_post), "p_success": p_success, "records": rec}


def check(model, protocol):
    ex = ds.solve_master_equation(model, protocol)
    bf = brute_force(model, protocol)
    assert np.max(np.abs(ex.rho - bf["rho"])) < TOL
    assert np.max(np.abs(ex.rho_post - bf["rho_post"])) < TOL
    assert np.max(np.abs(ex.p_success - bf["p_success"])) < TOL
    assert np.max(np.abs(ex.record_probabilities - bf["records"])) < TOL
    assert abs(ex.record_probabilities.sum() - 1.0) < TOL
    return ex


@pytest.mark.parametrize("seed", [1, 2])
@pytest.mark.parametrize("threshold", [1, 2])
def test_monitor_matches_brute_force(seed, threshold):
    model = random_model(3, 3, seed)
    mon = ds.Monitor(["c1", 2], duration=1.3, efficiency=0.7, dark_rate=0.4, threshold=threshold)
    p = ds.Protocol(np.eye(3)[0], (0.5, 1.8, 3.1), np.linspace(0.0, 5.0, 21), measurement=mon)
    ex = check(model, p)
    first_plus = ex.record_probabilities[1::2].sum()
    assert 0.02 < first_plus < 0.98  # both records of round 1 matter


def test_monitor_with_history_feedback_and_kraus_rounds():
    model = random_model(4, 2, 7)
    kr = ds.Measurement(kraus=random_kraus(4, 2, 3, 8), feedback={(-1, 0): np.eye(4)[[1, 0, 3, 2]]})
    mon = ds.Monitor([0], duration=0.9, efficiency=0.55, dark_rate=0.3, threshold=2, feedback={(1, 0): np.eye(4)[::-1]})
    p = ds.Protocol(
        np.full(4, 0.5),
        (0.4, 1.3, 2.2, 3.1),
        np.linspace(0.0, 4.0, 17),
        measurement=[mon, kr, mon, kr],
        postselect="last",
    )
    check(model, p)


@pytest.mark.parametrize("seed", [3, 4])
def test_kraus_matches_brute_force(seed):
    model = random_model(3, 2, seed)
    kr = ds.Measurement(kraus=random_kraus(3, 2, 3, seed + 10), feedback={1: np.eye(3)[[2, 0, 1]]})
    p = ds.Protocol(np.eye(3)[1], (0.7, 1.4, 2.1), np.linspace(0.0, 3.0, 13), measurement=kr)
    check(model, p)


@pytest.mark.filterwarnings("ignore::darkspin.PostSelectionUndefinedWarning")  # records certain: nothing kept
def test_history_feedback_flips_only_on_the_first_plus():
    model = random_model(4, 2, 5)
    flip = {(1, 0): "flip1"}
    p = ds.Protocol("ud", (0.5, 1.0, 1.5), np.linspace(0.0, 2.0, 9), measurement=ds.Measurement("zz", feedback=flip))
    check(model, p)
    # against a hand computation without jumps: H = 0, no channels; 'uu' -> +1 flips to 'du' once only
    free = LindbladModel(np.zeros((4, 4)), np.zeros((0, 4, 4)))
    pz = ds.Protocol("uu", (1.0, 2.0), np.linspace(0.0, 3.0, 4), measurement=ds.Measurement("zz", feedback=flip))
    ex = ds.solve_master_equation(free, pz)
    # round 1: uu (+1) -> du; round 2: du gives -1, no flip: the records are (+1, -1) with certainty
    assert ex.record_probabilities[1] == pytest.approx(1.0, abs=TOL)
    pz2 = ds.Protocol("uu", (1.0, 2.0), np.linspace(0.0, 3.0, 4), measurement=ds.Measurement("z1", feedback=flip))
    ex2 = ds.solve_master_equation(free, pz2)
    # z1: uu -> +1, flip -> du -> -1 (state 1 after a +1 under 'all'): records (+1, -1)
    assert ex2.record_probabilities[1] == pytest.approx(1.0, abs=TOL)
    always = ds.Protocol(
        "uu", (1.0, 2.0), np.linspace(0.0, 3.0, 4), measurement=ds.Measurement("z1", feedback={1: "flip1", -1: "flip1"})
    )
    # a plain flip on every record: uu -> (+1) du -> (-1) uu: also (+1, -1), but the final state differs
    ex3 = ds.solve_master_equation(free, always)
    assert ex3.rho[-1][0, 0].real == pytest.approx(1.0, abs=TOL)
    assert ex2.rho[-1][2, 2].real == pytest.approx(1.0, abs=TOL)


def test_kraus_projector_is_bit_identical_to_the_projective_instrument():
    model = ds.SpinPair()
    p0 = ds.Protocol.paper(51)
    pk = ds.Protocol("ud", p0.measure_at, p0.times, measurement=ds.Measurement.weak("zz", 1.0))
    a, b = ds.solve_master_equation(model, p0), ds.solve_master_equation(model, pk)
    for x, y in ((a.rho, b.rho), (a.rho_post, b.rho_post), (a.p_success, b.p_success)):
        assert np.array_equal(x, y)
    assert np.array_equal(a.record_probabilities, b.record_probabilities)


def test_eta_zero_never_clicks_and_zero_window_gives_minus():
    model = random_model(3, 2, 9)
    for mon in (ds.Monitor([0, 1], 1.5, efficiency=0.0), ds.Monitor([0], 0.0, efficiency=1.0, dark_rate=5.0)):
        p = ds.Protocol(np.eye(3)[0], (0.5, 2.5), np.linspace(0.0, 4.0, 9), measurement=mon)
        ex = ds.solve_master_equation(model, p)
        assert ex.record_probabilities[0] == pytest.approx(1.0, abs=TOL)  # (-1, -1)
        assert np.allclose(ex.p_success, 1.0, atol=TOL)
        assert np.max(np.abs(ex.rho_post - ex.rho)) < TOL  # the window only reads


def dephasing_only(g: float = 0.3) -> LindbladModel:
    """Two spins precessing and exchange-coupled (H commutes with tau_z tau_z), one dephasing channel
    sqrt(g)(tau_z1 + tau_z2): it fires in |uu> and |dd> only."""
    base = ds.SpinPair(J_ex=0.05)
    return LindbladModel(base.hamiltonian(), [np.sqrt(g) * (k1(SZ) + k2(SZ))], ["deph"])


@pytest.mark.parametrize("D", [5.0, 20.0, 40.0])
def test_long_window_converges_to_the_projector(D):
    model = dephasing_only()
    psi = np.array([0.6, 0.5, -0.3, 0.0], complex)
    psi[3] = np.sqrt(1 - np.sum(np.abs(psi) ** 2))
    times = np.linspace(0.0, 100.0, 11)
    mon = ds.Protocol(psi, (10.0,), times, measurement=ds.Monitor(["deph"], D, efficiency=1.0))
    proj = ds.Protocol(psi, (10.0,), times, measurement=ds.Measurement("zz"))
    a, b = ds.solve_master_equation(model, mon), ds.solve_master_equation(model, proj)
    # |uu>, |dd> fire at rate 4 g: a click is missed with probability exp(-4 g D)
    miss = np.exp(-4 * 0.3 * D)
    p_plus = abs(psi[0]) ** 2 + abs(psi[3]) ** 2
    assert a.record_probabilities[1] == pytest.approx(p_plus * (1 - miss), abs=1e-12)
    assert abs(a.record_probabilities[1] - b.record_probabilities[1]) <= p_plus * miss + 1e-12
    # after the window the post-selected (-1) states agree up to the missed part: populations by
    # exp(-4 g D), coherences with |uu>, |dd> by its square root (an amplitude)
    later = times >= 10.0 + D
    assert np.max(np.abs(a.rho_post[later] - b.rho_post[later])) <= 2 * np.sqrt(miss) / (1 - p_plus) + 1e-10


def test_solve_many_agrees_with_the_point_solver():
    model = ds.SpinPair(lam1=0.2, lam2=0.2)
    times = np.linspace(0.0, 8.0, 17)
    protocols = [
        ds.Protocol("ud", (1.0, 3.0, 5.0), times, measurement=ds.Measurement.weak("zz", 0.5)),
        ds.Protocol("uu", (1.0, 3.0, 5.0), times, measurement=ds.Monitor(["dephasing[0]"], 1.0, 0.7, 0.1, 2)),
        ds.Protocol("uu", (1.0, 3.0, 5.0), times, measurement=ds.Measurement("zz", feedback={(1, 0): "flip1"})),
    ]
    many = ds.solve_many([model] * 3, protocols)
    for p, got in zip(protocols, many, strict=True):
        want = ds.solve_master_equation(model, p)
        assert np.max(np.abs(got.rho - want.rho)) < 1e-12
        assert np.max(np.abs(got.rho_post - want.rho_post)) < 1e-12
        assert np.max(np.abs(got.record_probabilities - want.record_probabilities)) < 1e-12


def test_jump_statistics_of_a_window_without_feedback_and_the_refusals():
    model = random_model(3, 2, 11)
    times = np.linspace(0.0, 4.0, 9)
    mon = ds.Protocol(np.eye(3)[0], (0.5, 2.0), times, measurement=ds.Monitor([0], 1.0, 0.6, 0.2))
    bare = ds.Protocol(np.eye(3)[0], (), times, measurement=[])
    # a window only reads: on average it leaves the state, and so the jump statistics, alone
    assert np.max(np.abs(ds.mean_jumps(model, mon) - ds.mean_jumps(model, bare))) < 1e-12
    assert np.max(np.abs(ds.no_jump_probability(model, mon) - ds.no_jump_probability(model, bare))) < 1e-12
    flip = np.eye(3)[[1, 0, 2]]
    for m in (ds.Monitor([0], 1.0, feedback={1: flip}), ds.Measurement(np.diag([1.0, -1, 1]), feedback={(1, 0): flip})):
        p = ds.Protocol(np.eye(3)[0], (0.5, 2.0), times, measurement=m)
        with pytest.raises(ValueError, match="jump statistics are not available"):
            ds.mean_jumps(model, p)
