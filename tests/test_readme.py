"""The README is part of the product: its Python examples run as printed, and every link stays inside
the repository and points at a file that exists."""

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
