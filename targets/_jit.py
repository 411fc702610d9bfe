"""Kernels that take a target's functions as arguments are compiled in memory only.

The kernels receive the log density as a first-class function argument, so numba
specialises them per target. Measured with numba 0.68: such specialisations never hit
numba's disk cache in a new process (the argument's type name embeds the function's
address), yet every process appends a new entry to the cache index, which then grows
without bound; and an entry for a function whose module another process cannot import
(a user's target file, a test module) makes reading that index fail for every target.
So `register` switches those kernels to numba's null cache. The helpers they call that
do not depend on the target (random numbers, kinetic energy) stay disk-cached.
"""

from __future__ import annotations

from numba.core.caching import NullCache

__all__ = ["register", "call"]


def register(*dispatchers):
    """Compile these dispatchers in memory only (see the module docstring)."""
    for d in dispatchers:
        d._cache = NullCache()


def call(kernel, functions, *args):
    """``kernel(*args)``; ``functions`` names the target functions it is specialised on."""
    return kernel(*args)
