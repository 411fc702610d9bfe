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
    _latest.pop(worker.id, None)


# ---------------------------------------------------------------- presenter mode (?watch=<id>)
# The newest frame of every open session, by id: a viewer's page applies the presenter's frames
# (immutable, shared) to its own views -- it costs the server the sending, no sampling.
_latest: dict = {}
_by_id: weakref.WeakValueDictionary = weakref.WeakValueDictionary()


_listeners: dict = {}  # session id -> the viewers' wake-ups (FrameFlow.wake)


def publish(worker, frame) -> None:
    """``frame`` is ``worker``'s newest (worker thread; one dict store, atomic under the GIL);
    the session's viewers are woken to draw it."""
    if worker in _live:
        _by_id[worker.id] = worker
        _latest[worker.id] = frame
        for wake in tuple(_listeners.get(worker.id, ())):
            wake()


def listen(session: int, wake) -> None:
    """Call ``wake()`` (from the worker thread) when session ``session`` publishes a frame."""
    _listeners.setdefault(session, []).append(wake)


def unlisten(session: int, wake) -> None:
    waiting = _listeners.get(session, [])
    if wake in waiting:
        waiting.remove(wake)
    if not waiting:
        _listeners.pop(session, None)


def latest(session: int):
    """The newest frame of session ``session``, or None if it is not open."""
    return _latest.get(session)


def worker_of(session: int):
    """The worker of an open session, or None."""
    w = _by_id.get(session)
    return w if w is not None and w in _live else None


def live() -> list:
    """Workers whose thread is running (for tests and the server's log)."""
    return [w for w in list(_live) if w.running]


def open_count() -> int:
    """Workers not yet closed, running or not (one per session: the session cap counts them)."""
    return len(list(_live))


def in_memory() -> int:
    """Worker objects not yet garbage-collected (closed ones should go: a leak check)."""
    return len(_all)
