"""Reading a result file defensively: each member's declared dtype and shape checked in its .npy header
before it is read, the checksum recomputed and every cross-field invariant (counts, ranges, records,
distributions, stats) checked before a :class:`MonteCarloResult` is built; anything else is refused in
one line.
"""

from __future__ import annotations

import json
import math
import os
import stat
import warnings
import zipfile

import numpy as np

from ...trajectories.checks import check_path
from ...trajectories.distributions import DistributionSpec, infidelity_edges
from ...trajectories.lindblad import LindbladModel
from ...trajectories.model import SpinPair
from ...trajectories.plan import MAX_RECORD_ROUNDS, Model
from ...trajectories.protocol import Protocol
from ...trajectories.sums_kernel import FRAC_BITS, acc_layout
from ..results.monte_carlo import MAX_NTRAJ, MonteCarloResult, _check_stats
from .distribution_sums import DistributionSums
from .file_format import (
    _BOUNDS,
    _COUNT_MEMBERS,
    _DIST_MEMBERS,
    _MEMBERS,
    _MODEL_MEMBERS,
    _OPTIONAL,
    _ORDER,
    _PARAMS,
    _REQUIRED,
    _SCHEDULE_MEMBERS,
    FORMAT,
    MODEL_KINDS,
    OLD_FORMATS,
    _checksum,
    _Refused,
    model_members,
)
from .sums import EnsembleSums


def _decode_dist(
    a: dict, protocol: Protocol, ntraj: int, n_jumps: int, n_post: np.ndarray, n_success: np.ndarray
) -> DistributionSums | None:
    """The stored distributions, after checking them against the counts they must add up to."""
    present = _DIST_MEMBERS & set(a)
    if not present:
        return None
    if present != _DIST_MEMBERS:
        raise ValueError(f"distribution members come all together; missing {sorted(_DIST_MEMBERS - present)}")
    kind, index = a["dist_snap_kind"], a["dist_snap_index"]
    if np.any((kind != 0) & (kind != 1)):
        raise ValueError("dist_snap_kind must hold 0 (round end) or 1 (output time)")
    top = np.where(kind == 0, protocol.rounds, protocol.times.size)
    if np.any(index < 0) or np.any(index >= top):
        raise ValueError("dist_snap_index points past the protocol's rounds or output times")
    tk, jm = int(a["dist_target_kind"]), int(a["dist_jump_max"])
    edges, tedges = a["dist_fid_edges"], a["dist_time_edges"]
    if tk not in (0, 1) or jm + 2 != a["dist_jump_counts"].shape[-1]:
        raise ValueError("dist_target_kind must be 0 or 1 and dist_jump_counts hold jump_max + 2 cells")
    if not np.array_equal(edges, infidelity_edges()) or a["dist_fidelity"].shape[-1] != edges.size - 1:
        raise ValueError("dist_fid_edges are not this darkspin's infidelity bins")
    if tedges[0] != 0.0 or np.any(np.diff(tedges) <= 0) or a["dist_first_jump"].shape[-1] != tedges.size + 1:
        raise ValueError("dist_time_edges must increase from 0, with one first-jump cell per bin plus two")
    K, n = a["dist_jump_counts"].shape[1], protocol.times.size
    counted = _COUNT_MEMBERS & set(a)
    if counted and counted != _COUNT_MEMBERS:
        raise ValueError(f"count histogram members come all together; missing {sorted(_COUNT_MEMBERS - counted)}")
    if counted:
        sets, cmax = a["dist_count_sets"], int(a["dist_count_max"])
        if np.any((sets != 0) & (sets != 1)) or cmax + 1 != a["dist_counts"].shape[-1]:
            raise ValueError("dist_count_sets must hold 0 or 1 and dist_counts count_max + 1 cells")
        cnt, fjk = a["dist_counts"], a["dist_first_jump_channel"]
    else:  # saved before the count histograms: none, and no first jump by channel
        sets, cmax = np.zeros((0, K), np.int64), 0
        cnt, fjk = np.zeros((0, 2, n, 1), np.int64), np.zeros((2, 0, tedges.size), np.int64)
    spec = DistributionSpec(True, kind, index, a["dist_target"], tk, edges, tedges, jm, sets, cmax)
    names = ("fidelity", "split_n", "split_hi", "split_lo", "jump_counts", "first_jump", "waiting")
    members = {k: a[f"dist_{k}"] for k in names + ("count_sums", "count_squares")}
    dist = DistributionSums(spec, **members, counts=cnt, first_jump_channel=fjk)
    counts = [dist.fidelity, dist.split_n, dist.jump_counts, dist.first_jump, dist.waiting, dist.count_sums]
    counts += [dist.counts, dist.first_jump_channel]
    if any(np.any(c < 0) for c in counts) or np.any(dist.count_squares < 0):
        raise ValueError("distribution counts must be >= 0")
    if np.any(dist.split_lo < 0) or np.any(dist.split_lo >= 2**FRAC_BITS):
        raise ValueError(f"dist_split_lo must lie in [0, 2**{FRAC_BITS})")
    # post-selected runs at each snapshot: after round k, or at output o
    posted = np.where(kind == 0, n_success[np.minimum(index, max(protocol.rounds - 1, 0))] if n_success.size else 0,
                      n_post[np.minimum(index, n_post.size - 1)])  # fmt: skip
    if np.any(dist.fidelity[:, 0].sum(-1) != ntraj) or np.any(dist.fidelity[:, 1].sum(-1) != posted):
        raise ValueError("dist_fidelity does not add up to ntraj and the post-selected counts")
    if np.any(dist.split_n.sum(-1) != posted) or np.any(dist.split_hi > dist.split_n):
        raise ValueError("dist_split_n does not add up to the post-selected counts")
    final_post = int(n_post[-1])
    if np.any(dist.jump_counts[0].sum(-1) != ntraj) or np.any(dist.jump_counts[1].sum(-1) != final_post):
        raise ValueError("dist_jump_counts does not add up to ntraj per channel")
    if dist.first_jump[0].sum() != ntraj or dist.first_jump[1].sum() != final_post:
        raise ValueError("dist_first_jump does not add up to ntraj")
    if dist.count_sums.shape[1] and int(dist.count_sums[-1].sum()) != n_jumps:
        raise ValueError("dist_count_sums at the final time do not add up to n_jumps")
    if np.any(dist.counts[:, 0].sum(-1) != ntraj) or np.any(dist.counts[:, 1].sum(-1) != n_post):
        raise ValueError("dist_counts does not add up to ntraj and the post-selected runs at every output time")
    if counted and np.any(dist.first_jump_channel.sum(1) != dist.first_jump[:, :-1]):
        raise ValueError("dist_first_jump_channel does not add up to dist_first_jump")
    if int(dist.waiting.sum()) != n_jumps - (ntraj - int(dist.first_jump[0, -1])):
        raise ValueError("dist_waiting does not hold one waiting time per jump after each run's first")
    return dist


