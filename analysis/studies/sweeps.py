"""Parameter sweeps: the exact protocol solution (and optionally trajectories) at every point of a grid
of model and protocol parameters, collected in one table.

    table = ds.sweep(model, protocol, {"lam2": [0.0126, 0.011], "readout_error": [0, 0.05, 0.1]}, ntraj=10_000)
    print(table); table.to_csv("sweep.csv")

Seeds and common random numbers
-------------------------------
Trajectory j of a point is drawn from the random stream (point seed, j), as in :func:`simulate`.

* Independent streams (default): point i uses the seed derived from (seed, i) by :func:`point_seed`,
  ``numpy.random.SeedSequence([seed, i]).generate_state(1, numpy.uint64)[0]``. The estimates of different
  points are statistically independent, so the variance of a difference of two points is the sum of their
  variances: se(a - b)^2 = se(a)^2 + se(b)^2.
* ``common_random_numbers=True``: every point uses ``seed`` itself (so each point equals
  ``simulate(model_i, protocol_i, ntraj, seed)``), and trajectory j sees the same random numbers at every
  point. Nearby points then give positively correlated estimates, and
  se(a - b)^2 = se(a)^2 + se(b)^2 - 2 cov(a, b) is smaller, often much smaller: differences and the shape
  of a curve are less noisy, while each point's own error is unchanged. The per-point ``_se`` columns
  and intervals stay valid for each point alone; they must not be combined as if independent (adding the
  variances overstates the error of a difference; it never understates it, as long as the correlation is
  positive, which it is for small parameter steps but is not guaranteed for large ones).
"""

from __future__ import annotations

import dataclasses
import math
import os
import warnings
from collections.abc import Mapping, Sequence
from typing import Any, cast

import numpy as np
from numpy.typing import ArrayLike

from ...ensemble import MonteCarloResult
from ...ensemble.montecarlo.atomic import naming_file
from ...ensemble.montecarlo.batches import resolve_seed
from ...ensemble.montecarlo.executors import as_executor, in_flight
from ...ensemble.montecarlo.files import check_exact_types
from ...ensemble.montecarlo.many import simulate_points
from ...ensemble.montecarlo.options import RunOptions, merge_options
from ...trajectories.checks import check_count, check_flag
from ...trajectories.operators import basis_state, target_vector
from ...trajectories.plan import Model, check_model
from ...trajectories.protocol import Protocol
from .axes import _check_axes, _check_spacing, _points, _shown_point
from .per_time import PerUnitTime, check_per_time, per_time_columns
from .rows import _exact_points, _exact_rows, _table
from .storage import (
    MANIFEST_FORMAT,
    _load_exact_row,
    _open_directory,
    _point_file,
    _points_hash,
    _save_exact_row,
)
from .table import SweepTable


# ---- seeds -------------------------------------------------------------------------------------
def point_seed(seed: int, index: int) -> int:
    """The seed of point ``index`` of a sweep with ``seed`` (independent streams).

    Parameters
    ----------
    seed : int
        The sweep's seed, in [0, 2**64).
    index : int
        The point's index (row of the table), >= 0.

    Returns
    -------
    int
        ``numpy.random.SeedSequence([seed, index]).generate_state(1, numpy.uint64)[0]``, in [0, 2**64).
    """
    return int(np.random.SeedSequence([int(seed), int(index)]).generate_state(1, np.uint64)[0])


def _stopped(result: MonteCarloResult) -> bool:
    """True if ``result`` ended by an interruption (``MonteCarloResult.interrupted`` is deprecated)."""
    return result.stats["end_condition"] == "interrupted"


def _paired(paired: bool, deprecated: dict[str, Any]) -> Any:
    """``paired``, or the value of the old keyword ``zip`` (with a DeprecationWarning); TypeError for any
    other keyword, as for an unknown argument."""
    unknown = sorted(set(deprecated) - {"zip"})
    if unknown:
        raise TypeError(f"sweep() got an unexpected keyword argument {unknown[0]!r}")
    if "zip" not in deprecated:
        return paired
    warnings.warn(
        "sweep(zip=...) is deprecated and will be removed in the next minor version: use paired=...",
        DeprecationWarning,
        stacklevel=3,
    )
    if paired is not False:
        raise TypeError("sweep() got both paired= and its deprecated name zip=: give paired= only")
    return deprecated["zip"]


