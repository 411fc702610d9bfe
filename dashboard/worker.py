"""The worker of one dashboard session: a thread that owns the samplers and publishes frames.

Threads and ownership:

- control changes arrive on the server thread; the watcher only records a *request*
  (build, reset, settings, stage, layout; under a small lock) and wakes the worker. It
  never touches a sampler;
- the worker thread applies requests between sweeps (settings through ``Sampler.update``,
  which takes effect on the next sweep without a reset; walkers, seed and target reset),
  runs ``sweeps_per_frame`` sweeps -- each left unfinished between two blocks of walkers
  when a request waits, Pause is pressed or the page goes (``Sampler.sweep(should_stop)``:
  nothing of an unfinished sweep is counted) -- reads the sampler into a `frames.Frame` and puts it in
  a one-slot mailbox where the newest wins (an unread frame is replaced, never queued).
  It holds ``lock`` while it touches the samplers;
- the consumer (the app's periodic callback, or a test) calls `Worker.take_frame`. Until a
  frame is taken the worker waits (at most ``max_lag_s``) before sweeping on, so a page
  that is not drawing costs little CPU; `Worker.suspend` stops sweeping altogether;
- diagnostics are computed after a frame is out, a few times a second, and ride with the
  next frames.

An exception from the sampler (a user's log density that raises, a setting the sampler
refuses) never kills the thread: its message goes into the next frame (``error``), the
worker pauses, everything else goes on. Tests drive it without a thread (`Worker.advance`).
"""

from __future__ import annotations

import logging
import threading
import time

from mdhmc.sampler import Sampler

from . import readout, registry, scheduler
from .controls import SETTING_NAMES, Controls
from .frames import Frame
from .rungs import ReplicaTracker
from .samplers import Samplers, error_text

__all__ = ["Worker"]

log = logging.getLogger("mdhmc.dashboard")

_LAYOUT_KEYS = {"xcoord", "ycoord"}
#: the tracked trajectory is redrawn at most this often: redrawing it with every fast sweep
#: (the diffusion probe beside tempering) kept the page so busy that slider moves stalled
TRAJ_EVERY_S = 0.3
#: a sweep longer than a frame at 30 frames/s publishes the walkers as its blocks finish: on two
#: cores shared with the browser a 2,000-walker diffusion sweep takes ~35 ms, so the page would
#: otherwise wait for whole sweeps (#12: >= 30 walker updates/s in every stage)
MID_SWEEP_FRAME_S = 1 / 30
#: the strip shows how much of the sweep is done only in a sweep longer than this: in a short one
#: the percentage would flicker with every frame (and each new text lays out the strip again)
PROGRESS_AFTER_S = 0.25
_BUILD_KEYS = {"target", "target_dim"}

