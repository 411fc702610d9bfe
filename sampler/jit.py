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
import time
import types

import numba as nb

__all__ = ["kernel", "walker_kernel", "LazyKernel", "WalkerKernel", "compile_all"]

_ALL: list["LazyKernel"] = []


class LazyKernel:
    """A numba dispatcher made, and its one signature compiled (or loaded from the cache), on
    first use. Callable like the dispatcher; ``dispatcher`` is the compiled one itself (what a
    kernel takes as a function-pointer argument); other attributes are the dispatcher's.
    ``fallback``: a `WalkerKernel`'s serial twin, run only until its threaded one is ready."""

    fallback = False

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


class WalkerKernel:
    """A sweep over walkers, compiled twice from one function whose walker loop is ``nb.prange``:

    - ``threaded``: numba's ``prange`` runs the walkers on its threads;
    - ``serial``: the same code with ``prange`` a plain ``range`` (numba without ``parallel``),
      which `sampler.threads.Split` runs on our threads, one block of walkers each.

    Same draws either way: each walker has its own stream and rows. ``prange`` costs compilation
    (the 100-D wells case's four walker kernels: 9.8 s with an empty cache, 5.6 s without it) and
    runs faster (the diffusion sweep 12-15%, a 2-D HMC sweep on two threads 21%: a pool's second
    thread starts only once the first has unpacked the kernel's arguments). So `run` takes
    ``threaded`` once it is compiled or in numba's disk cache, and until then ``serial`` while a
    helper process compiles ``threaded`` on another core (`sampler.compile_helper.later`); with
    no disk cache or no second core, ``threaded`` compiles here at its first call, as before.
    """

    def __init__(self, py_func, signature, options: dict):
        self.py_func = py_func
        self.threaded = LazyKernel(py_func, signature, dict(options, parallel=True))
        # a function of its own name: numba's disk cache keys a function by name and signature, not flags
        twin = types.FunctionType(py_func.__code__, py_func.__globals__, py_func.__name__ + "_serial",
                                  py_func.__defaults__, py_func.__closure__)
        twin.__qualname__ = py_func.__qualname__ + "_serial"
        twin.__module__ = py_func.__module__
        twin.__doc__ = py_func.__doc__
        # error_model numpy: what numba compiles a prange loop's body with (a division by zero gives inf)
        self.serial = LazyKernel(twin, signature, dict(options, error_model="numpy"))
        self.serial.fallback = True
        _ALL.extend((self.threaded, self.serial))
        self._next_ask = 0.0
        functools.update_wrapper(self, py_func)

    def ready(self, ask: bool = True) -> bool:
        """Whether `run` takes ``threaded`` now. ``ask``: if not, hand it to a helper to compile
        (asked again at most every half second, until it is in the disk cache)."""
        k = self.threaded
        if k.compiled:
            return True
        now = time.monotonic()
        if ask and now < self._next_ask:
            return False
        on_disk = k.on_disk()
        if on_disk or on_disk is None:
            return True  # loads (or, without a disk cache, compiles) at its first call
        if not ask:
            return False
        from . import compile_helper

        self._next_ask = now + 0.5
        return not compile_helper.later(k)

    def current(self) -> LazyKernel:
        """The compiled kernel `run` would call now (asks nothing of a helper)."""
        return self.threaded if self.ready(ask=False) else self.serial

    def run(self, split, lo: int, hi: int, part) -> None:
        """``part(kernel, a, b)`` calls ``kernel`` on walkers ``[a, b)``: once over ``[lo, hi)`` with
        ``threaded``, or over ``split``'s pieces with ``serial``."""
        if self.ready():
            part(self.threaded, lo, hi)
        else:
            serial = self.serial
            split(lo, hi, lambda a, b: part(serial, a, b))

    def __call__(self, *args):
        return self.threaded(*args)

    def __repr__(self):
        return f"<WalkerKernel {self.py_func.__module__}.{self.py_func.__qualname__}>"


def walker_kernel(signature, **options):
    """``@walker_kernel(signature, **options)``: a `WalkerKernel` (its loop over walkers a ``nb.prange``)."""

    def wrap(py_func) -> WalkerKernel:
        return WalkerKernel(py_func, signature, options)

    return wrap


def compile_all() -> int:
    """Compile (or load from numba's cache) every kernel a `Sampler` can call -- the walker kernels'
    threaded forms, which it then calls from the first sweep, not their serial twins -- and return
    how many. With an empty cache, a helper process compiles some of them on another core
    (`sampler.compile_helper`)."""
    from . import compile_helper
    from . import pipeline  # noqa: F401 -- imports every module that defines one

    ks = [k for k in _ALL if not k.fallback]
    compile_helper.share(ks)
    for k in ks:
        k.dispatcher  # noqa: B018 -- compiles it
    return len(ks)
