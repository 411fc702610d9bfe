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

import threading
import types as _pytypes

import numba as _nb
from numba import types
from numba.core.registry import CPUDispatcher as _CPUDispatcher

__all__ = ["LOG_DENSITY", "GRADIENT", "LP_SIGNATURE", "GRAD_SIGNATURE", "specialise"]

LP_SIGNATURE = types.float64(types.float64[::1])
GRAD_SIGNATURE = types.float64[::1](types.float64[::1])
LOG_DENSITY = types.FunctionType(LP_SIGNATURE)
GRADIENT = types.FunctionType(GRAD_SIGNATURE)


# ---------------------------------------------------------------- specialised kernels
# What the function pointer costs, measurably: `specialise` recompiles a kernel for the
# target's dispatcher itself, so numba can inline the target (benchmarks/core_speed.py
# --where compares it with the general kernel and a hand-written loop). On a 2-D mixture
# it is within a few per cent of the general kernel, so the sampler keeps the general,
# disk-cached kernels (no start-up cost, no compile lock held in the background); the
# remaining distance to a hand-written loop is inside the kernel body (see the benchmark).
# A specialisation must never reach numba's disk cache (see above): the copy and every
# numba function it calls that is not inlined at the IR level are fresh, uncached copies
# (same code, same floating-point operations: same draws), compiled in memory only.

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
