"""``darkspin spectra``: Fig. 2, the correlation spectra C1, C2, C3, with the peaks found next to the
lines Eq. 9 predicts."""

from __future__ import annotations

import argparse
from collections.abc import Iterable

from .errors import CLIError
from .output import output_folder


def _numbers(values: Iterable[float]) -> str:
    return " ".join(f"{x:.4f}" for x in values) or "-"


def cmd_spectra(args: argparse.Namespace) -> int:
    """Run ``darkspin spectra``.

    Parameters
    ----------
    args : argparse.Namespace
        omega_max (units of nu), out, format.

    Returns
    -------
    int
        0.

    Raises
    ------
    CLIError
        If omega_max is not > 0 (exit 2).
    """
    import numpy as np

    from ...trajectories.model import SpinPair
    from .. import figures, report
    from ..spectra import find_peaks, spectra, transition_lines

    if args.omega_max <= 0:
        raise CLIError(f"--omega-max must be > 0, got {args.omega_max:g}")
    with output_folder(args.out) as out:
        omega = np.linspace(0.0, args.omega_max, 4001)
        panels, lines = {}, {}
        print(f"{'point':<14} {'C':<3} {'predicted (Eq. 9)':<40} found peaks")
        for label, dm in (("exchange only", False), ("with DM", True)):
            model = SpinPair.paper_fig2(with_dm=dm)
            panels[label] = spectra(model, omega)
            lines[label] = transition_lines(model)
            for c in ("C1", "C2", "C3"):
                pred = lines[label][c]
                found = find_peaks(omega, panels[label][c])
                print(f"{label:<14} {c:<3} {_numbers(pred):<40} {_numbers(found)}")
        name = report.save_figure(out, "spectra", args.format, figures.spectra_figure(omega, panels, lines))
    print(
        "(frequencies in units of nu; SpinPair.paper_fig2: V = 10 nu, J_ex = 2 nu; with DM also "
        "J_DM = 2 nu, phi = pi/4)"
    )
    print(f"wrote {out / name}")
    return 0
