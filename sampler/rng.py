"""Per-walker random streams (xoshiro256**), one row per walker, so walkers can run on any thread.

Normal and exponential draws use Marsaglia & Tsang's ziggurat with 256 layers, laid out as
NumPy's ``Generator`` does (52 / 53 bits of one 64-bit draw per value, 99% of the time): no
log, sqrt or trig on the common path, which made the Box-Muller transform the largest single
cost of a diffusion step (benchmarks/RESULTS.md, "Core speed (#14)"). Kernels that keep a
stream in registers call the ``*_st`` forms on a state tuple and write the row back once.

Each walker owns one row of a ``(walkers + 1, 4)`` uint64 state array; the last row is
the *ensemble stream* used by sequential, whole-ensemble moves (swaps, trimming). A
walker only ever touches its own row, so the draws do not depend on how numba splits
the walkers between threads: same seed, same draws, whatever the number of threads.
"""

from __future__ import annotations

import math

import numba as nb
import numpy as np

__all__ = ["seed_streams", "xoshiro", "bits_to_uniform", "next_u64", "uniform", "normal", "fill_normal", "gumbel",
           "exponential", "uniform_st", "normal_st", "exponential_st"]


def seed_streams(seed: int, walkers: int) -> np.ndarray:
    """State for ``walkers`` walker streams plus one ensemble stream, from one integer seed.

    Uses ``numpy.random.SeedSequence`` so nearby seeds give unrelated streams.
    """
    ss = np.random.SeedSequence(int(seed))
    state = ss.generate_state(4 * (walkers + 1), dtype=np.uint64).reshape(walkers + 1, 4)
    state[np.all(state == 0, axis=1), 0] = 1  # xoshiro's one forbidden state
    return np.ascontiguousarray(state)


@nb.njit(inline="always")
def _rotl(x, k):
    return (x << np.uint64(k)) | (x >> np.uint64(64 - k))


@nb.njit(inline="always", nogil=True, cache=True)
def xoshiro(st):
    """One xoshiro256** step on a state held as a tuple of four uint64 (in registers, where a
    kernel keeps it: see `sampler.diffusion`): returns (64 random bits, new state)."""
    s0, s1, s2, s3 = st
    result = _rotl(s1 * np.uint64(5), 7) * np.uint64(9)
    t = s1 << np.uint64(17)
    s2 ^= s0
    s3 ^= s1
    s1 ^= s2
    s0 ^= s3
    s2 ^= t
    s3 = _rotl(s3, 45)
    return result, (s0, s1, s2, s3)


@nb.njit(inline="always", nogil=True, cache=True)
def bits_to_uniform(bits):
    """Uniform on (0, 1) from 64 random bits: never exactly 0, so ``log`` of it is finite."""
    return ((bits >> np.uint64(11)) + 0.5) * (1.0 / 9007199254740992.0)


def _ziggurat(n, r, v, f, f_inv, bits):
    """Marsaglia & Tsang's tables for a decreasing density ``f`` (unnormalised, f(0) = 1) with
    base-strip edge ``r`` and layer area ``v``: (k, w, fx). A draw takes layer ``i`` and an
    integer ``m`` of ``bits`` bits; x = m * w[i] is accepted at once when m < k[i] (x lies under
    the layer above), else tested against the density (wedge) or drawn from the tail (i = 0).
    k is rounded down, so the shortcut never accepts a point the exact test would refuse."""
    scale = float(2**bits)
    k = np.zeros(n, np.uint64)
    w = np.zeros(n)
    fx = np.zeros(n)
    x = r
    q = v / f(r)  # the base strip's width if it were a rectangle holding its tail too
    k[0] = np.uint64(math.floor(r / q * scale))
    w[0] = q / scale
    w[n - 1] = r / scale
    fx[0] = 1.0
    fx[n - 1] = f(r)
    for i in range(n - 2, 0, -1):
        x_above = f_inv(v / x + f(x))
        k[i + 1] = np.uint64(math.floor(x_above / x * scale))
        x = x_above
        fx[i] = f(x)
        w[i] = x / scale
    return k, w, fx


# The normal: f(x) = exp(-x^2 / 2), r as in Marsaglia & Tsang (2000) and NumPy; v is the exact
# layer area for that r (rectangle under f(r) plus the tail), so the top layer closes at f = 1.
_ZN_R = 3.6541528853610088
_ZN_V = _ZN_R * math.exp(-0.5 * _ZN_R**2) + math.sqrt(0.5 * math.pi) * math.erfc(_ZN_R / math.sqrt(2.0))
_ZN_K, _ZN_W, _ZN_F = _ziggurat(256, _ZN_R, _ZN_V, lambda x: math.exp(-0.5 * x * x),
                                lambda y: math.sqrt(-2.0 * math.log(y)), 52)
