"""Targets: log densities with what is known about them (gradients, exact draws, components).

>>> import targets
>>> targets.names()
['banana', 'donut', 'funnel', 'multimodal', 'scorpio', 'squiggle', 'stiff-wells']
>>> t = targets.get("funnel", dim=10)
>>> t.dim
10

User targets come from server-side Python files (never from the browser):
``targets.load("my_target.py")`` reads the module-level names ``log_density``, ``dim`` and
optionally ``name``, ``grad_log_density``, ``sample_exact``, ``bounds``,
``component_weights``, ``component_of``.
"""

from __future__ import annotations

import difflib
import functools
import importlib.util
import itertools
import os
import sys

import numpy as np

from .base import Target, TargetError, validate
from .builtin import BUILTINS, DEFAULT_DIMS

__all__ = ["Target", "TargetError", "get", "names", "load", "resolve", "validate"]


def names() -> list[str]:
    """Names of the built-in targets, sorted."""
    return sorted(BUILTINS)


@functools.lru_cache(maxsize=64)
def _build(name: str, dim: int | None) -> Target:
    factory = BUILTINS[name]
    return validate(factory(dim) if dim is not None else factory())


def get(name: str, dim: int | None = None) -> Target:
    """A built-in target by name; ``dim`` for the n-D ones (funnel, stiff-wells).

    Raises `TargetError` for an unknown name (with close names suggested) or a ``dim``
    the target does not take.
    """
    if name not in BUILTINS:
        close = difflib.get_close_matches(str(name), names(), n=3, cutoff=0.5)
        hint = f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else f"; built-ins are {', '.join(names())}"
        raise TargetError(f"unknown target {name!r}{hint}")
    if dim is not None and name not in DEFAULT_DIMS:
        if int(dim) != 2:
            raise TargetError(f"target {name!r} is 2D only; it takes no dim={dim}")
        dim = None
    try:
        return _build(name, None if dim is None else int(dim))
    except ValueError as exc:
        if isinstance(exc, TargetError):
            raise
        raise TargetError(f"target {name!r}: {exc}") from None


_counter = itertools.count()


def _compile(fn, what: str, where: str, dim: int):
    """Return a numba dispatcher for ``fn``; compile it now so errors surface on load."""
    import numba

    if isinstance(fn, numba.core.registry.CPUDispatcher):
        disp = fn
    else:
        if not callable(fn):
            raise TargetError(f"{where}: {what} is not a function")
        disp = numba.njit(nogil=True)(fn)
    try:
        if getattr(disp, "_can_compile", True):
            disp.compile((numba.types.float64[::1],))
        else:  # @njit("sig") compiles nothing new: one of its signatures must take the array
            from numba.core.registry import cpu_target

            ctx = cpu_target.typing_context
            ctx.refresh()
            if ctx.resolve_function_type(numba.types.Dispatcher(disp), (numba.types.float64[::1],), {}) is None:
                sigs = "; ".join("(" + ", ".join(map(str, s)) + ")" for s in disp.signatures)
                raise TypeError(f"none of its explicit signatures ({sigs}) takes a 1-D float64 array")
    except Exception as exc:
        first = str(exc).strip().splitlines()
        first = next((ln.strip() for ln in first if ln.strip() and not ln.startswith("During")), type(exc).__name__)
        raise TargetError(
            f"{where}: {what} could not be compiled by numba ({type(exc).__name__}: {first}); "
            "use numpy/math on float arrays only"
        ) from None
    return disp


def load(path: str | os.PathLike) -> Target:
    """Load and validate a user target from a Python file on the server.

    The file defines at module level ``log_density(x)`` and ``dim`` (required), and
    optionally ``name`` (default: the file's stem), ``grad_log_density``, ``sample_exact``,
    ``bounds``, ``component_weights`` and ``component_of``. A plain-Python ``log_density``
    is compiled with ``numba.njit``. Every problem raises `TargetError` with one sentence.
    """
    path = os.fspath(path)
    where = path
    if not os.path.isfile(path):
        raise TargetError(f"{where}: no such target file")
    if not path.endswith(".py"):
        raise TargetError(f"{where}: a target file must be a .py file")
    mod_name = f"mdhmc_user_target_{next(_counter)}"
    try:
        spec = importlib.util.spec_from_file_location(mod_name, path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[mod_name] = module  # numba's caching/introspection wants the module findable
        spec.loader.exec_module(module)
    except Exception as exc:
        sys.modules.pop(mod_name, None)
        line = ""
        if isinstance(exc, SyntaxError):
            line = f" (line {exc.lineno})"
        raise TargetError(f"{where}: could not be imported{line}: {type(exc).__name__}: {exc}") from None
    ns = vars(module)
    missing = [n for n in ("log_density", "dim") if n not in ns]
    if missing:
        raise TargetError(f"{where}: missing module-level name{'s' if len(missing) > 1 else ''} {', '.join(missing)}")
    dim = ns["dim"]
    if isinstance(dim, bool) or not isinstance(dim, (int, np.integer)) or dim < 1:
        raise TargetError(f"{where}: dim must be an integer >= 1, got {dim!r}")
    dim = int(dim)
    name = ns.get("name", os.path.splitext(os.path.basename(path))[0])
    if not isinstance(name, str) or not name:
        raise TargetError(f"{where}: name must be a non-empty string, got {name!r}")
    lp = _compile(ns["log_density"], "log_density", where, dim)
    grad = ns.get("grad_log_density")
    if grad is not None:
        grad = _compile(grad, "grad_log_density", where, dim)
    weights = ns.get("component_weights")
    t = Target(
        name=name,
        dim=dim,
        log_density=lp,
        grad_log_density=grad,
        sample_exact=ns.get("sample_exact"),
        bounds=ns.get("bounds"),
        component_weights=None if weights is None else np.asarray(weights, dtype=np.float64),
        component_of=ns.get("component_of"),
        description=(module.__doc__ or "").strip(),
        source=path,
    )
    return validate(t)


def resolve(spec: str, dim: int | None = None) -> Target:
    """A built-in name or a path to a ``.py`` file."""
    if spec.endswith(".py") or os.sep in spec:
        return load(spec)
    return get(spec, dim)