class Worker:
    """Samplers of one session, the thread that sweeps them, and the newest frame."""

    def __init__(self, controls: Controls, max_lag_s: float = 0.25):
        self.controls = controls
        self.id = registry.next_id()
        self.lock = threading.RLock()  # guards the samplers
        self.max_lag_s = float(max_lag_s)
        self.samplers = Samplers(report=self._set_error, announce=self._publish)
        self.error = ""
        self._error_seq = 0
        self._errors_paused = False
        self._suspended = False
        self._requests: list[str] = ["build"]
        self._step_requests = 0
        self._rlock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._slot: Frame | None = None
        self._slot_lock = threading.Lock()
        self._consumed = threading.Event()
        self._consumed.set()
        self.slot_times = scheduler.SlotTimes()  # this worker's waits for and holds of core slots
        self.on_publish = None  # called (worker thread) after each new frame: the page's FrameFlow.wake
        self._thread: threading.Thread | None = None
        self._seq = 0
        self._layout = None
        self._layout_version = 0
        self._rungs = None
        self._rungs_key = None
        self._rungs_version = 0
        self._traces = readout.Traces()
        self._last_publish = 0.0
        self._traj = (None, None, 0.0)  # (traces' version, trajectory, when) last sent
        self._progress = None
        self._sweep_t0 = 0.0  # when the sweep under way began
        self._diag = readout.Diagnostics(crowd=scheduler.active, cores=scheduler.CORES)
        self.replicas = ReplicaTracker()  # a few walkers' rungs over time (dashboard/rungs.py)
        self._watchers = [controls.param.watch(self._on_change, ["target", "target_dim", "stage", "xcoord", "ycoord",
                                                                 "sweeps_per_frame", *SETTING_NAMES]),
                          controls.param.watch(self._on_playing, ["playing"])]
        registry.add(self)

    # ================================================================ server-thread side
    def _request(self, kind: str):
        with self._rlock:
            self._requests.append(kind)
        self._wake.set()
        self._consumed.set()  # also ends a backpressure wait: settings apply on the next sweep

    def _on_change(self, *events):
        """Control changes -> requests (server thread; the worker reads the controls later)."""
        names = {e.name for e in events}
        if names & _BUILD_KEYS:
            self._request("build")
            return
        if names & _LAYOUT_KEYS:
            self._request("layout")
        if "stage" in names:
            self._request("stage")
        if names & set(SETTING_NAMES):
            self._request("settings")
        self._wake.set()

    def _on_playing(self, event):
        if event.new:
            self._errors_paused = False
        self._wake.set()

    def step(self):
        """One sweep, then pause."""
        self.controls.playing = False
        with self._rlock:
            self._step_requests += 1
        self._wake.set()
        self._consumed.set()  # ends a backpressure wait

    def reset(self):
        """New dispersed walkers from the current seed; counters and buffers cleared."""
        self._request("reset")

    @property
    def suspended(self) -> bool:
        """No sweeps while no browser is connected (the page closed, or its connection dropped)."""
        return self._suspended

    def suspend(self, flag: bool = True):
        if bool(flag) != self._suspended:
            self._suspended = bool(flag)
            self._wake.set()

    def take_frame(self) -> Frame | None:
        """The newest frame not yet taken, or None."""
        with self._slot_lock:
            frame, self._slot = self._slot, None
            self._consumed.set()
        return frame

    def wait_for(self, predicate, timeout: float = 30.0, poll: float = 0.02) -> Frame | None:
        """Take frames until ``predicate(frame)`` is true; return that frame (None on timeout)."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            frame = self.take_frame()
            if frame is not None and predicate(frame):
                return frame
            time.sleep(poll)
        return None

    def start(self) -> "Worker":
        """Start the thread (idempotent)."""
        if self._thread is None or not self._thread.is_alive():
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name=f"mdhmc-worker-{self.id}", daemon=True)
            self._thread.start()
        return self

    def close(self, timeout: float = 5.0) -> bool:
        """Stop the thread (after its current sweep) and drop the samplers. True if stopped."""
        self._stop.set()
        self._wake.set()
        self._consumed.set()
        for w in self._watchers:
            self.controls.param.unwatch(w)
        self._watchers = []
        t = self._thread
        if t is not None and t.is_alive() and t is not threading.current_thread():
            t.join(timeout)
        stopped = t is None or not t.is_alive()
        if stopped:
            with self.lock:
                self.samplers.drop()
            with self._slot_lock:
                self._slot = None
        registry.closed(self)
        scheduler.forget(self.id)
        return stopped

    @property
    def sampler(self) -> Sampler | None:
        """The main sampler (read it under ``lock`` while the thread runs)."""
        return self.samplers.main

    @property
    def sampler_b(self) -> Sampler | None:
        """Exact HMC beside the main sampler (the side-by-side mode)."""
        return self.samplers.hmc

    @property
    def target(self):
        return self.samplers.target

    @property
    def status(self) -> str:
        return self.samplers.status

    @property
    def published(self) -> int:
        """Frames published so far (the page may have drawn fewer: only the newest is kept)."""
        return self._seq

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    @property
    def thread(self) -> threading.Thread | None:
        return self._thread

    def advance(self, frames: int = 1) -> "Worker":
        """Apply pending requests and run ``frames`` frames on the calling thread (tests; no
        thread may be running)."""
        if self.running:
            raise RuntimeError("advance() is for workers without a thread")
        for _ in range(max(1, frames)):
            self._iterate(block=False)
        return self

    def prime(self) -> "Worker":
        """Build the sampler and publish a first frame now, on the calling thread, without
        sweeping: the page's first render already shows the walkers."""
        if not self.running:
            self._apply_requests(self._take_requests())
            self._publish()
        return self

    # ================================================================ worker-thread side
    def _run(self):
        """The thread's loop (worker thread)."""
        scheduler.track(self.slot_times)
        while not self._stop.is_set():
            try:
                self._iterate(block=True)
            except Exception as exc:  # never let the worker die
                self._set_error(error_text(exc, "internal error"))
                time.sleep(0.2)
        with self.lock:  # a close that timed out waiting for a sweep still frees the memory
            self.samplers.drop()

    def _take_requests(self) -> list[str]:
        """Pending requests, emptied (worker thread)."""
        with self._rlock:
            reqs, self._requests = self._requests, []
        return reqs

    def _requests_pending(self) -> bool:
        """Whether a request or a step waits (worker thread)."""
        return bool(self._requests) or self._step_requests > 0

    def _iterate(self, block: bool):
        """Apply requests, sweep one frame's worth, publish (worker thread)."""
        self._wake.clear()
        reqs = self._take_requests()
        with self._rlock:
            steps, self._step_requests = self._step_requests, 0
        changed = self._apply_requests(reqs)
        playing = self.controls.playing
        if self.sampler is None:  # the build failed: wait for a new target / reset
            if changed:
                self._publish()
            if block:
                self._wake.wait(0.25)
            return
        if changed:
            self._publish()  # the new settings show at once; the next sweep uses them
        if not ((playing and not self._errors_paused and not self._suspended) or steps > 0):
            if self._seq == 0:
                self._publish()
            elif changed and not self._requests_pending():
                self._update_stats(force=True)
                self._publish()
            if block:
                self._wake.wait(0.25)
            return
        if block:
            # backpressure: let the page draw the last frame before computing another
            deadline = time.perf_counter() + self.max_lag_s
            while self._slot is not None and not self._stop.is_set() and not self._requests_pending():
                left = deadline - time.perf_counter()
                if left <= 0:
                    break
                self._consumed.wait(left)  # set by take_frame, a request, a step, close: no polling
            if self._stop.is_set() or self._requests_pending():
                return  # apply the new requests first (top of the next iteration)
        n = 1 if steps > 0 and not playing else self.controls.sweeps_per_frame
        budget = scheduler.frame_budget_s(self.id)  # fair share: fewer sweeps per frame when crowded
        t0 = time.perf_counter()
        for k in range(n):
            if self._stop.is_set():
                return
            if k and (self._requests_pending() or not self.controls.playing):
                break
            with scheduler.slot(), self.lock:
                self._sweep_t0 = time.perf_counter()
                if not self.samplers.sweep(self._record, self._should_stop if steps == 0 else self._closing_mid):
                    break
            if k and time.perf_counter() - t0 > budget:  # stay interactive with slow sweeps
                break
        self._publish()
        # diagnostics after the frame is out (they ride with the next one), unless a change of
        # settings is waiting: that goes first
        if not self._requests_pending() and self._diag.due():
            self._update_stats()

    def _record(self, s: Sampler, rec: dict):
        """One finished sweep of ``s`` into the traces (worker thread)."""
        main = s is self.sampler
        self._traces.add(s, rec, main=main)
        if main:  # the diffusion probe's walkers are not the ensemble's
            self.replicas.add(s, rec)

    def _closing(self) -> bool:
        """The session is closing or its page went away: leave the sweep now (asked between
        blocks of walkers, worker thread)."""
        return self._stop.is_set() or self._suspended

    def _mid_sweep(self):
        """Between two blocks of a sweep longer than a frame: publish the walkers moved so far
        (with how much of the sweep is done, in a long one) once the page took the last frame
        (worker thread)."""
        if time.perf_counter() - self._last_publish < MID_SWEEP_FRAME_S or self._slot is not None:
            return
        s = self.samplers.sweeping
        if s is None or not s.state.walkers:
            return
        if time.perf_counter() - self._sweep_t0 >= PROGRESS_AFTER_S:
            self._progress = min(1.0, s.chunks.current[1] / s.state.walkers)
        try:
            self._publish()
        finally:
            self._progress = None

    def _closing_mid(self) -> bool:
        """`_closing`, drawing the walkers mid-sweep (a Step's sweep)."""
        self._mid_sweep()
        return self._closing()

    def _should_stop(self) -> bool:
        """Leave a playing sweep unfinished: closing, paused, or a change waits (a sweep of a
        million walkers must not hold Pause, Reset or a new target for minutes). A sweep that
        goes on shows its walkers moving meanwhile."""
        stop = self._closing() or not self.controls.playing or self._requests_pending()
        if not stop:
            self._mid_sweep()
        return stop

    def _set_error(self, text: str, pause: bool = True):
        """Report a problem in the next frame; ``pause``: stop sweeping until Play (worker thread).
        The server log gets it once, in one line."""
        if text != self.error:
            log.warning("mdhmc: session %d: %s", self.id, text)
        self.error = text
        self._error_seq += 1
        if pause:
            self._errors_paused = True

    def _apply_requests(self, reqs: list[str]) -> bool:
        """Requests -> samplers; True if anything was applied (worker thread)."""
        if not reqs:
            return False
        with self.lock:
            if "build" in reqs:
                self._forget()
                self.samplers.build(self.controls)
                return True
            if self.sampler is None:
                return False
            if "reset" in reqs:
                self.samplers.apply_settings(self.controls, reset=True)
                self._forget()
                return True
            if "settings" in reqs and self.samplers.apply_settings(self.controls, reset=False):
                self._forget()
            if "stage" in reqs:
                self.samplers.apply_stage(self.controls)
                self._forget()  # the strip, traces and counters belong to the new stage

            if "layout" in reqs:
                self._layout = None
            return True

    def _forget(self):
        """Drop what was read from the old samplers (worker thread)."""
        self._traces.clear(self.sampler.sweep_count if self.sampler is not None else None)
        self._diag.clear()
        self.replicas.clear()
        self._layout = None

    def _coords(self) -> tuple[int, int]:
        """The coordinates to plot, inside the current target (worker thread)."""
        t, c = self.target, self.controls
        if c.xcoord < t.dim and c.ycoord < t.dim:
            return c.xcoord, c.ycoord
        return 0, min(1, t.dim - 1)

    def _update_stats(self, force: bool = False, heavy: bool = True):
        """Diagnostics now (worker thread), in a core slot like a sweep: in a room, at most
        ``CORES`` workers then want the GIL at once, besides the server thread."""
        with scheduler.slot("stats"), self.lock:
            if self.sampler is not None and self._layout is not None:
                self._diag.refresh(self.samplers.all(), self.target, self._layout.coords, self._traces.swaps(),
                                   force=force, heavy=heavy, segment=self._traces.segment)

    def _trajectory(self, s: Sampler, i: int, j: int):
        """The tracked trajectory to send, and its version: a new one at most every TRAJ_EVERY_S
        (a cleared trace at once) (worker thread)."""
        version, traj, when = self._traj
        now = time.perf_counter()
        new = self._traces.traj_version
        if new != version and (now - when >= TRAJ_EVERY_S or version is None or s.phase != "diffusion"
                               or self._traces.cleared_at == new):
            self._traj = (new, readout.trajectory(s, i, j), now)
        return self._traj[0], self._traj[1]

    def _publish(self):
        """Read the samplers into a frame and put it in the mailbox (worker thread)."""
        with self.lock:
            s, b = self.sampler, self.sampler_b
            self._seq += 1
            head = dict(seq=self._seq, session=self.id, status=self.status, error=self.error,
                        error_seq=self._error_seq, paused_by_error=self._errors_paused)
            if s is None or self.target is None:
                frame = Frame(**head)
            else:
                if self._layout is None:
                    self._layout_version += 1
                    self._layout = readout.make_layout(self.target, self._coords(), self._layout_version, b is not None)
                    self._diag.clear()
                    self._rungs_key = None
                if self._diag.last is None:  # first frame of a layout: light diagnostics now
                    self._update_stats(heavy=False)
                key = readout.rungs_key(s)
                if key != self._rungs_key:
                    self._rungs_key = key
                    self._rungs_version += 1
                    self._rungs = readout.make_rungs(s, self._rungs_version)
                i, j = self._layout.coords
                probe = self.samplers.probe if self.samplers.probing else None
                # the probe's trajectories go to the energy panel only: drawn in the cloud with
                # every fast tempering sweep they kept the page too busy to take slider moves
                traj_version, traj = self._trajectory(s, i, j)
                frame = Frame(
                    **head, layout=self._layout, rungs=self._rungs, walkers=readout.walkers(s, i, j),
                    walkers_b=readout.walkers(b, i, j) if b is not None else None,
                    trajectory=traj, traj_version=traj_version,
                    divergences=readout.divergences(s, i, j),
                    divergences_b=readout.divergences(b, i, j) if b is not None else None,
                    energy=self._traces.energy(s.settings.delta), stats=self._diag.last, applied=s.settings,
                    stage=self.controls.stage if b is not None else s.stage, phase=s.phase, sweep=s.sweep_count,
                    probe=probe.state.walkers if probe is not None else 0, progress=self._progress)
        self._last_publish = time.perf_counter()
        with self._slot_lock:
            self._slot = frame
            self._consumed.clear()
        registry.publish(self, frame)  # presenter mode: viewers read it (dashboard/registry.py)
        hook = self.on_publish
        if hook is not None:
            hook()
