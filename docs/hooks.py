"""MkDocs hook: the pages generated from the code at build time, so they cannot drift from it.

* ``reference/cli.md``: every command's ``--help``, from the argument parser (analysis/cli/parser.py);
* ``reference/config.md``: every key of the embedded default config (analysis/default.toml) with its comment;
* ``examples/<name>.md``: the worked examples (jupytext percent scripts in examples/) as pages, with the figure
  each one draws (committed in docs/examples/);
* ``benchmarks.md`` and ``changelog.md``: benchmarks/README.md and CHANGELOG.md, links to repository files
  outside docs/ turned into plain paths (the site has no copy of them).

The generating functions are plain functions of the repository, also called by tests/test_docs.py.
"""

from __future__ import annotations

import argparse
import os
import re
import tomllib
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
HELP_WIDTH = "100"  # argparse wraps at $COLUMNS: fixed, so the page does not depend on the terminal


def cli_reference() -> str:
    """Markdown: the help of ``darkspin`` and of each of its commands."""
    from darkspin.analysis.cli.parser import build_parser

    saved = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = HELP_WIDTH
    try:
        parser = build_parser()
        parser.prog = "darkspin"
        lines = [
            "# Command line reference",
            "",
            "Generated at build time from the argument parser (`analysis/cli/parser.py`): what `darkspin --help`"
            " and `darkspin COMMAND --help` print.",
            "Bad input prints one line naming the argument and exits with status 2; Ctrl-C exits with 130 after"
            " saving the finished batches.",
            "",
            "## darkspin",
            "",
            "```text",
            parser.format_help().rstrip(),
            "```",
        ]
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for name, sub in action.choices.items():
                    lines += ["", f"## darkspin {name}", "", "```text", sub.format_help().rstrip(), "```"]
    finally:
        if saved is None:
            os.environ.pop("COLUMNS", None)
        else:
            os.environ["COLUMNS"] = saved
    return "\n".join(lines) + "\n"


def _comment(line: str) -> str:
    """The comment after a TOML value on one line (``#`` outside quotes), or ''."""
    quoted = False
    for i, ch in enumerate(line):
        if ch == '"':
            quoted = not quoted
        elif ch == "#" and not quoted:
            return line[i + 1 :].strip()
    return ""


def _parameter_docs(obj: Any) -> dict[str, str]:
    """name -> the first sentence of its description, from an object's numpydoc Parameters section."""
    import inspect

    doc = inspect.getdoc(obj) or ""
    match = re.search(r"^Parameters\n-+\n(.*?)(?:\n\n\w[\w ]*\n-+\n|\Z)", doc, re.S | re.M)
    found: dict[str, str] = {}
    if not match:
        return found
    names: list[str] = []
    for line in match.group(1).splitlines():
        if line and not line.startswith(" "):
            names = [n.strip() for n in line.split(" : ")[0].split(",")]
        elif line.strip() and names:
            for name in names:  # Sphinx roles (:func:`x`) as plain code spans
                found.setdefault(name, re.sub(r":\w+:`", "`", line.strip()))
            names = []
    return found


def _key_docs() -> dict[str, dict[str, str]]:
    """Descriptions of config keys without a comment: [model] from SpinPair, [run] from simulate."""
    import darkspin as ds

    return {"model": _parameter_docs(ds.SpinPair), "run": _parameter_docs(ds.simulate)}


def config_reference() -> str:
    """Markdown: a table of every key of analysis/default.toml (section, key, default, comment) and the file."""
    text = (ROOT / "analysis" / "default.toml").read_text(encoding="utf-8")
    values: dict[str, Any] = tomllib.loads(text)
    rows = ["| section | key | default | meaning |", "|---|---|---|---|"]
    docs = _key_docs()
    optional = ["", "Keys commented out in the file (optional, no default value):", ""]
    section = ""
    for line in text.splitlines():
        stripped = line.strip()
        match = re.match(r"^\[(\w+)\]$", stripped)
        if match:
            section = match.group(1)
            continue
        key = re.match(r"^(\w+)\s*=", stripped)
        if key and section:
            name = key.group(1)
            value = values.get(section, {}).get(name)
            meaning = _comment(line) or docs.get(section, {}).get(name, "")
            rows.append(f"| `[{section}]` | `{name}` | `{value!r}` | {meaning.replace('|', chr(92) + '|')} |")
            continue
        commented = re.match(r"^#\s*(\w+)\s*=\s*(.*?)\s*#\s*(.*)$", stripped)
        if commented and section:
            key, example, meaning = commented.groups()
            optional.append(f"* `[{section}]` `{key}` (e.g. `{example}`): {meaning}")
    return "\n".join(
        [
            "# Configuration file reference",
            "",
            "Generated at build time from `analysis/default.toml`, the embedded default run (`darkspin run`"
            " without a file). A config file has the same sections; every key is optional and missing keys take"
            " these values. `--set section.key=value` overrides one key on the command line (the value read as"
            " TOML). An unknown key or an out-of-range value stops the command with one line naming the key"
            " (exit status 2). Study files add `[sweep]` ([Sweeps](../sweeps.md)) or `[optimize]`"
            " ([Schedule design](../schedule.md)) sections.",
            "",
            *rows,
            *optional,
            "",
            "## The file",
            "",
            "```toml",
            text.rstrip(),
            "```",
            "",
        ]
    )


