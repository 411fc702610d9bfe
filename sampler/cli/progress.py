"""The progress line of ``mdhmc run`` on stderr."""

from __future__ import annotations

import math
import shutil
import sys
import threading
import time

__all__ = ["Progress"]


class Progress:
    """One status line on stderr (sweeps done, steps/s, ETA), shown once a run passes ``delay`` s.

    On a terminal it redraws in place with carriage returns; otherwise (a log file) it writes a
    full line every ``log_every`` seconds.
    """

    def __init__(self, total: int, stream=None, delay: float = 1.0, log_every: float = 10.0):
        self.total = max(int(total), 0)
        self.stream = stream or sys.stderr
        self.delay = delay
        self.log_every = log_every
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.done = 0
        self.steps = 0
        self.t0 = time.perf_counter()
        self.t_first = None  # time and steps after the first sweep (compilation excluded from rates)
        self.steps_first = 0
        self.loaded = False  # the kernels are compiled or loaded: a first block of walkers ran
        self.shown = False
        self._last_log = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="mdhmc-progress", daemon=True)

    def start(self):
        self._thread.start()
        return self

    def kernels_loaded(self):
        self.loaded = True

    def update(self, done: int, steps: int):
        self.done, self.steps = done, steps
        if self.t_first is None:
            self.t_first, self.steps_first = time.perf_counter(), steps

    def line(self) -> str:
        now = time.perf_counter()
        k, n = self.done, self.total
        if k == 0:
            if self.loaded:
                return f"sweep 0/{n}  first sweep running, elapsed {_fmt_duration(now - self.t0)}"
            return f"sweep 0/{n}  starting (numba compiles or loads the kernels)..."
        frac = k / n if n else 1.0
        width = 24
        bar = "#" * int(round(frac * width))
        text = f"sweep {k}/{n} [{bar:<{width}}] {100 * frac:3.0f}%"
        dt = now - self.t_first if self.t_first is not None else 0.0
        if k > 1 and dt > 0:
            rate = (self.steps - self.steps_first) / dt
            eta = (n - k) * dt / (k - 1)
            text += f"  {rate:,.0f} steps/s  ETA {_fmt_duration(eta)}"
        else:
            text += f"  elapsed {_fmt_duration(now - self.t0)}"
        return text

    def _emit(self, final: bool = False):
        text = self.line()
        if self.tty:
            cols = shutil.get_terminal_size((100, 20)).columns
            text = text[: max(cols - 1, 20)]
            self.stream.write("\r" + text.ljust(max(cols - 1, 20)) + ("\n" if final else ""))
        else:
            self.stream.write(text + "\n")
        self.stream.flush()
        self.shown = True

    def _loop(self):
        while not self._stop.wait(0.1 if self.tty else 0.5):
            now = time.perf_counter()
            if now - self.t0 < self.delay:
                continue
            if self.tty:
                self._emit()
            elif not self.shown or now - self._last_log >= self.log_every:
                self._last_log = now
                self._emit()

    def stop(self, completed: bool = True):
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()
        if self.shown:
            try:
                if completed:
                    self._emit(final=True)
                elif self.tty:
                    self.stream.write("\n")
                    self.stream.flush()
            except (OSError, ValueError):
                pass


def _fmt_duration(s: float) -> str:
    if not math.isfinite(s):
        return "?"
    s = int(round(s))
    h, rem = divmod(s, 3600)
    m, sec = divmod(rem, 60)
    return f"{h}:{m:02d}:{sec:02d}" if h else f"{m}:{sec:02d}"
