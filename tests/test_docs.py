"""The documentation cannot rot: its code runs, its references are generated from the code and list everything.

* every ```python block of a page in docs/ runs, the blocks of one page in order in one fresh process (a block
  right after a ``<!-- no-run: reason -->`` comment is shown but not run);
* every name of ``ds.__all__`` has a numpydoc docstring with Parameters, Returns (functions) and Examples
  sections, and its examples run as doctests;
* every public method and property of those classes (inherited ones too) has a docstring with a one-line
  summary and the sections its signature needs (each parameter under Parameters, Returns unless it returns
  None, Raises if its source raises or calls a ``check_*`` validator), and the examples in them run;
* the API reference renders every name of ``ds.__all__``; the CLI reference every command and option of the
  parser; the config reference every key of analysis/default.toml;
* CHANGELOG.md follows Keep a Changelog and names the version pyproject.toml gives;
* ``mkdocs build --strict`` succeeds (when the docs extra is installed).
"""

from __future__ import annotations

import argparse
import ast
import doctest
import importlib
import importlib.util
import inspect
import os
import re
import subprocess
import sys
import textwrap
import tomllib
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pytest

import darkspin as ds

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
NO_RUN = "<!-- no-run"


def load_hooks() -> ModuleType:
    spec = importlib.util.spec_from_file_location("darkspin_docs_hooks", DOCS / "hooks.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


HOOKS = load_hooks()


def python_blocks(text: str) -> list[str]:
    """The ```python blocks of a markdown text that run (not preceded by a no-run comment)."""
    blocks = []
    for match in re.finditer(r"^```python\n(.*?)^```", text, re.S | re.M):
        before = text[: match.start()].rstrip("\n").splitlines()
        if before and before[-1].startswith(NO_RUN):
            continue
        blocks.append(match.group(1))
    return blocks


PAGES = sorted(p for p in DOCS.rglob("*.md") if python_blocks(p.read_text(encoding="utf-8")))


def test_python_blocks_are_found():
    # the extraction itself: a no-run block is skipped, the others kept in order
    text = "a\n```python\nx = 1\n```\n<!-- no-run: needs a cluster -->\n```python\ny = 2\n```\n```python\nz = 3\n```\n"
    assert python_blocks(text) == ["x = 1\n", "z = 3\n"]
    assert {p.relative_to(DOCS).as_posix() for p in PAGES} >= {"getting_started.md", "guide/models.md"}


@pytest.mark.subprocess
@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.relative_to(DOCS).as_posix())
def test_page_code_runs(page, tmp_path):
    code = "\n".join(python_blocks(page.read_text(encoding="utf-8")))
    script = tmp_path / "page.py"
    script.write_text(code)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["MPLBACKEND"] = "Agg"
    proc = subprocess.run(
        [sys.executable, str(script)], cwd=tmp_path, capture_output=True, text=True, timeout=600, env=env
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "inconsistent" not in proc.stdout


def public_objects() -> list[tuple[str, object]]:
    return [(name, getattr(ds, name)) for name in ds.__all__]


def sections(doc: str) -> set[str]:
    return set(re.findall(r"^(\w[\w ]*)\n-{3,}$", doc, re.M))


@pytest.mark.parametrize("name", ds.__all__)
def test_public_docstring_has_numpydoc_sections(name):
    obj = getattr(ds, name)
    doc = inspect.getdoc(obj) or ""
    found = sections(doc)
    assert "Examples" in found and ">>> " in doc, f"ds.{name}: no Examples section with a doctest"
    if inspect.isclass(obj):
        if issubclass(obj, Warning):
            return
        init_params = [p for p in inspect.signature(obj).parameters if p not in ("self", "args", "kwargs")]
        if init_params:
            assert found & {"Parameters", "Attributes"}, f"ds.{name}: neither Parameters nor Attributes"
    else:
        if [p for p in inspect.signature(obj).parameters if p not in ("args", "kwargs")]:
            assert "Parameters" in found, f"ds.{name}: no Parameters section"
        assert found & {"Returns", "Yields"}, f"ds.{name}: no Returns section"


@pytest.mark.parametrize("name", ds.__all__)
def test_docstring_examples_run(name, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # an example that saves a file writes here
    obj = getattr(ds, name)
    finder = doctest.DocTestFinder(recurse=False)
    tests = [t for t in finder.find(obj, name=f"ds.{name}", globs={"ds": ds, "np": np}) if t.examples]
    assert tests, f"ds.{name}: no doctest"
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    for test in tests:
        runner.run(test)
    assert runner.failures == 0, f"ds.{name}: {runner.failures} doctest failures (run pytest -s to see them)"


def public_members(cls: type) -> dict[str, Any]:
    """Public methods, class/static methods and properties of ``cls`` and of its darkspin base classes.

    Name -> the raw class attribute (function, classmethod, staticmethod or property); a subclass's definition
    hides its base's. Public: not starting with ``_``, plus ``__call__``.
    """
    members: dict[str, Any] = {}
    for klass in cls.__mro__:
        if not klass.__module__.startswith("darkspin."):
            continue
        for attr, raw in vars(klass).items():
            if attr in members or (attr.startswith("_") and attr != "__call__"):
                continue
            if isinstance(raw, (property, classmethod, staticmethod)) or inspect.isfunction(raw):
                members[attr] = raw
    return members


def member_function(raw: Any) -> Any:
    """The function behind a class attribute (the getter of a property)."""
    return raw.fget if isinstance(raw, property) else getattr(raw, "__func__", raw)


def documented_classes() -> list[str]:
    return [
        name for name in ds.__all__ if inspect.isclass(getattr(ds, name)) and not issubclass(getattr(ds, name), Warning)
    ]


def public_member_ids() -> list[str]:
    return [f"{name}.{attr}" for name in documented_classes() for attr in public_members(getattr(ds, name))]


def section_body(doc: str, title: str) -> str:
    """The text of one numpydoc section ('' if the docstring has none)."""
    match = re.search(rf"^{title}\n-{{3,}}\n(.*?)(?=^\w[\w ]*\n-{{3,}}$|\Z)", doc, re.M | re.S)
    return match.group(1) if match else ""


def documented_parameters(doc: str) -> set[str]:
    """Names a docstring documents under Parameters or Other Parameters (``a, b : float`` gives both)."""
    names: set[str] = set()
    for title in ("Parameters", "Other Parameters"):
        for line in section_body(doc, title).splitlines():
            if line and not line[0].isspace():
                names |= {n.strip().lstrip("*") for n in line.split(" : ")[0].split(",")}
    return names


def raises(function: Any, cls: type | None = None, seen: frozenset = frozenset()) -> bool:
    """Whether a function's source raises (a ``raise`` with an exception) or calls a ``check_*`` validator.

    With ``cls``, the private helpers it calls as ``self._name(...)`` or ``cls._name(...)`` count too.
    """
    tree = ast.parse(textwrap.dedent(inspect.getsource(function)))
    for node in ast.walk(tree):
        if isinstance(node, ast.Raise) and node.exc is not None:
            return True
        if isinstance(node, ast.Call):
            called = node.func.id if isinstance(node.func, ast.Name) else getattr(node.func, "attr", "")
            if called.startswith("check_"):
                return True
            target = node.func
            if (
                cls is not None
                and isinstance(target, ast.Attribute)
                and isinstance(target.value, ast.Name)
                and target.value.id in ("self", "cls")
                and target.attr.startswith("_")
                and not target.attr.startswith("__")
                and target.attr not in seen
            ):
                helper = inspect.getattr_static(cls, target.attr, None)
                helper = member_function(helper)
                if inspect.isfunction(helper) and raises(helper, cls, seen | {target.attr}):
                    return True
    return False


def member_docstring_problems(raw: Any, cls: type | None = None) -> list[str]:
    """What a public method's or property's docstring lacks (empty: nothing); ``cls``: the class it is read on."""
    function = member_function(raw)
    doc = inspect.getdoc(function) or ""
    if not doc.strip():
        return ["no docstring"]
    lines = doc.splitlines()
    problems = []
    if len(lines) > 1 and lines[1].strip():
        problems.append("the summary is not one line followed by a blank line")
    signature = inspect.signature(function)
    if isinstance(raw, property):
        if signature.return_annotation is inspect.Signature.empty:
            problems.append("the property has no return annotation (its type)")
        return problems
    found = sections(doc)
    params = list(signature.parameters)
    if not isinstance(raw, staticmethod) and params and params[0] in ("self", "cls"):
        params = params[1:]
    if params and "Parameters" not in found:
        problems.append("no Parameters section")
    missing = set(params) - documented_parameters(doc)
    if missing:
        problems.append(f"parameters not documented: {sorted(missing)}")
    returns = signature.return_annotation
    if returns is inspect.Signature.empty:
        problems.append("no return annotation")
    elif returns not in (None, "None") and not found & {"Returns", "Yields"}:
        problems.append("no Returns section")
    if raises(function, cls) and "Raises" not in found:
        problems.append("its source raises but it has no Raises section")
    return problems


@pytest.mark.parametrize("member", public_member_ids())
def test_public_method_docstring_has_the_sections_its_signature_needs(member):
    name, attr = member.split(".")
    cls = getattr(ds, name)
    problems = member_docstring_problems(public_members(cls)[attr], cls)
    assert not problems, f"ds.{member}: " + "; ".join(problems)


def test_method_docstring_check_catches_a_stripped_docstring():
    # negative control: the check above fails a method whose sections are gone
    def population(self, state: str) -> float:
        """<v|rho|v> of a named state.

        Parameters
        ----------
        state : str
            A label.

        Returns
        -------
        float

        Raises
        ------
        ValueError
            If the label is unknown.
        """
        if state not in ("S", "T"):
            raise ValueError("state")
        return 1.0

    assert member_docstring_problems(population) == []
    population.__doc__ = "<v|rho|v> of a named\nstate."
    assert member_docstring_problems(population) == [
        "the summary is not one line followed by a blank line",
        "no Parameters section",
        "parameters not documented: ['state']",
        "no Returns section",
        "its source raises but it has no Raises section",
    ]
    assert member_docstring_problems(property(population)) == ["the summary is not one line followed by a blank line"]

    class Result:
        def _jumps(self) -> None:
            raise AttributeError("no jump statistics")

        def mean_jumps(self) -> None:
            """Mean jumps per run."""
            self._jumps()

    # a raise in a private helper the method calls counts (only when the class is known)
    assert member_docstring_problems(Result.mean_jumps) == []
    assert member_docstring_problems(Result.mean_jumps, Result) == ["its source raises but it has no Raises section"]


def member_doctests() -> list[tuple[str, str]]:
    """(ds.Class.member, docstring) of every public member of a public class whose docstring has examples."""
    found, seen = [], set()
    for name in ds.__all__:
        obj = getattr(ds, name)
        if inspect.isclass(obj):
            for attr, raw in public_members(obj).items():
                function = member_function(raw)
                doc = inspect.getdoc(function) or ""
                if ">>> " in doc and function not in seen:  # an inherited method's examples run once
                    seen.add(function)
                    found.append((f"ds.{name}.{attr}", doc))
    return found


@pytest.mark.parametrize(("member", "doc"), member_doctests(), ids=[m for m, _ in member_doctests()])
def test_method_examples_run(member, doc, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # an example that saves a file writes here
    test = doctest.DocTestParser().get_doctest(doc, {"ds": ds, "np": np}, member, None, 0)
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    runner.run(test)
    assert runner.failures == 0, f"{member}: {runner.failures} doctest failures (run pytest -s to see them)"


def test_api_reference_renders_every_public_name():
    page = HOOKS.api_reference()
    rendered = set(re.findall(r"^::: darkspin\.[\w.]+\.(\w+)$", page, re.M))
    assert rendered == set(ds.__all__)
    for name in ds.__all__:  # the block points at the module that defines the name
        module = HOOKS.public_names()[name]
        assert getattr(importlib.import_module(module), name) is getattr(ds, name)


def test_cli_reference_lists_every_command_and_option():
    from darkspin.analysis.cli.parser import build_parser

    page = HOOKS.cli_reference()
    parser = build_parser()
    (sub,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    assert sub.choices
    for name, command in sub.choices.items():
        assert f"## darkspin {name}\n" in page, name
        for action in command._actions:
            for flag in action.option_strings:
                assert flag in page, (name, flag)


def test_config_reference_lists_every_key():
    page = HOOKS.config_reference()
    config = tomllib.loads((ROOT / "analysis" / "default.toml").read_text(encoding="utf-8"))
    assert config
    for section, keys in config.items():
        for key, value in keys.items():
            assert f"| `[{section}]` | `{key}` | `{value!r}` |" in page, (section, key)


def test_example_pages_keep_every_code_cell():
    for path in sorted((ROOT / "examples").glob("*.py")):
        page = HOOKS.example_page(path)
        cells = re.split(r"^# %%.*$", path.read_text(encoding="utf-8"), flags=re.M)
        code = [c.strip("\n") for c in cells if c.strip() and not c.lstrip().startswith("# ")]
        for cell in code:
            assert cell in page, (path.name, cell[:60])


def test_changelog_follows_keep_a_changelog_and_names_the_version():
    text = (ROOT / "CHANGELOG.md").read_text(encoding="utf-8")
    headers = re.findall(r"^## \[([^\]]+)\](.*)$", text, re.M)
    assert headers[0][0] == "Unreleased"
    released = headers[1:]
    assert [v for v, _ in released][-1] == "0.1.0"
    for version, rest in released:
        assert re.fullmatch(r"\d+\.\d+\.\d+", version) and re.fullmatch(r" - \d{4}-\d{2}-\d{2}", rest), version
    version = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["version"]
    assert released[0][0] == version  # the newest release is the version pyproject.toml gives
    kinds = {"Added", "Changed", "Deprecated", "Removed", "Fixed", "Security"}
    assert set(re.findall(r"^### (\w+)$", text, re.M)) <= kinds


@pytest.mark.subprocess
def test_mkdocs_build_strict(tmp_path):
    pytest.importorskip("mkdocs")
    pytest.importorskip("mkdocstrings")
    mkdocs = Path(sys.executable).with_name("mkdocs")
    command = [str(mkdocs)] if mkdocs.exists() else [sys.executable, "-m", "mkdocs"]
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    proc = subprocess.run(
        [*command, "build", "--strict", "--site-dir", str(tmp_path / "site")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    api = (tmp_path / "site" / "reference" / "api.html").read_text(encoding="utf-8")
    for name in ds.__all__:
        assert f"ds.{name}" in api, name
