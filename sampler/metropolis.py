"""Random-walk Metropolis on every walker, at each walker's own inverse temperature.

The proposal for walker i is ``y = x_i + scale[r] * sd_comp * z`` with z ~ N(0, I), where
``sd_comp`` is the per-dimension sd of the *complementary half* of walker i's temperature
rung (the other half of the same rung) and ``scale[r]`` the rung's scale factor. The
ensemble is updated half by half: while one half moves, the other (which sets the
proposal) is fixed, so each half-update is a valid Metropolis kernel for the joint
ensemble (as in emcee's stretch move). The kernel takes ``scale`` as an argument; the
driver adapts it toward the target acceptance only during warm-up (`sampler.adaptation`:
per rung, log scale clipped to [-25, 10]) and freezes it afterwards, so detailed balance
holds while recording. Scales that differ by orders of magnitude across dimensions (the
stiff wells) are taken care of by ``sd_comp``.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numba as nb
import numpy as np

from numba import types

from mdhmc.targets._jit import LOG_DENSITY

from .chunks import blocks
from .threads import Split
from .rng import fill_normal, uniform
from .jit import walker_kernel

__all__ = ["metropolis_sweep", "metropolis_accept", "MetropolisInfo", "build_kernel", "default_scale", "LOG_SCALE_LIMITS"]

#: clip limits of the adapted log scale (`sampler.adaptation.RobbinsMonro`)
LOG_SCALE_LIMITS = (-25.0, 10.0)


@nb.njit(inline="always")
def metropolis_accept(log_density, x, lp, rng, i, y, log_q_ratio, beta, accepted, evals, nonfinite):
    """Evaluate the proposal ``y`` of walker i and accept it with probability
    min(1, exp(beta (lp(y) - lp(x_i)) + log_q_ratio)); NaN or +inf lp is rejected and counted."""
    lpy = log_density(y)
    evals[i] += 1
    if math.isnan(lpy) or lpy == np.inf:
        nonfinite[i] += 1
        return
    if lpy == -np.inf:
        return
    if math.log(uniform(rng, i)) < beta * (lpy - lp[i]) + log_q_ratio:
        for j in range(x.shape[1]):
            x[i, j] = y[j]
        lp[i] = lpy
        accepted[i] += 1


@walker_kernel(types.void(LOG_DENSITY, types.float64[:, ::1], types.float64[::1], types.uint64[:, ::1], types.float64[::1],
                   types.float64[:, ::1], types.boolean[::1], types.int64, types.float64[:, ::1], types.int64[::1],
                   types.int64[::1], types.int64[::1]),
        nogil=True, cache=True)
def metropolis_sweep(log_density, x, lp, rng, beta, prop_sd, active, n_steps, scratch, accepted, evals, nonfinite):
    """``n_steps`` RWM steps for each walker with ``active[i]``, targeting exp(beta[i] lp).

    ``prop_sd`` is ``(walkers, dim)``; ``scratch`` is ``(walkers, dim)``. A proposal whose lp
    is NaN is rejected and counted in ``nonfinite`` (-inf is an ordinary rejection).
    """
    n, d = x.shape
    for i_ in nb.prange(n):
        i = np.int64(i_)  # one type for the walker index: see `diffusion.diffusion_sweep`
        if not active[i]:
            continue
        y = scratch[i]
        for _ in range(n_steps):
            fill_normal(rng, i, y, prop_sd[i])
            for j in range(d):
                y[j] += x[i, j]
            metropolis_accept(log_density, x, lp, rng, i, y, 0.0, beta[i], accepted, evals, nonfinite)


class MetropolisInfo(NamedTuple):
    acceptance: np.ndarray  # per rung, this sweep
    lp_evals: int
    nonfinite: int
    scale: np.ndarray  # per rung, the one used


def default_scale(dim: int) -> float:
    """The starting scale factor, 2.38 / sqrt(dim) (optimal for a Gaussian target)."""
    return 2.38 / math.sqrt(dim)


def _halves(rung: np.ndarray, rungs: int):
    """Boolean masks (half A, half B) that split every rung in two, by position in the rung."""
    a = np.zeros(rung.size, dtype=bool)
    for r in range(rungs):
        idx = np.flatnonzero(rung == r)
        a[idx[::2]] = True
    return a, ~a


def build_kernel(target, rung: np.ndarray, betas: np.ndarray):
    """``step(state, scale, n_steps=1, chunks=None) -> (state, MetropolisInfo)``.

    ``rung[i]`` is walker i's temperature rung and ``betas[r]`` = 1 / T_r; ``scale[r]`` is
    rung r's proposal scale factor (see `default_scale`). ``chunks`` (`sampler.chunks.Chunks`):
    run each half in blocks of walkers (same draws). ``step.buffers["scratch"][i]`` is walker
    i's last proposal.
    """
    rung = np.asarray(rung, dtype=np.int64)
    betas = np.asarray(betas, dtype=np.float64)  # read at every step: the ladder may respace it in warm-up
    rungs = betas.size
    half_a, half_b = _halves(rung, rungs)
    n = rung.size
    dim = target.dim
    scratch = np.empty((n, dim))
    prop_sd = np.empty((n, dim))

    def proposal_sd(x, moving, fixed, scale):
        for r in range(rungs):
            src = fixed & (rung == r)
            dst = moving & (rung == r)
            if src.sum() >= 2:
                sd = x[src].std(axis=0)
                sd = np.maximum(sd, 1e-12 + 1e-9 * np.abs(x[src]).mean(axis=0))
            else:
                sd = np.ones(dim)
            prop_sd[dst] = scale[r] * sd

    split = Split()

    def step(state, scale: np.ndarray, n_steps: int = 1, chunks=None):
        x, lp = state.positions, state.log_density
        accepted = np.zeros(n, dtype=np.int64)
        evals = np.zeros(n, dtype=np.int64)
        nonfinite = np.zeros(n, dtype=np.int64)
        walker_beta = betas[rung]
        for moving, fixed in ((half_a, half_b), (half_b, half_a)):
            proposal_sd(x, moving, fixed, scale)
            def part(sweep, lo, hi, moving=moving):
                b = slice(lo, hi)
                sweep(target.log_density, x[b], lp[b], state.rng[b], walker_beta[b], prop_sd[b],
                      moving[b], int(n_steps), scratch[b], accepted[b], evals[b], nonfinite[b])

            for lo, hi in blocks(chunks, "metropolis", n):
                metropolis_sweep.run(split, lo, hi, part)
        acc = np.array([accepted[rung == r].sum() / max(1, (rung == r).sum() * n_steps) for r in range(rungs)])
        return state, MetropolisInfo(acc, int(evals.sum()), int(nonfinite.sum()), np.asarray(scale, dtype=np.float64))

    step.buffers = {"scratch": scratch}
    return step