def _decode_model(a: dict, fmt: str) -> Model:
    """The stored model, rebuilt exactly; its arrays must be the stored ones bit for bit."""
    kind = str(a["model_kind"]) if "model_kind" in a else "SpinPair"
    if kind not in MODEL_KINDS:
        raise ValueError(f"model_kind is {kind!r}, expected one of {MODEL_KINDS}")
    names = [str(x) for x in a["param_names"]]
    if kind == "SpinPair":
        if names != _PARAMS:
            raise ValueError(f"param_names are {names}, expected {_PARAMS}")
        model: Model = SpinPair(**{k: float(v) for k, v in zip(names, a["params"], strict=True)})
    else:
        if names:
            raise ValueError(f"a {kind} has no parameters, got param_names {names}")
        model = LindbladModel(a["model_hamiltonian"], a["model_jump_operators"], [str(x) for x in a["model_labels"]])
    if "model_kind" in a:
        mine = model_members(model)
        for name in _MODEL_MEMBERS - {"model_kind"}:
            if mine[name].shape != a[name].shape or not np.array_equal(mine[name], a[name]):
                raise ValueError(f"{name} does not match the model it is stored with")
    return model


def _decode(a: dict, fmt: str) -> MonteCarloResult:
    """A result from members already checked for dtype and shape; ValueError for any broken invariant."""
    model = _decode_model(a, fmt)
    present = _SCHEDULE_MEMBERS & set(a)
    if present and present != _SCHEDULE_MEMBERS:
        raise ValueError(f"segment and gate members come all together; missing {sorted(_SCHEDULE_MEMBERS - present)}")
    if present and np.any(a["segment_n_channels"] > a["segment_jump_operators"].shape[1]):
        raise ValueError("segment_n_channels exceeds the stored jump operators")
    protocol = Protocol.from_dict(a)
    if model.dim != protocol.rho0.shape[0]:
        raise ValueError(f"the model has dimension {model.dim} but rho0 {protocol.rho0.shape[0]}")
    if a["hi"].shape[-1] != acc_layout(model.dim)[4]:
        raise ValueError(f"'hi' has {a['hi'].shape[-1]} sums per output, expected {acc_layout(model.dim)[4]}")
    if not np.array_equal(protocol.rho0, a["rho0"]):
        raise ValueError("rho0 is not an exactly Hermitian density matrix")
    ntraj, n_jumps = int(a["ntraj"]), int(a["n_jumps"])
    if not 0 <= ntraj <= MAX_NTRAJ:
        raise ValueError(f"ntraj must lie in [0, 2**62], got {ntraj}")
    if n_jumps < 0 or (ntraj == 0 and n_jumps != 0):
        raise ValueError(f"n_jumps = {n_jumps} is impossible for ntraj = {ntraj}")
    hi, lo, n_post, n_success = a["hi"], a["lo"], a["n_post"], a["n_success"]
    if np.any(lo < 0) or np.any(lo >= 2**FRAC_BITS):
        raise ValueError(f"'lo' (the fractional words of the sums) must lie in [0, 2**{FRAC_BITS})")
    # only the rule 'last' lets runs re-enter the selection
    nested = protocol.postselect != "last"
    if np.any(n_success < 0) or np.any(n_success > ntraj) or (nested and np.any(np.diff(n_success) > 0)):
        raise ValueError(
            f"n_success must lie in [0, ntraj = {ntraj}]" + (" and not increase (the rule is nested)" if nested else "")
        )
    if fmt == FORMAT:
        n_kept, counts = a["n_kept"], a["record_counts"]
    else:  # before instruments: the rule was 'all', and record strings were not counted
        n_kept, counts = n_success.copy(), np.zeros(0, np.int64)
    if np.any(n_post < 0) or np.any(n_post > ntraj):
        raise ValueError(f"n_post must lie in [0, ntraj = {ntraj}]")
    # post-selected at an output time = successful in every round measured at or before it
    done = np.searchsorted(protocol.record_times, protocol.times, side="right")
    expect = np.where(done == 0, ntraj, n_success[np.maximum(done - 1, 0)] if n_success.size else ntraj)
    bad = np.flatnonzero(n_post != expect)
    if bad.size:
        raise ValueError(f"n_post disagrees with n_success at output {int(bad[0])}")
    # every term of a sum is at most 1 in size, so |sum| <= the number of trajectories summed
    count = np.stack([np.full(n_post.shape, ntraj), n_post], axis=1)[..., None]
    over = (hi < -count) | (hi + (lo > 0) > count)
    if np.any(over):
        where = np.argwhere(over)[0]
        raise ValueError(f"sums 'hi' exceed their trajectory count at output {int(where[0])}")
    ranges = a["ranges"]
    if ranges.size:
        starts, stops = ranges[:, 0], ranges[:, 1]
        if starts[0] < 0 or np.any(stops <= starts) or np.any(starts[1:] <= stops[:-1]) or stops[-1] > MAX_NTRAJ:
            raise ValueError(
                "ranges must be sorted, non-empty, disjoint, non-adjacent [start, stop) pairs within [0, 2**62]"
            )
        covered = int(np.sum(stops - starts))
    else:
        covered = 0
    if covered != ntraj:
        raise ValueError(f"ranges cover {covered} trajectories, not ntraj = {ntraj}")
    _check_records(protocol, ntraj, n_success, n_kept, counts)
    dist = _decode_dist(a, protocol, ntraj, n_jumps, n_post, n_success) if fmt == FORMAT else None
    sums = EnsembleSums(hi, lo, n_post, n_success, ntraj, n_jumps, n_kept, counts, dist)
    result = MonteCarloResult(model, protocol, sums, int(a["seed"]), ranges)
    if fmt == FORMAT:
        try:
            stats = json.loads(str(a["stats"]))
        except json.JSONDecodeError:
            raise ValueError("stats is not valid JSON") from None
    else:
        stats = {
            "end_condition": "interrupted" if bool(a.get("interrupted", False)) else "ntraj",
            "target": "final_post",
            "target_se": None,
            "max_ntraj": None,
        }
    result._stats = _check_stats(stats, result)
    return result


