"""Ensemble state: plain arrays, as in emcee, plus the per-walker random streams.

Kernels update the arrays in place (no copies of the ensemble per sweep); a stage's
``step(state, ...)`` returns ``(state, info)`` with the same arrays, mutated.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from . import faults
from .rng import seed_streams

__all__ = ["EnsembleState", "init", "dispersed_starts"]


class EnsembleState(NamedTuple):
    """Positions ``(walkers, dim)``, their log densities ``(walkers,)`` (untempered) and the
    random streams ``(walkers + 1, 4)`` (the last row is the ensemble stream)."""

    positions: np.ndarray
    log_density: np.ndarray
    rng: np.ndarray

    @property
    def walkers(self) -> int:
        return self.positions.shape[0]

    @property
    def dim(self) -> int:
        return self.positions.shape[1]

    def copy(self) -> "EnsembleState":
        return EnsembleState(self.positions.copy(), self.log_density.copy(), self.rng.copy())


def dispersed_starts(target, walkers: int, rng: np.random.Generator, widen: float = 0.25) -> np.ndarray:
    """Uniform starting points over the target's bounds, each side widened by ``widen`` x width."""
    box = target.box(widen)
    return rng.uniform(box[:, 0], box[:, 1], size=(walkers, target.dim))


def _log_density_batch(target, x):
    """The log density at each starting point; a raising density becomes `faults.DensityError`."""
    try:
        return target.log_density_batch(x)
    except Exception as exc:
        error = faults.unwrap(exc)
        found = faults.locate(target, error, x)
        if found.point is None and error is exc:  # not the target's function: an error of ours
            raise
        raise found from None


def init(target, walkers: int, seed: int, positions: np.ndarray | None = None, widen: float = 0.25) -> EnsembleState:
    """A fresh ensemble: dispersed starts (or ``positions``), their log densities, streams.

    Starting points whose log density is not finite are redrawn (up to 100 rounds); if
    none is finite the target is unusable here and a ``ValueError`` says so.
    """
    streams = seed_streams(seed, walkers)
    start_rng = np.random.default_rng(np.random.SeedSequence(int(seed)).spawn(1)[0])
    if positions is None:
        x = dispersed_starts(target, walkers, start_rng, widen)
    else:
        x = np.array(positions, dtype=np.float64, copy=True).reshape(walkers, target.dim)
    x = np.ascontiguousarray(x)
    lp = _log_density_batch(target, x)
    for _ in range(100):
        bad = ~np.isfinite(lp)
        if not bad.any():
            break
        x[bad] = dispersed_starts(target, int(bad.sum()), start_rng, widen)
        lp[bad] = _log_density_batch(target, x[bad])
    if not np.all(np.isfinite(lp)):
        raise ValueError(
            f"log density of {target.name!r} is not finite at {int((~np.isfinite(lp)).sum())} of {walkers} "
            "starting points even after 100 redraws: is it NaN or -inf everywhere in its bounds?"
        )
    return EnsembleState(x, lp, streams)
