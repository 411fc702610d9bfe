"""Sweeps in blocks of walkers, so that a caller regains control within a fraction of a second.

The diffusion, Metropolis (within each half) and HMC kernels treat every walker
independently, with its own random stream, so running walkers ``[0, n)`` as consecutive
blocks ``[lo, hi)`` gives bit-identical draws to one call over all of them. `Chunks` picks
the block sizes: it times each block and sizes the next one to take about ``seconds``
(at least one walker per thread, so the threads stay busy). Between blocks Python runs,
so a pending Ctrl-C (``KeyboardInterrupt``) is raised there, and ``should_stop()`` is asked;
if it says yes, `SweepStopped` is raised. A fast target soon gets one block per sweep.
"""

from __future__ import annotations

import time
from typing import Callable, Iterator

__all__ = ["Chunks", "SweepStopped", "blocks"]


class SweepStopped(Exception):
    """``should_stop()`` said yes between two blocks of walkers: the sweep was left unfinished."""


class Chunks:
    """Block sizes per kernel (by ``key``), adapted from the time the last block took.

    ``current`` is the block being run, ``(lo, hi)``, so a caller can tell which walkers a
    failing kernel call was working on.
    """

    def __init__(self, seconds: float = 0.2, should_stop: Callable[[], bool] | None = None,
                 min_size: int | None = None):
        self.seconds = float(seconds)
        self.should_stop = should_stop
        self.min_size = min_size
        self.current = (0, 0)
        self._rate: dict = {}  # key -> walkers per second, from the last block

    def _min_size(self) -> int:
        if self.min_size is not None:
            return max(1, int(self.min_size))
        import numba

        return max(1, numba.get_num_threads())

    def ranges(self, key: str, n: int) -> Iterator[tuple[int, int]]:
        """Yield ``(lo, hi)`` blocks covering ``[0, n)``; between them, honour a stop request."""
        lo = 0
        smallest = self._min_size()
        while lo < n:
            rate = self._rate.get(key)
            size = smallest if rate is None else max(smallest, int(rate * self.seconds))
            # every block ends in a barrier: a multiple of the threads leaves none idle at it, and
            # a short tail joins this block rather than costing a barrier of its own (#14)
            size -= size % smallest
            hi = min(n, lo + size)
            if n - hi < size // 2:
                hi = n
            self.current = (lo, hi)
            t0 = time.perf_counter()
            yield lo, hi
            dt = time.perf_counter() - t0
            self._rate[key] = (hi - lo) / max(dt, 1e-6)
            lo = hi
            if lo < n and self.should_stop is not None and self.should_stop():
                raise SweepStopped(f"stopped after {lo} of {n} walkers")


def blocks(chunks: Chunks | None, key: str, n: int):
    """``chunks.ranges(key, n)``, or one block of all walkers when ``chunks`` is None."""
    return iter([(0, n)]) if chunks is None else chunks.ranges(key, n)