def _check_records(
    protocol: Protocol, ntraj: int, n_success: np.ndarray, n_kept: np.ndarray, counts: np.ndarray
) -> None:
    """Cross-checks of the per-round counts and the record table against the protocol's rule."""
    before = np.concatenate([[ntraj], n_success[:-1]])
    if np.any(n_kept < 0) or np.any(n_kept > n_success) or np.any(n_kept > before):
        raise ValueError("n_kept must lie in [0, min(n_success[k], n_success[k-1])]")
    R = protocol.rounds
    if counts.size == 0:
        return
    if counts.size != (2**R if R <= MAX_RECORD_ROUNDS else 0):
        raise ValueError(f"record_counts has {counts.size} cells, expected 2**{R}")
    if np.any(counts < 0) or int(counts.sum()) != ntraj:
        raise ValueError(f"record_counts must be >= 0 and add up to ntraj = {ntraj}")
    # run the rule's machine on every record string at once
    codes = np.arange(counts.size)
    state = np.zeros(counts.size, np.int64)
    sel = protocol.selection
    for k in range(R):
        state = sel.transitions[k, state, 1 - ((codes >> k) & 1)]
        if int(counts[sel.accepting[state]].sum()) != int(n_success[k]):
            raise ValueError(f"n_success of round {k + 1} disagrees with record_counts")


