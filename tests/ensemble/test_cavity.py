"""A driven damped cavity against the exact solver (issue 20): H_eff one non-normal block on the Schur path.

H = E (a + a^dag), L = sqrt(kappa) a with E = kappa = 1, truncated at d = 16 (cond(V) ~ 8e3, so the
block takes the Schur-Pade path and the kernel's jump times the stepped search of
trajectories/stepping.py), from the Fock state |2> (from |0> the state would stay coherent, a|alpha> =
alpha|alpha>, and every run would carry the same state whatever its jump times). The operators are
built here from numpy arrays, never from darkspin code. Monte Carlo is compared with
ds.solve_master_equation element-wise on the whole output grid in units of its standard error
(reference.element_z, fixed seed, 5 sigma), and its mean number of jumps by each output time (which
the jump times alone decide) with ds.mean_jumps; the same runs against the exact answers of a cavity
with kappa = 1.1 must fail both (the negative control).
"""

from __future__ import annotations

import model_builders
import numpy as np
import pytest

import darkspin as ds
from darkspin.trajectories.plan import compile_plan

from reference import element_z

D = 16
NTRAJ = 5000
SEED = 20


def cavity(d: int, kappa: float = 1.0) -> tuple[ds.LindbladModel, ds.Protocol]:
    """The driven damped cavity of :mod:`model_builders` from Fock state 2, 21 outputs on [0, 10]."""
    return model_builders.cavity(d, kappa=kappa, start=2, t_final=10.0, n_out=21)


@pytest.mark.statistical
def test_cavity_monte_carlo_matches_exact_and_a_wrong_kappa_fails():
    model, protocol = cavity(D)
    assert compile_plan(model, protocol).step_h > 0  # the stepped search is what is tested
    mc = ds.simulate(model, protocol, NTRAJ, SEED, progress=False, distributions=True, target_state=protocol.rho0[:, 2])
    assert mc.distributions is not None
    jumps, jumps_se = mc.distributions.mean_jumps[1:, 0], mc.distributions.mean_jumps_se[1:, 0]
    assert np.all(jumps_se > 0)

    def z_of(m):
        z_rho = float(element_z(mc.rho, mc.rho_se, ds.solve_master_equation(m, protocol).rho, NTRAJ).max())
        z_jumps = float((np.abs(jumps - ds.mean_jumps(m, protocol)[1:, 0]) / jumps_se).max())
        return z_rho, z_jumps

    z = z_of(model)
    z_wrong = z_of(cavity(D, kappa=1.1)[0])
    print(f"\ncavity d = {D}: max z (rho, jumps) {z}; against kappa = 1.1: {z_wrong}")
    assert max(z) <= 5.0
    assert min(z_wrong) > 5.0
    assert mc.n_jumps > 20 * NTRAJ  # about 37 jumps per run
