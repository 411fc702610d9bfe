"""Walkers across threads for the serial form of a walker kernel (`sampler.jit.WalkerKernel`).

Every sweep kernel treats each walker independently, with its own random stream and its own
rows of every output, so walkers ``[lo, hi)`` split into contiguous parts, one per thread,
give bit-identical draws to one call over all of them, whatever the number of threads. A
walker kernel's serial form (numba without ``parallel``: its ``prange`` a plain loop, ~40% less
compilation) runs during a cold start, until its ``prange`` form is compiled on another core;
it releases the GIL (``nogil=True``), and a `Split` runs its parts on a process-wide pool, the
calling thread taking the first. That costs more per call than numba's own threads (the pool's
second thread starts once the first has unpacked the kernel's arguments, ~0.2 ms), which is why
the ``prange`` form takes over as soon as it is ready.

The number of threads is numba's, as for ``prange``: ``numba.get_num_threads()`` of the
calling thread (``numba.set_num_threads``, `mdhmc run --threads`, ``NUMBA_NUM_THREADS``).
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Callable

import numba

__all__ = ["Split", "parts", "threads", "MIN_PARALLEL_S"]

#: a block predicted to take less than this on one thread runs on the calling thread
MIN_PARALLEL_S = 0.5e-3

_POOL: ThreadPoolExecutor | None = None
_POOL_LOCK = threading.Lock()


def threads() -> int:
    """Threads a sweep uses from this thread: numba's setting, as ``prange`` read it."""
    return max(1, int(numba.get_num_threads()))


def parts(lo: int, hi: int, k: int) -> list[tuple[int, int]]:
    """``[lo, hi)`` in at most ``k`` contiguous, non-empty parts whose sizes differ by at most one."""
    n = max(0, hi - lo)
    k = max(1, min(int(k), n))
    q, r = divmod(n, k)
    out, a = [], lo
    for j in range(k):
        b = a + q + (1 if j < r else 0)
        if b > a:
            out.append((a, b))
        a = b
    return out


def _pool() -> ThreadPoolExecutor:
    global _POOL
    if _POOL is None:
        with _POOL_LOCK:
            if _POOL is None:
                # the caller runs one part itself; numba's maximum bounds what set_num_threads allows
                _POOL = ThreadPoolExecutor(max_workers=max(1, int(numba.config.NUMBA_NUM_THREADS) - 1),
                                           thread_name_prefix="mdhmc-walkers")
    return _POOL


class Split:
    """Runs blocks of walkers on threads: ``split(lo, hi, body)`` calls ``body(a, b)`` for contiguous
    parts of ``[lo, hi)``, one per thread, and returns when all are done.

    Each kernel's step function keeps one: it remembers the seconds per walker of its last block, and
    a block that would take less than `MIN_PARALLEL_S` on one thread runs on the calling thread,
    where handing parts to the pool would cost more than it saves (a 2-D Metropolis half-sweep of
    1,000 walkers: ~0.1 ms).

    The first error (in walker order) is raised after every part has finished, so no thread is
    still writing into the caller's arrays when it arrives; a Ctrl-C while waiting waits for the
    parts too, then is raised (as it was after a ``prange`` loop).
    """

    def __init__(self):
        self.seconds_per_walker: float | None = None

    def __call__(self, lo: int, hi: int, body: Callable[[int, int], None]) -> None:
        n = hi - lo
        if n <= 0:
            return
        k = threads()
        if k > 1 and self.seconds_per_walker is not None and self.seconds_per_walker * n < MIN_PARALLEL_S:
            k = 1
        ps = parts(lo, hi, k)
        t0 = time.perf_counter()
        if len(ps) == 1:
            body(lo, hi)
        else:
            _run_parts(ps, body)
        self.seconds_per_walker = (time.perf_counter() - t0) * len(ps) / n


def _run_parts(ps: list[tuple[int, int]], body) -> None:
    pool = _pool()
    futures = [pool.submit(body, a, b) for a, b in ps[1:]]
    errors: list[BaseException | None] = [None] * len(ps)
    interrupted = None
    try:
        body(*ps[0])
    except BaseException as e:  # noqa: BLE001 -- re-raised below, once the other parts are done
        errors[0] = e
    for j, f in enumerate(futures, start=1):
        while True:
            try:
                f.result()
            except KeyboardInterrupt as e:
                interrupted = interrupted or e  # wait on: the part still writes into the caller's arrays
                continue
            except BaseException as e:  # noqa: BLE001
                errors[j] = e
            break
    for e in errors:
        if e is not None:
            raise e
    if interrupted is not None:
        raise interrupted
