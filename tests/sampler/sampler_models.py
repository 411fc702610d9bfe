"""Test-only targets: a correlated 2D Gaussian and a Gaussian with a NaN half-plane."""

import math

import numba as nb
import numpy as np

from mdhmc.targets import Target

RHO, SX, SY = 0.8, 1.0, 2.0
_COV = np.array([[SX**2, RHO * SX * SY], [RHO * SX * SY, SY**2]])
_PREC = np.linalg.inv(_COV)
_P00, _P01, _P11 = float(_PREC[0, 0]), float(_PREC[0, 1]), float(_PREC[1, 1])


@nb.njit(cache=True)
def gauss_lp(x):
    return -0.5 * (_P00 * x[0] * x[0] + 2.0 * _P01 * x[0] * x[1] + _P11 * x[1] * x[1])


@nb.njit(cache=True)
def gauss_grad(x):
    g = np.empty(2)
    g[0] = -(_P00 * x[0] + _P01 * x[1])
    g[1] = -(_P01 * x[0] + _P11 * x[1])
    return g


def correlated_gaussian() -> Target:
    chol = np.linalg.cholesky(_COV)
    return Target(name="corr-gauss", dim=2, log_density=gauss_lp, grad_log_density=gauss_grad,
                  sample_exact=lambda n, rng: rng.standard_normal((n, 2)) @ chol.T,
                  bounds=((-4.0, 4.0), (-8.0, 8.0)))


@nb.njit(cache=True)
def nan_region_lp(x):
    if x[0] > 1.0:
        return math.nan
    return -0.5 * (x[0] * x[0] + x[1] * x[1])


@nb.njit(cache=True)
def nan_region_grad(x):
    g = np.empty(2)
    if x[0] > 1.0:
        g[0] = math.nan
        g[1] = math.nan
        return g
    g[0] = -x[0]
    g[1] = -x[1]
    return g


def nan_region() -> Target:
    return Target(name="nan-region", dim=2, log_density=nan_region_lp, grad_log_density=nan_region_grad,
                  bounds=((-3.0, 0.9), (-3.0, 3.0)))


@nb.njit(cache=True)
def iso_lp(x):
    s = 0.0
    for i in range(x.shape[0]):
        s += x[i] * x[i]
    return -0.5 * s


def iso_gaussian(dim: int) -> Target:
    return Target(name=f"iso-gauss-{dim}", dim=dim, log_density=iso_lp,
                  sample_exact=lambda n, rng: rng.standard_normal((n, dim)), bounds=tuple([(-4.0, 4.0)] * dim))