def _read_member(zf: zipfile.ZipFile, name: str, dims: dict) -> np.ndarray:
    """One member, its .npy header checked against _MEMBERS (binding n, r, k in ``dims``) before reading."""
    kind, size, template = _MEMBERS[name]
    info = zf.getinfo(name + ".npy")
    with zf.open(info) as fh:
        try:
            version = np.lib.format.read_magic(fh)
            if version == (1, 0):
                shape, fortran, dtype = np.lib.format.read_array_header_1_0(fh)
            elif version == (2, 0):
                shape, fortran, dtype = np.lib.format.read_array_header_2_0(fh)
            else:
                raise ValueError
        except (ValueError, TypeError, SyntaxError, EOFError):
            raise _Refused(f"is corrupt: member {name!r} is not a valid .npy array") from None
        want = []
        ok = (
            dtype.kind == kind
            and dtype.fields is None
            and dtype.subdtype is None
            and (dtype.itemsize <= 4 * size if kind == "U" else dtype.itemsize == size)
            and len(shape) == len(template)
        )
        for got, t in zip(shape, template, strict=False):  # a length mismatch already failed
            if isinstance(t, int):
                ok = ok and got == t
                want.append(str(t))
            elif t in dims:
                ok = ok and got == dims[t]
                want.append(str(dims[t]))
            else:
                low, high = _BOUNDS[t]
                ok = ok and low <= got <= high
                want.append(f"{t} in [{low}, {high}]")
                if ok:
                    dims[t] = got
        if not ok:
            expected = {
                "U": f"text of at most {size} characters",
                "i": "int64",
                "u": "uint64",
                "f": "float64",
                "c": "complex128",
                "b": "bool",
            }[kind]
            got_dtype = f"text of {dtype.itemsize // 4} characters" if dtype.kind == "U" else str(dtype)
            raise _Refused(
                f"is inconsistent: {name!r} has dtype {got_dtype} and shape {tuple(shape)}; "
                f"expected {expected} of shape ({', '.join(want)}{',' if len(want) == 1 else ''})"
            )
        nbytes = math.prod(shape) * dtype.itemsize
        if info.file_size != fh.tell() + nbytes:
            raise _Refused(f"is corrupt: member {name!r} does not hold the data its header declares")
        data = fh.read(nbytes)
    if len(data) != nbytes:
        raise _Refused(f"is corrupt: member {name!r} is truncated")
    arr = np.frombuffer(data, dtype=dtype).reshape(shape, order="F" if fortran else "C")
    return arr.astype(dtype.newbyteorder("="), order="C", copy=True)


