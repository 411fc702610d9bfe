"""Built-in targets: scorpio, funnel, banana, donut, multimodal, squiggle, stiff-wells.

Every log density here is a module-level ``@njit(cache=True)`` function of ``x`` alone
(parameters are module constants, or derived from ``x.shape[0]`` for the n-D targets),
so the sampler kernels specialised on them are compiled once and then loaded from
numba's cache in every later process.
"""

from __future__ import annotations

import math

import numba as nb
import numpy as np

from ._kernels import mixture_grad, mixture_log_density
from .base import Target


# ----------------------------------------------------------------------------------------
# Gaussian mixtures (scorpio, multimodal)
# ----------------------------------------------------------------------------------------
def _cov(sd_x, sd_y, rho):
    return np.array([[sd_x**2, rho * sd_x * sd_y], [rho * sd_x * sd_y, sd_y**2]])


class _Mixture:
    """Constant arrays of a dense Gaussian mixture, in the form the kernels want."""

    def __init__(self, weights, means, covs, names):
        self.weights = np.asarray(weights, dtype=np.float64)
        self.means = np.ascontiguousarray(means, dtype=np.float64)
        self.covs = np.ascontiguousarray(covs, dtype=np.float64)
        self.names = tuple(names)
        self.precisions = np.ascontiguousarray(np.linalg.inv(self.covs))
        d = self.means.shape[1]
        _, logdet = np.linalg.slogdet(self.covs)
        self.log_norms = np.log(self.weights) - 0.5 * (d * math.log(2 * math.pi) + logdet)
        self.chol = np.linalg.cholesky(self.covs)

    def sample(self, n, rng):
        k = rng.choice(self.weights.size, size=n, p=self.weights)
        z = rng.standard_normal((n, self.means.shape[1]))
        return self.means[k] + np.einsum("nij,nj->ni", self.chol[k], z)

    def sample_component(self, k, n, rng):
        z = rng.standard_normal((n, self.means.shape[1]))
        return self.means[k] + z @ self.chol[k].T

    def component_of(self, X):
        """Most responsible component (largest w_k N_k(x)) of each row."""
        X = np.asarray(X, dtype=np.float64).reshape(-1, self.means.shape[1])
        diff = X[:, None, :] - self.means[None, :, :]
        q = np.einsum("nki,kij,nkj->nk", diff, self.precisions, diff)
        return np.argmax(self.log_norms[None, :] - 0.5 * q, axis=1).astype(np.int64)


# Scorpio: a scorpion seen from above. A broad body at the origin, a two-segment tail
# that curves up and to the right, and a stinger hooked back over the top; 50/10/10/30.
SCORPIO = _Mixture(
    weights=[0.5, 0.1, 0.1, 0.3],
    means=[[0.0, 0.0], [1.6, 5.4], [3.4, 9.2], [1.6, 12.6]],
    covs=[_cov(1.6, 2.6, 0.1), _cov(0.45, 1.5, 0.55), _cov(0.45, 1.5, 0.35), _cov(1.1, 0.55, -0.6)],
    names=["body", "tail 1", "tail 2", "stinger"],
)
_SC_M, _SC_P, _SC_L = SCORPIO.means, SCORPIO.precisions, SCORPIO.log_norms


@nb.njit(cache=True, nogil=True)
def scorpio_log_density(x):
    return mixture_log_density(x, _SC_M, _SC_P, _SC_L)


@nb.njit(cache=True, nogil=True)
def scorpio_grad(x):
    return mixture_grad(x, _SC_M, _SC_P, _SC_L)


# Multimodal: four unit-sd modes at (+-4, +-4) with unequal weights. The barrier between
# neighbours is ~exp(-8) at T=1 and ~exp(-2.3) at T=3.5: tempering is what moves mass.
MULTIMODAL = _Mixture(
    weights=[0.4, 0.3, 0.2, 0.1],
    means=[[-4.0, -4.0], [4.0, -4.0], [-4.0, 4.0], [4.0, 4.0]],
    covs=[_cov(1.0, 1.0, 0.0)] * 4,
    names=["south-west", "south-east", "north-west", "north-east"],
)
_MM_M, _MM_P, _MM_L = MULTIMODAL.means, MULTIMODAL.precisions, MULTIMODAL.log_norms


