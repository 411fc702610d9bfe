"""Exact HMC baseline: leapfrog with the target's gradient and a Metropolis correction.

Per walker and sweep: p ~ N(0, M); ``hmc_steps`` leapfrog steps of size eps (jittered
uniformly by +-20% per trajectory, so fixed-length orbits cannot trap the chain); accept
with min(1, exp(H0 - H1)). A trajectory whose energy error exceeds 1000 (Stan's rule) or
whose lp turns non-finite is a *divergence*: rejected, counted and its position reported.
The kinetic energy and the leapfrog kick/drift are `sampler.hamiltonian`'s. The kernel
takes the step size as an argument; during warm-up the driver adapts it toward
``hmc_target_accept`` (`sampler.adaptation`: one for the ensemble, Robbins-Monro on log
eps clipped to [-20, 5]); afterwards it is frozen.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numba as nb
import numpy as np

from numba import types

from mdhmc.targets._jit import GRADIENT, LOG_DENSITY

from .hamiltonian import diagonal_mass, drift, kick, kinetic
from .chunks import blocks
from .threads import Split
from .rng import fill_normal, uniform
from .jit import walker_kernel

__all__ = ["hmc_sweep", "HMCInfo", "build_kernel", "DIVERGENCE_THRESHOLD", "LOG_STEP_SIZE_LIMITS"]

DIVERGENCE_THRESHOLD = 1000.0
#: clip limits of the adapted log step size (`sampler.adaptation.RobbinsMonro`)
LOG_STEP_SIZE_LIMITS = (-20.0, 5.0)


@walker_kernel(types.void(LOG_DENSITY, GRADIENT, types.float64[:, ::1], types.float64[::1], types.uint64[:, ::1],
                   types.float64[::1], types.float64[::1], types.float64[::1], types.int64, types.float64,
                   types.float64[:, :, ::1], types.float64[::1], types.int64[::1], types.float64[:, ::1],
                   types.int64[::1], types.int64[::1]),
        nogil=True, cache=True)
def hmc_sweep(log_density, grad_log_density, x, lp, rng, inv_mass, sqrt_mass, step_size, n_steps, jitter,
              scratch, accept_prob, divergent, div_pos, evals, grad_evals):
    """One HMC transition per walker. ``step_size`` is per walker; ``scratch`` is (walkers, 2, dim).

    ``accept_prob[i]`` gets min(1, exp(-dH)) (0 for a divergence); ``divergent[i]`` 1 if the
    trajectory diverged, with the point where it did in ``div_pos[i]``.
    """
    n, d = x.shape
    for i_ in nb.prange(n):
        i = np.int64(i_)  # one type for the walker index: see `diffusion.diffusion_sweep`
        q = scratch[i, 0]
        p = scratch[i, 1]
        for j in range(d):
            q[j] = x[i, j]
        fill_normal(rng, i, p, sqrt_mass)
        h0 = -lp[i] + kinetic(p, inv_mass)
        eps = step_size[i] * (1.0 + jitter * (2.0 * uniform(rng, i) - 1.0))
        g = grad_log_density(q)
        grad_evals[i] += 1
        lpq = lp[i]
        div = False
        for _ in range(n_steps):
            kick(p, g, 0.5 * eps)
            drift(q, p, eps, inv_mass)
            lpq = log_density(q)
            evals[i] += 1
            g = grad_log_density(q)
            grad_evals[i] += 1
            if not math.isfinite(lpq):
                div = True
                break
            kick(p, g, 0.5 * eps)
            if (-lpq + kinetic(p, inv_mass)) - h0 > DIVERGENCE_THRESHOLD:
                div = True
                break
        divergent[i] = 1 if div else 0
        if div:
            accept_prob[i] = 0.0
            for j in range(d):
                div_pos[i, j] = q[j]
            continue
        dh = (-lpq + kinetic(p, inv_mass)) - h0
        a = 1.0 if dh <= 0.0 else math.exp(-dh)
        if not math.isfinite(a):
            a = 0.0
        accept_prob[i] = a
        if uniform(rng, i) < a:
            for j in range(d):
                x[i, j] = q[j]
            lp[i] = lpq


class HMCInfo(NamedTuple):
    acceptance: float  # mean acceptance probability, this sweep
    divergences: int
    divergent_positions: np.ndarray  # (n_divergent, dim)
    lp_evals: int
    grad_evals: int
    steps: int
    step_size: float  # the one used (before jitter)


def build_kernel(target, mass=None, jitter: float = 0.2):
    """``step(state, step_size, n_steps, chunks=None) -> (state, HMCInfo)`` on the ensemble at T=1.

    ``mass`` is a diagonal (None: unit); ``step_size`` is one for the ensemble, jittered by
    +-``jitter`` per trajectory. ``chunks`` (`sampler.chunks.Chunks`): run the walkers in
    blocks (same draws). ``step.buffers["scratch"][i, 0]`` is walker i's last point.
    """
    if target.grad_log_density is None:
        raise ValueError(f"target {target.name!r} has no gradient: exact HMC needs grad_log_density")
    dim = target.dim
    inv_mass, sqrt_mass = diagonal_mass(mass, dim)
    bufs = {}
    split = Split()

    def step(state, step_size: float, n_steps: int, chunks=None):
        n = state.walkers
        if bufs.get("n") != n:
            bufs.update(n=n, scratch=np.empty((n, 2, dim)))
        eps = np.full(n, step_size)
        accept_prob = np.zeros(n)
        divergent = np.zeros(n, dtype=np.int64)
        div_pos = np.zeros((n, dim))
        evals = np.zeros(n, dtype=np.int64)
        gevals = np.zeros(n, dtype=np.int64)
        def part(sweep, lo, hi):
            b = slice(lo, hi)
            sweep(target.log_density, target.grad_log_density, state.positions[b], state.log_density[b],
                  state.rng[b], inv_mass, sqrt_mass, eps[b], int(n_steps), jitter, bufs["scratch"][b],
                  accept_prob[b], divergent[b], div_pos[b], evals[b], gevals[b])

        for lo, hi in blocks(chunks, "hmc", n):
            hmc_sweep.run(split, lo, hi, part)
        dv = divergent.astype(bool)
        info = HMCInfo(float(accept_prob.mean()), int(dv.sum()), div_pos[dv].copy(), int(evals.sum()),
                       int(gevals.sum()), int(n * n_steps), float(step_size))
        return state, info

    step.buffers = bufs
    return step
