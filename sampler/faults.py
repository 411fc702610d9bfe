"""A target function that raises: which function, which exception, at which point.

The kernels run the user's log density compiled by numba, on several threads; an exception
raised while a kernel runs reaches Python as `KernelRaised` (a ``SystemError``, as numba's own
parallel kernels wrap it) whose cause is the user's exception, and without the point: the
wrapper tells it from an error of the sampler's Python code. `locate` finds the point afterwards: it calls
the user's pure-Python function (``py_func``) at the points where the kernel's walkers were
last evaluating (`Move.points_in_flight`) until one raises the same type of exception. Only
this failure path pays for it; the kernels run unchanged.
"""

from __future__ import annotations

import os

import numpy as np

__all__ = ["DensityError", "KernelRaised", "locate", "unwrap"]

#: most points re-evaluated in pure Python to find the failing one
MAX_POINTS = 100_000


class DensityError(Exception):
    """The target's ``function`` raised ``error`` at ``point`` (None if not found)."""

    def __init__(self, target, function: str, error: BaseException, point: np.ndarray | None):
        self.function, self.error, self.point = function, error, point
        source = getattr(target, "source", "built-in")
        where = f"target {target.name!r}" if source == "built-in" else os.path.basename(source)
        at = "" if point is None else " at x = " + format_point(point)
        super().__init__(f"{function} in {where} raised {error!r}{at}")


def format_point(x: np.ndarray, most: int = 8) -> str:
    x = np.asarray(x, dtype=np.float64).ravel()
    shown = ", ".join(f"{v:.6g}" for v in x[:most])
    return f"[{shown}{', ...' if x.size > most else ''}]"


class KernelRaised(SystemError):
    """An exception raised while a compiled kernel ran (its ``__cause__``): the target's function
    raised, or numba's runtime did (``ZeroDivisionError``...), not the Python around the kernel."""


def unwrap(exc: BaseException) -> BaseException:
    """The user's exception inside a `KernelRaised` (or numba's ``SystemError``) wrapper, or ``exc`` itself."""
    if isinstance(exc, SystemError):
        cause = exc.__cause__ or exc.__context__
        if cause is not None and not isinstance(cause, SystemError):
            return cause
    return exc


def locate(target, error: BaseException, points) -> DensityError:
    """A `DensityError` for ``error``, with the first of ``points`` where the target's
    log density (then gradient) raises an exception of the same type, if any."""
    points = np.asarray(points, dtype=np.float64)
    if points.ndim == 2 and points.shape[1] == target.dim:
        for name in ("log_density", "grad_log_density"):
            py_func = getattr(getattr(target, name, None), "py_func", None)
            if py_func is None:
                continue
            with np.errstate(all="ignore"):
                for x in points[:MAX_POINTS]:
                    try:
                        py_func(x.copy())
                    except Exception as exc:  # noqa: BLE001 -- any exception is the user's
                        if type(exc) is type(error):
                            return DensityError(target, name, exc, x.copy())
    return DensityError(target, "log_density", error, None)
