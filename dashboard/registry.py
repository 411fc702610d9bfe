"""Every session's worker in this server process: what the session cap, the log and the
leak checks count."""

from __future__ import annotations

import itertools
import weakref

_live: weakref.WeakSet = weakref.WeakSet()  # not yet closed
_all: weakref.WeakSet = weakref.WeakSet()  # not yet garbage-collected
_ids = itertools.count(1)


def next_id() -> int:
    return next(_ids)


def add(worker) -> None:
    _live.add(worker)
    _all.add(worker)


def closed(worker) -> None:
    _live.discard(worker)


def live() -> list:
    """Workers whose thread is running (for tests and the server's log)."""
    return [w for w in list(_live) if w.running]


def open_count() -> int:
    """Workers not yet closed, running or not (one per session: the session cap counts them)."""
    return len(list(_live))


def in_memory() -> int:
    """Worker objects not yet garbage-collected (closed ones should go: a leak check)."""
    return len(_all)
