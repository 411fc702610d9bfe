"""Differential-evolution move (ter Braak 2006; emcee's ``DEMove``) on complementary halves.

Walker i of rung r proposes ``y = x_i + g (x_a - x_b)`` with a, b two distinct walkers of
its rung's complement (`sampler.complement`) and ``g = gamma (1 + jitter z)``, z ~ N(0, 1),
gamma = 2.38 / sqrt(2 dim) (optimal for Gaussians); with probability ``jump`` g = 1
instead, which carries a walker from one mode to another when the complement spans both.
The proposal is symmetric (a, b and -g are as likely as b, a and g), so the Metropolis
ratio is exp(beta (lp(y) - lp(x_i))).

The moves stay in the affine hull of the ensemble: where the walkers do not span the space,
a mix of DE and stretch alone gains random-walk Metropolis (`sampler.moves.spans_the_space`).
"""

from __future__ import annotations

import math

import numba as nb
import numpy as np
from numba import types

from mdhmc.targets._jit import LOG_DENSITY

from .complement import halves, run_halves
from .threads import Split
from .metropolis import metropolis_accept
from .rng import normal, randint, uniform
from .jit import walker_kernel

__all__ = ["de_sweep", "de_propose", "metropolis_accept", "build_kernel", "default_gamma"]

I64 = types.int64[::1]
F64 = types.float64[::1]


def default_gamma(dim: int) -> float:
    return 2.38 / math.sqrt(2.0 * dim)


@nb.njit(inline="always")
def de_propose(x, i, comp, off, m, rng, gamma, jitter, jump, y):
    """Walker i's DE proposal into ``y`` from the complement ``comp[off:off + m]``; False if
    the complement has fewer than two walkers (no proposal)."""
    if m < 2:
        return False
    ka = randint(rng, i, m)
    kb = randint(rng, i, m - 1)
    if kb >= ka:
        kb += 1
    a = comp[off + ka]
    b = comp[off + kb]
    g = 1.0 if uniform(rng, i) < jump else gamma * (1.0 + jitter * normal(rng, i))
    for j in range(x.shape[1]):
        y[j] = x[i, j] + g * (x[a, j] - x[b, j])
    return True


@walker_kernel(types.void(LOG_DENSITY, types.float64[:, ::1], F64, types.uint64[:, ::1], F64, types.boolean[::1], I64, I64,
                   I64, I64, types.int64, types.int64, types.float64, types.float64, types.float64,
                   types.float64[:, ::1], I64, I64, I64),
        nogil=True, cache=True)
def de_sweep(log_density, x, lp, rng, beta, moving, comp, off, cnt, rung, lo, hi, gamma, jitter, jump, scratch,
             accepted, evals, nonfinite):
    """One DE step for each moving walker in ``lo..hi-1`` (see the module docstring)."""
    for i_ in nb.prange(lo, hi):
        i = np.int64(i_)  # one type for the walker index: see `diffusion.diffusion_sweep`
        if not moving[i]:
            continue
        y = scratch[i]
        if de_propose(x, i, comp, off[rung[i]], cnt[rung[i]], rng, gamma, jitter, jump, y):
            metropolis_accept(log_density, x, lp, rng, i, y, 0.0, beta[i], accepted, evals, nonfinite)


def build_kernel(target, rung: np.ndarray, betas: np.ndarray, gamma: float | None = None, jitter: float = 0.1,
                 jump: float = 0.1):
    """``step(state, chunks=None) -> (state, EnsembleInfo)``; ``betas`` is read at every step
    (the ladder may respace it during warm-up). ``step.buffers["scratch"][i]``: walker i's last proposal."""
    rung = np.ascontiguousarray(rung, dtype=np.int64)
    rungs = len(betas)
    parts = halves(rung, rungs)
    scratch = np.empty((rung.size, target.dim))
    g = default_gamma(target.dim) if gamma is None else float(gamma)

    split = Split()

    def step(state, chunks=None):
        walker_beta = np.ascontiguousarray(betas[rung], dtype=np.float64)

        def kernel(sweep, lo, hi, h, wb, accepted, evals, nonfinite):
            sweep(target.log_density, state.positions, state.log_density, state.rng, wb, h.moving, h.comp, h.off,
                     h.cnt, rung, lo, hi, g, float(jitter), float(jump), scratch, accepted, evals, nonfinite)

        return state, run_halves("de", state, rung, rungs, walker_beta, parts, chunks, de_sweep, split, kernel)

    step.buffers = {"scratch": scratch}
    return step
