"""JAX twins of the benchmark targets' log densities, for BlackJAX NUTS.

Each twin is written from the same constants as the numba original in
`targets.builtin` (mixture means/covariances, the funnel's v sd, the stiff wells' means
and sds), and `tests/benchmarks/test_benchmarks_smoke.py` checks that it equals the numba
log density at random points, so the two cannot drift. Float64 throughout
(``jax_enable_x64`` is switched on when this module is imported).
"""

from __future__ import annotations

import math

import numpy as np

import jax

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402
from jax.scipy.special import logsumexp  # noqa: E402

__all__ = ["log_density", "TWINS"]


def _mixture(mix):
    means = jnp.asarray(mix.means)
    covs = np.asarray(mix.covs)
    prec = jnp.asarray(np.linalg.inv(covs))
    d = covs.shape[1]
    log_norms = jnp.asarray(np.log(mix.weights) - 0.5 * (d * math.log(2 * math.pi) + np.linalg.slogdet(covs)[1]))

    def lp(x):
        diff = x[None, :] - means
        q = jnp.einsum("ki,kij,kj->k", diff, prec, diff)
        return logsumexp(log_norms - 0.5 * q)

    return lp


def scorpio(dim=2):
    from mdhmc.targets.builtin import SCORPIO

    return _mixture(SCORPIO)


def multimodal(dim=2):
    from mdhmc.targets.builtin import MULTIMODAL

    return _mixture(MULTIMODAL)


def funnel(dim=2):
    from mdhmc.targets.builtin import FUNNEL_V_SD

    def lp(x):
        v = x[-1]
        return -v * v / (2.0 * FUNNEL_V_SD**2) - 0.5 * (dim - 1) * v - 0.5 * jnp.sum(x[:-1] ** 2) * jnp.exp(-v)

    return lp


def stiff_wells(dim=100):
    from mdhmc.targets.builtin import wells

    mu, sd = (jnp.asarray(a) for a in wells(dim))

    def lp(x):
        z = (x - mu) / sd
        return -0.5 * jnp.sum(z * z)

    return lp


TWINS = {"scorpio": scorpio, "multimodal": multimodal, "funnel": funnel, "stiff-wells": stiff_wells}


def log_density(name: str, dim: int):
    """The JAX log density (x of shape (dim,) -> scalar) of built-in target ``name``."""
    if name not in TWINS:
        raise KeyError(f"no JAX twin for target {name!r}; twins: {', '.join(TWINS)}")
    return TWINS[name](int(dim))