def load(path: str | os.PathLike[str]) -> MonteCarloResult:
    """Read a result written by :func:`save` (``result.save(path)``).

    path: str or os.PathLike of a regular file. Only the known members are read, each after its
    declared dtype and shape are checked; the checksum and every cross-field invariant (counts within
    ntraj, n_success non-increasing, n_post implied by n_success, sums bounded by their counts, ranges
    disjoint and adding up to ntraj, exact parameter names, seed a uint64, stats consistent) are
    verified. Anything else raises a one-line ValueError naming the file. A darkspin-result-1 file
    loads with a UserWarning (it has no checksum, so edits to it cannot be detected).

    Parameters
    ----------
    path : str or os.PathLike
        A ``.npz`` file written by ``simulate(..., save=path)`` or ``darkspin run``.

    Returns
    -------
    MonteCarloResult
        The saved result with its model and protocol, bit for bit; ``darkspin-result-1`` files load with
        a warning.

    Raises
    ------
    ValueError
        For a missing file, a file that is not a darkspin result, a failed checksum or any broken
        invariant between its fields (the message names the file and what is wrong).

    Examples
    --------
    >>> import darkspin as ds
    >>> mc = ds.simulate(ds.SpinPair(), ds.Protocol.paper(n_out=11), ntraj=200, seed=1, progress=False, save="run.npz")
    >>> again = ds.load("run.npz")
    >>> again.ntraj, bool((again.rho == mc.rho).all())
    (200, True)
    """
    path = check_path("path", path)
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise ValueError(f"result file {path!r} does not exist") from None
    except OSError as exc:
        raise ValueError(f"result file {path!r} cannot be read ({exc.strerror or exc})") from None
    if not stat.S_ISREG(st.st_mode):
        raise ValueError(f"result file {path!r} is not a regular file")
    try:
        with zipfile.ZipFile(path) as zf:
            result, fmt = _load_zip(zf)
    except _Refused as exc:
        raise ValueError(f"result file {path!r} {exc}") from None
    except (
        OSError,
        EOFError,
        zipfile.BadZipFile,
        zipfile.LargeZipFile,
        KeyError,
        TypeError,
        IndexError,
        UnicodeError,
        NotImplementedError,
        RuntimeError,
    ) as exc:
        raise ValueError(
            f"result file {path!r} is corrupt or not a darkspin result ({exc.__class__.__name__})"
        ) from None
    except ValueError as exc:
        raise ValueError(f"result file {path!r} is inconsistent: {exc}") from None
    if fmt != FORMAT:
        warnings.warn(
            f"result file {path!r} is in the old format {fmt!r}, which has no checksum: edits to it "
            "cannot be detected (saving it again writes the current format)",
            UserWarning,
            stacklevel=2,
        )
    return result


def _load_zip(zf: zipfile.ZipFile) -> tuple[MonteCarloResult, str]:
    names = zf.namelist()
    if len(names) != len(set(names)):
        raise _Refused("is corrupt: it has duplicate members")
    present = {n[:-4] for n in names if n.endswith(".npy")}
    if "format" not in present:
        raise _Refused("is not a darkspin result (it has no format tag)")
    dims: dict = {}
    fmt = str(_read_member(zf, "format", dims))
    if fmt not in _REQUIRED:
        raise _Refused(f"has format {fmt!r}; this darkspin reads {FORMAT!r} and {OLD_FORMATS}")
    unknown = sorted(set(names) - {k + ".npy" for k in _REQUIRED[fmt] | _OPTIONAL[fmt]})
    if unknown:
        raise _Refused(f"is not a {fmt} file: unexpected members {unknown}")
    missing = sorted(_REQUIRED[fmt] - present)
    if missing:
        raise _Refused(f"is not a complete {fmt} file: it lacks members {missing}")
    a = {"format": np.array(fmt)}
    for name in _ORDER:
        if name != "format" and name in present:
            a[name] = _read_member(zf, name, dims)
    if fmt == FORMAT and str(a["checksum"]) != _checksum(a):
        raise _Refused("fails its checksum: it was edited or damaged after it was saved")
    return _decode(a, fmt), fmt
