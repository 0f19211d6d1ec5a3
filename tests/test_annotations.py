"""Every public function and method of darkspin is fully annotated: each parameter and the return.

Public means: a name without a leading underscore, defined in a module whose path has no part with a leading
underscore. Read from the source with ``ast``, so nothing is imported and Numba kernels count too.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LAYERS = ("trajectories", "ensemble", "analysis")


def _public_functions(path: Path) -> list[tuple[str, ast.FunctionDef | ast.AsyncFunctionDef]]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = []
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and not node.name.startswith("_"):
            found.append((node.name, node))
        elif isinstance(node, ast.ClassDef) and not node.name.startswith("_"):
            for item in node.body:
                special = item.name in ("__init__", "__call__") if isinstance(item, ast.FunctionDef) else False
                if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)) and (
                    not item.name.startswith("_") or special
                ):
                    found.append((f"{node.name}.{item.name}", item))
    return found


def _missing(func: ast.FunctionDef | ast.AsyncFunctionDef, method: bool) -> list[str]:
    args = func.args
    params = [*args.posonlyargs, *args.args, *args.kwonlyargs]
    decorators = {d.id if isinstance(d, ast.Name) else getattr(d, "attr", "") for d in func.decorator_list}
    if method and "staticmethod" not in decorators:
        params = params[1:]  # self or cls
    missing = [p.arg for p in params if p.annotation is None]
    missing += [f"*{a.arg}" for a in (args.vararg, args.kwarg) if a is not None and a.annotation is None]
    if func.returns is None and func.name != "__init__":
        missing.append("return")
    return missing


def _files() -> list[Path]:
    return [
        path
        for layer in LAYERS
        for path in sorted((ROOT / layer).rglob("*.py"))
        if not any(part.startswith("_") and part != "__init__.py" for part in path.relative_to(ROOT).parts)
    ]


@pytest.mark.parametrize("path", _files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_public_functions_are_fully_annotated(path):
    gaps = {name: missing for name, func in _public_functions(path) if (missing := _missing(func, "." in name))}
    assert not gaps, f"{path.relative_to(ROOT)}: unannotated {gaps}"
