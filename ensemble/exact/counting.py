"""Exact counting statistics: the distribution of the number of jumps N of a set of channels since t = 0,
and the density of the first jump's time per channel.

Count distribution. The unconditional state is split by the count, rho = sum_n rho_n, rho_n the part of
the runs with N = n (unnormalised, tr rho_n = P(N = n)). With J the jump superoperator of the counted
channels (J rho = sum_k L_k rho L_k^dag) and L0 = L - J,

    d rho_n / dt = L0 rho_n + J rho_{n-1}        (n < n_max; rho_{-1} = 0)
    d rho_top / dt = L rho_top + J rho_{n_max-1}  (the top level collects N >= n_max)

a block lower-bidiagonal generator G on n_max + 1 levels. It is time-independent between rounds, so
exp(G dt) propagates the levels exactly (no ODE tolerance): a dense matrix exponential while the
hierarchy is small (DENSE_MAX), else scipy's expm_multiply (Al-Mohy & Higham, backward error below unit
roundoff). A long step is cut into substeps with |G h|_1 <= EXPM_NORM_MAX (scaling and squaring loses
accuracy on steps many relaxation times long; repeated application does not). A round applies the
instrument's unconditional map (the sum of its record maps: readout error and feedback included) to
every level: a measurement neither causes nor prevents a counted jump. For the post-selected
distribution the levels are also split by the state of the post-selection rule (as in the solver) and
P(N = n | post-selected at t) is the accepting part, normalised.

First jump. Runs whose counted channels have not fired carry rho_0 above; the density of the first
counted jump at t in channel k is tr(L_k rho_0(t) L_k^dag).

Waiting time. In the steady state, the time from one counted jump to the next has the density
tr(J_k exp(L0 tau) J rho_ss) / tr(J rho_ss) when the next is in channel k (:func:`waiting_time_density`).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.linalg
import scipy.sparse as sp
from numpy.typing import ArrayLike
from scipy.sparse.linalg import expm_multiply

from ...trajectories.checks import check_flag
from ...trajectories.counting import COUNT_MAX, channel_mask, check_n_max
from ...trajectories.plan import Model, check_model
from ...trajectories.protocol import Protocol
from ...trajectories.protocol_checks import _as_times
from .state_propagation import sparse_liouvillian
from .superoperators import EXPM_NORM_MAX, record_superops

#: Largest hierarchy dimension (n_max + 1) d^2 whose propagators are formed densely.
DENSE_MAX = 1200


def _jumps(model: Model, protocol: Protocol) -> tuple[int, np.ndarray, list[str]]:
    if not isinstance(protocol, Protocol):
        raise ValueError(f"protocol must be a Protocol, got {type(protocol).__name__}")
    d = check_model(model, protocol)
    if not counting_supported(protocol):
        raise ValueError(
            "protocol: exact counting statistics are not available yet with segments, gates, monitored windows "
            "or feedback on the rule state"
        )
    jumps = np.asarray(model.jump_operators(), complex).reshape(-1, d, d)
    return d, jumps, list(model.jump_labels())


def counting_supported(protocol: Protocol) -> bool:
    """Whether the exact counting statistics cover the protocol: one model throughout and rounds whose
    unconditional map is fixed (projective or Kraus, feedback on the record alone).

    Parameters
    ----------
    protocol : Protocol

    Returns
    -------
    bool
    """
    return not (protocol.is_timed or protocol.has_monitor or any(m.history_feedback for m in protocol.measurements))


def _superop(jumps: np.ndarray, mask: np.ndarray) -> sp.csr_matrix:
    """J = sum over the masked channels of L_k (x) conj(L_k) on row-major vec(rho), (d^2, d^2)."""
    D = jumps.shape[1] ** 2
    J = sp.csr_matrix((D, D), dtype=complex)
    for Lk in jumps[mask]:
        k = sp.csr_matrix(Lk)
        J = J + sp.kron(k, k.conj(), format="csr")
    return sp.csr_matrix(J)


def hierarchy(L: sp.csr_matrix, J: sp.csr_matrix, n_max: int) -> sp.csr_matrix:
    """The count-resolved generator G, ((n_max + 1) d^2, (n_max + 1) d^2): L - J on the diagonal blocks
    of levels 0 .. n_max - 1, L on the top one, J below the diagonal."""
    levels = n_max + 1
    diag = sp.block_diag([L - J] * n_max + [L], format="csr")
    shift = sp.diags([np.ones(n_max)], [-1], shape=(levels, levels), format="csr")
    return sp.csr_matrix(diag + sp.kron(shift, J, format="csr"))


class _Exponential:
    """exp(G dt) applied to a vector or to a stack of column vectors."""

    def __init__(self, G: sp.csr_matrix) -> None:
        self.G = G
        self.norm1 = float(abs(self.G).sum(axis=0).max()) if self.G.nnz else 0.0
        self.dense = self.G.shape[0] <= DENSE_MAX
        self._cache: dict[float, Any] = {}

    def __call__(self, X: np.ndarray, dt: float) -> np.ndarray:
        steps = max(1, int(np.ceil(self.norm1 * dt / EXPM_NORM_MAX)))
        h = dt / steps
        if self.dense:
            E = self._cache.get(h)
            if E is None:
                E = self._cache[h] = scipy.linalg.expm(self.G.toarray() * h)
            for _ in range(steps):
                X = E @ X
            return X
        for _ in range(steps):
            X = expm_multiply(self.G * h, X)
        return X


def count_distribution(
    model: Model,
    protocol: Protocol,
    channels: Any = None,
    n_max: int = COUNT_MAX,
    post: bool = False,
) -> np.ndarray:
    """P(N = n) at every output time, N the number of jumps of ``channels`` since t = 0.

    Exact: exponentials of the count-resolved generator (see the module docstring), the protocol's
    rounds applied to every count level through their unconditional maps (readout error and feedback
    included), or with ``post`` through the post-selection rule's branches.

    Parameters
    ----------
    model : SpinPair or LindbladModel
    protocol : Protocol
    channels : None, int, str, or a sequence of them
        The channels counted (labels of ``model.jump_labels()`` or indices); None: all.
    n_max : int
        In [1, 4096]: counts 0 .. n_max - 1 are resolved, the last cell holds P(N >= n_max).
    post : bool
        False: over all runs (the unconditional state); True: over the runs post-selected by the
        protocol's rule at each output time, P(N = n | post-selected) (NaN where no run is).

    Returns
    -------
    numpy.ndarray
        (n, n_max + 1) float, n output times: [:, m] = P(N = m) for m < n_max, [:, n_max] = P(N >= n_max).
        Each row sums to 1 within rounding.

    Raises
    ------
    ValueError
        Naming the parameter (protocol, model, channels, n_max, post), before any work.

    Examples
    --------
    >>> import numpy as np
    >>> import darkspin as ds
    >>> p = ds.count_distribution(ds.SpinPair(), ds.Protocol.paper(n_out=3), channels="dephasing[0]", n_max=4)
    >>> p.shape, bool(np.allclose(p.sum(axis=1), 1.0)), p[0].tolist()  # no jump yet at t = 0
    ((3, 5), True, [1.0, 0.0, 0.0, 0.0, 0.0])
    """
    d, jumps, labels = _jumps(model, protocol)
    mask = channel_mask(channels, labels)
    n_max = check_n_max(n_max)
    post = check_flag("post", post)
    D = d * d
    levels = n_max + 1
    L = sparse_liouvillian(np.asarray(model.effective_hamiltonian(), complex), jumps)
    hier = _Exponential(hierarchy(L, _superop(jumps, mask), n_max))
    maps, which = record_superops(protocol)
    sel = protocol.selection
    if post:
        S, trans, acc = sel.n_states, np.asarray(sel.transitions), np.asarray(sel.accepting, bool)
    else:
        S, trans, acc = 1, np.zeros((protocol.rounds, 1, 2), np.int64), np.ones(1, bool)
    # X[:, s] the levels of branch s stacked ((levels D,)); level n is rows n D .. (n + 1) D
    X = np.zeros((levels * D, S), complex)
    X[:D, 0] = protocol.rho0.reshape(-1)
    tr = np.eye(d).reshape(-1)
    out = np.full((protocol.times.size, levels), np.nan)
    t = 0.0
    for te, kind, idx in zip(*protocol.events(), strict=True):
        if te != t:
            X = hier(X, te - t)
            t = te
        if kind == 0:
            Y = X.reshape(levels, D, S)
            new = np.zeros_like(Y)
            M = maps[which[idx]]
            for s in range(S):
                for r in range(2):
                    new[:, :, trans[idx, s, r]] += Y[:, :, s] @ M[r].T
            X = new.reshape(levels * D, S)
        else:
            p = np.einsum("i,nis->ns", tr, X.reshape(levels, D, S)).real[:, acc].sum(axis=1)
            p = np.maximum(p, 0.0)
            total = p.sum()
            out[idx] = p / total if post and total > 0 else (p if not post else np.nan)
    return out


def first_jump_density(
    model: Model, protocol: Protocol, channels: Any = None, times: ArrayLike | None = None
) -> np.ndarray:
    """Density of the time of the first jump among ``channels``, split by the channel that makes it.

    Exact (exponentials of L - J, J the counted channels' jump superoperator; the protocol's rounds
    applied through their unconditional maps). Integrated over [0, t] and summed over the channels it
    gives 1 - P(no counted jump by t); with every channel counted, that is
    1 - :func:`darkspin.no_jump_probability`.

    Parameters
    ----------
    model : SpinPair or LindbladModel
    protocol : Protocol
    channels : None, int, str, or a sequence of them
        The channels whose first jump is timed; None: all (the first jump of the run).
    times : array_like of float, optional
        Non-decreasing times >= 0, (m,), in the model's inverse energy unit; default protocol.times.
        At a round's time the density is the one just after the round.

    Returns
    -------
    numpy.ndarray
        (m, K) float, per unit time: [i, k] the density that the first counted jump happens at
        times[i] and in channel k (0 for channels not counted).

    Raises
    ------
    ValueError
        Naming the parameter (protocol, model, channels, times), before any work.

    Examples
    --------
    >>> import numpy as np
    >>> import darkspin as ds
    >>> model = ds.SpinPair()
    >>> f = ds.first_jump_density(model, ds.Protocol.paper(n_out=3))
    >>> model.jump_labels(), f.shape
    (['lowering[0]', 'raising[0]', 'dephasing[0]'], (3, 3))
    >>> np.round(f[0], 6).tolist()  # from |ud> at t = 0: the single-spin channels, never dephasing
    [0.014175, 0.001575, 0.0]
    """
    d, jumps, labels = _jumps(model, protocol)
    mask = channel_mask(channels, labels)
    t_query = protocol.times if times is None else _as_times("times", times, strict=False, max_size=10**7)
    L = sparse_liouvillian(np.asarray(model.effective_hamiltonian(), complex), jumps)
    hier = _Exponential(sp.csr_matrix(L - _superop(jumps, mask)))
    maps, which = record_superops(protocol)
    # rate of channel k on row-major vec(rho): tr(G_k rho) with G_k = L_k^dag L_k
    G = np.einsum("kji,kjl->kil", jumps.conj(), jumps)
    C = np.swapaxes(G, 1, 2).reshape(-1, d * d) * mask[:, None]
    x = protocol.rho0.reshape(-1).astype(complex)
    out = np.zeros((t_query.size, jumps.shape[0]))
    t = 0.0
    for te, kind, idx in zip(*protocol.events(t_query), strict=True):
        if te != t:
            x = hier(x, te - t)
            t = te
        if kind == 0:
            M = maps[which[idx]]
            x = (M[0] + M[1]) @ x
        else:
            out[idx] = np.maximum((C @ x).real, 0.0)
    return out


def waiting_time_density(
    model: Model, times: ArrayLike, channels: Any = None, rho: ArrayLike | None = None
) -> np.ndarray:
    """Stationary waiting-time density: from a jump among ``channels`` to the next one, by its channel.

    w_k(tau) = tr(J_k exp(L0 tau) J rho) / tr(J rho), J the counted channels' jump superoperator,
    L0 = L - J, rho the stationary state (Brandes, Ann. Phys. 17, 477 (2008)): the density of the time
    between successive counted jumps of a run in the steady state, the second one in channel k. Summed
    over k and integrated over tau >= 0 it is 1 when counted jumps keep coming. A protocol's rounds play
    no part (they make the process non-stationary); the Monte Carlo waiting times of a run started in
    the steady state without rounds and stopped at t_final estimate (t_final - tau) w(tau) per run.

    Parameters
    ----------
    model : SpinPair or LindbladModel
    times : array_like of float
        Waiting times tau >= 0, non-decreasing, (m,), in the model's inverse energy unit.
    channels : None, int, str, or a sequence of them
        The channels counted (labels or indices); None: all.
    rho : array_like of complex, shape (d, d), optional
        The state the first jump happens in (default: the model's unique steady state).

    Returns
    -------
    numpy.ndarray
        (m, K) float, per unit time (0 for channels not counted).

    Raises
    ------
    ValueError
        Naming the parameter (model, times, channels, rho): e.g. a model without a unique steady state
        and no ``rho``, or a state in which no counted channel can fire.

    Examples
    --------
    >>> import numpy as np
    >>> import darkspin as ds
    >>> tau = np.linspace(0.0, 2000.0, 20001)
    >>> w = ds.waiting_time_density(ds.SpinPair(), tau, rho=np.eye(4) / 4)  # two steady states: pass rho
    >>> w.shape, round(float(np.trapezoid(w.sum(axis=1), tau)), 4)  # a normalised density
    ((20001, 3), 1.0)
    """
    from .steady import steady_states

    d = check_model(model)
    jumps = np.asarray(model.jump_operators(), complex).reshape(-1, d, d)
    mask = channel_mask(channels, list(model.jump_labels()))
    taus = _as_times("times", times, strict=False, max_size=10**7)
    if rho is None:
        ss = steady_states(model)
        if ss.shape[0] != 1:
            raise ValueError(f"model has {ss.shape[0]} independent steady states: pass rho, the state to start from")
        state = ss[0]
    else:
        state = np.asarray(rho, complex)
        if state.shape != (d, d) or not np.all(np.isfinite(state)):
            raise ValueError(f"rho must be a finite ({d}, {d}) density matrix, got shape {state.shape}")
    L = sparse_liouvillian(np.asarray(model.effective_hamiltonian(), complex), jumps)
    J = _superop(jumps, mask)
    x = J @ state.reshape(-1)
    rate = float(np.trace(x.reshape(d, d)).real)
    if not rate > 0:
        raise ValueError("rho: no counted channel can fire in this state (its jump rate is 0)")
    x = x / rate
    G = np.einsum("kji,kjl->kil", jumps.conj(), jumps)
    C = np.swapaxes(G, 1, 2).reshape(-1, d * d) * mask[:, None]
    prop = _Exponential(sp.csr_matrix(L - J))
    out = np.empty((taus.size, jumps.shape[0]))
    t = 0.0
    for i, tau in enumerate(taus):
        if tau != t:
            x = prop(x, float(tau - t))
            t = float(tau)
        out[i] = np.maximum((C @ x).real, 0.0)
    return out
