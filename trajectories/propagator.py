"""Exact no-jump propagator exp(-i H_eff tau) in closed form.

H_eff conserves total S_z for this model (H, the DM z-term and every L^dag L do), so it is block
diagonal: |uu> (1 x 1), {|ud>, |du>} (2 x 2), |dd> (1 x 1). For a 2 x 2 block A = -i M,
    exp(A tau) = e^{m tau} [cosh(w) 1 + tau sinh(w)/w (A - m 1)],
    m = (a + d)/2,  w^2 = tau^2 ((a - d)^2/4 + b c)   for A = [[a, b], [c, d]].
cosh(w) and sinh(w)/w are entire functions of w^2, so the
formula stays exact at and near exceptional points where H_eff is (nearly) defective, where an
eigen-decomposition loses all accuracy.
"""

from __future__ import annotations

import numpy as np
from numba import njit

#: Below |w^2| = 0.09 the Taylor series of cosh(w) and sinh(w)/w is used (error < 1e-19).
_SERIES_Z = 0.09

#: Largest allowed off-block element of H_eff relative to its norm.
BLOCK_TOL = 1e-14


def check_block_structure(heff: np.ndarray) -> None:
    """Raise NotImplementedError if H_eff (4, 4) is not block diagonal in total S_z."""
    mask = np.ones((4, 4), bool)
    mask[0, 0] = mask[3, 3] = False
    mask[1:3, 1:3] = False
    scale = max(np.abs(heff).max(), 1e-300)
    if np.abs(heff[mask]).max() > BLOCK_TOL * scale:
        raise NotImplementedError("the closed-form propagator needs H_eff block diagonal in total S_z")


@njit(cache=True)
def block_propagator(heff, tau):
    """exp(-i H_eff tau) as (u_uu, U00, U01, U10, U11, u_dd): the 1 + 2 + 1 blocks, complex scalars.

    heff: (4, 4) complex, block diagonal in S_z; tau >= 0 (time, inverse energy unit).
    """
    a = -1j * heff[1, 1]
    b = -1j * heff[1, 2]
    c = -1j * heff[2, 1]
    d = -1j * heff[2, 2]
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
    return (np.exp(-1j * heff[0, 0] * tau), ch + st * ha, st * b, st * c, ch - st * ha, np.exp(-1j * heff[3, 3] * tau))


@njit(cache=True)
def propagator_matrix(heff, tau):
    """exp(-i H_eff tau) as a (4, 4) complex matrix."""
    u0, b00, b01, b10, b11, u3 = block_propagator(heff, tau)
    U = np.zeros((4, 4), np.complex128)
    U[0, 0] = u0
    U[1, 1] = b00
    U[1, 2] = b01
    U[2, 1] = b10
    U[2, 2] = b11
    U[3, 3] = u3
    return U
