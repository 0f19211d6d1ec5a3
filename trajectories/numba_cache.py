"""Where Numba keeps darkspin's compiled kernels: in the user's cache folder, never inside the package.

Numba's default for ``cache=True`` writes ``.nbi``/``.nbc`` files into ``__pycache__`` beside the source. In an
installed package those files are not in pip's record, so an uninstall leaves ``site-packages/darkspin/``
behind without its ``__init__.py``, and Python then imports that empty folder as a namespace package. A
locator placed ahead of Numba's own sends darkspin's kernels to ``<user cache>/darkspin/numba/`` instead
(``NUMBA_CACHE_DIR``, when the user sets it, still wins). If Numba's private locator API ever changes, or the
cache folder cannot be written, Numba's own behaviour applies: caching is an optimisation, never a reason
for an import to fail.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

#: the folder that holds the darkspin package (the parent of trajectories/, ensemble/, analysis/ links)
_PACKAGE_ROOT = Path(__file__).resolve().parent.parent


def cache_folder() -> Path:
    """The folder for darkspin's compiled kernels, by the platform's convention for user caches.

    Returns
    -------
    pathlib.Path
        ``$XDG_CACHE_HOME/darkspin/numba`` (default ``~/.cache``) on Linux, ``~/Library/Caches`` on macOS,
        ``%LOCALAPPDATA%`` on Windows.
    """
    if sys.platform == "win32":
        base = Path(os.environ.get("LOCALAPPDATA") or Path.home() / "AppData" / "Local")
    elif sys.platform == "darwin":
        base = Path.home() / "Library" / "Caches"
    else:
        base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "darkspin" / "numba"


def _ours(py_file: str) -> bool:
    try:
        return Path(py_file).resolve().is_relative_to(_PACKAGE_ROOT)
    except (OSError, ValueError):
        return False


def install() -> bool:
    """Register the locator with Numba (once; later calls do nothing).

    Returns
    -------
    bool
        True if darkspin's kernels now cache in :func:`cache_folder`, False if Numba's own locators apply.
    """
    try:
        from numba.core import caching
    except ImportError:
        return False
    impl = getattr(caching, "CacheImpl", None) or getattr(caching, "_CacheImpl", None)
    base = getattr(caching, "UserProvidedCacheLocator", None) or getattr(caching, "_UserProvidedCacheLocator", None)
    locators = getattr(impl, "_locator_classes", None)
    if impl is None or base is None or not isinstance(locators, list):
        return False
    if any(getattr(cls, "_darkspin", False) for cls in locators):
        return True

    class _DarkspinLocator(base):  # type: ignore[misc, valid-type]
        _darkspin = True

        def __init__(self, py_func, py_file):  # noqa: ANN001 (Numba's signature)
            super().__init__(py_func, py_file)
            self._cache_path = str(cache_folder() / self.get_suitable_cache_subpath(py_file))

        @classmethod
        def from_function(cls, py_func, py_file):  # noqa: ANN001
            from numba.core import config

            # CACHE_DIR: set at run time by numba.core.config, from the environment
            if config.CACHE_DIR or not _ours(py_file) or not os.path.exists(py_file):  # type: ignore[attr-defined]
                return None
            try:
                self = cls(py_func, py_file)
                self.ensure_cache_path()
            except OSError:
                return None
            return self

    locators.insert(0, _DarkspinLocator)
    return True