# ---- the sweep ---------------------------------------------------------------------------------
def sweep(
    model: Model,
    protocol: Protocol,
    axes: Mapping[str, Sequence],
    *,
    paired: bool = False,
    ntraj: int = 0,
    seed: int | None = None,
    executor: Any = None,
    target_state: str | ArrayLike | None = None,
    common_random_numbers: bool = False,
    directory: str | os.PathLike[str] | None = None,
    spacing: float | None = None,
    per_time: PerUnitTime | Sequence[PerUnitTime] | None = None,
    options: RunOptions | None = None,
    **settings: Any,
) -> SweepTable:
    """The exact solution, and with ``ntraj > 0`` trajectories, at every point of a parameter sweep.

    Everything is checked before any work: unknown names, empty lists, and every point is built, so an
    out-of-range value raises ValueError naming the axis, the value and the accepted range. Results are
    bit-identical for any executor, batch_size, and interruption followed by a resume.

    Parameters
    ----------
    model : Model
        The base model (energies in the model's unit).
    protocol : Protocol
        The base protocol.
    axes : mapping of str to sequence
        {name: list of values}; a name is

        * a field of the model (a SpinPair's nu, V, T, lam1, lam2, theta, phi, J_ex, J_DM). A
          LindbladModel has no named fields: sweep it over protocol axes only;
        * a protocol field: "initial" (labels, vectors or matrices), "measure_at" (a list of schedules,
          each a list of times), "times" (a list of output grids), "postselect" (rules), "measurement"
          (a Measurement, or a list with one per round), or "rounds" (numbers of rounds R >= 0, measured
          at k * spacing for k = 1 .. R; e.g. rounds = 3 -> 100, 200, 300 for the paper's protocol);
        * a field of the instrument, applied to every round: "readout_error" (a probability or a pair
          (eps_plus, eps_minus)), "observable", "feedback";
        * any name, given a :class:`~darkspin.DerivedAxis` (values and a callable value -> {field: value}):
          each value sets several of the fields above at once (lam2 with J_ex recomputed from the
          bandwidth); the fields it sets get columns of their own after the axes;
        * a segment or gate of the protocol (docs/time_dependence.md): "segments" or "gates" (whole
          lists), "segment_at[i]" (when segment i starts), "gate_at[i]", "gate_angle[i]" (the angle of
          rotation gate i, radians) or "segment_<field>[i]" (a SpinPair field of segment i, e.g.
          "segment_lam1[0]"); model fields change only the model at t = 0.
    paired : bool
        Pair the axes element-wise (equal lengths) instead of a grid (first axis slowest, like
        itertools.product). Its older name ``zip=`` still works for one minor version, with a
        DeprecationWarning.
    ntraj : int
        Trajectories per point (0: the exact solution only).
    seed : int or None
        Integer in [0, 2**64) or None (drawn, then stored in ``table.meta['seed']``); see the module
        docstring for how each point's seed follows from it and what ``common_random_numbers`` changes.
    executor : None, concurrent.futures.Executor or dask.distributed.Client
        None runs in-process Numba threads; otherwise it runs the batches of all points at once, at most
        two per worker in flight, lowest point first (with an executor and no batch_size, a point is split
        into about two batches per worker, at least 1000 trajectories each).
    target_state : str, array_like of shape (d,), or None
        The state whose post-selected population is ``fidelity_post``: None (the singlet, two spins), a
        label ('S', 'T1', 'T2', 'T3', 'uu', 'ud', 'du', 'dd') or a d-vector (normalised here).
    common_random_numbers : bool
        Every point uses ``seed`` itself, so trajectory j sees the same random numbers at every point.
    directory : str, os.PathLike or None
        A folder (created if needed) where every finished point is saved (point-NNNNNN.json: the exact
        row; point-NNNNNN.npz: the Monte Carlo result, saved after every batch); a rerun with the same
        directory skips finished points and resumes an interrupted one. A manifest records the sweep (its
        points, ntraj, seed, options); a directory of another sweep is refused. seed=None takes the
        directory's seed.
    spacing : float or None
        Time between rounds for a ``rounds`` axis (model time unit); None: the protocol's first
        measurement time measure_at[0].
    per_time : PerUnitTime, sequence of PerUnitTime, or None
        Figures of merit per unit of protocol time (:class:`~darkspin.PerUnitTime`), each added as an exact
        column after concurrence_post (named e.g. ``good_pairs_per_time``), with the time per run in a
        column ``duration`` (``duration_<overhead>`` for a non-zero overhead).
    options : RunOptions or None
        How each point's trajectories run, as for :func:`darkspin.simulate`: target_se and max_ntraj (each
        point runs until the standard error of its post-selected target population at the final time is
        below target_se, at most max_ntraj trajectories), batch_size (never changes the result),
        batch_threads, and progress (here one tqdm bar over the points of the Monte Carlo part).
    **settings
        Fields of RunOptions given as keywords (``target_se=1e-3``), replacing those of ``options``; and
        ``zip``, the old name of ``paired`` (deprecated).

    Returns
    -------
    SweepTable
        One row per point: the axis columns, then from the exact solver

        * fidelity_post: <t|rho_post|t> at the final output time (t the target state);
        * yield: final p_cumulative, the probability that a run is post-selected (1 with no rounds);
        * p_success_k: p_success of round k, k = 1 .. R (NaN where a point has fewer than k rounds);
        * concurrence_post: concurrence of rho_post at the final output time (NaN unless d = 4);

        and with ntraj > 0 the number of trajectories ``mc_ntraj`` and the same quantities from
        trajectories, prefixed ``mc_``, each with ``_se`` (standard error) and ``_lo``, ``_hi`` (a 95 %
        interval): mc_fidelity_post is the target population of the post-selected runs (for the singlet
        the kernel's exact sample standard error; for other targets the conservative bound of
        :meth:`ProtocolResult.expect`; interval :func:`mean_interval`, valid at 0 and 1, never of zero
        width). mc_yield and mc_p_success_k are binomial proportions: se sqrt(p (1 - p) / n), Wilson
        intervals. mc_concurrence_post is the concurrence of the estimated rho_post (biased at order
        1/n_post); its se is a delta-method bound (central finite differences of C with respect to each
        real parameter of rho_post, times that element's standard error, summed in absolute value:
        valid for any correlations, conservative where C is smooth, a one-sided slope average at the
        kink C = 0); its interval is :func:`mean_interval` of (C, se, n_post), never of zero width, not
        calibrated.

    Raises
    ------
    ValueError
        For any bad argument or axis value, before any work; for a directory of another sweep.
    TypeError
        For an unknown keyword, or both ``paired`` and ``zip``.
    OSError
        If a point file in ``directory`` cannot be written (e.g. a full disk); it names that file, and the
        points finished before it stay saved.

    Warns
    -----
    DeprecationWarning
        When ``zip=`` is given.
    UserWarning
        For a point file of ``directory`` that fails its checksum or has none: its exact row is
        recomputed and the file rewritten.
    RuntimeWarning
        When Ctrl-C stops the trajectories: the finished points and the finished batches of the others
        (in ``directory`` too) are kept, and the table is returned with ``table.interrupted``; its unfinished
        points have mc_ntraj < ntraj (NaN columns where 0).

    Examples
    --------
    >>> import darkspin as ds
    >>> table = ds.sweep(ds.SpinPair(), ds.Protocol.paper(n_out=11), {"readout_error": [0.0, 0.1]})
    >>> table["readout_error"].tolist(), [round(float(f), 4) for f in table["fidelity_post"]]
    ([0.0, 0.1], [0.9996, ...])
    """
    # ---- validate everything before any work ----
    if not isinstance(protocol, Protocol):
        raise ValueError(f"protocol must be a Protocol, got {type(protocol).__name__}")
    d = check_model(model, protocol)
    deprecated = {k: settings.pop(k) for k in [k for k in settings if k == "zip"]}
    paired = check_flag("paired", _paired(paired, deprecated))
    opts = merge_options(options, settings, "sweep")
    crn = check_flag("common_random_numbers", common_random_numbers)
    show = opts.progress
    spacing = _check_spacing(spacing)
    ntraj = check_count("ntraj", ntraj, minimum=0)
    if ntraj == 0:
        for name in ("target_se", "max_ntraj", "batch_size"):
            if getattr(opts, name) is not None:
                raise ValueError(f"{name} needs trajectories (ntraj > 0), got ntraj = 0")
    else:
        opts.check_ntraj(ntraj)
    target_se, max_ntraj, batch_size = opts.target_se, opts.max_ntraj, opts.batch_size
    seed_given = seed is not None
    seed = resolve_seed(seed)
    ex = as_executor(executor)
    target = target_vector(target_state, d)
    singlet = d == 4 and abs(abs(np.vdot(basis_state("S"), target)) - 1.0) < 1e-12
    rates = check_per_time(per_time)
    names, values = _check_axes(model, axes)
    points = _points(model, protocol, names, values, paired, spacing)
    shown = [_shown_point(names, values, c) for c, _, _ in points]
    folder = None
    if directory is not None:
        for _, m, p in points:
            check_exact_types(m, p, "directory")
        manifest: dict[str, Any] = {
            "format": MANIFEST_FORMAT,
            "axes": names,
            "zip": paired,  # the manifest's key since its first format
            "points": len(points),
            "points_sha256": _points_hash(points),
            "ntraj": ntraj,
            "seed": seed,
            "common_random_numbers": crn,
            "target_se": target_se,
            "max_ntraj": max_ntraj,
            "target_state": [[float(z.real), float(z.imag)] for z in target],
        }
        folder, manifest = _open_directory(directory, manifest, seed_given)
        seed = int(manifest["seed"])

    # ---- exact part: one batched call for the points not yet saved ----
    rows: list[dict | None] = [None] * len(points)
    if folder is not None:
        rows = [_load_exact_row(_point_file(folder, i, "json"), i, shown[i]) for i in range(len(points))]
    todo = [i for i, r in enumerate(rows) if r is None]
    if todo:
        results = _exact_points([points[i][1] for i in todo], [points[i][2] for i in todo])
        for i, row in zip(todo, _exact_rows(results, target), strict=True):
            rows[i] = row
            if folder is not None:
                file = _point_file(folder, i, "json")
                with naming_file(file):
                    _save_exact_row(file, i, shown[i], row)

    # ---- Monte Carlo part: every point's batches on the executor at once ----
    mc: list[MonteCarloResult | None] = [None] * len(points)
    interrupted = False
    if ntraj > 0:
        bsize = batch_size
        if bsize is None and ex is not None:
            bsize = max(1000, math.ceil(ntraj / in_flight(ex)))
        bar = None
        if show:
            from tqdm.auto import tqdm

            bar = tqdm(total=len(points), unit="point", desc="sweep", dynamic_ncols=True)

        def advance(res: MonteCarloResult) -> None:
            if bar is not None:
                bar.update(1)
                bar.set_postfix(ntraj=res.ntraj, refresh=False)

        try:
            mc, interrupted = simulate_points(
                [m for _, m, _ in points],
                [p for _, _, p in points],
                [seed if crn else point_seed(seed, i) for i in range(len(points))],
                ntraj,
                options=dataclasses.replace(opts, batch_size=bsize, progress=False),
                executor=ex,
                saves=[_point_file(folder, i, "npz") if folder is not None else None for i in range(len(points))],
                on_finish=advance,
            )
        finally:
            if bar is not None:
                bar.close()
        if interrupted:
            done = sum(1 for r in mc if r is not None and not _stopped(r))
            warnings.warn(
                f"interrupted: {done} of {len(points)} points finished"
                + (f" (saved in {folder}; rerun with the same directory to resume)" if folder else ""),
                RuntimeWarning,
                stacklevel=2,
            )
    full = cast("list[dict[str, Any]]", rows)  # every point has its exact row by now
    table = _table(names, values, points, full, mc, ntraj, target, singlet, seed, crn, paired, interrupted)
    if not rates:
        return table
    extra = per_time_columns(rates, [p for _, _, p in points], table["fidelity_post"], table["yield"], target)
    cols: dict[str, Any] = {}
    for name in table.names:
        cols[name] = table[name]
        if name == "concurrence_post":
            cols.update(extra)
    return SweepTable(table.axes, cols, table.meta)
