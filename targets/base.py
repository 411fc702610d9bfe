"""The target contract shared by built-in targets and users' files.

A target is a log density on R^dim that numba can call from inside the sampler
kernels, plus optional extras (analytic gradient, exact draws, plotting bounds,
mixture components) that the diagnostics and the exact-HMC baseline use.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

__all__ = ["Target", "TargetError", "validate"]


class TargetError(ValueError):
    """A target (built-in or user file) is unusable; the message is one readable sentence."""

    def __init__(self, message="", *args):
        # One line always: user exceptions, numpy reprs (e.g. of bounds) can carry newlines.
        super().__init__(re.sub(r"\s*[\r\n]+\s*", " ", str(message)).strip(), *args)


@dataclass(frozen=True, eq=False)
class Target:
    """A log density and what is known about it.

    Attributes
    ----------
    name : str
        Short identifier, e.g. ``"scorpio"``.
    dim : int
        Dimension (>= 1).
    log_density : numba dispatcher
        ``@njit`` function of a float64 1-D array of length ``dim`` returning a float
        (unnormalised is fine).
    grad_log_density : numba dispatcher or None
        ``@njit`` gradient of ``log_density`` (array of length ``dim``).
    sample_exact : callable or None
        ``sample_exact(n, rng) -> (n, dim)`` exact draws from a ``numpy.random.Generator``.
    bounds : tuple of (lo, hi) or None
        Per-dimension box for plots and dispersed starting points.
    component_weights : ndarray or None
        Mixture weights (sum to 1), in the order of ``component_of``'s labels.
    component_of : callable or None
        ``component_of(X) -> (n,)`` int labels for an ``(n, dim)`` array.
    component_names : tuple of str or None
        Human names for the components (same order as the weights).
    description : str
        One paragraph: what the target is and its parameterisation.
    source : str
        ``"built-in"`` or the path of the user file.
    params : dict
        The parameters the target was built with (e.g. ``{"dim": 10}``).
    """

    name: str
    dim: int
    log_density: Any
    grad_log_density: Any = None
    sample_exact: Callable | None = None
    bounds: tuple | None = None
    component_weights: np.ndarray | None = None
    component_of: Callable | None = None
    component_names: tuple | None = None
    description: str = ""
    source: str = "built-in"
    params: dict = field(default_factory=dict)

    @property
    def has_exact(self) -> bool:
        return self.sample_exact is not None

    @property
    def has_gradient(self) -> bool:
        return self.grad_log_density is not None

    @property
    def is_mixture(self) -> bool:
        return self.component_weights is not None and self.component_of is not None

    def box(self, widen: float = 0.0) -> np.ndarray:
        """``(dim, 2)`` array of bounds, each side widened by ``widen`` x its width.

        Targets without bounds get ``[-5, 5]`` per dimension.
        """
        if self.bounds is None:
            b = np.tile([-5.0, 5.0], (self.dim, 1))
        else:
            b = np.asarray(self.bounds, dtype=np.float64).reshape(self.dim, 2).copy()
        w = b[:, 1] - b[:, 0]
        b[:, 0] -= widen * w
        b[:, 1] += widen * w
        return b

    def log_density_batch(self, X: np.ndarray) -> np.ndarray:
        """``log_density`` at each row of an ``(n, dim)`` array."""
        from ._kernels import batch_log_density

        X = np.ascontiguousarray(X, dtype=np.float64).reshape(-1, self.dim)
        out = np.empty(X.shape[0])
        batch_log_density(self.log_density, X, out)
        return out

    def summary(self) -> dict:
        return {
            "name": self.name,
            "dim": self.dim,
            "exact_draws": self.has_exact,
            "gradient": self.has_gradient,
            "mixture": self.is_mixture,
            "source": self.source,
        }


def _where(source: str, name: str) -> str:
    return f"{source}: {name}" if source != "built-in" else f"target {name!r}"


def _fmt_point(x: np.ndarray) -> str:
    return "[" + ", ".join(f"{v:.3g}" for v in np.asarray(x).ravel()[:6]) + (", ...]" if x.size > 6 else "]")


def _test_points(t: Target, rng: np.random.Generator) -> list[np.ndarray]:
    pts = [t.box().mean(axis=1)]
    if t.sample_exact is not None:
        pts.extend(np.asarray(t.sample_exact(3, rng), dtype=np.float64))
    return [np.ascontiguousarray(p, dtype=np.float64) for p in pts]


def validate(t: Target) -> Target:
    """Check a target against the contract; raise `TargetError` with one sentence if it fails.

    Evaluates ``log_density`` (and the gradient) at the centre of the bounds and at
    three exact draws where there are any, and checks shapes of every optional extra.
    """
    where = _where(t.source, t.name)
    if not isinstance(t.dim, (int, np.integer)) or isinstance(t.dim, bool) or t.dim < 1:
        raise TargetError(f"{where}: dim must be an integer >= 1, got {t.dim!r}")
    if not callable(t.log_density):
        raise TargetError(f"{where}: log_density is not a function")
    if t.bounds is not None:
        try:
            b = np.asarray(t.bounds, dtype=np.float64)
        except (TypeError, ValueError):
            raise TargetError(f"{where}: bounds must be ((lo, hi), ...) numbers, got {t.bounds!r}") from None
        if b.shape != (t.dim, 2) or not np.all(np.isfinite(b)) or not np.all(b[:, 0] < b[:, 1]):
            raise TargetError(f"{where}: bounds must be {t.dim} finite (lo, hi) pairs with lo < hi, got {t.bounds!r}")
    rng = np.random.default_rng(0)
    if t.sample_exact is not None:
        try:
            draws = np.asarray(t.sample_exact(5, rng))
        except (Exception, SystemExit) as exc:  # user code: report, do not crash
            raise TargetError(f"{where}: sample_exact(5, rng) raised {type(exc).__name__}: {exc}") from None
        if draws.shape != (5, t.dim):
            raise TargetError(f"{where}: sample_exact(5, rng) returned shape {draws.shape}, expected (5, {t.dim})")
        if not np.all(np.isfinite(draws)):
            raise TargetError(f"{where}: sample_exact returned non-finite values")
    for x in _test_points(t, rng):
        try:
            v = t.log_density(x)
        except (Exception, SystemExit) as exc:
            raise TargetError(
                f"{where}: log_density raised {type(exc).__name__} at {_fmt_point(x)}: {str(exc).splitlines()[0] if str(exc) else ''}"
            ) from None
        if isinstance(v, (bool, np.bool_)) or not isinstance(v, (float, int, np.floating, np.integer)):
            raise TargetError(f"{where}: log_density must return a float, returned {type(v).__name__} at {_fmt_point(x)}")
        if not np.isfinite(v):
            raise TargetError(f"{where}: log_density returned {v} at {_fmt_point(x)}")
        if t.grad_log_density is not None:
            try:
                g = np.asarray(t.grad_log_density(x), dtype=np.float64)
            except (Exception, SystemExit) as exc:
                raise TargetError(f"{where}: grad_log_density raised {type(exc).__name__} at {_fmt_point(x)}: {exc}") from None
            if g.shape != (t.dim,):
                raise TargetError(f"{where}: grad_log_density returned shape {g.shape}, expected ({t.dim},)")
            if not np.all(np.isfinite(g)):
                raise TargetError(f"{where}: grad_log_density returned non-finite values at {_fmt_point(x)}")
    if t.component_weights is not None:
        w = np.asarray(t.component_weights, dtype=np.float64)
        if w.ndim != 1 or np.any(w < 0) or abs(w.sum() - 1.0) > 1e-9:
            raise TargetError(f"{where}: component_weights must be non-negative and sum to 1, got {w.tolist()}")
        if t.component_of is None:
            raise TargetError(f"{where}: component_weights given without component_of")
        X = np.stack(_test_points(t, rng))
        try:
            lab = np.asarray(t.component_of(X))
        except (Exception, SystemExit) as exc:
            raise TargetError(f"{where}: component_of raised {type(exc).__name__}: {exc}") from None
        if lab.shape != (X.shape[0],) or not np.issubdtype(lab.dtype, np.integer):
            raise TargetError(f"{where}: component_of must return ({X.shape[0]},) integers, got {lab.dtype} {lab.shape}")
        if np.any(lab < 0) or np.any(lab >= w.size):
            raise TargetError(f"{where}: component_of returned labels outside 0..{w.size - 1}")
    return t