@nb.njit(cache=True, nogil=True)
def multimodal_log_density(x):
    return mixture_log_density(x, _MM_M, _MM_P, _MM_L)


@nb.njit(cache=True, nogil=True)
def multimodal_grad(x):
    return mixture_grad(x, _MM_M, _MM_P, _MM_L)


# ----------------------------------------------------------------------------------------
# Neal's funnel: v ~ N(0, 3^2), x_i | v ~ N(0, exp(v/2)^2); v is the LAST coordinate so a
# 2D plot of (x_1, v) has v vertical. One function serves every dim.
# ----------------------------------------------------------------------------------------
FUNNEL_V_SD = 3.0


@nb.njit(cache=True, nogil=True)
def funnel_log_density(x):
    d = x.shape[0]
    v = x[d - 1]
    s = 0.0
    for i in range(d - 1):
        s += x[i] * x[i]
    return -v * v / (2.0 * FUNNEL_V_SD**2) - 0.5 * (d - 1) * v - 0.5 * s * math.exp(-v)


@nb.njit(cache=True, nogil=True)
def funnel_grad(x):
    d = x.shape[0]
    v = x[d - 1]
    e = math.exp(-v)
    g = np.empty(d)
    s = 0.0
    for i in range(d - 1):
        g[i] = -x[i] * e
        s += x[i] * x[i]
    g[d - 1] = -v / FUNNEL_V_SD**2 - 0.5 * (d - 1) + 0.5 * s * e
    return g


def _funnel_sample(dim):
    def sample(n, rng):
        v = FUNNEL_V_SD * rng.standard_normal(n)
        x = np.exp(v / 2.0)[:, None] * rng.standard_normal((n, dim - 1))
        return np.column_stack([x, v])

    return sample


# ----------------------------------------------------------------------------------------
# Banana (twisted Gaussian): x1 ~ N(0, a^2), x2 | x1 ~ N(b (x1^2 - a^2), 1), a=1.5, b=0.5.
# ----------------------------------------------------------------------------------------
BANANA_A, BANANA_B = 1.5, 0.5


@nb.njit(cache=True, nogil=True)
def banana_log_density(x):
    r = x[1] - BANANA_B * (x[0] * x[0] - BANANA_A * BANANA_A)
    return -0.5 * x[0] * x[0] / (BANANA_A * BANANA_A) - 0.5 * r * r


@nb.njit(cache=True, nogil=True)
def banana_grad(x):
    r = x[1] - BANANA_B * (x[0] * x[0] - BANANA_A * BANANA_A)
    g = np.empty(2)
    g[0] = -x[0] / (BANANA_A * BANANA_A) + r * 2.0 * BANANA_B * x[0]
    g[1] = -r
    return g


def _banana_sample(n, rng):
    x1 = BANANA_A * rng.standard_normal(n)
    x2 = BANANA_B * (x1**2 - BANANA_A**2) + rng.standard_normal(n)
    return np.column_stack([x1, x2])


# ----------------------------------------------------------------------------------------
# Donut: log p = -(|x| - R)^2 / (2 s^2), R=3, s=0.3 (a ring; density in r is r N(r; R, s)).
# ----------------------------------------------------------------------------------------
DONUT_R, DONUT_S = 3.0, 0.3


@nb.njit(cache=True, nogil=True)
def donut_log_density(x):
    r = math.sqrt(x[0] * x[0] + x[1] * x[1])
    return -((r - DONUT_R) ** 2) / (2.0 * DONUT_S**2)


@nb.njit(cache=True, nogil=True)
def donut_grad(x):
    r = math.sqrt(x[0] * x[0] + x[1] * x[1])
    g = np.zeros(2)
    if r > 0.0:
        f = -(r - DONUT_R) / (DONUT_S**2 * r)
        g[0] = f * x[0]
        g[1] = f * x[1]
    return g


