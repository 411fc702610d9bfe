"""Hamiltonian pieces shared by momentum diffusion (`sampler.diffusion`) and exact HMC
(`sampler.hmc`): a diagonal mass M, the kinetic energy K = p' M^-1 p / 2, and the two
halves of a leapfrog step,

    kick:  p += h g       (g = grad lp; h = eps/2 for a leapfrog half kick, eps for Euler)
    drift: x += eps M^-1 p

The momentum p ~ N(0, M) is drawn with ``rng.fill_normal(s, i, p, sqrt_mass)``. The
helpers are small numba functions inlined into the kernels' walker loops by numba
(``inline="always"``: as separate functions LLVM kept the kick and drift as calls, a few
per cent slower); each keeps the exact floating-point expression the kernels used before
(same draws).
"""

from __future__ import annotations

import numba as nb
import numpy as np

__all__ = ["diagonal_mass", "kinetic", "kick", "drift"]


def diagonal_mass(mass, dim: int) -> tuple[np.ndarray, np.ndarray]:
    """``(inv_mass, sqrt_mass)`` of a diagonal mass (None: unit), checked to have ``dim`` entries."""
    m = np.ones(dim) if mass is None else np.asarray(mass, dtype=np.float64)
    if m.shape != (dim,):
        raise ValueError(f"mass must have {dim} entries, got {m.size}")
    return 1.0 / m, np.sqrt(m)


@nb.njit(inline="always", nogil=True, cache=True)
def kinetic(p, inv_mass):
    """K = p' M^-1 p / 2."""
    k = 0.0
    for j in range(p.shape[0]):
        k += p[j] * p[j] * inv_mass[j]
    return 0.5 * k


@nb.njit(inline="always", nogil=True, cache=True)
def kick(p, g, h):
    """p += h g."""
    for j in range(p.shape[0]):
        p[j] += h * g[j]


@nb.njit(inline="always", nogil=True, cache=True)
def drift(x, p, eps, inv_mass):
    """x += eps M^-1 p."""
    for j in range(x.shape[0]):
        x[j] += eps * inv_mass[j] * p[j]
