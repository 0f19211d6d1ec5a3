"""The 2 x 2 closed form of the no-jump propagator exp(-i A tau): cosh/sinh of the half-splitting with a
Taylor series for small arguments, exact at and near exceptional points (the same operations as
``propagator.block_propagator``).
"""

from __future__ import annotations

import numpy as np
from numba import njit

#: Below |w^2| = 0.09 the Taylor series of cosh(w) and sinh(w)/w is used (error < 1e-19).
_SERIES_Z = 0.09


@njit(cache=True)
def pair_propagator(
    h00: complex, h01: complex, h10: complex, h11: complex, tau: float
) -> tuple[complex, complex, complex, complex]:
    """exp(-i A tau) for A = [[h00, h01], [h10, h11]].

    The formula and operation order of ``propagator.block_propagator`` (its 2 x 2 block), so results
    are bit-identical to it; exact at and near exceptional points.

    Parameters
    ----------
    h00, h01, h10, h11 : complex
        The entries of A (energy unit).
    tau : float
        >= 0 (time, inverse energy unit).

    Returns
    -------
    U00, U01, U10, U11 : complex
        exp(-i A tau), row-major.
    """
    a = -1j * h00
    b = -1j * h01
    c = -1j * h10
    d = -1j * h11
    m = 0.5 * (a + d)
    ha = 0.5 * (a - d)
    z = (ha * ha + b * c) * (tau * tau)
    if abs(z) < _SERIES_Z:
        # cosh(w) = sum z^k/(2k)!, sinh(w)/w = sum z^k/(2k+1)!
        ch = 1.0 + 0j
        sh = 1.0 + 0j
        term_c = 1.0 + 0j
        term_s = 1.0 + 0j
        for k in range(1, 9):
            term_c = term_c * z / ((2 * k - 1) * (2 * k))
            term_s = term_s * z / ((2 * k) * (2 * k + 1))
            ch += term_c
            sh += term_s
        em = np.exp(m * tau)
        ch *= em
        sh *= em
    else:
        # combine exponents first: e^{m tau} and cosh(w) may overflow separately
        w = np.sqrt(z)
        ep = np.exp(m * tau + w)
        en = np.exp(m * tau - w)
        ch = 0.5 * (ep + en)
        sh = 0.5 * (ep - en) / w
    st = sh * tau
    return ch + st * ha, st * b, st * c, ch - st * ha
