"""UnitSlipWarning: valid inputs that are probably a unit slip warn once per cause, in one line, and a
filter silences them; the paper's default model and protocol never warn."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import darkspin as ds
from darkspin.trajectories import sanity
from darkspin.trajectories.plan import check_model


@pytest.fixture(autouse=True)
def fresh() -> None:
    """Every test starts with no cause warned yet (the once-per-process memory is global)."""
    sanity.reset()
    yield
    sanity.reset()


def _slips(build) -> list[warnings.WarningMessage]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        build()
    return [w for w in caught if issubclass(w.category, ds.UnitSlipWarning)]


def test_is_a_user_warning() -> None:
    assert issubclass(ds.UnitSlipWarning, UserWarning)


def test_paper_defaults_do_not_warn() -> None:
    def build() -> None:
        for model in (
            ds.SpinPair(),
            ds.SpinPair.paper_fig3_left(),
            ds.SpinPair.paper_fig2(),
            ds.SpinPair.paper_fig2(with_dm=True),
            ds.SpinPair(lam1=0.001, lam2=0.001),  # the rare-jump regime of the tests: 0.34 jumps per run
        ):
            ds.solve_master_equation(model, ds.Protocol.paper(11))
        ds.Measurement(readout_error=0.5)  # a coin flip is odd, but not more wrong than right
        ds.Measurement(readout_error=(0.0, 0.3))

    assert _slips(build) == []


@pytest.mark.parametrize(
    "build, cause",
    [
        (lambda: ds.SpinPair(V=0.5), "bias_below_larmor"),
        (lambda: ds.SpinPair(lam1=0.2, lam2=0.2), "not_born_markov"),
        (lambda: ds.SpinPair(V=1.25, lam1=0.0, lam2=0.089), "not_born_markov"),  # 0.5 * 2.25 * 0.089 = 0.1001
        (lambda: check_model(ds.SpinPair(), ds.Protocol("ud", [], [0.0, 0.2])), "nothing_happens"),
        (lambda: ds.Measurement(readout_error=0.9), "readout_flipped"),
        (lambda: ds.Measurement(readout_error=(0.0, 0.51)), "readout_flipped"),
    ],
)
def test_each_cause_warns_once_in_one_line(build, cause: str) -> None:
    first = _slips(build)
    assert len(first) == 1
    text = str(first[0].message)
    assert "\n" not in text
    assert 'warnings.filterwarnings("ignore", category=darkspin.UnitSlipWarning)' in text
    assert cause in sanity._WARNED
    assert _slips(build) == []  # the same cause again: silent


@pytest.mark.parametrize(
    "build",
    [
        lambda: ds.SpinPair(V=0.5, T=0.2),  # thermal raising: deliberate
        lambda: ds.SpinPair(V=1.0),  # V = nu: the edge itself, no slip
        lambda: ds.SpinPair(nu=0.0, V=0.0),  # no Zeeman splitting at all
        lambda: ds.SpinPair(lam1=0.088, lam2=0.0),  # 0.5 * 2.25 * 0.088 = 0.099 nu < 0.1 nu
        lambda: ds.SpinPair(lam1=0.0, lam2=0.0),  # a closed system: zero rates are deliberate
        lambda: check_model(ds.SpinPair(lam1=0.0, lam2=0.0), ds.Protocol("ud", [], [0.0, 0.2])),
        lambda: check_model(ds.SpinPair(), ds.Protocol("ud", [], [0.0])),  # t_final = 0
        lambda: check_model(ds.SpinPair(), ds.Protocol("ud", [], [0.0, 0.3])),  # 0.039 * 0.3 > 0.01
    ],
)
def test_no_warning_where_the_input_is_deliberate(build) -> None:
    assert _slips(build) == []


def test_a_sweep_of_many_slipped_models_warns_once() -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ds.sweep(ds.SpinPair(), ds.Protocol.paper(3), {"V": list(np.linspace(0.1, 0.9, 30))})
    slips = [w for w in caught if issubclass(w.category, ds.UnitSlipWarning)]
    assert len(slips) == 1 and "V = 0.1 < nu = 1" in str(slips[0].message)


def test_distinct_causes_each_warn() -> None:
    slips = _slips(lambda: ds.SpinPair(V=0.5, lam1=0.3, lam2=0.3))
    assert len(slips) == 2


def test_the_filter_in_the_message_silences_it() -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        warnings.filterwarnings("ignore", category=ds.UnitSlipWarning)
        ds.SpinPair(V=0.5)
        ds.Measurement(readout_error=0.9)
    assert caught == []


def test_rates_match_the_kossakowski_matrices() -> None:
    pair = ds.SpinPair(T=0.3, V=1.7, lam1=0.03, lam2=0.02, theta=0.4, phi=0.2)
    largest, total = pair.rates()
    diag = [np.real(np.diag(K)) for K, _ in pair.kossakowski().values()]
    assert largest == pytest.approx(max(float(d.max()) for d in diag), rel=1e-12)
    assert total == pytest.approx(sum(float(d.sum()) for d in diag), rel=1e-12)
