"""Keep numba's on-disk cache clean of user targets.

The kernels take the log density as a first-class function argument, so numba compiles
one specialisation per target and, with ``cache=True``, records that target's function
in the kernel's cache index. Reading the index back unpickles every entry: an entry for a
function in a module that the reading process cannot import (a user's target file, a
test module) breaks the cache for *every* target. So kernels are specialised for
built-in targets (functions in the ``targets`` package) with the disk cache, and for any
other target with numba's null cache, under a lock, on first use.
"""

from __future__ import annotations

import os
import threading
import traceback

from numba.core.caching import NullCache

__all__ = ["register", "call", "cacheable"]

_KERNELS: list = []  # every dispatcher that receives a log density (directly or not)
_lock = threading.RLock()
_warm: dict = {}  # key -> the functions (kept alive so their ids stay unique)


def register(*dispatchers):
    """Declare dispatchers whose specialisations depend on the target's functions."""
    _KERNELS.extend(dispatchers)


def cacheable(fn) -> bool:
    mod = getattr(getattr(fn, "py_func", None), "__module__", "") or ""
    return mod == "targets" or mod.startswith("targets.") or mod.startswith("sampler.")


def _from_cache_machinery(exc: BaseException) -> bool:
    return any(f.filename.endswith(os.path.join("numba", "core", "caching.py"))
               for f in traceback.extract_tb(exc.__traceback__))


def _purge_indexes():
    """Drop the kernels' cache indexes (a stale or foreign index cannot be read back)."""
    for d in _KERNELS:
        path = getattr(getattr(d._cache, "_cache_file", None), "_index_path", None)
        if path and os.path.exists(path):
            try:
                os.remove(path)
            except OSError:
                pass


def call(kernel, functions, *args):
    """``kernel(*args)``; the first call for non-built-in ``functions`` bypasses the disk cache.

    An index written by an older version, or by a process that cached a function this one
    cannot import, makes numba's cache raise while loading or saving; then the indexes are
    dropped and the call is retried without the disk cache (correct, only slower once).
    """
    if all(cacheable(f) for f in functions):
        try:
            return kernel(*args)
        except Exception as exc:
            if not _from_cache_machinery(exc):
                raise
            with _lock:
                _purge_indexes()
            return _uncached(kernel, functions, args)
    key = (id(kernel),) + tuple(id(f) for f in functions)
    if key in _warm:
        return kernel(*args)
    return _uncached(kernel, functions, args)


def _uncached(kernel, functions, args):
    key = (id(kernel),) + tuple(id(f) for f in functions)
    with _lock:
        saved = [(d, d._cache) for d in _KERNELS]
        for d, _ in saved:
            d._cache = NullCache()
        try:
            return kernel(*args)
        finally:
            for d, c in saved:
                d._cache = c
            _warm[key] = (kernel, tuple(functions))
