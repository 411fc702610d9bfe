"""DIME-style move (Boehl 2022, "Ensemble MCMC sampling for robust Bayesian inference"):
differential evolution mixed, walker by walker, with an independence proposal fitted to
the ensemble.

Each moving walker of rung r, with probability ``aimh`` (0.1), proposes from a
multivariate t (``nu`` = 10 degrees of freedom) whose centre and scale are the mean and
covariance of its rung's complement (`sampler.complement`; the full covariance when the
complement has more than 2 dim + 10 walkers and dim <= 200, else its diagonal, with a
small ridge), and is accepted with the independence-sampler ratio
exp(beta (lp(y) - lp(x)) + log q(x) - log q(y)). Otherwise it takes a DE step
(`sampler.moves_de`). The proposal depends only on the fixed complement, so each
half-update is exact; the independence proposal lets a walker jump straight to wherever
the rest of its rung is (another mode, the bulk from a far tail).
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
from .moves_de import de_propose, default_gamma
from .rng import normal, uniform
from .jit import walker_kernel

__all__ = ["dime_sweep", "build_kernel"]

I64 = types.int64[::1]
F64 = types.float64[::1]
F2 = types.float64[:, ::1]
F3 = types.float64[:, :, ::1]
NU = 10


@nb.njit(inline="always")
def _log_q(v, mu, L, full, nu, work):
    """log density (up to a constant) of the t proposal at ``v``: -(nu + d)/2 log(1 + m/nu)
    with m the squared Mahalanobis distance (forward substitution with L, or diagonal sds)."""
    d = v.shape[0]
    m = 0.0
    if full:
        for j in range(d):
            s = v[j] - mu[j]
            for k in range(j):
                s -= L[j, k] * work[k]
            work[j] = s / L[j, j]
            m += work[j] * work[j]
    else:
        for j in range(d):
            t = (v[j] - mu[j]) / L[0, j]
            m += t * t
    return -0.5 * (nu + d) * math.log1p(m / nu)


@walker_kernel(types.void(LOG_DENSITY, F2, F64, types.uint64[:, ::1], F64, types.boolean[::1], I64, I64, I64, I64,
                   types.int64, types.int64, types.float64, types.float64, types.float64, types.float64, F2, F3,
                   types.boolean, F2, F2, I64, I64, I64),
        nogil=True, cache=True)
def dime_sweep(log_density, x, lp, rng, beta, moving, comp, off, cnt, rung, lo, hi, gamma, jitter, jump, aimh, mu,
               chol, full, scratch, work, accepted, evals, nonfinite):
    """One DIME step for each moving walker in ``lo..hi-1``: with probability ``aimh`` the
    t independence proposal of its rung (``mu[r]``, ``chol[r]``), else a DE step."""
    d = x.shape[1]
    for i_ in nb.prange(lo, hi):
        i = np.int64(i_)  # one type for the walker index: see `diffusion.diffusion_sweep`
        if not moving[i]:
            continue
        r = rung[i]
        y = scratch[i]
        if uniform(rng, i) < aimh and cnt[r] >= 2:
            L = chol[r]
            chi2 = 0.0
            for _ in range(NU):
                e = normal(rng, i)
                chi2 += e * e
            w = math.sqrt(NU / chi2)
            z = work[i]
            for j in range(d):
                z[j] = normal(rng, i)
            for j in range(d):
                if full:
                    s = 0.0
                    for k in range(j + 1):
                        s += L[j, k] * z[k]
                else:
                    s = L[0, j] * z[j]
                y[j] = mu[r, j] + w * s
            log_q_ratio = _log_q(x[i], mu[r], L, full, NU, z) - _log_q(y, mu[r], L, full, NU, z)
            metropolis_accept(log_density, x, lp, rng, i, y, log_q_ratio, beta[i], accepted, evals, nonfinite)
        elif de_propose(x, i, comp, off[r], cnt[r], rng, gamma, jitter, jump, y):
            metropolis_accept(log_density, x, lp, rng, i, y, 0.0, beta[i], accepted, evals, nonfinite)


def uses_full_covariance(dim: int, complement: int) -> bool:
    return dim <= 200 and complement > 2 * dim + 10


def build_kernel(target, rung: np.ndarray, betas: np.ndarray, aimh: float = 0.1, jitter: float = 0.1,
                 jump: float = 0.0):
    """``step(state, chunks=None) -> (state, EnsembleInfo)``; ``betas`` is read at every step.
    DE's mode jump is off by default: the independence proposal does that job here."""
    rung = np.ascontiguousarray(rung, dtype=np.int64)
    rungs = len(betas)
    parts = halves(rung, rungs)
    n, dim = rung.size, target.dim
    scratch = np.empty((n, dim))
    work = np.empty((n, dim))
    full = all(uses_full_covariance(dim, int(c)) for h in parts for c in h.cnt)
    mu = np.zeros((rungs, dim))
    chol = np.zeros((rungs, dim if full else 1, dim))
    gamma = default_gamma(dim)

    def fit(state, h):
        """The proposal of each rung from its complement (which stays fixed during the half-update)."""
        for r in range(rungs):
            pts = state.positions[h.comp[h.off[r]:h.off[r] + h.cnt[r]]]
            if len(pts) < 2:
                mu[r], chol[r] = 0.0, 1.0
                continue
            mu[r] = pts.mean(axis=0)
            var = pts.var(axis=0)
            ridge = 1e-10 + 1e-8 * var.max()
            if full:
                cov = np.cov(pts, rowvar=False).reshape(dim, dim) + ridge * np.eye(dim)
                chol[r] = np.linalg.cholesky(cov)
            else:
                chol[r, 0] = np.sqrt(var + ridge)

    split = Split()

    def step(state, chunks=None):
        walker_beta = np.ascontiguousarray(betas[rung], dtype=np.float64)

        def kernel(sweep, lo, hi, h, wb, accepted, evals, nonfinite):
            sweep(target.log_density, state.positions, state.log_density, state.rng, wb, h.moving, h.comp,
                       h.off, h.cnt, rung, lo, hi, gamma, float(jitter), float(jump), float(aimh), mu, chol, full,
                       scratch, work, accepted, evals, nonfinite)

        return state, run_halves("dime", state, rung, rungs, walker_beta, parts, chunks, dime_sweep, split, kernel,
                                 prepare=lambda h: fit(state, h))

    step.buffers = {"scratch": scratch}
    return step
