"""Small numba kernels shared by the targets package."""

import math

import numba as nb
import numpy as np
from numba import types

from ._jit import LOG_DENSITY


@nb.njit(types.void(LOG_DENSITY, types.float64[:, ::1], types.float64[::1]), cache=True, nogil=True)
def batch_log_density(log_density, X, out):
    """out[i] = log_density(X[i]) (non-finite values passed through)."""
    for i in range(X.shape[0]):
        out[i] = log_density(X[i])


@nb.njit(cache=True, nogil=True)
def mixture_log_density(x, means, precisions, log_norms):
    """log sum_k exp(log_norms[k] - 0.5 (x - m_k)' P_k (x - m_k)) for small dense mixtures.

    ``log_norms`` already holds log weight + Gaussian normalising constant. An online
    log-sum-exp keeps this allocation-free: it runs inside the sampler's inner loop.
    """
    K = means.shape[0]
    d = means.shape[1]
    best = -np.inf
    acc = 0.0
    for k in range(K):
        q = 0.0
        for i in range(d):
            s = 0.0
            for j in range(d):
                s += precisions[k, i, j] * (x[j] - means[k, j])
            q += (x[i] - means[k, i]) * s
        t = log_norms[k] - 0.5 * q
        if t > best:
            acc = acc * math.exp(best - t) + 1.0
            best = t
        else:
            acc += math.exp(t - best)
    if not math.isfinite(best):
        return best
    return best + math.log(acc)


@nb.njit(cache=True, nogil=True)
def mixture_grad(x, means, precisions, log_norms):
    K = means.shape[0]
    d = means.shape[1]
    terms = np.empty(K)
    best = -np.inf
    for k in range(K):
        q = 0.0
        for i in range(d):
            s = 0.0
            for j in range(d):
                s += precisions[k, i, j] * (x[j] - means[k, j])
            q += (x[i] - means[k, i]) * s
        terms[k] = log_norms[k] - 0.5 * q
        if terms[k] > best:
            best = terms[k]
    tot = 0.0
    for k in range(K):
        terms[k] = math.exp(terms[k] - best)
        tot += terms[k]
    g = np.zeros(d)
    for k in range(K):
        r = terms[k] / tot
        for i in range(d):
            s = 0.0
            for j in range(d):
                s += precisions[k, i, j] * (x[j] - means[k, j])
            g[i] -= r * s
    return g