EXAMPLE_FIGURES = {
    "paper_figures": "protocol.png",
    "two_axis_sweep": "two_axis_sweep.png",
    "own_model": "own_model.png",
}


def example_page(path: Path) -> str:
    """Markdown: a jupytext percent script as a page (markdown cells as text, code cells as Python)."""
    cells = re.split(r"^# %%(.*)$", path.read_text(encoding="utf-8"), flags=re.M)
    out: list[str] = []
    for marker, body in zip(cells[1::2], cells[2::2], strict=True):
        body = body.strip("\n")
        if not body:
            continue
        if "[markdown]" in marker:
            out.append("\n".join(re.sub(r"^# ?", "", line) for line in body.splitlines()))
        else:
            out.append(f"```python\n{body}\n```")
    out.append(f"Source: `examples/{path.name}`; run it with `python examples/{path.name}`.")
    figure = EXAMPLE_FIGURES.get(path.stem)
    if figure and (ROOT / "docs" / "examples" / figure).exists():
        out.append(f"![{path.stem}]({figure})")
    return "\n\n".join(out) + "\n"


def _plain_links(text: str, base: str) -> str:
    """Relative links to repository files outside docs/ become code spans (``base``: the file's folder)."""

    def repl(m: re.Match[str]) -> str:
        label, target = m.group(1), m.group(2)
        if "://" in target or target.startswith("#"):
            return m.group(0)
        path = os.path.normpath(os.path.join(base, target.split("#")[0]))
        if path.startswith("docs/") and path.endswith(".md"):
            return f"[{label}]({os.path.relpath(path, 'docs')})"
        return f"{label} (`{path}`)" if label.strip("`") != path else f"`{path}`"

    return re.sub(r"(?<!!)\[([^\]]+)\]\(([^)]+)\)", repl, text)


API_GROUPS = (
    ("trajectories.", "Models, protocols and single runs"),
    ("ensemble.exact.", "The exact solver"),
    ("ensemble.montecarlo.", "Monte Carlo ensembles"),
    ("ensemble.results.", "Results"),
    ("ensemble.statistics.", "Statistics"),
    ("analysis.", "Studies"),
)


def public_names() -> dict[str, str]:
    """Every name of ``ds.__all__`` -> the module that defines it (read from darkspin/__init__.pyi)."""
    import darkspin

    where = darkspin._WHERE
    return {name: "darkspin" + where[name] for name in darkspin.__all__ if name in where}


def api_reference() -> str:
    """Markdown: a mkdocstrings block for every name of ``ds.__all__``, grouped by layer."""
    names = public_names()
    lines = [
        "# API reference",
        "",
        "Every public name of `import darkspin as ds` (`ds.__all__`, written once in `darkspin/__init__.pyi`),"
        " rendered from its numpydoc docstring. Generated at build time. The three layers are also importable as"
        " `darkspin.trajectories`, `darkspin.ensemble` and `darkspin.analysis`.",
    ]
    done: set[str] = set()
    for prefix, title in API_GROUPS:
        group = [n for n, m in names.items() if m.startswith("darkspin." + prefix) and n not in done]
        if not group:
            continue
        lines += ["", f"## {title}", "", " ".join(f"[`ds.{n}`](#{names[n]}.{n})" for n in group)]
        for name in group:
            lines += ["", f"::: {names[name]}.{name}", "    options:", f"      heading: ds.{name}"]
            lines += ["      heading_level: 3", "      toc_label: " + name]
            done.add(name)
    rest = [n for n in names if n not in done]
    if rest:
        lines += ["", "## Other names", ""]
        for name in rest:
            lines += ["", f"::: {names[name]}.{name}", "    options:", "      heading_level: 3"]
    return "\n".join(lines) + "\n"


def generated_pages() -> dict[str, str]:
    """Every generated page: its path under docs/ -> its markdown."""
    pages = {
        "reference/cli.md": cli_reference(),
        "reference/config.md": config_reference(),
        "reference/api.md": api_reference(),
        "benchmarks.md": _plain_links((ROOT / "benchmarks" / "README.md").read_text(encoding="utf-8"), "benchmarks"),
        "changelog.md": _plain_links((ROOT / "CHANGELOG.md").read_text(encoding="utf-8"), "."),
    }
    for path in sorted((ROOT / "examples").glob("*.py")):
        pages[f"examples/{path.stem}.md"] = example_page(path)
    return pages


def on_files(files: Any, config: Any) -> Any:
    from mkdocs.structure.files import File

    for uri, content in generated_pages().items():
        files.append(File.generated(config, uri, content=content))
    return files
