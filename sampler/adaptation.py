"""Warm-up adaptation of a scale (Metropolis proposal scale, HMC step size) toward a
target acceptance: Robbins-Monro on the log scale,

    t += 1;  log s += t^-0.6 * 2 * (acceptance - target);  log s clipped to [lo, hi]

The gain t^-0.6 decays, so early sweeps move the scale fast and it then settles (sum of
gains infinite, sum of squares finite). The scale may be one per temperature rung (a
vector) or one for the ensemble (length 1). The state is explicit and immutable: a move
calls `RobbinsMonro.update` during warm-up only and keeps the returned state, so the
scale is frozen while draws are recorded and detailed balance holds.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

__all__ = ["AdaptationState", "RobbinsMonro"]


class AdaptationState(NamedTuple):
    log_scale: np.ndarray  # one per rung, or length 1
    t: int  # updates so far

    @property
    def scale(self) -> np.ndarray:
        return np.exp(self.log_scale)


class RobbinsMonro(NamedTuple):
    """The update rule: target acceptance and the clip limits on the log scale."""

    target: float
    lo: float
    hi: float

    @staticmethod
    def init(scale: float, size: int = 1) -> AdaptationState:
        return AdaptationState(np.full(size, math.log(scale)), 0)

    def update(self, state: AdaptationState, acceptance) -> AdaptationState:
        t = state.t + 1
        gamma = 1.0 / (t ** 0.6)
        log_scale = state.log_scale + gamma * 2.0 * (np.asarray(acceptance) - self.target)
        return AdaptationState(np.clip(log_scale, self.lo, self.hi), t)
