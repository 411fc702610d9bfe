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

import threading

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


def call(kernel, functions, *args):
    """``kernel(*args)``; the first call for non-built-in ``functions`` bypasses the disk cache."""
    if all(cacheable(f) for f in functions):
        return kernel(*args)
    key = (id(kernel),) + tuple(id(f) for f in functions)
    if key in _warm:
        return kernel(*args)
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
