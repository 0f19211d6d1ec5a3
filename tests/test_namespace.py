"""One installed package: darkspin, with darkspin.trajectories, .ensemble and .analysis. Files named
analysis.py, ensemble.py or trajectories.py in the user's folder change nothing, and importing darkspin
changes no environment variable."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from importlib import metadata

import pytest

SHADOWS = ("analysis", "ensemble", "trajectories")


def _python(code: str, cwd) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "OMP_WAIT_POLICY")}
    return subprocess.run([sys.executable, "-c", code], cwd=cwd, env=env, capture_output=True, text=True, timeout=120)


def test_only_darkspin_is_installed_at_top_level():
    dist = metadata.distribution("darkspin")
    top = (dist.read_text("top_level.txt") or "").split()
    assert top == ["darkspin"], top


@pytest.mark.subprocess
def test_files_named_like_the_layers_do_not_shadow_them(tmp_path):
    for name in SHADOWS:
        (tmp_path / f"{name}.py").write_text("raise RuntimeError('the user file was imported')\n")
    code = (
        "import darkspin as ds, numpy as np\n"
        "ex = ds.solve_master_equation(ds.SpinPair(), ds.Protocol('ud', [1.0], np.linspace(0, 2, 3)))\n"
        "import darkspin.analysis.config as c\n"
        "print(round(float(ex.p_success[0]), 6), c.load_config().ntraj)\n"
    )
    proc = _python(code, tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split()[1] == "100000"
    # the command line too
    proc = subprocess.run(
        [sys.executable, "-m", "darkspin.analysis.cli", "--version"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0 and proc.stdout.startswith("darkspin "), proc.stderr


@pytest.mark.subprocess
def test_import_changes_no_environment_variable(tmp_path):
    code = (
        "import json, os\n"
        "before = dict(os.environ)\n"
        "import darkspin as ds\n"
        "import darkspin.analysis.cli, darkspin.ensemble, darkspin.trajectories\n"
        "ds.SpinPair(); ds.simulate\n"
        "print(json.dumps({k: v for k, v in os.environ.items() if before.get(k) != v}))\n"
    )
    proc = _python(code, tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == {}


@pytest.mark.subprocess
def test_import_is_lazy(tmp_path):
    proc = _python("import sys, darkspin\nprint('numpy' in sys.modules, 'numba' in sys.modules)", tmp_path)
    assert proc.returncode == 0 and proc.stdout.split() == ["False", "False"], proc.stdout + proc.stderr


def test_public_api():
    import darkspin as ds

    for name in ds.__all__:
        assert getattr(ds, name) is not None, name
    assert ds.__version__


def _returned_classes(obj, names: dict) -> set[type]:
    """darkspin classes named in the return annotations of ``obj`` (a function) or of its public methods."""
    import inspect
    import typing

    found: set[type] = set()
    funcs = (
        [obj]
        if not isinstance(obj, type)
        else [
            member
            for name, member in vars(obj).items()
            if not name.startswith("_") and (inspect.isfunction(member) or isinstance(member, (property, classmethod)))
        ]
    )
    for func in funcs:
        func = func.fget if isinstance(func, property) else getattr(func, "__func__", func)
        try:  # names imported only for type checkers resolve among the public ones, or fail here
            hints = typing.get_type_hints(func, localns=names)
        except NameError as exc:
            raise AssertionError(f"{func.__qualname__}: {exc} (returned classes must be public)") from None
        stack = [hints.get("return")]
        while stack:
            tp = stack.pop()
            if isinstance(tp, type) and tp.__module__.startswith("darkspin"):
                found.add(tp)
            stack.extend(typing.get_args(tp))
    return found


def test_every_class_a_public_function_returns_is_public():
    import inspect

    import darkspin as ds

    names = {name: getattr(ds, name) for name in ds.__all__}
    public = set(names.values())
    missing = {}
    for name in ds.__all__:
        obj = getattr(ds, name)
        if inspect.isfunction(obj) or isinstance(obj, type):
            for cls in _returned_classes(obj, names) - public:
                if not issubclass(cls, Warning):
                    missing.setdefault(cls.__qualname__, name)
    assert not missing, f"returned but not reachable as ds.Name: {missing}"


def test_the_stub_names_every_public_name_once():
    import ast
    from pathlib import Path

    import darkspin as ds

    stub = Path(ds.__file__).with_suffix(".pyi")
    names = [
        alias.asname or alias.name
        for node in ast.parse(stub.read_text()).body
        if isinstance(node, ast.ImportFrom)
        for alias in node.names
    ]
    assert len(names) == len(set(names))
    assert set(ds.__all__) <= set(names)
    for name in ds.__all__:  # the stub says where each name is defined
        assert getattr(ds, name).__module__.startswith("darkspin."), name
