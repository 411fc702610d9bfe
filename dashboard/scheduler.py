"""Fair share of the server's cores between the sessions of one process (a room of students).

Every worker asks, per frame, how long it may sweep (`frame_budget_s`) and takes a core for
each sweep (`slot`). The budget is wall-clock time: a session alone may sweep ``ALONE_S`` per
frame (its "sweeps per frame" as set); with ``n`` active, each may sweep
``SWEEP_SHARE x CORES / (n x MIN_FPS)`` per frame, so that all of them at ``MIN_FPS`` frames/s
leave the rest of the cores to drawing and sending frames -- fewer sweeps per frame, the pages
keep updating (at least one sweep per frame always runs). At most ``CORES`` sweeps or
diagnostics refreshes run at once (the numba kernels release the GIL), waiting workers are
served in arrival order. A single sweep longer than the budget still runs whole: frames then
wait for it. `crowd` and `pace` slow the pages' polls and secondary views in a crowd.
"""

from __future__ import annotations

import collections
import os
import threading
import time
from contextlib import contextmanager

__all__ = ["frame_budget_s", "slot", "active", "forget", "crowd", "viewer_opened", "viewer_closed", "pace", "CORES",
           "CROWD_FREE", "SlotTimes", "track"]

CORES = max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1))
SLOTS = CORES  # sweeps or diagnostics at once (CORES + 1 measured no better: longer GIL waits per hold)
ALONE_S = 0.5  # one session alone: sweeping per frame, at most
MIN_FPS = 8.0  # frames per page the budget is set for (>= 5 updates/s with slack)
SWEEP_SHARE = 0.6  # of the cores, for the sweeps of all sessions together when crowded
ACTIVE_S = 1.0  # a worker that asked within this long is active
CROWD_FREE = 2  # pages per core before `crowd` exceeds 1

_lock = threading.Lock()
_seen: dict[int, float] = {}
_viewers = 0
_slots = threading.Lock()  # guards _running and _waiting
_running = 0
_waiting: collections.deque = collections.deque()  # one Event per waiting sweep, first come first served
_held = threading.local()  # slots this thread holds (re-entrant: one real slot)


class SlotTimes:
    """How long one thread waited for and held core slots, by kind ("sweep", "stats"): the
    server log's close line and the load benchmark. In a room the wait is what a page's frame
    rate loses to the others, and a hold much longer than the work is time spent waiting for
    the GIL."""

    def __init__(self):
        self.kinds: dict[str, list] = {}  # kind -> [count, wait_s, hold_s, hold_cpu_s]

    def add(self, kind: str, wait_s: float, hold_s: float, cpu_s: float) -> None:
        k = self.kinds.setdefault(kind, [0, 0.0, 0.0, 0.0])
        k[0] += 1
        k[1] += wait_s
        k[2] += hold_s
        k[3] += cpu_s

    def summary(self) -> str:
        parts = [f"{kind} {n} x (wait {1000 * w / n:.1f} ms, hold {1000 * h / n:.1f} ms, CPU {1000 * c / n:.1f} ms)"
                 for kind, (n, w, h, c) in sorted(self.kinds.items()) if n]
        return ", ".join(parts) or "no slots"


def track(times: "SlotTimes | None") -> None:
    """Account the calling thread's slots in ``times`` (None: stop)."""
    _held.times = times


def active() -> int:
    """Sessions that swept within the last second."""
    now = time.monotonic()
    with _lock:
        for k in [k for k, t in _seen.items() if now - t > ACTIVE_S]:
            del _seen[k]
        return max(1, len(_seen))


def viewer_opened() -> None:
    """A read-only viewer (presenter mode) opened: it draws frames on the server thread too."""
    global _viewers
    with _lock:
        _viewers += 1


def viewer_closed() -> None:
    global _viewers
    with _lock:
        _viewers = max(0, _viewers - 1)


def crowd() -> float:
    """How many times more pages (sweeping sessions and viewers) than ``CROWD_FREE`` per core
    share the server (at least 1). Every page's frames, views and periodic callbacks run on one
    Python thread, so in a crowd pages draw their other views and poll less often, and the
    cloud keeps its frames (dashboard/app.py, dashboard/watch.py)."""
    return max(1.0, (active() + _viewers) / (CROWD_FREE * CORES))


def pace(callback, period_ms: int, every_s: float, most_ms: int = int(1000 / MIN_FPS)) -> float:
    """Set a page's periodic ``callback`` (a Panel ``PeriodicCallback``, or None) to ``period_ms``
    times the `crowd`, but never slower than ``most_ms`` (default: ``MIN_FPS`` polls a second,
    for a page whose polls bring the cloud's frames); return ``every_s`` times the crowd (the
    interval between draws of the page's other views)."""
    c = crowd()
    period = min(max(period_ms, most_ms), int(round(period_ms * c / 10.0)) * 10)
    if callback is not None and callback.period != period:
        callback.period = period  # Panel restarts the callback with the new period
    return every_s * c


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
def slot(kind: str = "sweep"):
    """Hold one of the ``CORES`` sweep slots for one sweep (first come, first served);
    ``kind`` names the work for `SlotTimes`.

    A freed slot is handed to the first waiter alone (its own Event): waking every waiting
    worker to look at a shared queue -- twenty of them in a room -- made them all fight for the
    GIL at every hand-over and starved the server thread that draws and sends the frames."""
    global _running
    if getattr(_held, "n", 0):  # this thread holds one already (a frame published mid-sweep)
        _held.n += 1
        try:
            yield
        finally:
            _held.n -= 1
        return
    t0 = time.perf_counter()
    with _slots:
        if _running < SLOTS and not _waiting:
            _running += 1
            mine = None
        else:
            mine = threading.Event()
            _waiting.append(mine)
    if mine is not None:
        mine.wait()  # the releasing sweep counted us in (see below)
    _held.n = 1
    t1, c1 = time.perf_counter(), time.thread_time()
    try:
        yield
    finally:
        _held.n = 0
        times = getattr(_held, "times", None)
        if times is not None:  # SlotTimes of this thread's session
            times.add(kind, t1 - t0, time.perf_counter() - t1, time.thread_time() - c1)
        with _slots:
            if _waiting:
                _waiting.popleft().set()  # the slot passes on: _running stays
            else:
                _running -= 1
