# %% [markdown]
# # Pulses and a retracted tip between rounds
#
# The paper's protocol measures tau_z x tau_z at t = 100, 200, 300, 400 and keeps the runs whose every
# record is -1. Here time itself becomes part of the protocol (docs/time_dependence.md):
#
# 1. the paper's protocol;
# 2. a rotation pulse between rounds: `ry12(pi/2)` (both spins by pi/2 about y) at t = 150, 250, 350.
#    The singlet is invariant under a rotation of both spins; the triplets are not: T0, which a -1 record
#    keeps alongside the singlet, turns into parallel spins that the next round rejects, but the
#    parallel triplets the bath pumps in turn partly into T0, which it keeps;
# 3. a tip retraction between rounds: from 20 after each round to 20 before the next, the couplings
#    lam1 and lam2 are 5 times smaller (the rates 25 times), so the spins mostly wait;
# 4. both.
#
# Gates are unitaries applied at an instant; segments replace the model from their time on. At equal
# times the order is: segment switch, gate, measurement, output.
#
# Environment: DARKSPIN_EXAMPLE_NTRAJ (trajectories per protocol, default 20000).

# %%
import os

import numpy as np

import darkspin as ds

NTRAJ = int(os.environ.get("DARKSPIN_EXAMPLE_NTRAJ", "20000"))
model = ds.SpinPair()  # the paper's Fig. 3 right point
retracted = model.replace(lam1=model.lam1 / 5, lam2=model.lam2 / 5)
times = np.linspace(0, 500, 51)
measure_at = [100, 200, 300, 400]

# %% [markdown]
# ## Four protocols
# `segments=[(t, model), ...]` switches the model at t; `gates=[(t, U), ...]` applies U at t (a name such
# as `"flip1"` or `"rx1(pi/2)"`, a `("ry12", angle)` pair, or a matrix).

# %%
pulses = [(t, "ry12(pi/2)") for t in (150, 250, 350)]
retraction = [seg for k in measure_at for seg in ((k + 20, retracted), (k + 80, model))]
protocols = {
    "paper": ds.Protocol("ud", measure_at, times),
    "pulses": ds.Protocol("ud", measure_at, times, gates=pulses),
    "retracted tip": ds.Protocol("ud", measure_at, times, segments=retraction),
    "both": ds.Protocol("ud", measure_at, times, segments=retraction, gates=pulses),
}

# %% [markdown]
# ## Exact and Monte Carlo, side by side
# Fidelity: the post-selected singlet population at t = 500. Yield: the fraction of runs kept at the end.
# Trajectory values come with 95 % intervals; `ds.compare` checks every matrix element and success count
# against the exact solution (the exact solver multiplies one exponential per segment and interval).

# %%
print(
    f"{'protocol':<14} {'fidelity exact':>14} {'fidelity MC [95%]':>28} {'yield exact':>11} "
    f"{'yield MC [95%]':>26}  trajectories vs exact"
)
for k, (name, protocol) in enumerate(protocols.items()):
    exact = ds.solve_master_equation(model, protocol)
    mc = ds.simulate(model, protocol, ntraj=NTRAJ, seed=30 + k, progress=False)
    f_exact = exact.population("S").value_post[-1].real
    s_mc = mc.population("S")
    f_mc = s_mc.value_post.real[-1]
    f_lo, f_hi = ds.mean_interval(f_mc, s_mc.se_post[-1], mc.n_post[-1])
    kept = int(mc.n_success[-1])
    y_lo, y_hi = ds.wilson_interval(kept, mc.ntraj)
    print(
        f"{name:<14} {f_exact:>14.5f} {f_mc:>8.5f} [{f_lo:.5f}, {f_hi:.5f}] "
        f"{exact.p_cumulative[-1]:>11.5f} {kept / mc.ntraj:>8.5f} [{y_lo:.5f}, {y_hi:.5f}]  "
        f"{ds.compare(mc, exact).verdict}"
    )

# %% [markdown]
# Reading the table (exact columns; at the paper's point): the paper's protocol reaches a singlet
# fidelity 0.9996 with yield 0.5002. The pulses lower the fidelity (0.9982) and raise the yield
# (0.5009): of the two exchanges above, the parallel triplets turned into T0 win. The retracted tip
# slows the bath, whose pumping of T0 into parallel spins is what the rounds filter, so the fidelity
# per round drops (0.9975) and the yield rises (0.5013); with both, 0.9972 and 0.5014. Sweep a pulse's
# angle or a switch time with `ds.sweep(model, protocol, {"gate_angle[0]": [...]})` or
# `{"segment_at[0]": [...]}`, and move the pulses with `ds.optimize_schedule(..., vary="gate_at")`.
