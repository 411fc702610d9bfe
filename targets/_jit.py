"""Numba types of a target's functions, so that kernels compile once for every target.

The kernels take the log density (and gradient) as *first-class functions* of a fixed
signature (`LOG_DENSITY`, `GRADIENT`) rather than as dispatcher-typed arguments. A
dispatcher-typed argument makes numba specialise every kernel per target, and such
specialisations are never found in numba's disk cache by a new process (the type name
embeds the function's address) while each process appends another entry to the cache
index; an entry for a function whose module another process cannot import (a user's
target file, a test module) even breaks reading the index. With function types, each
kernel is compiled once, cached on disk, and called through a function pointer (1-2% of a
2-D diffusion step against the density inlined: `python benchmarks/core_speed.py --where`).
"""

from __future__ import annotations

from numba import types

__all__ = ["LOG_DENSITY", "GRADIENT", "LP_SIGNATURE", "GRAD_SIGNATURE"]

LP_SIGNATURE = types.float64(types.float64[::1])
GRAD_SIGNATURE = types.float64[::1](types.float64[::1])
LOG_DENSITY = types.FunctionType(LP_SIGNATURE)
GRADIENT = types.FunctionType(GRAD_SIGNATURE)
