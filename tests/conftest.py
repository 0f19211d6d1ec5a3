"""Hypothesis profiles for the property tests.

'ci' (the default, and whenever the environment variable CI is set): few examples, no per-example
deadline (Numba compiles and a loaded 2-core machine make single examples slow), too_slow suppressed.
'dev': many more examples, for a thorough local run: HYPOTHESIS_PROFILE=dev pytest tests/test_properties.py
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

settings.register_profile(
    "ci", max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow], print_blob=True
)
settings.register_profile(
    "dev", max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow], print_blob=True
)

_requested = os.environ.get("HYPOTHESIS_PROFILE")
settings.load_profile("ci" if os.environ.get("CI") or _requested not in ("ci", "dev") else _requested)
