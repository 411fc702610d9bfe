"""Trim: drop diffusion draws whose lp is far from the ensemble's, refill from the rest.

The thread's idea: after the approximate (diffusion) stage, compute the (weighted) mean
and sd of lp over the draws, keep the draws whose lp lies within ``trim_sds`` sds of the
mean, and refill the ensemble by copying kept draws chosen uniformly at random (on the
ensemble stream, so it is reproducible). The stragglers it removes are walkers still
stuck far out in the tails, which Metropolis would take long to bring in. The pipeline
applies it once, between its diffusion and tempering phases.
"""

from __future__ import annotations

from typing import NamedTuple

import numba as nb
import numpy as np

from .rng import randint

__all__ = ["TrimInfo", "build_kernel"]


class TrimInfo(NamedTuple):
    lp_mean: float
    lp_sd: float
    kept: int
    replaced: int


@nb.njit(nogil=True, cache=True)
def _refill(x, lp, keep, rng, stream):
    kept_idx = np.flatnonzero(keep)
    m = kept_idx.shape[0]
    for i in range(x.shape[0]):
        if not keep[i]:
            src = kept_idx[randint(rng, stream, m)]
            for j in range(x.shape[1]):
                x[i, j] = x[src, j]
            lp[i] = lp[src]


def build_kernel(trim_sds: float):
    """``step(state, weights=None) -> (state, TrimInfo)``: trim ``state`` in place, keeping
    the draws within ``trim_sds`` (weighted) sds of the mean lp. ``weights`` default to equal."""

    def step(state, weights: np.ndarray | None = None):
        lp = state.log_density
        w = np.ones_like(lp) if weights is None else np.asarray(weights, dtype=np.float64)
        w = w / w.sum()
        mean = float(np.sum(w * lp))
        sd = float(np.sqrt(np.sum(w * (lp - mean) ** 2)))
        keep = np.abs(lp - mean) <= trim_sds * sd if sd > 0 else np.ones(lp.size, dtype=bool)
        if not keep.any():
            keep[:] = True
        replaced = int((~keep).sum())
        if replaced:
            _refill(state.positions, lp, keep, state.rng, state.walkers)
        return state, TrimInfo(mean, sd, int(keep.sum()), replaced)

    return step
