"""Kernels with a fixed signature, compiled on first use instead of at import.

``@nb.njit(signature)`` compiles when its module is imported, so importing the sampler compiled
every kernel, used or not: with an empty numba cache that was ~34 s before a first sweep, ~15 s of
it for kernels a run may never call (exact HMC and DIME in a pipeline run, the 2-D trajectory in a
100-D one). `kernel` keeps the signature -- one compiled body for every target, whose functions
arrive through typed function pointers, cached on disk -- and compiles it at the first call, as
``nb.njit(signature)`` would have at import: same machine code, same draws.

The dashboard wants every kernel before the first page (`compile_all`, `dashboard.warmup`).
"""

from __future__ import annotations

import functools
import threading

import numba as nb

__all__ = ["kernel", "LazyKernel", "compile_all"]

_ALL: list["LazyKernel"] = []


class LazyKernel:
    """A numba dispatcher made, and its one signature compiled (or loaded from the cache), on
    first use. Callable like the dispatcher; ``dispatcher`` is the compiled one itself (what a
    kernel takes as a function-pointer argument); other attributes are the dispatcher's."""

    def __init__(self, py_func, signature, options: dict):
        self.py_func = py_func
        self.signature = signature
        self.options = dict(options)
        self._dispatcher = None
        self._lock = threading.Lock()
        functools.update_wrapper(self, py_func)

    @property
    def dispatcher(self):
        d = self._dispatcher
        if d is None:
            with self._lock:  # two threads' first calls compile once
                if self._dispatcher is None:
                    made = nb.njit(**self.options)(self.py_func)
                    made.compile(self.signature)
                    made.disable_compile()  # as nb.njit(signature) does: calls convert to this signature
                    self._dispatcher = made
                d = self._dispatcher
        return d

    @property
    def compiled(self) -> bool:
        return self._dispatcher is not None

    def __call__(self, *args):
        return self.dispatcher(*args)

    def __getattr__(self, name):
        # private and special names are never the dispatcher's: an instance made without __init__
        # (a copy, an unpickling) must not recurse through `dispatcher` looking for `_dispatcher`
        if name.startswith("_"):
            raise AttributeError(name)
        return getattr(self.dispatcher, name)

    def __repr__(self):
        state = "compiled" if self.compiled else "not compiled yet"
        return f"<LazyKernel {self.py_func.__module__}.{self.py_func.__qualname__} ({state})>"


def kernel(signature, **options):
    """``nb.njit(signature, **options)``, compiled at the first call instead of at import."""

    def wrap(py_func) -> LazyKernel:
        k = LazyKernel(py_func, signature, options)
        _ALL.append(k)
        return k

    return wrap


def compile_all() -> int:
    """Compile (or load from numba's cache) every kernel a `Sampler` can call; returns how many."""
    from . import pipeline  # noqa: F401 -- imports every module that defines one

    for k in list(_ALL):
        k.dispatcher  # noqa: B018 -- compiles it
    return len(_ALL)
