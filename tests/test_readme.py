"""The README is part of the product: short, its Python example runs and prints what the README shows, its two
set-up commands are where .ci/run reads them, and every link stays inside the repository and points at a file
that exists."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")


@pytest.mark.subprocess
def test_python_examples_run(tmp_path):
    code = "\n".join(re.findall(r"```python\n(.*?)```", README, re.S))
    assert "import darkspin as ds" in code
    script = tmp_path / "readme_examples.py"
    script.write_text(code)
    proc = subprocess.run(
        [sys.executable, str(script)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "MPLBACKEND": "Agg"},
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "consistent" in proc.stdout and "inconsistent" not in proc.stdout
    # the output the README shows right after the example ("prints" and a text block) is what it prints
    shown = re.search(r"```python\n.*?```\n\nprints\n\n```text\n(.*?)```", README, re.S)
    assert shown, "no printed output after the README's Python example"
    assert proc.stdout == shown.group(1)


def test_readme_is_short():
    assert len(README.splitlines()) <= 130


def test_setup_commands_under_their_markers():
    # .ci/run runs the line two below each marker (the line after the ```bash fence)
    for marker, needles in (
        ("<!-- main-command -->", ("pip install", "darkspin run")),
        ("<!-- test-command -->", ('".[test', "pytest")),
    ):
        lines = README.splitlines()
        assert lines.count(marker) == 1, marker
        at = lines.index(marker)
        assert lines[at + 1] == "```bash", marker
        assert all(needle in lines[at + 2] for needle in needles), lines[at + 2]


def test_links_stay_inside_the_repository():
    links = re.findall(r"\]\(([^)]+)\)", README)
    assert links
    for link in links:
        assert "://" not in link and not link.startswith("/") and ".." not in link, link
        assert (ROOT / link.split("#")[0]).exists(), link


def test_no_path_points_outside_the_repository():
    for path in [*ROOT.glob("*.md"), *ROOT.glob("docs/*.md"), *ROOT.glob("benchmarks/*"), *ROOT.glob("*/*.py")]:
        if path.is_file() and ".venv" not in path.parts and path.name != "test_readme.py":
            text = path.read_text(encoding="utf-8", errors="replace")
            assert "../shared" not in text and "/work/" not in text, path
