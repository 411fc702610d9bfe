"""SPSA: a gradient estimate from one or two log-density evaluations.

Simultaneous Perturbation Stochastic Approximation (Spall, 1992). With a Rademacher
perturbation Delta (each component +-1) and size c,

    one-sided:  g_hat = (lp(x + c Delta) - lp(x)) / c * Delta          (1 extra evaluation)
    two-sided:  g_hat = (lp(x + c Delta) - lp(x - c Delta)) / (2c) * Delta  (2 evaluations)

(1/Delta_i = Delta_i for Rademacher.) For a quadratic lp both are unbiased: the odd
moments of Delta kill the curvature term, and E[Delta_i Delta_j] = delta_ij leaves g.
The noise, sum_{j != i} g_j Delta_j Delta_i, has variance |g|^2 - g_i^2, so it grows with
dimension; averaging over k perturbations divides it by k.

In a metric ``scale`` (a per-coordinate scale S, e.g. the preconditioner's), the perturbation
is c S Delta and the estimate g_hat_i = diff Delta_i / S_i: an SPSA estimate of the gradient
of y -> lp(S y) (scaled coordinates) mapped back. Still unbiased on a quadratic; its noise
in scaled coordinates has variance |S g|^2 - (S_i g_i)^2 instead of |g|^2 - g_i^2, i.e.
near the typical set about dim instead of sum_j 1/sd_j^2 (a stiff target's ~10^8).
S = 1 is the plain estimate (bit for bit: multiplying or dividing by 1.0 is exact).
"""

from __future__ import annotations

import math

import numba as nb
import numpy as np

from numba import types

from mdhmc.targets._jit import LOG_DENSITY

from .rng import next_u64

__all__ = ["spsa_gradient", "spsa_gradient_py"]


@nb.njit(types.Tuple((types.int64, types.boolean))(
    LOG_DENSITY, types.float64[::1], types.float64, types.float64, types.int64, types.boolean, types.float64[::1],
    types.uint64[:, ::1], types.int64, types.float64[::1], types.float64[::1], types.float64[::1]),
    nogil=True, cache=True)
def spsa_gradient(log_density, x, lpx, c, k, two_sided, scale, s, i, delta, xp, g):
    """Write an SPSA estimate of grad lp(x) into ``g``; return (evaluations, finite).

    ``delta`` and ``xp`` are caller-owned scratch vectors of length dim; ``s, i`` is the
    walker's random stream. ``lpx`` = lp(x) is reused by the one-sided form. ``scale``: the
    perturbation's metric (ones: the plain estimate).
    """
    d = x.shape[0]
    for j in range(d):
        g[j] = 0.0
    evals = 0
    for _ in range(k):
        bits = np.uint64(0)
        for j in range(d):
            if j % 64 == 0:
                bits = next_u64(s, i)
            delta[j] = 1.0 if (bits >> np.uint64(j % 64)) & np.uint64(1) else -1.0
        for j in range(d):
            xp[j] = x[j] + c * scale[j] * delta[j]
        lp_plus = log_density(xp)
        evals += 1
        if two_sided:
            for j in range(d):
                xp[j] = x[j] - c * scale[j] * delta[j]
            lp_minus = log_density(xp)
            evals += 1
            diff = (lp_plus - lp_minus) / (2.0 * c)
        else:
            diff = (lp_plus - lpx) / c
        if not math.isfinite(diff):
            return evals, False
        for j in range(d):
            g[j] += diff * delta[j] / scale[j]
    if k > 1:
        for j in range(d):
            g[j] /= k
    return evals, True


def spsa_gradient_py(log_density, x, c=0.01, k=1, two_sided=False, rng_state=None, stream=0, scale=None):
    """Convenience wrapper (tests, teaching): one SPSA estimate at ``x`` as a new array."""
    from .rng import seed_streams

    x = np.ascontiguousarray(x, dtype=np.float64)
    s = seed_streams(0, 1) if rng_state is None else rng_state
    g = np.empty_like(x)
    sc = np.ones_like(x) if scale is None else np.ascontiguousarray(scale, dtype=np.float64)
    spsa_gradient(log_density, x, float(log_density(x)), float(c), int(k), bool(two_sided), sc, s, int(stream),
                  np.empty_like(x), np.empty_like(x), g)
    return g
