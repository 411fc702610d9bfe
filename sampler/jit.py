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
import warnings

import numba as nb
from numba.core.errors import NumbaPerformanceWarning

__all__ = ["kernel", "walker_kernel", "LazyKernel", "compile_all"]

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
        self._made = None
        self._lock = threading.Lock()
        functools.update_wrapper(self, py_func)

    @property
    def name(self) -> str:
        """``module:qualname``, what `sampler.compile_helper` imports it by."""
        return f"{self.py_func.__module__}:{self.py_func.__qualname__}"

    def _uncompiled(self):
        if self._made is None:
            self._made = nb.njit(**self.options)(self.py_func)
        return self._made

    def on_disk(self) -> bool | None:
        """Whether numba's disk cache holds this kernel's signature (None: no cache to tell)."""
        try:
            made = self._uncompiled()
            cache = made._cache
            if not getattr(cache, "_enabled", False):
                return None
            key = cache._index_key(self.signature, made.targetctx.codegen())
            return key in cache._cache_file._load_index()
        except Exception:  # noqa: BLE001 -- numba's private cache API moved: cannot tell
            return None

    @property
    def dispatcher(self):
        d = self._dispatcher
        if d is None:
            from . import compile_helper

            compile_helper.before_compile(self)  # a helper process may be compiling it: wait, or work ahead
            with self._lock:  # two threads' first calls compile once
                if self._dispatcher is None:
                    made = self._uncompiled()
                    with warnings.catch_warnings():
                        # a walker kernel's parallel=True finds no prange loop to transform, by design
                        warnings.simplefilter("ignore", NumbaPerformanceWarning)
                        made.compile(self.signature)
                    made.disable_compile()  # as nb.njit(signature) does: calls convert to this signature
                    self._dispatcher = made
                d = self._dispatcher
        return d

    @property
    def compiled(self) -> bool:
        return self._dispatcher is not None

    def __call__(self, *args):
        d = self.dispatcher
        try:
            return d(*args)
        except TypeError as exc:
            if str(exc).startswith("No matching definition"):
                raise  # the caller's arguments: nothing ran
            raise _kernel_raised(self, exc) from exc
        except SystemError:
            raise  # a prange kernel's: numba wrapped it already
        except Exception as exc:  # noqa: BLE001 -- raised while the compiled code ran
            raise _kernel_raised(self, exc) from exc

    def __getattr__(self, name):
        # private and special names are never the dispatcher's: an instance made without __init__
        # (a copy, an unpickling) must not recurse through `dispatcher` looking for `_dispatcher`
        if name.startswith("_"):
            raise AttributeError(name)
        return getattr(self.dispatcher, name)

    def __repr__(self):
        state = "compiled" if self.compiled else "not compiled yet"
        return f"<LazyKernel {self.py_func.__module__}.{self.py_func.__qualname__} ({state})>"


def _kernel_raised(k: LazyKernel, exc: BaseException):
    from .faults import KernelRaised

    return KernelRaised(f"{k.py_func.__qualname__} raised {type(exc).__name__}: {exc}")


def kernel(signature, **options):
    """``nb.njit(signature, **options)``, compiled at the first call instead of at import."""

    def wrap(py_func) -> LazyKernel:
        k = LazyKernel(py_func, signature, options)
        _ALL.append(k)
        return k

    return wrap


def walker_kernel(signature, **options):
    """`kernel` for a sweep over walkers whose loop is a plain ``range``: `sampler.threads` runs
    blocks of walkers on threads. ``parallel=True`` stays, though there is no ``prange`` for it to
    transform: numba's array analysis and parfor passes still run over the kernel, and its code came
    out faster -- exact HMC on scorpio, 1,000 walkers, one thread: 3.1 ms a sweep against 4.0 ms,
    for 0.1-0.25 s more compilation (a ``prange`` loop cost 0.7-1.6 s more per kernel)."""
    return kernel(signature, **dict(options, parallel=True, error_model="numpy"))


def compile_all() -> int:
    """Compile (or load from numba's cache) every kernel a `Sampler` can call; returns how many.
    With an empty cache, a helper process compiles some of them on another core
    (`sampler.compile_helper`)."""
    from . import compile_helper
    from . import pipeline  # noqa: F401 -- imports every module that defines one

    compile_helper.share(list(_ALL))
    for k in list(_ALL):
        k.dispatcher  # noqa: B018 -- compiles it
    return len(_ALL)
