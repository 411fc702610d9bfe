"""The affine-invariant stretch move (Goodman & Weare 2010; emcee's ``StretchMove``) on
complementary halves.

Walker i of rung r picks a walker a of its rung's complement (`sampler.complement`) and
proposes ``y = x_a + z (x_i - x_a)`` with z drawn from g(z) ~ 1/sqrt(z) on [1/s, s]
(s = ``stretch``, 2 as in emcee). Accepted with probability
min(1, z^(dim - 1) exp(beta (lp(y) - lp(x_i)))).
"""

from __future__ import annotations

import math

import numba as nb
import numpy as np
from numba import types

from mdhmc.targets._jit import LOG_DENSITY

from .complement import halves, run_halves
from .threads import Split
from .moves_de import metropolis_accept
from .rng import randint, uniform
from .jit import walker_kernel

__all__ = ["stretch_sweep", "build_kernel"]

I64 = types.int64[::1]
F64 = types.float64[::1]


@walker_kernel(types.void(LOG_DENSITY, types.float64[:, ::1], F64, types.uint64[:, ::1], F64, types.boolean[::1], I64, I64,
                   I64, I64, types.int64, types.int64, types.float64, types.float64[:, ::1], I64, I64, I64),
        nogil=True, cache=True)
def stretch_sweep(log_density, x, lp, rng, beta, moving, comp, off, cnt, rung, lo, hi, stretch, scratch, accepted,
                  evals, nonfinite):
    """One stretch step for each moving walker in ``lo..hi-1``."""
    d = x.shape[1]
    for i_ in nb.prange(lo, hi):
        i = np.int64(i_)  # one type for the walker index: see `diffusion.diffusion_sweep`
        if not moving[i]:
            continue
        r = rung[i]
        m = cnt[r]
        if m < 1:
            continue
        a = comp[off[r] + randint(rng, i, m)]
        u = uniform(rng, i)
        z = ((stretch - 1.0) * u + 1.0) ** 2 / stretch
        y = scratch[i]
        for j in range(d):
            y[j] = x[a, j] + z * (x[i, j] - x[a, j])
        metropolis_accept(log_density, x, lp, rng, i, y, (d - 1) * math.log(z), beta[i], accepted, evals, nonfinite)


def build_kernel(target, rung: np.ndarray, betas: np.ndarray, stretch: float = 2.0):
    """``step(state, chunks=None) -> (state, EnsembleInfo)``; ``betas`` is read at every step."""
    rung = np.ascontiguousarray(rung, dtype=np.int64)
    rungs = len(betas)
    parts = halves(rung, rungs)
    scratch = np.empty((rung.size, target.dim))

    split = Split()

    def step(state, chunks=None):
        walker_beta = np.ascontiguousarray(betas[rung], dtype=np.float64)

        def kernel(sweep, lo, hi, h, wb, accepted, evals, nonfinite):
            sweep(target.log_density, state.positions, state.log_density, state.rng, wb, h.moving, h.comp,
                          h.off, h.cnt, rung, lo, hi, float(stretch), scratch, accepted, evals, nonfinite)

        return state, run_halves("stretch", state, rung, rungs, walker_beta, parts, chunks, stretch_sweep, split, kernel)

    step.buffers = {"scratch": scratch}
    return step
