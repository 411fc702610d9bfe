"""Fair share of the server's cores between the sessions of one process (a room of students).

Every worker asks, per frame, how long it may sweep (`frame_budget_s`) and takes a core for
each sweep (`slot`). The budget is wall-clock time: a session alone may sweep ``ALONE_S`` per
frame (its "sweeps per frame" as set); with ``n`` active, each may sweep
``SWEEP_SHARE x CORES / (n x MIN_FPS)`` per frame, so that all of them at ``MIN_FPS`` frames/s
leave the rest of the cores to drawing and sending frames -- fewer sweeps per frame, the pages
keep updating (at least one sweep per frame always runs). At most ``CORES`` sweeps run at once
(the numba kernels release the GIL), waiting workers are served in arrival order. A single
sweep longer than the budget still runs whole: frames then wait for it.
"""

from __future__ import annotations

import os
import threading
import time
from contextlib import contextmanager

__all__ = ["frame_budget_s", "slot", "active", "forget", "CORES"]

CORES = max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1))
ALONE_S = 0.5  # one session alone: sweeping per frame, at most
MIN_FPS = 8.0  # frames per page the budget is set for (>= 5 updates/s with slack)
SWEEP_SHARE = 0.6  # of the cores, for the sweeps of all sessions together when crowded
ACTIVE_S = 1.0  # a worker that asked within this long is active

_lock = threading.Lock()
_seen: dict[int, float] = {}
_cond = threading.Condition()
_running = 0
_queue: list[int] = []
_tickets = iter(range(1 << 62))


def active() -> int:
    """Sessions that swept within the last second."""
    now = time.monotonic()
    with _lock:
        for k in [k for k, t in _seen.items() if now - t > ACTIVE_S]:
            del _seen[k]
        return max(1, len(_seen))


def frame_budget_s(session: int) -> float:
    """Seconds of sweeping before session ``session`` publishes its next frame."""
    with _lock:
        _seen[session] = time.monotonic()
    n = active()
    if n <= 1:
        return ALONE_S
    return min(1.0 / MIN_FPS, SWEEP_SHARE * CORES / (n * MIN_FPS))


def forget(session: int) -> None:
    """A closed session no longer counts."""
    with _lock:
        _seen.pop(session, None)


@contextmanager
def slot():
    """Hold one of the ``CORES`` sweep slots for one sweep (first come, first served)."""
    global _running
    with _cond:
        ticket = next(_tickets)
        _queue.append(ticket)
        while _running >= CORES or _queue[0] != ticket:
            _cond.wait(0.05)
        _queue.pop(0)
        _running += 1
        _cond.notify_all()
    try:
        yield
    finally:
        with _cond:
            _running -= 1
            _cond.notify_all()
