"""The run report's infidelity split: its counts are those of the runs it is over.

With a rule that is not nested ('last', or feedback with 'last'), the runs post-selected right after a
round (n_success) are not the runs post-selected both before and after it (the table's ``successes``,
for p_success); the split of the post-selected infidelity is over the former, and the report's columns
must say so: post_selected = n_quiet + n_jumped, each checked against the result's own data.
"""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
from cli_calls import call as _call

from darkspin.ensemble import load

BASE = """
[protocol]
measure_at = [20.0, 40.0]
t_final = 60.0
n_out = 61
{protocol}
[run]
ntraj = 4000
seed = 11
batch_size = 1000
"""
RULES = {
    "all": "",
    "last": 'postselect = "last"\n',
    "feedback": 'feedback = { "+1" = "flip1" }\npostselect = "last"\n',
}


@pytest.fixture(scope="module", params=sorted(RULES))
def report_run(request, tmp_path_factory):
    folder = tmp_path_factory.mktemp(f"report-{request.param}")
    cfg = folder / "run.toml"
    cfg.write_text(BASE.format(protocol=RULES[request.param]))
    status, stdout, stderr = _call(["run", cfg, "--out", folder / "out", "--no-progress"])
    assert status == 0, stderr
    return request.param, stdout, folder / "out"


def _split_rows(text: str) -> list[list[str]]:
    """The rows of the infidelity block of postselection.txt (or of what ``run`` prints)."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("Post-selected infidelity 1 - F"))
    header = lines[start + 1].split()
    assert header[:4] == ["round", "post_selected", "n_quiet", "n_jumped"], header
    rows = []
    for line in lines[start + 3 :]:
        if not re.match(r"\s*\d+\s", line):
            break
        rows.append(line.split())
    return rows


def test_split_counts_are_the_runs_it_is_over(report_run):
    rule, stdout, out = report_run
    mc = load(out / "result.npz")
    cols = json.loads((out / "summary.json").read_text())["postselection"]["columns"]
    rounds = mc.protocol.rounds
    n_success = np.asarray(mc.n_success).tolist()
    # independently: the result's own n_success, and its distributions' split at each round's end
    splits = [mc.distributions.split(f"round {k + 1}") for k in range(rounds)]
    assert cols["post_selected"] == n_success
    assert cols["n_quiet"] == [s.n_quiet for s in splits]
    assert cols["n_jumped"] == [s.n_jumped for s in splits]
    for k in range(rounds):
        assert cols["post_selected"][k] == cols["n_quiet"][k] + cols["n_jumped"][k], k
        assert cols["n_quiet"][k] + cols["n_jumped"][k] == n_success[k], k
    # successes stays what p_success is made of: runs post-selected before and after the round
    assert cols["successes"] == np.asarray(mc.n_kept).tolist()
    if rule == "all":
        assert cols["successes"] == cols["post_selected"]  # a nested rule: the same runs
    else:
        assert cols["successes"] != cols["post_selected"]  # the case the old table mixed up
    # the printed table and postselection.txt show the same counts
    for text in (stdout, (out / "postselection.txt").read_text()):
        rows = _split_rows(text)
        assert len(rows) == rounds
        for k, row in enumerate(rows):
            assert [int(x) for x in row[:4]] == [k + 1, n_success[k], splits[k].n_quiet, splits[k].n_jumped]
