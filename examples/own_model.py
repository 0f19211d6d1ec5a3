# %% [markdown]
# # A model of your own: a chain of three spins
#
# darkspin simulates any small Lindblad model, not only the STM pair. Here: three spins in a uniform
# field with Heisenberg couplings between neighbours, decaying collectively (one jump operator
# sum_j sigma_-^(j)) and with the middle spin dephasing. The chain has its own dark state,
# |D> = (|udd> - |ddu>)/sqrt(2): it is antisymmetric under swapping the end spins, so the collective
# decay cannot touch it and the Hamiltonian and the middle spin's dephasing leave it alone. Starting from
# |udd> (half |D>), we measure the parity of the *end* spins, tau_z^(1) tau_z^(3), a custom
# observable, and keep the runs whose ends stay anti-parallel: the kept runs purify towards |D>.
#
# Environment: DARKSPIN_EXAMPLE_NTRAJ (trajectories, default 20000), DARKSPIN_EXAMPLE_OUT (figures).

# %%
import os
import tempfile
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

import darkspin as ds

NTRAJ = int(os.environ.get("DARKSPIN_EXAMPLE_NTRAJ", "20000"))
OUT = Path(os.environ.get("DARKSPIN_EXAMPLE_OUT") or tempfile.mkdtemp(prefix="darkspin-example-"))
OUT.mkdir(parents=True, exist_ok=True)

# %% [markdown]
# ## Operators on the chain (basis |s1 s2 s3>, u = (1, 0), first spin first)

# %%
I2 = np.eye(2)
SX = np.array([[0, 1], [1, 0]], complex)
SY = np.array([[0, -1j], [1j, 0]])
SZ = np.diag([1.0, -1.0]).astype(complex)
SM = np.array([[0, 0], [1, 0]], complex)  # sigma_- = |d><u|


def on(site: int, op: np.ndarray) -> np.ndarray:
    """``op`` acting on spin ``site`` (0, 1 or 2) of the chain, as an (8, 8) matrix."""
    mats = [op if j == site else I2 for j in range(3)]
    return np.kron(np.kron(mats[0], mats[1]), mats[2])


H = sum(0.5 * on(j, SZ) for j in range(3))  # a uniform field (energy unit: its Zeeman splitting)
H = H + 0.3 * sum(on(j, P) @ on(j + 1, P) for j in range(2) for P in (SX, SY, SZ))  # Heisenberg, J = 0.3
jumps = [np.sqrt(0.2) * sum(on(j, SM) for j in range(3)), np.sqrt(0.05) * on(1, SZ)]
model = ds.LindbladModel(H, jumps, labels=["collective decay", "dephasing of spin 2"])

# %% [markdown]
# ## The protocol: a custom observable and vector states
# Any Hermitian matrix with eigenvalues +-1 is an observable. Initial and target states are 8-vectors.


# %%
def ket(label: str) -> np.ndarray:
    v = np.array([1.0 + 0j])
    for c in label:
        v = np.kron(v, [1.0, 0.0] if c == "u" else [0.0, 1.0])
    return v


dark = (ket("udd") - ket("ddu")) / np.sqrt(2)
end_parity = ds.Measurement(on(0, SZ) @ on(2, SZ))
protocol = ds.Protocol(
    ket("udd"), measure_at=[5, 10, 15, 20], times=np.linspace(0, 25, 101), measurement=end_parity, postselect="all"
)
# |D><D| is a stationary state: the Liouvillian (acting on rho.reshape(64), row-major) annihilates it
print(f"|L(|D><D|)| = {np.linalg.norm(model.liouvillian() @ np.outer(dark, dark.conj()).reshape(-1)):.1e}")

# %% [markdown]
# ## Trajectories against the exact solution

# %%
mc = ds.simulate(model, protocol, ntraj=NTRAJ, seed=3, progress=False)
exact = ds.solve_master_equation(model, protocol)
print(exact.postselection())
comparison = ds.compare(mc, exact)
print(f"verdict: {comparison.verdict}")
f_mc, f_exact = mc.population(dark), exact.population(dark)
# 95 % intervals for a population of the kept runs; expect's bound on the standard error stands in for the
# standard error (a bound only widens the interval), and the interval keeps a nonzero width at 1
low, high = ds.mean_interval(np.clip(f_mc.value_post.real, 0, 1), f_mc.se_post, mc.n_post)
print(
    f"post-selected |D> population at t = 25: trajectories {f_mc.value_post[-1].real:.4f} "
    f"[{low[-1]:.4f}, {high[-1]:.4f}], exact {f_exact.value_post[-1].real:.6f}"
)

# %% [markdown]
# ## The figure: the dark-state population of the kept runs
# The band is the 95 % interval of the previous cell at every output time.

# %%
fig = Figure(figsize=(6, 3.5))
ax = fig.add_subplot()
t = protocol.times
ax.plot(t, f_exact.value_post.real, color="k", label="exact")
ax.fill_between(t, low, high, alpha=0.3, label=f"{mc.ntraj} trajectories, 95 %")
for tm in protocol.measure_at:
    ax.axvline(tm, color="grey", lw=0.5)
ax.set(xlabel="time", ylabel="post-selected <D|rho|D>", ylim=(0.4, 1.02))
ax.legend(loc="lower right")
fig.savefig(OUT / "own_model.png", dpi=100)
print(f"wrote {OUT / 'own_model.png'}")

# %% [markdown]
# The same model works with `ds.optimize_schedule(model, protocol, rounds, target_state=dark)` to choose
# the measurement times (see examples/paper_figures.py and docs/schedule.md).
