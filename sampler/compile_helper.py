"""A cold start compiles on two cores: a helper process fills numba's disk cache with some of the
kernels a run needs while this process compiles the others.

numba compiles one function at a time per process (a global compiler lock), so with an empty
cache a run waited for every kernel it uses in turn: ~7 s on the 100-D wells, one core busy and
the other idle. `share(kernels)` takes them in the order the run will first call them, except that
the first is the one this process keeps (the largest of the first few: the diffusion sweep). Those
compiled here or found in the disk cache are dropped; if two or more are left, the machine has a
second core and numba has a cache to write to, a helper (``python -m mdhmc.sampler.compile_helper``)
starts. This process keeps the first kernel; the helper is handed the others one at a time from
the front of the list, by name (`LazyKernel.name`), compiles each into the disk cache and says when
it is done. At a kernel's first call here (`before_compile`):

- one nobody has taken is compiled here;
- one the helper is compiling: this process compiles its own first kernel if it has not yet, else
  the last kernel nobody has taken meanwhile, else waits;
- one the helper finished loads from the disk cache (milliseconds).

The machine code is numba's either way (its cache is keyed by signature, source and CPU), so the
draws are the same. If the helper cannot start, fails a kernel or dies, this process compiles
what is left itself. ``MDHMC_COMPILE_HELPER=0`` turns the helper off.
"""

from __future__ import annotations

import atexit
import importlib
import os
import subprocess
import sys
import threading

__all__ = ["share", "later", "before_compile", "ENV"]

#: set to "0" to compile everything in this process
ENV = "MDHMC_COMPILE_HELPER"

_LOCK = threading.Lock()
_SHARE: "_Share | None" = None
_FAILED: set = set()  # kernels a helper could not compile
_PROCS: list = []  # every helper started, stopped when this process exits
_BROKEN: list = []  # exit codes of helpers that died before they were told to stop


def _enabled() -> bool:
    return os.environ.get(ENV, "1") != "0" and _cores() >= 2 and not _BROKEN


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


class _Share:
    def __init__(self, mine, theirs, later=()):
        self.cond = threading.Condition()
        self.pending = list(theirs)  # taken by nobody yet, in the order the run needs them
        self.later = list(later)  # the helper's alone, after the pending ones (`later`)
        self.helper_has = None  # the kernel the helper is compiling
        self.closing = False  # told the helper there is nothing more
        self.done: set = set()  # the helper's, in the disk cache
        self.mine = mine
        env = dict(os.environ, **{ENV: "0"})
        self.proc = subprocess.Popen([sys.executable, "-m", "mdhmc.sampler.compile_helper"], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, bufsize=1,
                                     env=env)
        _PROCS.append(self.proc)
        self.alive = True

    def start(self) -> "_Share":
        """Hand the helper its first kernel and listen to it (once this is `_SHARE`)."""
        with self.cond:
            self._feed()
        threading.Thread(target=self._read, name="mdhmc-compile-helper", daemon=True).start()
        return self

    def _feed(self):
        """Hand the helper the next kernel, or tell it there is none (holding ``cond``)."""
        if not self.alive:
            return
        try:
            if self.pending or self.later:
                self.helper_has = (self.pending or self.later).pop(0)
                self.proc.stdin.write(self.helper_has.name + "\n")
                self.proc.stdin.flush()
            else:
                self.helper_has = None
                self.closing = True
                self.proc.stdin.close()
        except (OSError, ValueError):  # the helper is gone before it was told to stop
            _BROKEN.append(None)
            self._gone()

    def _gone(self):
        self.alive = False
        self.helper_has = None
        self.cond.notify_all()
        _finished(self)

    def _read(self):
        for line in self.proc.stdout:
            word, _, name = line.strip().partition(" ")
            with self.cond:
                if self.helper_has is not None and name == self.helper_has.name:
                    if word == "done":
                        self.done.add(name)
                    else:
                        _FAILED.add(name)  # this process compiles it when it needs it
                    self._feed()
                    self.cond.notify_all()
        if self.proc.wait() != 0 or not self.closing:
            _BROKEN.append(self.proc.returncode)  # no more helpers in this process: each would fail alike
        with self.cond:
            self._gone()

    def before_compile(self, k) -> None:
        while True:
            with self.cond:
                if k in self.pending:
                    self.pending.remove(k)
                    return
                if not (self.alive and k is self.helper_has):
                    return  # mine, the helper's (in the cache now), or never shared
                # while the helper compiles k: my own kernel first, then the last one nobody took
                if self.mine is not None and not self.mine.compiled:
                    take = self.mine
                else:
                    take = self.pending.pop() if self.pending else None
                if take is None:
                    self.cond.wait()
                    continue
            take.dispatcher  # noqa: B018 -- compile it here meanwhile (nobody else will take it now)


@atexit.register
def _stop_helpers() -> None:
    """A helper outliving this process would compile for nobody, on a core someone else now uses
    (the next benchmark's clock, say): stop it. A half-written cache file is never used (numba
    writes a temporary file, then renames it)."""
    for p in _PROCS:
        if p.poll() is None:
            p.kill()


def _finished(s: _Share) -> None:
    global _SHARE
    if _SHARE is s:  # not under _LOCK: `share` holds it while a failing start calls this
        _SHARE = None


def share(kernels) -> bool:
    """Let a helper process compile some of ``kernels`` (in the order of first use) while this one
    compiles the others; returns whether a helper started."""
    global _SHARE
    if not _enabled():
        return False
    with _LOCK:
        if _SHARE is not None and not _SHARE.closing:
            return False  # one helper at a time: what it does not take compiles here as before
        seen, left = set(), []
        for k in kernels:
            if k.compiled or id(k) in seen:
                continue
            seen.add(id(k))
            on_disk = k.on_disk()
            if on_disk is None:
                return False  # no disk cache: the helper's work could not reach this process
            if not on_disk:
                left.append(k)
        if len(left) < 2:
            return False
        try:
            _SHARE = s = _Share(left[0], left[1:])
        except OSError:
            return False
    s.start()
    return True


def later(k) -> bool:
    """Have a helper compile ``k`` into the disk cache once it has nothing this process waits for;
    this process loads it when it is there (`LazyKernel.on_disk`). False where there can be no
    helper: the caller compiles ``k`` itself when it needs it."""
    global _SHARE
    if not _enabled() or k.name in _FAILED:
        return False
    with _LOCK:
        s = _SHARE
        if s is not None:
            with s.cond:
                if s.alive and not s.closing:
                    if k not in s.later and k is not s.helper_has and k.name not in s.done:
                        s.later.append(k)
                    return True
        try:
            _SHARE = s = _Share(None, [], later=[k])
        except OSError:
            return False
    s.start()
    return True


def before_compile(k) -> None:
    """Called at a kernel's first call, before it compiles here (see the module docstring)."""
    s = _SHARE
    if s is not None:
        s.before_compile(k)


def _main() -> int:
    """The helper: compile the kernels named on stdin, one per line, into numba's disk cache."""
    from . import jit

    try:
        os.nice(5)  # where a run samples on every core meanwhile, its threads come first
    except OSError:
        pass
    for line in sys.stdin:
        name = line.strip()
        if not name:
            continue
        try:
            importlib.import_module(name.partition(":")[0])  # defines it (a walker kernel's twins too)
            k = next(k for k in jit._ALL if k.name == name)
            k.dispatcher  # noqa: B018 -- compiles it and writes the disk cache
            print("done", name, flush=True)
        except Exception:  # noqa: BLE001 -- the caller compiles it itself
            print("failed", name, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(_main())