def _donut_sample(n, rng):
    # radial density ~ r * N(r; R, s) on r > 0: rejection from N(R, s) with acceptance r / r_max
    r_max = DONUT_R + 10 * DONUT_S
    out = np.empty(0)
    while out.size < n:
        r = DONUT_R + DONUT_S * rng.standard_normal(2 * n + 16)
        keep = (r > 0) & (rng.random(r.size) < r / r_max)
        out = np.concatenate([out, r[keep]])
    r = out[:n]
    th = rng.uniform(0, 2 * np.pi, n)
    return np.column_stack([r * np.cos(th), r * np.sin(th)])


# ----------------------------------------------------------------------------------------
# Squiggle: x1 ~ N(0, 2^2), x2 | x1 ~ N(1.5 sin(1.5 x1), 0.3^2).
# ----------------------------------------------------------------------------------------
SQ_SD1, SQ_AMP, SQ_FREQ, SQ_SD2 = 2.0, 1.5, 1.5, 0.3


@nb.njit(cache=True, nogil=True)
def squiggle_log_density(x):
    r = x[1] - SQ_AMP * math.sin(SQ_FREQ * x[0])
    return -0.5 * x[0] * x[0] / SQ_SD1**2 - 0.5 * r * r / SQ_SD2**2


@nb.njit(cache=True, nogil=True)
def squiggle_grad(x):
    r = x[1] - SQ_AMP * math.sin(SQ_FREQ * x[0])
    g = np.empty(2)
    g[0] = -x[0] / SQ_SD1**2 + r / SQ_SD2**2 * SQ_AMP * SQ_FREQ * math.cos(SQ_FREQ * x[0])
    g[1] = -r / SQ_SD2**2
    return g


def _squiggle_sample(n, rng):
    x1 = SQ_SD1 * rng.standard_normal(n)
    x2 = SQ_AMP * np.sin(SQ_FREQ * x1) + SQ_SD2 * rng.standard_normal(n)
    return np.column_stack([x1, x2])


# ----------------------------------------------------------------------------------------
# Stiff wells: the thread's 20,000-gene problem in small. Independent N(mu_i, sd_i^2) with
# sd_i = 0.01 * 200^u_i (log-uniform over 0.01..2) and mu_i = 20 (w_i - 1/2) (over -10..10),
# where u_i, w_i are low-discrepancy (golden-ratio / sqrt(2)) sequences in i. Coordinate i's
# well does not depend on dim, so dim=100 is the first 100 wells of dim=1000.
# ----------------------------------------------------------------------------------------
_GOLD = 0.6180339887498949
_SQ2 = 0.41421356237309515
WELLS_SD_LO, WELLS_SD_HI, WELLS_MEAN_SPAN = 0.01, 2.0, 20.0


@nb.njit(cache=True, nogil=True)
def _well(i):
    u = ((i + 1) * _GOLD) % 1.0
    w = ((i + 1) * _SQ2) % 1.0
    sd = WELLS_SD_LO * math.exp(u * math.log(WELLS_SD_HI / WELLS_SD_LO))
    return WELLS_MEAN_SPAN * (w - 0.5), sd


# The first WELLS_TABLE wells tabulated once (the same doubles _well returns): an evaluation
# then costs a load per coordinate instead of an exp, a log and two fmods, as the JAX twin's
# arrays do (benchmarks/jax_targets.py), so speed comparisons are not about the target's code.
WELLS_TABLE = 20_000
_WELLS_MU, _WELLS_SD = (np.array(a) for a in zip(*[_well.py_func(i) for i in range(WELLS_TABLE)]))


@nb.njit(inline="always", nogil=True)
def _well_at(i):
    if i < WELLS_TABLE:
        return _WELLS_MU[i], _WELLS_SD[i]
    return _well(i)


@nb.njit(cache=True, nogil=True)
def stiff_wells_log_density(x):
    s = 0.0
    for i in range(x.shape[0]):
        mu, sd = _well_at(i)
        z = (x[i] - mu) / sd
        s += z * z
    return -0.5 * s


@nb.njit(cache=True, nogil=True)
def stiff_wells_grad(x):
    g = np.empty(x.shape[0])
    for i in range(x.shape[0]):
        mu, sd = _well_at(i)
        g[i] = -(x[i] - mu) / (sd * sd)
    return g


def wells(dim):
    """(means, sds) of the first ``dim`` stiff wells."""
    ms = np.array([_well(i) for i in range(dim)])
    return ms[:, 0].copy(), ms[:, 1].copy()


