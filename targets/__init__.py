"""Targets: log densities with what is known about them (gradients, exact draws, components).

>>> from mdhmc import targets
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

__all__ = ["Target", "TargetError", "get", "names", "load", "resolve", "validate", "MAX_DIM"]

#: Largest dimension of the n-D built-ins: 50x the thread's 20,000 genes. One walker of this
#: size is 8 MB, so an ensemble of any useful size stays within a workstation's memory, while a
#: typo such as dim=100000000 is refused at once instead of allocating gigabytes.
MAX_DIM = 1_000_000


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
    if dim is not None and int(dim) > MAX_DIM:
        raise TargetError(f"target {name!r}: dim {int(dim):,} is above the largest supported, {MAX_DIM:,}")
    try:
        return _build(name, None if dim is None else int(dim))
    except ValueError as exc:
        if isinstance(exc, TargetError):
            raise
        raise TargetError(f"target {name!r}: {exc}") from None


_counter = itertools.count()


def _type_name(t) -> str:
    import numba

    if isinstance(t, numba.types.Array):
        return f"a {t.ndim}-D ndarray ({t})"
    if isinstance(t, numba.types.BaseTuple):
        return f"a tuple ({t})"
    return str(t)


def _compile(fn, what: str, where: str, dim: int):
    """Compile ``fn`` (plain Python or an ``@njit`` function) now, with the fixed signature
    the kernels call it through (`targets._jit`), so errors surface on load."""
    import numba

    from ._jit import GRAD_SIGNATURE, LP_SIGNATURE

    py_func = getattr(fn, "py_func", fn)
    if not callable(py_func):
        raise TargetError(f"{where}: {what} is not a function")
    sig = LP_SIGNATURE if what == "log_density" else GRAD_SIGNATURE
    try:
        # infer the natural return type first, to say clearly what is wrong with it
        # numpy's error model: a float division by zero gives inf/nan (a rejection in every
        # kernel) instead of numba's default ZeroDivisionError, which would stop the run
        probe = numba.njit(nogil=True, error_model="numpy")(py_func)
        arg = (numba.types.float64[::1],)
        probe.compile(arg)
        ret = probe.overloads[arg].signature.return_type
        if ret != numba.types.none:  # none: it always raises; validation will say what
            if what == "log_density" and not isinstance(ret, numba.types.Number):
                raise TargetError(f"{where}: log_density must return a float, it returns {_type_name(ret)}")
            if what != "log_density" and not (isinstance(ret, numba.types.Array) and ret.ndim == 1):
                raise TargetError(f"{where}: {what} must return a 1-D float array, it returns {_type_name(ret)}")
        return numba.njit(sig, nogil=True, error_model="numpy")(py_func)
    except TargetError:
        raise
    except Exception as exc:
        first = str(exc).strip().splitlines()
        first = next((ln.strip() for ln in first if ln.strip() and not ln.startswith("During")), type(exc).__name__)
        raise TargetError(
            f"{where}: {what} could not be compiled by numba as {sig} ({type(exc).__name__}: {first}); "
            "use numpy/math on float arrays only"
        ) from None


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
    except (Exception, SystemExit, KeyboardInterrupt) as exc:  # sys.exit() in a file is a broken file
        # (SystemExit and KeyboardInterrupt are not Exceptions: they would end the CLI or the server)
        sys.modules.pop(mod_name, None)
        line = ""
        if isinstance(exc, SyntaxError):
            line = f" (line {exc.lineno})"
        detail = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        raise TargetError(f"{where}: could not be imported{line}: {detail}") from None
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