# The exponential: f(x) = exp(-x).
_ZE_R = 7.697117470131487
_ZE_V = (_ZE_R + 1.0) * math.exp(-_ZE_R)
_ZE_K, _ZE_W, _ZE_F = _ziggurat(256, _ZE_R, _ZE_V, lambda x: math.exp(-x), lambda y: -math.log(y), 53)


@nb.njit(inline="always", nogil=True, cache=True)
def uniform_st(st):
    """`uniform` on a state tuple: (u, new state)."""
    bits, st = xoshiro(st)
    return bits_to_uniform(bits), st


@nb.njit(inline="always", nogil=True, cache=True)
def normal_st(st):
    """A standard normal on a state tuple (ziggurat): (z, new state)."""
    while True:
        bits, st = xoshiro(st)
        layer = np.intp(bits & np.uint64(0xFF))
        negative = (bits >> np.uint64(8)) & np.uint64(1)
        m = (bits >> np.uint64(9)) & np.uint64(0xFFFFFFFFFFFFF)
        z = m * _ZN_W[layer]
        if m < _ZN_K[layer]:
            return (-z if negative else z), st
        if layer == 0:  # the tail beyond r (Marsaglia 1964)
            while True:
                u1, st = uniform_st(st)
                u2, st = uniform_st(st)
                tail = -math.log(u1) / _ZN_R
                if -2.0 * math.log(u2) > tail * tail:
                    z = _ZN_R + tail
                    return (-z if negative else z), st
        else:
            u, st = uniform_st(st)
            if _ZN_F[layer] + u * (_ZN_F[layer - 1] - _ZN_F[layer]) < math.exp(-0.5 * z * z):
                return (-z if negative else z), st


@nb.njit(inline="always", nogil=True, cache=True)
def exponential_st(st):
    """A standard exponential on a state tuple (ziggurat), never 0: (e, new state)."""
    while True:
        bits, st = xoshiro(st)
        layer = np.intp(bits & np.uint64(0xFF))
        m = bits >> np.uint64(11)
        e = (m + 0.5) * _ZE_W[layer]  # + 0.5: never exactly 0, so log(e) is finite
        if m < _ZE_K[layer]:
            return e, st
        if layer == 0:  # memoryless tail
            u, st = uniform_st(st)
            return _ZE_R - math.log(u), st
        u, st = uniform_st(st)
        if _ZE_F[layer] + u * (_ZE_F[layer - 1] - _ZE_F[layer]) < math.exp(-e):
            return e, st


@nb.njit(inline="always", nogil=True, cache=True)
def _load(s, i):
    return (s[i, 0], s[i, 1], s[i, 2], s[i, 3])


@nb.njit(inline="always", nogil=True, cache=True)
def _store(s, i, st):
    s[i, 0], s[i, 1], s[i, 2], s[i, 3] = st


@nb.njit(nogil=True, cache=True)
def next_u64(s, i):
    """Next 64 random bits of stream ``i`` (xoshiro256**)."""
    result, st = xoshiro((s[i, 0], s[i, 1], s[i, 2], s[i, 3]))
    s[i, 0], s[i, 1], s[i, 2], s[i, 3] = st
    return result


@nb.njit(nogil=True, cache=True)
def uniform(s, i):
    """Uniform on (0, 1): never exactly 0, so ``log`` of it is finite."""
    return bits_to_uniform(next_u64(s, i))


@nb.njit(nogil=True, cache=True)
def normal(s, i):
    """One standard normal."""
    z, st = normal_st(_load(s, i))
    _store(s, i, st)
    return z


@nb.njit(nogil=True, cache=True)
def fill_normal(s, i, out, scale):
    """out[j] = scale[j] * z_j with z standard normal, drawn in order of j."""
    st = _load(s, i)
    for j in range(out.shape[0]):
        z, st = normal_st(st)
        out[j] = scale[j] * z
    _store(s, i, st)


@nb.njit(nogil=True, cache=True)
def exponential(s, i):
    """A standard exponential draw (never 0)."""
    e, st = exponential_st(_load(s, i))
    _store(s, i, st)
    return e


@nb.njit(nogil=True, cache=True)
def gumbel(s, i):
    """A standard Gumbel draw: -log E with E standard exponential."""
    return -math.log(exponential(s, i))


@nb.njit(nogil=True, cache=True)
def randint(s, i, n):
    """Uniform integer in 0..n-1 (n small relative to 2**64; bias < n / 2**64)."""
    return np.int64(next_u64(s, i) % np.uint64(n))
