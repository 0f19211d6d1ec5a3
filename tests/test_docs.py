"""The documentation cannot rot: its code runs, its references are generated from the code and list everything.

* every ```python block of a page in docs/ runs, the blocks of one page in order in one fresh process (a block
  right after a ``<!-- no-run: reason -->`` comment is shown but not run);
* every name of ``ds.__all__`` has a numpydoc docstring with Parameters, Returns (functions) and Examples
  sections, and its examples run as doctests;
* the API reference renders every name of ``ds.__all__``; the CLI reference every command and option of the
  parser; the config reference every key of analysis/default.toml;
* CHANGELOG.md follows Keep a Changelog and names the version pyproject.toml gives;
* ``mkdocs build --strict`` succeeds (when the docs extra is installed).
"""

from __future__ import annotations

import argparse
import doctest
import importlib
import importlib.util
import inspect
import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path
from types import ModuleType

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
