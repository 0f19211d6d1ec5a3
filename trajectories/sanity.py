"""Warnings for inputs that are valid but probably a unit slip (docs/warnings.md).

Each cause warns once per process, in one line, with :class:`UnitSlipWarning`, however many models a
sweep builds; ``warnings.filterwarnings("ignore", category=darkspin.UnitSlipWarning)`` silences them.
The causes (energies and rates of a :class:`~darkspin.SpinPair` in units of its nu):

    bias_below_larmor   V < nu at T = 0: no raising channel, so the singlet never refills
    not_born_markov     a single-spin rate >= 0.1 nu: outside the Born-Markov regime the model assumes
    nothing_happens     every rate summed, times the final time, below 0.01 (but not zero)
    readout_flipped     a readout error above 1/2: the record is more often wrong than right
"""

from __future__ import annotations

import warnings


class UnitSlipWarning(UserWarning):
    """An input that is valid but probably a unit slip (each cause warns once per process).

    Examples
    --------
    >>> import warnings
    >>> import darkspin as ds
    >>> from darkspin.trajectories import sanity
    >>> sanity.reset()  # forget the causes warned about so far in this process
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     flipped = ds.Measurement("zz", readout_error=0.6)  # valid, but more often wrong than right
    >>> [w.category.__name__ for w in caught]
    ['UnitSlipWarning']
    >>> with warnings.catch_warnings():  # how to silence it
    ...     warnings.filterwarnings("ignore", category=ds.UnitSlipWarning)
    ...     flipped = ds.Measurement("zz", readout_error=0.6)
    """


#: Single-spin rate, as a fraction of nu, from which the Born-Markov assumption is doubtful.
BORN_MARKOV_LIMIT = 0.1
#: (sum of the rates) x (final time) below which almost no run sees a jump.
QUIET_LIMIT = 0.01
#: Readout error above which the record is more often wrong than right.
READOUT_LIMIT = 0.5

#: Every cause, by its key.
CAUSES = ("bias_below_larmor", "not_born_markov", "nothing_happens", "readout_flipped")
#: Causes warned about so far in this process.
_WARNED: set[str] = set()

_SILENCE = 'silence: warnings.filterwarnings("ignore", category=darkspin.UnitSlipWarning)'


def warn_once(cause: str, message: str) -> None:
    """Issue ``message`` as a :class:`UnitSlipWarning` unless ``cause`` has warned before in this process.

    Parameters
    ----------
    cause : str
        A short key of the cause (one of the module docstring's names).
    message : str
        One line saying what is odd and why; the way to silence it is appended.
    """
    if cause in _WARNED:  # a set lookup: sweeps build thousands of models
        return
    _WARNED.add(cause)
    warnings.warn(f"{message} ({_SILENCE})", UnitSlipWarning, stacklevel=4)


def reset() -> None:
    """Forget the causes warned about, so each warns again (for tests)."""
    _WARNED.clear()


def check_pair(nu: float, V: float, T: float, largest_rate: float) -> None:
    """Warn (once per cause) if a pair's bias is below nu at T = 0 or a single-spin rate reaches 0.1 nu.

    Parameters
    ----------
    nu, V, T : float
        Larmor frequency, bias and temperature of a validated pair (one energy unit).
    largest_rate : float
        Its largest single-spin rate, max over sectors and spins of kappa_s F_s lam_i (same unit).
    """
    if T == 0.0 and abs(V) < nu:
        warn_once(
            "bias_below_larmor",
            f"SpinPair: V = {V:g} < nu = {nu:g} at T = 0 leaves no raising channel "
            "(V and nu share one energy unit; was V meant in units of nu?)",
        )
    if nu > 0 and largest_rate >= BORN_MARKOV_LIMIT * nu:
        warn_once(
            "not_born_markov",
            f"SpinPair: a single-spin rate {largest_rate:.3g} = {largest_rate / nu:.3g} nu is >= "
            f"{BORN_MARKOV_LIMIT:g} nu, outside the Born-Markov regime the model assumes (lam1, lam2 too large?)",
        )


def check_duration(total_rate: float, t_final: float) -> None:
    """Warn (once) if the rates times the final time are so small that almost nothing happens.

    Zero rates (a closed system) and t_final = 0 are deliberate and never warn.

    Parameters
    ----------
    total_rate : float
        The sum of every channel's rate (rate unit).
    t_final : float
        The protocol's final output time (inverse rate unit).
    """
    if 0 < total_rate * t_final < QUIET_LIMIT:
        warn_once(
            "nothing_happens",
            f"the rates sum to {total_rate:.3g} and the final time is {t_final:g}: their product "
            f"{total_rate * t_final:.2g} << 1, so almost no run sees a jump (times in units of 1/nu?)",
        )


def check_readout(eps_plus: float, eps_minus: float) -> None:
    """Warn (once) for a readout error above 1/2.

    Parameters
    ----------
    eps_plus, eps_minus : float
        The two readout errors, probabilities.
    """
    if max(eps_plus, eps_minus) > READOUT_LIMIT:
        warn_once(
            "readout_flipped",
            f"Measurement: readout error (eps_plus, eps_minus) = ({eps_plus:g}, {eps_minus:g}) above 1/2 makes "
            "the record more often wrong than right (a percentage given as a fraction?)",
        )
