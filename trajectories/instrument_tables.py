"""The plan's tables for the general instruments: Kraus operators, monitored windows, and feedback on the
rule machine's state (read by :mod:`.instrument_kernel`).

A protocol without such instruments gets one-row placeholders, and its kernel path is unchanged.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from .measurement import Measurement
from .monitor import Monitor
from .protocol import Protocol

#: meas_kind codes.
PROJECTIVE, KRAUS, MONITOR = 0, 1, 2


class KindTables(NamedTuple):
    """meas_kind (R,) int64 (PROJECTIVE, KRAUS, MONITOR); kraus_ops (R, 2, J, d, d) complex and kraus_n
    (R, 2) int64: each record's Kraus operators (without feedback); meas_hist (R,) bool: the round's
    feedback depends on the rule state; fbh_on (R, S, 2) bool and fbh_U (R, S, 2, d, d): the feedback of
    each (rule state before the round, record index); mon_watch (R, K) bool the watched channels;
    mon_eta (R,) efficiency; mon_thr (R,) int64 threshold; mon_tail (R, T + 1) P(dark count >= n)."""

    meas_kind: np.ndarray
    kraus_ops: np.ndarray
    kraus_n: np.ndarray
    meas_hist: np.ndarray
    fbh_on: np.ndarray
    fbh_U: np.ndarray
    mon_watch: np.ndarray
    mon_eta: np.ndarray
    mon_thr: np.ndarray
    mon_tail: np.ndarray


def kind_tables(protocol: Protocol, labels: list[str]) -> KindTables:
    """The tables of :class:`KindTables` for a protocol and a model's channel labels.

    Parameters
    ----------
    protocol : Protocol
    labels : list of str, length K
        The model's ``jump_labels()`` (monitors name their channels by label or index).

    Returns
    -------
    KindTables

    Raises
    ------
    ValueError
        Naming 'channels', for a monitored channel the model does not have.
    """
    d = protocol.rho0.shape[0]
    R = protocol.rounds
    S = protocol.selection.n_states
    K = max(len(labels), 1)
    meas = protocol.measurements
    J = max([1] + [len(ops) for m in meas if isinstance(m, Measurement) and m.kraus is not None for ops in m.kraus])
    T = max([1] + [m.threshold for m in meas if isinstance(m, Monitor)])
    any_kraus = any(m.kind == "kraus" for m in meas)
    any_hist = any(m.history_feedback for m in meas)
    any_mon = any(isinstance(m, Monitor) for m in meas)
    rows = max(R, 1)
    kind = np.zeros(rows, np.int64)
    kraus_ops = np.zeros((rows if any_kraus else 1, 2, J, d, d), complex)
    kraus_n = np.zeros((rows if any_kraus else 1, 2), np.int64)
    hist = np.zeros(rows, np.bool_)
    fbh_on = np.zeros((rows if any_hist else 1, S, 2), np.bool_)
    fbh_U = np.zeros((rows if any_hist else 1, S, 2, d, d), complex)
    watch = np.zeros((rows if any_mon else 1, K), np.bool_)
    eta = np.zeros(rows if any_mon else 1)
    thr = np.zeros(rows if any_mon else 1, np.int64)
    tail = np.zeros((rows if any_mon else 1, T + 1))
    cache: dict[int, tuple] = {}
    for k, m in enumerate(meas):
        if isinstance(m, Monitor):
            kind[k] = MONITOR
            if id(m) not in cache:
                cache[id(m)] = (m.watched(labels), m.dark_tail())
            w, tl = cache[id(m)]
            watch[k, : w.size] = w
            eta[k], thr[k] = m.efficiency, m.threshold
            tail[k, : tl.size] = tl
        elif m.kraus is not None:
            kind[k] = KRAUS
            for r in range(2):
                ops = m.kraus[r]
                kraus_n[k, r] = len(ops)
                for j, M in enumerate(ops):
                    kraus_ops[k, r, j] = M
        if m.history_feedback:
            hist[k] = True
            for s in range(S):
                U, on = m.unitaries(s) if not isinstance(m, Monitor) else m.unitaries(s, d)
                fbh_U[k, s], fbh_on[k, s] = U, on
    return KindTables(kind, kraus_ops, kraus_n, hist, fbh_on, fbh_U, watch, eta, thr, tail)
