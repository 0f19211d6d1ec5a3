"""``python -m darkspin.analysis.cli``: the same as the ``darkspin`` command."""

from __future__ import annotations

from .main import main

raise SystemExit(main())
