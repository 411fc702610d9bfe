"""Ctrl-C during ``mdhmc run``: a request the run honours at its next safe point.

Python raises ``KeyboardInterrupt`` wherever the main thread happens to be, and inside numba's
compiler that can be a ctypes callback, where the exception is printed and dropped: the run
then goes on as if nothing happened. So the run installs this handler instead: the first
Ctrl-C only sets ``requested``, and the run checks it between blocks of walkers (within about
a second, `sampler.chunks`) and at its other steps (`check`). A second Ctrl-C raises at once.
"""

from __future__ import annotations

import signal
import threading

__all__ = ["Interrupts"]


class Interrupts:
    """``with Interrupts() as stop:`` ... ``stop.requested`` / ``stop.check()``."""

    def __init__(self):
        self.requested = False
        self._previous = None

    def _handler(self, signum, frame):
        if self.requested:  # asked twice: stop now, wherever we are
            raise KeyboardInterrupt
        self.requested = True

    def check(self):
        """Raise ``KeyboardInterrupt`` if Ctrl-C was pressed (at a point where that is safe)."""
        if self.requested:
            raise KeyboardInterrupt

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGINT, self._handler)
        return self

    def __exit__(self, *exc):
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)
        return False
