"""The Monte Carlo result file: saving a :class:`MonteCarloResult` as one .npz file and loading it back.

File format ``darkspin-result-2``: an uncompressed .npz holding exactly the members of ``_MEMBERS``
(the sums, counts, model, protocol, seed, trajectory ranges, why the run ended as JSON ``stats``,
and a SHA-256 ``checksum`` of all the others). :func:`load` reads only those members, checks each
one's declared dtype and shape in its .npy header before reading it, recomputes the checksum and
checks every cross-field invariant, and refuses anything else with one line. The checksum detects
damage and edits; it is not a signature (whoever recomputes it can forge a file), which is why the
invariants are checked as well. ``darkspin-result-1`` files (no checksum, no stats) still load, with
a warning, and are checked for consistency the same way.

The format's members and checksum are in :mod:`.file_format`, writing in :mod:`.file_write`, reading in
:mod:`.file_read`; this module keeps the names importable from here and makes ``result.save`` write
through :func:`save`.
"""

from __future__ import annotations

from ..results.monte_carlo import set_writer
from .file_format import _COUNT_MEMBERS as _COUNT_MEMBERS
from .file_format import FORMAT as FORMAT
from .file_format import OLD_FORMATS as OLD_FORMATS
from .file_format import _checksum as _checksum
from .file_format import model_members as model_members
from .file_format import package_version as package_version
from .file_read import load as load
from .file_write import check_exact_types as check_exact_types
from .file_write import check_save_path as check_save_path
from .file_write import encode as encode
from .file_write import save as save

set_writer(save)