def _wells_sample(dim):
    mu, sd = wells(dim)

    def sample(n, rng):
        return mu + sd * rng.standard_normal((n, dim))

    return sample


# ----------------------------------------------------------------------------------------
# Registry
# ----------------------------------------------------------------------------------------
def _mixture_target(name, mix, lp, grad, bounds, description):
    return Target(
        name=name,
        dim=2,
        log_density=lp,
        grad_log_density=grad,
        sample_exact=mix.sample,
        bounds=bounds,
        component_weights=mix.weights.copy(),
        component_of=mix.component_of,
        component_names=mix.names,
        description=description,
        params={"mixture": mix},
    )


def _scorpio():
    return _mixture_target(
        "scorpio", SCORPIO, scorpio_log_density, scorpio_grad, ((-6.0, 7.0), (-9.0, 16.0)),
        "The thread's 'Scorpio': a 2D Gaussian mixture shaped like a scorpion: body 50%, "
        "tail segment 10%, tail segment 10%, stinger 30%, each with its own covariance.",
    )


def _multimodal():
    return _mixture_target(
        "multimodal", MULTIMODAL, multimodal_log_density, multimodal_grad, ((-8.0, 8.0), (-8.0, 8.0)),
        "Four unit-sd Gaussian modes at (+-4, +-4), weights 0.4/0.3/0.2/0.1: well separated, "
        "so only tempering moves mass between them.",
    )


def _funnel(dim=2):
    dim = int(dim)
    if dim < 2:
        raise ValueError("funnel needs dim >= 2")
    return Target(
        name="funnel", dim=dim, log_density=funnel_log_density, grad_log_density=funnel_grad,
        sample_exact=_funnel_sample(dim), bounds=tuple([(-15.0, 15.0)] * (dim - 1) + [(-9.0, 9.0)]),
        description="Neal's funnel: v ~ N(0, 3^2), x_i | v ~ N(0, exp(v/2)^2), i < dim; v is the "
        "last coordinate (vertical in plots). dim=10 is the classic version.",
        params={"dim": dim},
    )


def _banana():
    return Target(
        name="banana", dim=2, log_density=banana_log_density, grad_log_density=banana_grad,
        sample_exact=_banana_sample, bounds=((-6.0, 6.0), (-3.0, 9.0)),
        description=f"Twisted Gaussian: x1 ~ N(0, {BANANA_A}^2), x2 | x1 ~ N({BANANA_B} (x1^2 - {BANANA_A}^2), 1).",
    )


def _donut():
    return Target(
        name="donut", dim=2, log_density=donut_log_density, grad_log_density=donut_grad,
        sample_exact=_donut_sample, bounds=((-4.5, 4.5), (-4.5, 4.5)),
        description=f"Ring: log p(x) = -(|x| - {DONUT_R})^2 / (2 * {DONUT_S}^2).",
    )


def _squiggle():
    return Target(
        name="squiggle", dim=2, log_density=squiggle_log_density, grad_log_density=squiggle_grad,
        sample_exact=_squiggle_sample, bounds=((-7.0, 7.0), (-3.0, 3.0)),
        description=f"x1 ~ N(0, {SQ_SD1}^2), x2 | x1 ~ N({SQ_AMP} sin({SQ_FREQ} x1), {SQ_SD2}^2).",
    )


def _stiff_wells(dim=100):
    dim = int(dim)
    if dim < 1:
        raise ValueError("stiff-wells needs dim >= 1")
    return Target(
        name="stiff-wells", dim=dim, log_density=stiff_wells_log_density, grad_log_density=stiff_wells_grad,
        sample_exact=_wells_sample(dim), bounds=tuple([(-16.0, 16.0)] * dim),
        description="Independent normal wells, sds log-uniform over 0.01..2 and means over -10..10 "
        "(the thread's 20,000-gene problem in small).",
        params={"dim": dim},
    )


BUILTINS = {
    "scorpio": _scorpio,
    "funnel": _funnel,
    "banana": _banana,
    "donut": _donut,
    "multimodal": _multimodal,
    "squiggle": _squiggle,
    "stiff-wells": _stiff_wells,
}
DEFAULT_DIMS = {"funnel": 2, "stiff-wells": 100}
