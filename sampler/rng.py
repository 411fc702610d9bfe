"""Per-walker random streams (xoshiro256**), usable inside ``prange`` loops.

Each walker owns one row of a ``(walkers + 1, 4)`` uint64 state array; the last row is
the *ensemble stream* used by sequential, whole-ensemble moves (swaps, trimming). A
walker only ever touches its own row, so the draws do not depend on how numba splits
the walkers between threads: same seed, same draws, whatever the number of threads.
"""

from __future__ import annotations

import math

import numba as nb
import numpy as np

__all__ = ["seed_streams", "xoshiro", "bits_to_uniform", "next_u64", "uniform", "normal", "fill_normal", "gumbel"]


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
    """One standard normal (Box-Muller; the second value is discarded)."""
    u1 = uniform(s, i)
    u2 = uniform(s, i)
    return math.sqrt(-2.0 * math.log(u1)) * math.cos(2.0 * math.pi * u2)


@nb.njit(nogil=True, cache=True)
def fill_normal(s, i, out, scale):
    """out[j] = scale[j] * z_j with z standard normal, drawing Box-Muller pairs."""
    d = out.shape[0]
    j = 0
    while j < d:
        u1 = uniform(s, i)
        u2 = uniform(s, i)
        r = math.sqrt(-2.0 * math.log(u1))
        a = 2.0 * math.pi * u2
        out[j] = scale[j] * r * math.cos(a)
        if j + 1 < d:
            out[j + 1] = scale[j + 1] * r * math.sin(a)
        j += 2


@nb.njit(nogil=True, cache=True)
def gumbel(s, i):
    """A standard Gumbel draw: -log(-log u)."""
    return -math.log(-math.log(uniform(s, i)))


@nb.njit(nogil=True, cache=True)
def randint(s, i, n):
    """Uniform integer in 0..n-1 (n small relative to 2**64; bias < n / 2**64)."""
    return np.int64(next_u64(s, i) % np.uint64(n))
