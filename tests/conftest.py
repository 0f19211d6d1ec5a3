"""Shared fixtures and the Hypothesis profiles of the test suite.

Layout: tests/trajectories, tests/ensemble and tests/analysis (command line: tests/analysis/cli) mirror the
package; the shared helpers (reference.py, cli_calls.py, _thread_probe.py, data/) stay here, importable by
name because pyproject puts tests/ on sys.path. Test files need unique basenames.

Markers (pyproject, --strict-markers): ``statistical`` for Monte Carlo against exact solutions and
calibrations (many trajectories to test a statistic), ``subprocess`` for anything that starts a Python or
``darkspin`` process (command line, examples, README, Dask cluster, process pools, thread probes).
The fast loop leaves both out: 1,653 of the 1,818 tests,

    .venv/bin/python -m pytest -q -m "not statistical and not subprocess"

3 min 45 s on 2 cores with the Numba cache warm (230 s of CPU); the whole suite on a cold cache 16.5 min on a
loaded 2-core machine (13 min of CPU, of which 3.3 min the one cold compile of the kernels). One compile
serves every test and every process because the kernels are always called with one signature
(trajectories/signatures.py): a test that calls a kernel directly passes ``canonical(plan)``.
The slowest of the fast loop: the CLI's in-process runs, the per-run records' kernel, the batched exact
solver on random models and the Hypothesis properties.

Hypothesis profiles for the property tests:

'ci' (the default, and whenever the environment variable CI is set): few examples, the same ones every
run (derandomized, no example database), no per-example
deadline (Numba compiles and a loaded 2-core machine make single examples slow), too_slow suppressed.
'dev': many more examples, for a thorough local run: HYPOTHESIS_PROFILE=dev pytest tests/test_properties.py
"""

from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, settings

from darkspin.trajectories import sanity

# UnitSlipWarning stays quiet in the suite: the tests build strong couplings on purpose (many jumps in few
# steps), random models (Hypothesis), extreme and tiny parameters, none of them a slip. Marking every cause
# as warned already (also at collection, where modules build their models) keeps it quiet even inside
# blocks that turn warnings into errors; tests/trajectories/test_unit_slip.py resets it to test it.
sanity._WARNED.update(sanity.CAUSES)


@pytest.fixture(autouse=True)
def _quiet_unit_slips():
    sanity._WARNED.update(sanity.CAUSES)


# derandomized: CI tests the same examples every run (the dev profile explores new ones)
settings.register_profile(
    "ci",
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    print_blob=True,
    derandomize=True,
    database=None,
)
settings.register_profile(
    "dev", max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow], print_blob=True
)

_requested = os.environ.get("HYPOTHESIS_PROFILE")
settings.load_profile("ci" if os.environ.get("CI") or _requested not in ("ci", "dev") else _requested)


@pytest.fixture
def no_work(monkeypatch):
    """Make any trajectory work fail loudly: bad input must be rejected before the first batch."""
    import importlib

    def forbidden(*args, **kwargs):
        raise AssertionError("run_batch was called: the input should have been rejected first")

    monkeypatch.setattr(importlib.import_module("darkspin.ensemble.montecarlo.simulation"), "run_batch", forbidden)
