"""What the dashboard server offers: targets (built-ins plus server-side files), their
exact draws and their density images, computed once per process and shared read-only by
every session.

User target files come from the environment variable ``MDHMC_TARGET_FILES`` (paths joined
with ``os.pathsep``; ``mdhmc serve --target FILE.py`` sets it). They are loaded once, at
server start, with `targets.load`; a broken file is recorded in `load_errors` and shown
in the app, never raised. Nothing the browser sends is ever loaded or run: the browser can
only pick one of the names listed here.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass

import numpy as np

from mdhmc import targets
from mdhmc.sampler import diagnostics

__all__ = ["ENV_VAR", "TargetEntry", "catalog", "target_names", "load_errors", "get_target", "dims_for",
           "exact_draws", "exact_reference", "density_image", "coord_names", "reload"]

ENV_VAR = "MDHMC_TARGET_FILES"

#: dimensions offered for the n-D built-ins (first is the default)
ND_DIMS = {"funnel": (2, 3, 5, 10, 20), "stiff-wells": (100, 2, 5, 10, 20, 50, 200)}

EXACT_N = 20_000
W1_DIRECTIONS, W1_POINTS = 24, 4000  # the live sliced W1 (dashboard/readout.py)
GRID = 180


@dataclass(frozen=True)
class TargetEntry:
    name: str  # what the selector shows and the URL carries
    kind: str  # "built-in" or "file"
    path: str | None = None  # for files
    target: object = None  # the loaded Target, for files


_lock = threading.RLock()
_entries: dict[str, TargetEntry] | None = None
_errors: list[str] = []
_exact: dict = {}
_reference: dict = {}
_density: dict = {}


def _load() -> None:
    global _entries
    entries = {name: TargetEntry(name, "built-in") for name in targets.names()}
    errors = []
    spec = os.environ.get(ENV_VAR, "")
    for path in [p for p in spec.split(os.pathsep) if p.strip()]:
        path = os.path.abspath(os.path.expanduser(path.strip()))
        try:
            t = targets.load(path)
        except Exception as exc:  # TargetError, or anything a user's file does: report, go on
            errors.append(f"{path}: {exc}" if path not in str(exc) else str(exc))
            continue
        name = t.name
        if name in entries:
            name = f"{name} ({os.path.basename(path)})"
        entries[name] = TargetEntry(name, "file", path, t)
    _entries = entries
    _errors[:] = errors


def catalog() -> dict[str, TargetEntry]:
    with _lock:
        if _entries is None:
            _load()
        return dict(_entries)


def reload() -> None:
    """Re-read ``MDHMC_TARGET_FILES`` (tests; the server reads it once)."""
    with _lock:
        _load()


def target_names() -> list[str]:
    return list(catalog())


def load_errors() -> list[str]:
    catalog()
    return list(_errors)


def dims_for(name: str) -> tuple[int, ...]:
    """Dimensions a target can take ((dim,) for fixed-dimension ones)."""
    if name in ND_DIMS:
        return ND_DIMS[name]
    entry = catalog().get(name)
    if entry is not None and entry.kind == "file":
        return (entry.target.dim,)
    return (2,)


def get_target(name: str, dim: int = 0):
    """The `targets.Target` for a catalogue name (``dim`` 0: the default)."""
    entry = catalog().get(name)
    if entry is None:
        raise targets.TargetError(f"unknown target {name!r}; this server offers {', '.join(catalog())}")
    if entry.kind == "file":
        return entry.target
    if name in ND_DIMS:
        return targets.get(name, dim or ND_DIMS[name][0])
    return targets.get(name)


def _key(t) -> tuple:
    return (t.name, t.source, t.dim)


def exact_draws(t) -> np.ndarray | None:
    """``EXACT_N`` exact draws (fixed seed), once per target; None without ``sample_exact``."""
    if not t.has_exact:
        return None
    k = _key(t)
    with _lock:
        if k not in _exact:
            try:
                x = np.asarray(t.sample_exact(EXACT_N, np.random.default_rng(20170823)), dtype=np.float64)
                _exact[k] = x if x.shape == (EXACT_N, t.dim) and np.all(np.isfinite(x)) else None
            except Exception:
                _exact[k] = None
        return _exact[k]


def exact_reference(t) -> diagnostics.ExactReference | None:
    """`exact_draws` sorted once for the live diagnostics (Q-Q, KS, sliced W1: 24 directions
    against 4,000 of the draws); None without exact draws."""
    exact = exact_draws(t)
    if exact is None:
        return None
    k = _key(t)
    with _lock:
        if k not in _reference:
            _reference[k] = diagnostics.ExactReference(exact, n_directions=W1_DIRECTIONS, w1_points=W1_POINTS)
        return _reference[k]


def coord_names(t) -> list[str]:
    if t.name == "funnel" and t.source == "built-in":
        return [f"x{i + 1}" for i in range(t.dim - 1)] + ["v"]
    if t.dim == 2:
        return ["x", "y"]
    return [f"x{i + 1}" for i in range(t.dim)]


def plot_box(t, i: int, j: int, widen: float = 0.08) -> tuple[tuple[float, float], tuple[float, float]]:
    b = t.box(widen)
    return (float(b[i, 0]), float(b[i, 1])), (float(b[j, 0]), float(b[j, 1]))


def density_image(t, i: int = 0, j: int = 1) -> dict:
    """Density on a grid over coordinates (i, j), normalised to max 1, with HPD levels.

    2D targets: the density itself. n-D targets: the 2-D slice through the exact mean (or
    the centre of the bounds) with every other coordinate held there; ``note`` says so.
    Computed once per (target, i, j) and shared by all sessions.
    """
    k = _key(t) + (i, j)
    with _lock:
        if k in _density:
            return _density[k]
    (x0, x1), (y0, y1) = plot_box(t, i, j)
    xs = np.linspace(x0, x1, GRID)
    ys = np.linspace(y0, y1, GRID)
    if t.dim == 2 and (i, j) in ((0, 1), (1, 0)):
        centre = np.zeros(2)
        note = ""
    else:
        ex = exact_draws(t)
        centre = ex.mean(axis=0) if ex is not None else t.box().mean(axis=1)
        note = "density: 2-D slice through the target's mean"
    X = np.tile(centre, (GRID * GRID, 1))
    gx, gy = np.meshgrid(xs, ys)
    X[:, i] = gx.ravel()
    X[:, j] = gy.ravel()
    try:
        lp = t.log_density_batch(X).reshape(GRID, GRID)
    except Exception as exc:
        out = {"image": None, "note": f"density not drawn: log density failed ({type(exc).__name__})"}
        with _lock:
            _density[k] = out
        return out
    lp = np.where(np.isfinite(lp), lp, -np.inf)
    top = np.max(lp)
    dens = np.exp(lp - top) if np.isfinite(top) else np.zeros_like(lp)
    # highest-density levels holding 50 / 90 / 99 % of the grid's mass
    flat = np.sort(dens.ravel())[::-1]
    cum = np.cumsum(flat)
    levels = []
    if cum[-1] > 0:
        for q in (0.99, 0.9, 0.5):
            levels.append(float(flat[min(np.searchsorted(cum, q * cum[-1]), flat.size - 1)]))
    out = {"image": dens.astype(np.float32), "x": (x0, x1), "y": (y0, y1), "xs": xs, "ys": ys,
           "levels": levels, "note": note}
    with _lock:
        _density[k] = out
    return out


# ----------------------------------------------------------------------------------------
# Which kernels this process has compiled (or loaded from numba's cache) already: the
# kernels are specialised on the log density, so the key is (log density, kernel family).
# ----------------------------------------------------------------------------------------
_warm: set = set()
_KERNEL_OF_PHASE = {"diffusion": "diffusion", "metropolis": "metropolis", "tempering": "metropolis", "hmc": "hmc"}


def kernel_key(t, phase: str) -> tuple:
    return (id(t.log_density), id(t.grad_log_density), _KERNEL_OF_PHASE.get(phase, phase))


def is_warm(key: tuple) -> bool:
    return key in _warm


def mark_warm(key: tuple) -> None:
    _warm.add(key)
