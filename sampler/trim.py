"""Trim: drop diffusion draws whose lp is far from the ensemble's, refill from the rest.

The thread's idea: after the approximate (diffusion) stage, compute the (weighted) mean
and sd of lp over the draws, keep the draws whose lp lies within ``trim_sds`` sds of the
mean (``rule="sd"``), and refill the ensemble by copying kept draws chosen uniformly at random (on the
ensemble stream, so it is reproducible). The stragglers it removes are walkers still
stuck far out in the tails, which Metropolis would take long to bring in. The pipeline
applies it once, between its diffusion and tempering phases.

``rule="mad"`` (the default) uses the median and 1.4826 x the median absolute deviation
instead (the sd of a normal): a few walkers at lp ~ -1e8 make the sd so large that the sd
rule trims nothing, while they move the median and MAD hardly at all.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numba import types

from .jit import kernel
from .rng import randint

__all__ = ["TrimInfo", "build_kernel", "RULES"]

RULES = ("mad", "sd")
#: MAD -> sd of a normal distribution
_MAD_TO_SD = 1.4826


class TrimInfo(NamedTuple):
    lp_mean: float  # the centre: the (weighted) mean (rule sd) or the median (rule mad)
    lp_sd: float  # the spread: the (weighted) sd, or 1.4826 x MAD
    kept: int
    replaced: int


@kernel(types.void(types.float64[:, ::1], types.float64[::1], types.boolean[::1], types.uint64[:, ::1], types.int64),
        nogil=True, cache=True)
def _refill(x, lp, keep, rng, stream):
    kept_idx = np.flatnonzero(keep)
    m = kept_idx.shape[0]
    for i in range(x.shape[0]):
        if not keep[i]:
            src = kept_idx[randint(rng, stream, m)]
            for j in range(x.shape[1]):
                x[i, j] = x[src, j]
            lp[i] = lp[src]


def build_kernel(trim_sds: float, rule: str = "sd"):
    """``step(state, weights=None) -> (state, TrimInfo)``: trim ``state`` in place, keeping
    the draws within ``trim_sds`` spreads of the centre of lp: the (weighted) mean and sd for
    ``rule="sd"``, the median and 1.4826 x MAD for ``rule="mad"`` (weights ignored).
    ``weights`` default to equal."""
    if rule not in RULES:
        raise ValueError(f"trim rule must be one of {', '.join(RULES)}, got {rule!r}")

    def step(state, weights: np.ndarray | None = None):
        lp = state.log_density
        if rule == "mad":
            centre = float(np.median(lp))
            spread = _MAD_TO_SD * float(np.median(np.abs(lp - centre)))
        else:
            w = np.ones_like(lp) if weights is None else np.asarray(weights, dtype=np.float64)
            w = w / w.sum()
            centre = float(np.sum(w * lp))
            spread = float(np.sqrt(np.sum(w * (lp - centre) ** 2)))
        keep = np.abs(lp - centre) <= trim_sds * spread if spread > 0 else np.ones(lp.size, dtype=bool)
        if not keep.any():
            keep[:] = True
        replaced = int((~keep).sum())
        if replaced:
            _refill(state.positions, lp, keep, state.rng, state.walkers)
        return state, TrimInfo(centre, spread, int(keep.sum()), replaced)

    return step
