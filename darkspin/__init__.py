"""darkspin: quantum-jump trajectories of two spins in an STM, checked against the exact master equation.

``import darkspin as ds`` gives the public API; the three layers are ``darkspin.trajectories`` (what is
simulated: model, instruments, rules, protocol, kernels), ``darkspin.ensemble`` (many runs, the exact
solver, statistics) and ``darkspin.analysis`` (measures, spectra, studies, figures, the command line). The
physics is in docs/physics.md.

The public names are written once, in ``__init__.pyi`` beside this file: type checkers and editors read it,
and this module parses it for ``__all__`` and the module that defines each name. Names are imported on first
use, so ``import darkspin`` is instant and a Ctrl-C at start-up never lands inside numpy's or scipy's import
machinery.
"""

from __future__ import annotations

import ast
import importlib
from importlib import metadata
from pathlib import Path
from typing import Any

#: names defined here that still work but warn; kept out of ``__all__``
_DEPRECATED_MODULE = ".ensemble.deprecated"


def _read_stub() -> tuple[dict[str, str], list[str]]:
    """(public name -> defining module, relative; the names in ``__all__``) from ``__init__.pyi``."""
    where: dict[str, str] = {}
    listed: list[str] = []
    tree = ast.parse((Path(__file__).parent / "__init__.pyi").read_text(encoding="utf-8"))
    for node in tree.body:
        if isinstance(node, ast.ImportFrom) and node.level == 1 and node.module:
            for alias in node.names:
                where[alias.asname or alias.name] = "." + node.module
                if where[alias.asname or alias.name] != _DEPRECATED_MODULE:
                    listed.append(alias.asname or alias.name)
    return where, sorted(listed)


_WHERE, __all__ = _read_stub()
_LAYERS = ("trajectories", "ensemble", "analysis")


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        value = getattr(importlib.import_module(_WHERE[name], __name__), name)
        globals()[name] = value
        return value
    if name in _LAYERS:
        return importlib.import_module(f".{name}", __name__)
    if name == "__version__":
        try:
            return metadata.version("darkspin")
        except metadata.PackageNotFoundError:  # running from a source tree that was never installed
            return "0+unknown"
    raise AttributeError(f"module 'darkspin' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_WHERE) | set(_LAYERS) | {"__version__"})
