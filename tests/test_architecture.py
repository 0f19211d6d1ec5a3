"""The package's shape: imports run one way (analysis -> ensemble -> trajectories), no module imports
another that (directly or through others) imports it back, and a file over about 500 lines says why in a
"Length:" paragraph of its docstring.

Every import is read from the source with ``ast``, those inside functions included, so an import hidden in a
function body to dodge a cycle is still an edge.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LAYERS = ("trajectories", "ensemble", "analysis")  # bottom to top
LONG_FILE = 500


def _modules() -> dict[str, Path]:
    """Module name (darkspin.layer.sub.mod) -> source file, for every .py file of the three layers."""
    found = {}
    for layer in LAYERS:
        for path in sorted((ROOT / layer).rglob("*.py")):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join(["darkspin", *parts])] = path
    return found


def _imports(name: str, path: Path, known: set[str]) -> set[str]:
    """The darkspin modules that module ``name`` imports, anywhere in its body."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    edges = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                stem = ".".join(base + ([node.module] if node.module else []))
            else:
                stem = node.module or ""
            # "from .x import y": y may be a module of package x, or a name defined in x
            targets = [f"{stem}.{alias.name}" if f"{stem}.{alias.name}" in known else stem for alias in node.names]
        else:
            continue
        for target in targets:
            while target and target not in known:  # a name inside a module: the module
                target = target.rpartition(".")[0]
            if target and target.startswith("darkspin.") and target != name:
                edges.add(target)
    return edges


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    known = set(modules)
    return {name: _imports(name, path, known) for name, path in modules.items()}


def _layer(module: str) -> int:
    return LAYERS.index(module.split(".")[1])


def _is_package_init(module: str, graph: dict[str, set[str]]) -> bool:
    return (ROOT / Path(*module.split(".")[1:]) / "__init__.py").exists()


def test_imports_run_down_the_layers_only():
    upward = [
        f"{src} imports {dst}" for src, targets in _graph().items() for dst in targets if _layer(dst) > _layer(src)
    ]
    assert not upward, "imports up the layers (trajectories <- ensemble <- analysis):\n" + "\n".join(upward)


def test_no_import_cycles():
    graph = _graph()
    # a package's __init__ re-exporting its own modules is no cycle: only edges between modules count
    edges = {
        src: {dst for dst in targets if not (_is_package_init(dst, graph) and src.startswith(dst + "."))}
        for src, targets in graph.items()
        if not _is_package_init(src, graph)
    }
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []

    def visit(v: str) -> None:  # Tarjan's strongly connected components
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in edges.get(v, ()):
            if w not in edges:
                continue
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    assert not cycles, "import cycles between modules:\n" + "\n".join(" <-> ".join(c) for c in cycles)


def test_the_checker_sees_imports_inside_functions(tmp_path):
    # a negative control: an upward import hidden in a function body is an edge
    src = "def f():\n    from ..analysis import figures\n    return figures\n"
    path = tmp_path / "probe.py"
    path.write_text(src)
    known = {"darkspin.ensemble.probe", "darkspin.analysis", "darkspin.analysis.figures"}
    assert _imports("darkspin.ensemble.probe", path, known) == {"darkspin.analysis.figures"}


@pytest.mark.parametrize("name", sorted(_modules()))
def test_long_files_say_why(name):
    path = _modules()[name]
    lines = path.read_text(encoding="utf-8").count("\n")
    if lines <= LONG_FILE:
        return
    doc = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8"))) or ""
    assert "length:" in doc.lower(), (
        f"{path.relative_to(ROOT)} has {lines} lines; its docstring's 'Length:' must say why"
    )
