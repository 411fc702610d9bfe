"""Numba types of a target's functions, so that kernels compile once for every target.

The kernels take the log density (and gradient) as *first-class functions* of a fixed
signature (`LOG_DENSITY`, `GRADIENT`) rather than as dispatcher-typed arguments. A
dispatcher-typed argument makes numba specialise every kernel per target, and such
specialisations are never found in numba's disk cache by a new process (the type name
embeds the function's address) while each process appends another entry to the cache
index; an entry for a function whose module another process cannot import (a user's
target file, a test module) even breaks reading the index. With function types, each
kernel is compiled once, cached on disk, and called through a function pointer (a few
nanoseconds per log-density call; see benchmarks/core_speed.py).
"""

from __future__ import annotations

from numba import types

__all__ = ["LOG_DENSITY", "GRADIENT", "LP_SIGNATURE", "GRAD_SIGNATURE"]

LP_SIGNATURE = types.float64(types.float64[::1])
GRAD_SIGNATURE = types.float64[::1](types.float64[::1])
LOG_DENSITY = types.FunctionType(LP_SIGNATURE)
GRADIENT = types.FunctionType(GRAD_SIGNATURE)


# ---------------------------------------------------------------- specialised kernels
# The price of the function pointer: numba cannot inline the target into the kernel, so
# every evaluation is an opaque call (its arguments boxed as an array struct, the result
# checked), and LLVM cannot hoist or vectorise across it. A kernel compiled for the
# target's dispatcher itself has the target inlined. Such a specialisation must never
# reach numba's disk cache (see above), so `specialise` recompiles a kernel and every
# numba function it calls that is not inlined at the IR level, as fresh uncached copies
# (same code, same floating-point operations: same draws); each new target then
# compiles its own overload of the copy, in memory only.

import threading
import types as _pytypes

import numba as _nb
from numba.core.registry import CPUDispatcher as _CPUDispatcher

_COPIES: dict = {}
_COPIES_LOCK = threading.RLock()


def _copy(dispatcher, parallel=None):
    """An uncached, signature-free copy of ``dispatcher`` whose numba callees are copies too."""
    key = (dispatcher, parallel)
    with _COPIES_LOCK:
        if key in _COPIES:
            return _COPIES[key]
        py = dispatcher.py_func
        glb = dict(py.__globals__)
        for name in py.__code__.co_names:
            callee = glb.get(name)
            if isinstance(callee, _CPUDispatcher) and callee.targetoptions.get("inline", "never") == "never":
                glb[name] = _copy(callee)
        fn = _pytypes.FunctionType(py.__code__, glb, py.__name__, py.__defaults__, py.__closure__)
        fn.__qualname__, fn.__doc__, fn.__module__ = py.__qualname__, py.__doc__, py.__module__
        opts = {k: v for k, v in dispatcher.targetoptions.items() if k in ("nogil", "parallel", "error_model", "fastmath",
                                                                          "boundscheck", "inline")}
        if parallel is not None:
            opts["parallel"] = parallel
        copy = _nb.njit(cache=False, **opts)(fn)
        _COPIES[key] = copy
        return copy


def specialise(kernel):
    """A copy of ``kernel`` (an ``@njit`` function taking `LOG_DENSITY`/`GRADIENT`
    arguments) that takes the target's dispatchers themselves: numba compiles it once per
    target, in memory, with the target inlined. Same arguments, same results."""
    return _copy(kernel)
