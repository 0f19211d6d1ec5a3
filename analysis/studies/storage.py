"""The sweep folder: a manifest naming the sweep, one file per finished point, and resuming from them.

``<directory>/sweep-manifest.json`` records the sweep (axes, points and their hash, ntraj, seed, options);
a folder of another sweep is refused. ``point-NNNNNN.json`` holds a point's exact row
and the SHA-256 of its values (``sha256``), ``point-NNNNNN.npz`` its Monte Carlo result (saved by
:func:`darkspin.simulate` after every batch, checksummed by :func:`darkspin.save`). A point file that fails
its checksum, or has none, is never trusted: its exact row is recomputed (cheap) with a warning naming it.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from ...ensemble.montecarlo.atomic import atomic_write
from ...ensemble.montecarlo.files import model_members
from ...trajectories.checks import check_path
from .axes import Point, _short

#: Format tag of a sweep directory's manifest.
MANIFEST_FORMAT = "darkspin-sweep-1"
MANIFEST_NAME = "sweep-manifest.json"


def _point_file(folder: str, index: int, ext: str) -> str:
    """The file of point ``index`` in the sweep folder: ``point-NNNNNN.<ext>`` (ext 'json' or 'npz')."""
    return os.path.join(folder, f"point-{index:06d}.{ext}")


def _digest(arrays: Mapping[str, np.ndarray], h: Any) -> None:
    for name in sorted(arrays):
        a = np.ascontiguousarray(arrays[name])
        h.update(f"{name}|{a.dtype.str}|{a.shape}|".encode())
        h.update(a.tobytes())


def _points_hash(points: Sequence[Point]) -> str:
    h = hashlib.sha256()
    for _, m, p in points:
        _digest(model_members(m), h)
        _digest(p.as_dict(), h)
    return h.hexdigest()


def _json_number(x: Any) -> float | None:
    x = float(x)
    return None if math.isnan(x) else x


def _open_directory(directory: Any, manifest: dict[str, Any], seed_given: bool) -> tuple[str, dict[str, Any]]:
    """Create or check the sweep directory; returns its path and the manifest in force (its seed is
    the directory's when ``seed_given`` is False). ValueError for a directory of another sweep."""
    path = check_path("directory", directory)
    if os.path.exists(path) and not os.path.isdir(path):
        raise ValueError(f"directory {path!r} exists and is not a folder")
    file = os.path.join(path, MANIFEST_NAME)
    if os.path.isdir(path) and os.path.exists(file):
        try:
            with open(file, encoding="utf-8") as fh:
                old = json.load(fh)
        except (OSError, ValueError) as exc:
            raise ValueError(f"directory {path!r}: {MANIFEST_NAME} cannot be read ({exc})") from None
        if not isinstance(old, dict) or old.get("format") != MANIFEST_FORMAT:
            raise ValueError(f"directory {path!r}: {MANIFEST_NAME} is not a {MANIFEST_FORMAT} manifest")
        if not seed_given:
            manifest = {**manifest, "seed": old.get("seed")}
        diffs = []
        for key in sorted(set(manifest) | set(old)):
            if manifest.get(key) != old.get(key):
                if key == "points_sha256":
                    diffs.append("the points' models or protocols differ")
                else:
                    diffs.append(f"{key}: {_short(old.get(key))} there, {_short(manifest.get(key))} here")
        if diffs:
            raise ValueError(
                f"directory {path!r} holds another sweep ({'; '.join(diffs)}): use another directory, or empty it"
            )
        return path, manifest
    if os.path.isdir(path) and any(n.startswith("point-") for n in os.listdir(path)):
        raise ValueError(f"directory {path!r} holds point files but no {MANIFEST_NAME}: use another directory")
    try:
        os.makedirs(path, exist_ok=True)
        atomic_write(file, json.dumps(manifest, indent=1, sort_keys=True))
    except OSError as exc:
        raise ValueError(f"directory {path!r} cannot be used ({exc.strerror or exc})") from None
    return path, manifest


def _point_checksum(data: Mapping[str, Any]) -> str:
    """SHA-256 (hex) of a point file's stored values: its index, axis values and exact row, serialised
    canonically (sorted keys, no spaces; Python's float repr round-trips, so a reread file gives the same)."""
    stored = {k: data.get(k) for k in ("index", "point", "exact")}
    text = json.dumps(stored, sort_keys=True, separators=(",", ":"), allow_nan=False)
    return hashlib.sha256(b"darkspin-sweep-point checksum v1\x00" + text.encode("utf-8")).hexdigest()


def _load_exact_row(file: str, index: int, shown: dict[str, str]) -> dict[str, Any] | None:
    """The exact row saved in ``file``; None if there is none, or (with a UserWarning naming the file) if
    it fails its checksum or has none, so that the caller recomputes and rewrites it. ValueError if the
    file cannot be read or belongs to another point."""
    try:
        with open(file, encoding="utf-8") as fh:
            data = json.load(fh)
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise ValueError(f"sweep point file {file!r} cannot be read ({exc})") from None
    if not isinstance(data, dict):
        raise ValueError(f"sweep point file {file!r} belongs to another point")
    stored = data.get("sha256")
    problem = None
    if stored is None:
        problem = "has no checksum (written by an older darkspin, or edited)"
    else:
        try:
            if stored != _point_checksum(data):
                problem = "fails its checksum (it was edited or damaged after it was saved)"
        except (TypeError, ValueError):
            problem = "fails its checksum (its values are not plain numbers)"
    if problem is not None:
        warnings.warn(
            f"sweep point file {file!r} {problem}: its exact row is recomputed and the file rewritten",
            UserWarning,
            stacklevel=3,
        )
        return None
    if data.get("index") != index or data.get("point") != shown:
        raise ValueError(f"sweep point file {file!r} belongs to another point")
    try:
        row = dict(data["exact"])
        for key in ("fidelity_post", "yield", "concurrence_post"):
            row[key] = math.nan if row[key] is None else float(row[key])
        row["p_success"] = [math.nan if x is None else float(x) for x in row["p_success"]]
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"sweep point file {file!r} cannot be read (bad exact row: {exc!r})") from None
    return row


def _save_exact_row(file: str, index: int, shown: dict[str, str], row: dict[str, Any]) -> None:
    """Write a point's exact row (NaN as null), with its index and axis values to check it on resume, and
    the checksum of all three."""
    data: dict[str, Any] = {
        "index": index,
        "point": shown,
        "exact": {k: ([_json_number(x) for x in v] if k == "p_success" else _json_number(v)) for k, v in row.items()},
    }
    data["sha256"] = _point_checksum(data)
    atomic_write(file, json.dumps(data, allow_nan=False))
