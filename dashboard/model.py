"""The dashboard's session model: Panel-free, testable without a server.

A `Session` is a ``param.Parameterized`` holding every control of one browser session. It
owns the `sampler.Sampler` (two in the side-by-side mode) and one worker thread that runs
sweeps and publishes *snapshots*: plain dicts of numpy arrays, in a one-slot mailbox where
the newest wins (an unread snapshot is replaced, never queued).

Threads and ownership:

- parameter changes arrive on the server thread; the watchers only record a *request*
  (``_requests``, under a small lock) and wake the worker. They never touch the sampler;
- the worker applies requests between sweeps (settings via ``Sampler.update``, which takes
  effect on the next sweep without a reset; walkers, seed and target reset), runs
  ``sweeps_per_frame`` sweeps, builds a snapshot and publishes it. It holds the session's
  own ``lock`` while it touches the samplers;
- the consumer (the app's periodic callback, or a test) calls `Session.take_snapshot`.
  Until a snapshot is taken the worker waits (at most ``max_lag_s``) before sweeping on, so
  a session whose page is not drawing costs little CPU; `Session.suspend` stops sweeping
  altogether (the app suspends a session while no browser is connected to it);
- diagnostics (Q-Q, mass, ESS/R-hat, sliced W1) are computed by the worker after a frame is
  out, a few times a second, and ride with the next frames.

An exception from the sampler (a user's log density that raises, a setting the sampler
refuses) never kills the worker: the message goes into the next snapshot (``error``), the
session pauses, and everything else goes on. `Session.close` stops and joins the thread.

Tests drive it synchronously with `Session.advance` (no thread) or start the thread with
`Session.start`.
"""

from __future__ import annotations

import collections
import itertools
import math
import os
import threading
import time
import weakref

import numpy as np
import param

from mdhmc.sampler import Sampler, Settings
from mdhmc.sampler import diagnostics as diag
from mdhmc.sampler import presets as presets_mod
from mdhmc.sampler.settings import SettingsError

from . import catalog

__all__ = ["Session", "STAGE_CHOICES", "SETTING_PARAMS", "URL_PARAMS", "live_sessions", "sessions_in_memory", "fmt"]

#: stages offered: the sampler's five plus the side-by-side mode
STAGE_CHOICES = ("pipeline", "diffusion", "metropolis", "tempering", "hmc", "side-by-side")

#: session parameters that are `Settings` fields of the same name
SETTING_PARAMS = ("step_size", "delta", "viscosity_gain", "t_hot", "noise", "hot", "trigger", "steps", "walkers",
                  "rungs", "naive_swap", "seed", "diffusion_sweeps", "warmup", "gradient", "swaps_per_walker",
                  "trim_sds")

#: parameters mirrored in the URL (parameter -> query name)
URL_PARAMS = {name: name for name in (
    "target", "dim", "stage", *SETTING_PARAMS, "metropolis_auto", "metropolis_scale", "sweeps_per_frame",
    "xcoord", "ycoord",
)}

LIVE_SWEEPS = 100_000_000  # Settings.sweeps of a live session: it never "finishes"
MAX_RECORDED_VALUES = 400_000  # cold draws kept per sampler (floats): ~200 sweeps of 1000 x 2
HISTORY = 1500  # sweep records kept per sampler
ENERGY_WINDOW = 1500  # integration steps of the tracked walker kept for the energy traces
TRAJ_POINTS = 600  # at most this many trajectory points are drawn
SWAP_WINDOW = 400  # swap sweeps kept for the temperature view
QQ_PROBS = np.linspace(0.005, 0.995, 100)
STATS_EVERY_S = 0.5  # Q-Q, mass, temperatures, strip (each such frame costs the browser a re-layout)
HEAVY_EVERY_S = 1.0  # ESS / R-hat and sliced W1 (each once per second, in turn)
RECENT_SWEEPS = 60  # recorded sweeps used for Q-Q, mass, ESS, W1
LONG_SWEEP_WORK = 5_000_000  # walkers x steps x dim above which a diffusion sweep is announced (~1 s+)

_live: "weakref.WeakSet[Session]" = weakref.WeakSet()
_all: "weakref.WeakSet[Session]" = weakref.WeakSet()  # every session not yet garbage-collected
_ids = itertools.count(1)


def live_sessions() -> list["Session"]:
    """Sessions whose worker thread is running (for tests and the server's log)."""
    return [s for s in list(_live) if s.running]


def sessions_in_memory() -> int:
    """Session objects not yet garbage-collected (closed ones should go: a leak check)."""
    return len(_all)


def fmt(v, spec: str = ".3g", dash: str = "–") -> str:
    """Format a number; None, NaN and infinities show as a dash (never 'nan')."""
    try:
        f = float(v)
    except (TypeError, ValueError):
        return dash
    if not math.isfinite(f):
        return dash
    return format(f, spec)


def _root_cause(exc: BaseException) -> BaseException:
    """numba re-raises a user's exception from a parallel kernel as SystemError(... exception
    set) with the real one as its cause: report the real one."""
    seen = set()
    while id(exc) not in seen:
        seen.add(id(exc))
        nxt = exc.__cause__ or (exc.__context__ if isinstance(exc, SystemError) else None)
        if nxt is None:
            break
        exc = nxt
    return exc


def _error_text(exc: BaseException, doing: str) -> str:
    root = _root_cause(exc)
    msg = str(root).strip().splitlines()[0] if str(root).strip() else ""
    name = type(root).__name__
    if isinstance(root, SettingsError) or type(root).__name__ in ("TargetError", "PresetError"):
        return f"{doing}: {msg}"
    return f"{doing}: {name}{': ' + msg if msg else ''}"


def _tidy(v):
    """Slider arithmetic leaves float noise (0.055000000000000014): 10 significant digits."""
    if isinstance(v, float) and math.isfinite(v) and v != 0.0:
        return float(f"{v:.10g}")
    return v


class Number(param.Number):
    """A number parameter whose serialised form (the URL) has no float noise."""

    @classmethod
    def serialize(cls, value):
        return _tidy(value)


class Session(param.Parameterized):
    """One browser session: controls, samplers, a worker thread and its snapshots."""

    # --- what is sampled -------------------------------------------------------------
    target = param.Selector(default="scorpio", objects=["scorpio"], label="Target")
    dim = param.Integer(default=0, bounds=(0, 1000), label="Dimension",
                        doc="Dimension of the n-D targets (funnel, stiff-wells); 0: the target's default.")
    stage = param.Selector(default="pipeline", objects=list(STAGE_CHOICES), label="Stage")
    xcoord = param.Integer(default=0, bounds=(0, 999), label="Horizontal coordinate")
    ycoord = param.Integer(default=1, bounds=(0, 999), label="Vertical coordinate")

    # --- sampler settings (names as in sampler.Settings) ---------------------------------
    step_size = Number(default=0.05, bounds=(1e-5, 100.0), softbounds=(0.001, 0.3), step=0.001,
                             label="Step size")
    delta = Number(default=1.0, bounds=(1e-6, 1e6), softbounds=(0.05, 5.0), step=0.05, label="Delta")
    viscosity_gain = Number(default=1.0, bounds=(0.0, 1e6), softbounds=(0.0, 10.0), step=0.1,
                                   label="Viscosity gain")
    t_hot = Number(default=3.5, bounds=(1.0, 1e6), softbounds=(1.0, 20.0), step=0.1, label="Temperature")
    noise = Number(default=0.3, bounds=(0.0, 1e3), softbounds=(0.0, 3.0), step=0.05, label="Noise")
    hot = Number(default=1.0, bounds=(1.0, 1e3), softbounds=(1.0, 5.0), step=0.1, label="Hot-start factor")
    trigger = Number(default=10.0, bounds=(1e-6, None), softbounds=(0.5, 100.0), step=0.5,
                           label="Trigger threshold")
    steps = param.Integer(default=100, bounds=(1, 10_000_000), softbounds=(5, 2000), label="Steps per trajectory")
    walkers = param.Integer(default=2000, bounds=(4, 1_000_000), softbounds=(100, 10_000), step=100,
                            label="Walkers")
    rungs = param.Integer(default=2, bounds=(1, 64), softbounds=(1, 8), label="Rungs")
    naive_swap = param.Boolean(default=False, label="Naive swap rule (biased)")
    metropolis_auto = param.Boolean(default=True, label="Metropolis scale: auto")
    metropolis_scale = Number(default=1.0, bounds=(1e-6, 1e6), softbounds=(0.05, 5.0), step=0.05,
                                    label="Metropolis scale")
    diffusion_sweeps = param.Integer(default=20, bounds=(0, 10_000_000), softbounds=(0, 200),
                                     label="Diffusion sweeps (pipeline)")
    warmup = param.Integer(default=50, bounds=(0, 100_000_000), softbounds=(0, 500), label="Warm-up sweeps")
    gradient = param.Selector(default="spsa", objects=["spsa", "exact"], label="Gradient")
    swaps_per_walker = Number(default=20.0, bounds=(0.0, 1e4), softbounds=(0.0, 50.0), step=1.0,
                                    label="Swaps per walker")
    trim_sds = Number(default=3.0, bounds=(1e-6, None), softbounds=(0.5, 10.0), step=0.1, label="Trim (sds)")
    seed = param.Integer(default=0, bounds=(0, 2**53 - 1), label="Seed")

    # --- running -----------------------------------------------------------------------
    sweeps_per_frame = param.Integer(default=1, bounds=(1, 1000), softbounds=(1, 50), label="Sweeps per frame")
    playing = param.Boolean(default=True, label="Playing")

    def __init__(self, max_lag_s: float = 0.25, **params):
        names = catalog.target_names()
        self.param.target.objects = names
        super().__init__(**params)
        self.id = next(_ids)
        self.lock = threading.RLock()  # guards the samplers
        self.max_lag_s = float(max_lag_s)
        self.extra_settings: dict = {}  # preset settings with no control (mass, spsa_c, ...): kept for round trips
        self.preset_sweeps = 400  # a preset's `sweeps` (headless length), kept for saving
        self._requests: list = []
        self._rlock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._slot = None
        self._slot_lock = threading.Lock()
        self._consumed = threading.Event()
        self._consumed.set()
        self._thread: threading.Thread | None = None
        self._step_requests = 0
        self._errors_paused = False
        self._suspended = False
        self._seq = 0
        self._error_seq = 0
        self._error = ""
        self.status = "starting"
        self.sampler: Sampler | None = None
        self.sampler_b: Sampler | None = None  # exact HMC in the side-by-side mode
        self.target_obj = None
        self._layout_version = 0
        self._stats_version = 0
        self._energy_version = 0
        self._traj_version = 0
        self._last_stats = 0.0
        self._last_heavy = 0.0
        self._heavy: dict = {}
        self._heavy_b: dict = {}
        self._stats: dict | None = None
        self._layout: dict | None = None
        self._rungs: dict | None = None
        self._rungs_version = 0
        self._clear_buffers()
        self._fix_coords(force=False)
        self._requests.append(("build", None))
        self.param.watch(self._on_change, list(URL_PARAMS))
        self.param.watch(self._on_playing, ["playing"])
        _live.add(self)
        _all.add(self)

    # ================================================================== server-thread side
    def _request(self, kind: str, payload=None):
        with self._rlock:
            self._requests.append((kind, payload))
        self._wake.set()
        self._consumed.set()  # also ends a backpressure wait: settings apply on the next sweep

    def _on_playing(self, event):
        if event.new:
            self._errors_paused = False
        self._wake.set()

    def _target_now(self):
        try:
            return catalog.get_target(self.target, self.dim)
        except Exception:
            return None

    def _fix_dim(self):
        dims = catalog.dims_for(self.target)
        want = (self.dim if self.dim in dims else dims[0]) if len(dims) > 1 else 0
        if want != self.dim:
            self.dim = want

    def _fix_coords(self, force: bool):
        t = self._target_now()
        if t is None:
            return
        d = t.dim
        default = (0, d - 1) if (t.name == "funnel" and t.source == "built-in") else (0, min(1, d - 1))
        bad = self.xcoord >= d or self.ycoord >= d or (d > 1 and self.xcoord == self.ycoord)
        if (force or bad) and (self.xcoord, self.ycoord) != default:
            self.param.update(xcoord=default[0], ycoord=default[1])

    def _on_change(self, *events):
        names = {e.name for e in events}
        if names & {"target", "dim"}:
            self._fix_dim()
            self._fix_coords(force=not names & {"xcoord", "ycoord"})
            self._check_stage()
            self._request("build")
            return
        if names & {"xcoord", "ycoord"}:
            self._fix_coords(force=False)
            self._request("layout")
        if "stage" in names:
            if self._check_stage():
                self._request("stage", self.stage)
        settings = {n for n in names if n in SETTING_PARAMS or n in ("metropolis_auto", "metropolis_scale")}
        if settings:
            self._request("settings")
        if "sweeps_per_frame" in names:
            self._wake.set()

    def _check_stage(self) -> bool:
        """Exact HMC needs a gradient: refuse the stage (back to the pipeline) without one."""
        if self.stage in ("hmc", "side-by-side"):
            t = self._target_now()
            if t is not None and not t.has_gradient:
                self._set_error(f"target {t.name!r} has no gradient: exact HMC (and the side-by-side mode) "
                                "is not available", pause=False)
                self.stage = "pipeline"
                return False
        return True

    # --- actions (buttons) -------------------------------------------------------------
    def play(self):
        self.playing = True

    def pause(self):
        self.playing = False

    @property
    def suspended(self) -> bool:
        """No sweeps while no browser is connected (the page closed, or its connection dropped)."""
        return self._suspended

    def suspend(self, flag: bool = True):
        if bool(flag) != self._suspended:
            self._suspended = bool(flag)
            self._wake.set()

    def step(self):
        """One sweep, then pause."""
        self.playing = False
        with self._rlock:
            self._step_requests += 1
        self._wake.set()

    def reset(self):
        """New dispersed walkers from the current seed; counters and buffers cleared."""
        self._request("reset")

    # --- settings, presets ---------------------------------------------------------------
    def settings(self) -> Settings:
        """The `Settings` the controls describe (plus preset-only extras)."""
        d = dict(self.extra_settings)
        for n in SETTING_PARAMS:
            d[n] = _tidy(getattr(self, n))
        d["metropolis_scale"] = None if self.metropolis_auto else _tidy(self.metropolis_scale)
        d["sweeps"] = max(LIVE_SWEEPS, int(d["warmup"]))
        return Settings.from_dict(d)

    def preset_json(self, name: str = "", description: str = "") -> str:
        """The current controls as the CLI's preset JSON (`sampler.presets`)."""
        s = self.settings().replace(sweeps=max(self.preset_sweeps, self.warmup))
        entry = catalog.catalog().get(self.target)
        target = entry.path if entry is not None and entry.kind == "file" else self.target
        dims = catalog.dims_for(self.target)
        target_dim = (self.dim or dims[0]) if self.target in catalog.ND_DIMS else None
        stage = "pipeline" if self.stage == "side-by-side" else self.stage
        return presets_mod.dumps(s, target=target, stage=stage, name=name or f"dashboard: {self.target}",
                                 description=description, target_dim=target_dim)

    def apply_preset(self, preset) -> list[str]:
        """Apply a validated preset (`sampler.presets.Preset`, or its JSON text).

        The preset's target must be one this server offers (a name, or the path of a file
        the server was started with): a path from the browser is never loaded. Returns
        notes (e.g. settings clipped to what the controls show); raises `PresetError`.
        """
        if isinstance(preset, (str, bytes)):
            text = preset.decode("utf-8", "replace") if isinstance(preset, bytes) else preset
            preset = presets_mod.loads(text, "preset")
        notes = []
        updates: dict = {}
        tgt = preset.get("target")
        if tgt:
            names = catalog.catalog()
            match = tgt if tgt in names else None
            if match is None:  # a path: only a file this server was started with (matched by path or name)
                for n, e in names.items():
                    if e.kind == "file" and (os.path.abspath(tgt) == e.path
                                             or os.path.basename(tgt) == os.path.basename(e.path)):
                        match = n
                        break
            if match is None:
                raise presets_mod.PresetError(
                    f"preset target {tgt!r} is not offered by this server (targets: {', '.join(names)}); "
                    "start the server with `mdhmc serve --target FILE.py` to add a file")
            updates["target"] = match
            tdim = preset.get("target_dim")
            dims = catalog.dims_for(match)
            if match in catalog.ND_DIMS:
                updates["dim"] = tdim if tdim else 0
            elif tdim and tdim not in dims:
                notes.append(f"target_dim {tdim} ignored: {match} is {dims[0]}-D")
        if preset.get("stage"):
            updates["stage"] = preset["stage"]
        s = preset.apply(Settings(walkers=self.param.walkers.default, steps=self.param.steps.default,
                                  warmup=self.param.warmup.default))
        d = s.to_dict()
        self.preset_sweeps = int(d.pop("sweeps"))
        ms = d.pop("metropolis_scale")
        updates["metropolis_auto"] = ms is None
        if ms is not None:
            updates["metropolis_scale"] = ms
        extra = {}
        for k, v in d.items():
            if k in SETTING_PARAMS:
                p = self.param[k]
                if isinstance(v, float) and math.isinf(v) and k in ("trigger", "trim_sds"):
                    v = 1e308
                if v is not None and getattr(p, "bounds", None):
                    lo, hi = p.bounds
                    if (lo is not None and v < lo) or (hi is not None and v > hi):
                        notes.append(f"{k}={v} is outside the control's range; kept as {min(max(v, lo), hi)}")
                        v = min(max(v, lo), hi if hi is not None else v)
                updates[k] = v
            else:
                extra[k] = v
        default = Settings().to_dict()
        self.extra_settings = {k: v for k, v in extra.items() if v != default.get(k)}
        if updates.get("dim") and updates["dim"] not in catalog.dims_for(updates.get("target", self.target)):
            updates["dim"] = 0
        self.param.update(**updates)
        self._request("reset")
        return notes

    # --- consumer side --------------------------------------------------------------
    def take_snapshot(self):
        """The newest snapshot not yet taken, or None."""
        with self._slot_lock:
            snap, self._slot = self._slot, None
            self._consumed.set()
        return snap

    def start(self):
        """Start the worker thread (idempotent)."""
        if self._thread is None or not self._thread.is_alive():
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name=f"mdhmc-session-{self.id}", daemon=True)
            self._thread.start()
        return self

    def close(self, timeout: float = 5.0) -> bool:
        """Stop the worker (after its current sweep) and drop the samplers. True if stopped."""
        self._stop.set()
        self._wake.set()
        self._consumed.set()
        t = self._thread
        if t is not None and t.is_alive() and t is not threading.current_thread():
            t.join(timeout)
        stopped = t is None or not t.is_alive()
        if stopped:
            with self.lock:
                self.sampler = self.sampler_b = None
            with self._slot_lock:
                self._slot = None
        _live.discard(self)
        return stopped

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    @property
    def thread(self):
        return self._thread

    # ================================================================== worker side
    def _run(self):
        while not self._stop.is_set():
            try:
                self._iterate(block=True)
            except Exception as exc:  # never let the worker die
                self._set_error(_error_text(exc, "internal error"))
                time.sleep(0.2)

    def advance(self, frames: int = 1):
        """Synchronously apply pending requests and run ``frames`` frames (tests; no thread)."""
        if self.running:
            raise RuntimeError("advance() is for sessions without a worker thread")
        for _ in range(max(1, frames)):
            self._iterate(block=False)
        return self

    def prime(self):
        """Build the sampler and publish a first snapshot now, on the calling thread, without
        sweeping: the page's first render already shows the walkers (before the worker runs)."""
        if self.running:
            return self
        reqs, steps = self._take_requests()
        with self._rlock:
            self._step_requests += steps
        self._apply_requests(reqs)
        self._publish()
        return self

    def _take_requests(self):
        with self._rlock:
            reqs, self._requests = self._requests, []
            steps, self._step_requests = self._step_requests, 0
        return reqs, steps

    def _iterate(self, block: bool):
        self._wake.clear()
        reqs, steps = self._take_requests()
        changed = self._apply_requests(reqs)
        if self.sampler is None:  # the build failed: wait for a new target / reset
            if changed:
                self._publish()
            if block:
                self._wake.wait(0.25)
            return
        sweeping = (self.playing and not self._errors_paused and not self.suspended) or steps > 0
        if changed:
            self._publish()  # the new settings show at once; the next sweep uses them
        if not sweeping:
            if self._seq == 0:
                self._publish()
            elif changed and self._update_stats(force=True) and not self._requests_pending():
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
                self._consumed.wait(min(left, 0.05))
            if self._stop.is_set() or self._requests_pending():
                return  # apply the new requests first (top of the next iteration)
        n = 1 if steps > 0 and not self.playing else self.sweeps_per_frame
        t0 = time.perf_counter()
        for k in range(n):
            if self._stop.is_set():
                return
            if k and (self._requests_pending() or not self.playing):
                break
            if not self._sweep_once():
                break
            if k and time.perf_counter() - t0 > 0.5:  # stay interactive with slow sweeps
                break
        self._publish()
        # diagnostics after the frame is out (they ride with the next one), unless a change of
        # settings is waiting: that goes first
        if not self._requests_pending():
            self._update_stats()

    def _requests_pending(self) -> bool:
        return bool(self._requests) or self._step_requests > 0

    def _set_error(self, text: str, pause: bool = True):
        self._error = text
        self._error_seq += 1
        if pause:
            self._errors_paused = True

    def _apply_requests(self, reqs) -> bool:
        if not reqs:
            return False
        kinds = [k for k, _ in reqs]
        with self.lock:
            if "build" in kinds:
                self._build()
                return True
            if self.sampler is None:
                return False
            if "reset" in kinds:
                self._settings_to_samplers(reset=True)
                return True
            if "settings" in kinds:
                self._settings_to_samplers(reset=False)
            if "stage" in kinds:
                self._apply_stage()
            if "layout" in kinds:
                self._layout = None
            return True

    # --- building ------------------------------------------------------------------
    def _new_sampler(self, stage: str, settings: Settings) -> Sampler:
        s = Sampler(self.target_obj, settings, stage=stage, max_recorded_values=MAX_RECORDED_VALUES)
        s.history = collections.deque(s.history, maxlen=HISTORY)
        return s

    def _build(self):
        """(Re)build the target and sampler(s) from the controls."""
        self.sampler = self.sampler_b = None
        self._clear_buffers()
        self._layout = None
        self._stats = None
        try:
            self.target_obj = catalog.get_target(self.target, self.dim)
        except Exception as exc:
            self.target_obj = None
            self._set_error(_error_text(exc, f"target {self.target!r} is unavailable"))
            return
        self.status = f"preparing {self.target}"
        try:
            settings = self.settings()
            stage = "pipeline" if self.stage == "side-by-side" else self.stage
            if stage == "hmc" and not self.target_obj.has_gradient:
                self._set_error(f"target {self.target!r} has no gradient: exact HMC is not available; running the pipeline",
                                pause=False)
                stage = "pipeline"
            self.sampler = self._new_sampler(stage, settings)
            if self.stage == "side-by-side" and self.target_obj.has_gradient:
                self.sampler_b = self._new_sampler("hmc", settings)
            self.status = "ready"
        except Exception as exc:
            self.sampler = self.sampler_b = None
            self._set_error(_error_text(exc, f"could not start on {self.target}"))

    def _clear_buffers(self):
        self._energy = collections.deque(maxlen=64)  # (x0, energies (L,4)) segments
        self._energy_means = collections.deque(maxlen=64)  # (x0, x1, U, K, H, herr)
        self._energy_clock = 0
        self._swaps = collections.deque(maxlen=SWAP_WINDOW)  # (sweep, acceptance, ejections)
        self._heavy, self._heavy_b = {}, {}
        self._energy_version += 1
        self._traj_version += 1

    def _settings_to_samplers(self, reset: bool):
        try:
            settings = self.settings()
            if settings.rungs > 1 and settings.walkers < 2 * settings.rungs:
                # Sampler.update would store the settings before its kernels refuse them
                raise SettingsError(f"{settings.rungs} temperature rungs need at least {2 * settings.rungs} "
                                    f"walkers, got {settings.walkers}")
        except SettingsError as exc:
            self._set_error(_error_text(exc, "setting refused"), pause=False)
            return
        for attr in ("sampler", "sampler_b"):
            s = getattr(self, attr)
            if s is None:
                continue
            try:
                did_reset = s.update(**{k: v for k, v in settings.to_dict().items()
                                        if v != getattr(s.settings, k)})
                if reset and not did_reset:
                    s.reset()
                    did_reset = True
                if did_reset:
                    s.history = collections.deque(s.history, maxlen=HISTORY)
                    if attr == "sampler":
                        self._clear_buffers()
                        self._layout = None
            except Exception as exc:
                self._set_error(_error_text(exc, "setting refused"), pause=False)
        self._layout = None if reset else self._layout

    def _apply_stage(self):
        stage = self.stage
        t = self.target_obj
        if stage in ("hmc", "side-by-side") and not t.has_gradient:
            self._set_error(f"target {t.name!r} has no gradient: exact HMC is not available", pause=False)
            return
        try:
            if stage == "side-by-side":
                # a fair race: both start from the same dispersed walkers
                self.sampler.set_stage("pipeline")
                self.sampler.reset()
                self.sampler.history = collections.deque(maxlen=HISTORY)
                self.sampler_b = self._new_sampler("hmc", self.sampler.settings)
                self._clear_buffers()
            else:
                self.sampler_b = None
                self.sampler.set_stage(stage)
        except Exception as exc:
            self._set_error(_error_text(exc, f"cannot switch to {stage}"), pause=False)
        self._layout = None

    # --- sweeping ----------------------------------------------------------------------
    def _sweep_once(self) -> bool:
        with self.lock:
            for attr in ("sampler", "sampler_b"):
                s = getattr(self, attr)
                if s is None:
                    continue
                try:
                    key = catalog.kernel_key(self.target_obj, s.phase)
                    if not catalog.is_warm(key):
                        self.status = f"compiling kernels for {self.target} ({s.phase}; first use in this server)"
                        self._publish()
                    elif (s.phase == "diffusion"
                          and s.settings.walkers * s.settings.steps * self.target_obj.dim >= LONG_SWEEP_WORK):
                        self.status = (f"running a diffusion sweep of {s.settings.walkers:,} walkers × "
                                       f"{s.settings.steps:,} steps")
                        self._publish()
                    rec = s.sweep()
                    catalog.mark_warm(key)
                except Exception as exc:
                    self._set_error(_error_text(exc, f"the sampler stopped ({s.phase} sweep)"))
                    self.status = "paused after an error"
                    return False
                if attr == "sampler":
                    self._after_sweep(s, rec)
            self.status = "running"
        return True

    def _after_sweep(self, s: Sampler, rec: dict):
        if rec.get("phase") == "diffusion" and s.last_tracked is not None and len(s.last_tracked.energies):
            e = s.last_tracked.energies
            if len(e) > TRAJ_POINTS:
                idx = np.unique(np.linspace(0, len(e) - 1, TRAJ_POINTS).round().astype(int))
                e = e[idx]
                xs = self._energy_clock + idx
            else:
                xs = self._energy_clock + np.arange(len(e))
            n_pts = len(s.last_tracked.energies)
            self._energy.append((xs.astype(np.float64), e.astype(np.float64)))
            self._energy_means.append((self._energy_clock, self._energy_clock + n_pts - 1,
                                       rec.get("mean_U", np.nan), rec.get("mean_K", np.nan),
                                       rec.get("mean_H", np.nan), rec.get("mean_herr", np.nan)))
            self._energy_clock += n_pts + 1
            while self._energy and self._energy_clock - self._energy[0][0][0] > ENERGY_WINDOW and len(self._energy) > 1:
                self._energy.popleft()
            while self._energy_means and self._energy_means[0][0] < self._energy[0][0][0]:
                self._energy_means.popleft()
            self._energy_version += 1
            self._traj_version += 1
        if rec.get("move") == "swap":
            self._swaps.append((rec["sweep"], rec.get("swap_acceptance", np.nan), rec.get("ejections", 0)))

    # --- snapshots -----------------------------------------------------------------------
    def _coords(self):
        t = self.target_obj
        i, j = self.xcoord, self.ycoord
        if t is None or i >= t.dim or j >= t.dim:
            i, j = 0, min(1, t.dim - 1) if t is not None else 1
        return i, j

    def _make_layout(self) -> dict:
        t = self.target_obj
        i, j = self._coords()
        names = catalog.coord_names(t)
        dens = catalog.density_image(t, i, j) if t.dim >= 2 else {"image": None, "note": "1-D target"}
        (x0, x1), (y0, y1) = catalog.plot_box(t, i, j) if t.dim >= 2 else ((-5, 5), (-5, 5))
        self._layout_version += 1
        return {
            "version": self._layout_version,
            "target": t.name, "dim": t.dim, "coords": (i, j), "labels": (names[i], names[j] if t.dim > 1 else ""),
            "x_range": (x0, x1), "y_range": (y0, y1), "density": dens,
            "side_by_side": self.sampler_b is not None,
            "has_exact": catalog.exact_draws(t) is not None, "is_mixture": t.is_mixture,
            "components": list(t.component_names) if t.component_names else
            ([f"component {k + 1}" for k in range(len(t.component_weights))] if t.is_mixture else []),
            "weights": np.asarray(t.component_weights, dtype=float).copy() if t.is_mixture else None,
        }

    def _rungs_part(self) -> dict:
        """Rung of each walker and the ladder: changes with walkers, rungs, T_hot, stage."""
        s = self.sampler
        key = (s.state.walkers, tuple(np.round(s.temperatures, 12)), s.settings.naive_swap, s.stage, s.phase,
               self._layout_version)
        if self._rungs is None or self._rungs["key"] != key:
            self._rungs_version += 1
            self._rungs = {"key": key, "version": self._rungs_version, "walkers": s.state.walkers,
                           "rung": s.rung.astype(np.int32).copy(), "temperatures": s.temperatures.copy(),
                           "naive_swap": s.settings.naive_swap, "tempered": len(s.temperatures) > 1}
        return self._rungs

    def _walkers(self, s: Sampler, i: int, j: int) -> dict:
        x = s.state.positions
        return {"x": x[:, i].astype(np.float32), "y": x[:, j].astype(np.float32) if x.shape[1] > 1
                else np.zeros(len(x), np.float32)}

    def _trajectory(self, s: Sampler, i: int, j: int) -> dict | None:
        tr = s.last_tracked
        if tr is None or not len(tr.positions) or s.phase != "diffusion":
            return None
        pos, lw = tr.positions, tr.log_weights
        keep = np.arange(len(pos))
        if len(pos) > TRAJ_POINTS:
            keep = np.unique(np.concatenate([np.linspace(0, len(pos) - 1, TRAJ_POINTS).round().astype(int),
                                             [tr.chosen] if tr.chosen >= 0 else []]).astype(int))
        w = np.exp(lw - np.max(lw)) if np.isfinite(np.max(lw)) else np.zeros_like(lw)
        out = {"x": pos[keep, i].astype(np.float32), "y": pos[keep, j].astype(np.float32),
               "size": (3.0 + 15.0 * np.sqrt(w[keep])).astype(np.float32), "w": w[keep].astype(np.float32),
               "line_x": pos[:, i][:: max(1, len(pos) // 2000)].astype(np.float32),
               "line_y": pos[:, j][:: max(1, len(pos) // 2000)].astype(np.float32),
               "chosen": None, "start": (float(pos[0, i]), float(pos[0, j])), "triggers": None}
        if 0 <= tr.chosen < len(pos):
            out["chosen"] = (float(pos[tr.chosen, i]), float(pos[tr.chosen, j]))
        trig = getattr(tr, "triggered", None)  # per-point flags, where the sampler provides them
        if trig is not None:
            trig = np.asarray(trig, dtype=bool)
            if trig.shape == (len(pos),) and trig.any():
                out["triggers"] = (pos[trig, i].astype(np.float32), pos[trig, j].astype(np.float32))
        return out

    def _energy_snapshot(self) -> dict:
        cached = getattr(self, "_energy_cache", None)
        if cached is not None and cached["version"] == self._energy_version:
            return cached
        self._energy_cache = self._energy_snapshot_build()
        return self._energy_cache

    def _energy_snapshot_build(self) -> dict:
        if not self._energy:
            return {"version": self._energy_version, "step": np.empty(0), "U": np.empty(0), "K": np.empty(0),
                    "H": np.empty(0), "herr": np.empty(0),
                    "means": {k: np.empty(0) for k in ("x0", "x1", "U", "K", "H", "herr")}}
        xs, es = [], []
        for x, e in self._energy:
            xs.append(x)
            es.append(e)
            xs.append(np.array([np.nan]))  # a gap between trajectories
            es.append(np.full((1, 4), np.nan))
        x = np.concatenate(xs)
        e = np.concatenate(es)
        m = np.array(self._energy_means, dtype=float).reshape(-1, 6)
        return {"version": self._energy_version, "step": x, "U": e[:, 0], "K": e[:, 1], "H": e[:, 2], "herr": e[:, 3],
                "means": {"x0": m[:, 0], "x1": m[:, 1], "U": m[:, 2], "K": m[:, 3], "H": m[:, 4], "herr": m[:, 5]},
                "delta": float(self.sampler.settings.delta)}

    def _pool(self, s: Sampler) -> tuple[np.ndarray, str]:
        if len(s.draws):
            recent = list(itertools.islice(reversed(s.draws), RECENT_SWEEPS))[::-1]
            draws = np.asarray(recent)
            return diag.thin_pool(draws, 4000), f"cold draws, last {len(recent)} sweeps"
        return s.cold.copy(), "current cold walkers"

    def _qq(self, pool: np.ndarray, exact: np.ndarray | None, i: int, j: int) -> dict | None:
        if exact is None or not len(pool):
            return None
        out = {}
        for axis, c in (("x", i), ("y", j)):
            a = pool[:, c]
            a = a[np.isfinite(a)]
            if not len(a):
                return None
            out[axis] = {"exact": np.quantile(exact[:, c], QQ_PROBS), "sample": np.quantile(a, QQ_PROBS),
                         "ks": float(diag.ks_statistics(a[:, None], exact[:, c:c + 1])[0])}
        return out

    def _strip(self, s: Sampler) -> dict:
        hist = list(itertools.islice(reversed(s.history), 200))
        wall = steps = evals = 0.0
        now_recs = []
        for h in hist:
            wall += h.get("wall_s", 0.0)
            steps += h.get("steps", 0)
            evals += h.get("lp_evals", 0)
            now_recs.append(h)
            if wall > 2.0:
                break
        acc = [h["acceptance"] for h in hist[:30] if "acceptance" in h]
        sw = [(h.get("swaps", 0), h.get("swap_attempts", 0)) for h in hist[:60] if h.get("move") == "swap"]
        sw_att = sum(a for _, a in sw)
        tot = s.totals
        return {
            "stage": s.stage, "phase": s.phase, "sweep": s.sweep_count, "stage_sweep": s.stage_sweep,
            "recording": bool(s.recording), "warmup": s.settings.warmup,
            "steps_per_s": steps / wall if wall > 0 else np.nan,
            "evals_per_s": evals / wall if wall > 0 else np.nan,
            "sweeps_per_s": len(now_recs) / wall if wall > 0 else np.nan,
            "acceptance": float(np.mean(acc)) if acc else np.nan,
            "swap_acceptance": sum(a for a, _ in sw) / sw_att if sw_att else np.nan,
            "triggers": int(tot.get("triggers", 0)), "divergences": int(tot.get("divergences", 0)),
            "abandoned": int(tot.get("abandoned", 0)), "ejections": int(tot.get("ejections", 0)),
            "trimmed": int(tot.get("trimmed", 0)),
        }

    def _heavy_stats(self, s: Sampler, pool: np.ndarray, exact, i: int, j: int, part: str, out: dict) -> dict:
        """ESS / R-hat (``part="ess"``) or sliced W1 (``part="w1"``) into ``out``: one part per
        call, so no single step holds the worker (or the GIL) for long."""
        out = dict(out) if out else {"ess": np.nan, "rhat": np.nan, "w1": np.nan}
        if part == "ess" and len(s.draws) < 4:
            out["ess"] = out["rhat"] = np.nan
        if part == "ess" and len(s.draws) >= 4:
            recent = np.asarray(list(itertools.islice(reversed(s.draws), 100))[::-1])
            if recent.shape[1] > 500:
                recent = recent[:, :: int(math.ceil(recent.shape[1] / 500))]
            cols = sorted({i, j})
            try:
                ess, rhat = diag.ess_rhat(recent[:, :, cols])
                out["ess"] = float(np.nanmin(ess)) if np.isfinite(ess).any() else np.nan
                out["rhat"] = float(np.nanmax(rhat)) if np.isfinite(rhat).any() else np.nan
            except Exception:
                pass
        if part == "w1" and exact is not None and len(pool) >= 2:
            try:
                out["w1"] = diag.sliced_w1(pool[:1500], exact[:1500], n_directions=24)
            except Exception:
                pass
        return out

    def _update_stats(self, force: bool = False) -> bool:
        """Refresh the diagnostics when due (light ones every STATS_EVERY_S, ESS/R-hat and W1 in
        turn every HEAVY_EVERY_S / 2); True if they changed."""
        if self.sampler is None or self.target_obj is None:
            return False
        now = time.perf_counter()
        if not force and self._stats is not None and now - self._last_stats < STATS_EVERY_S:
            return False
        with self.lock:
            if self.sampler is None:
                return False
            self._last_stats = now
            heavy = None
            if force or now - self._last_heavy >= HEAVY_EVERY_S / 2:
                self._last_heavy = now
                self._heavy_turn = "w1" if getattr(self, "_heavy_turn", "w1") == "ess" else "ess"
                heavy = ("ess", "w1") if force else (self._heavy_turn,)
            self._stats = self._make_stats(heavy)
        return True

    def _make_stats(self, heavy=()) -> dict:
        s = self.sampler
        t = self.target_obj
        i, j = self._coords()
        exact = catalog.exact_draws(t)
        heavy = heavy or ()
        per = {}
        for key, smp in (("a", s), ("b", self.sampler_b)):
            if smp is None:
                continue
            pool, pool_label = self._pool(smp)
            entry = {"strip": self._strip(smp), "pool_label": pool_label, "qq": self._qq(pool, exact, i, j)}
            if t.is_mixture and len(pool):
                try:
                    entry["mass"] = diag.mass_fractions(t, pool)
                except Exception:
                    entry["mass"] = None
            for part in heavy:
                if key == "a":
                    self._heavy = self._heavy_stats(smp, pool, exact, i, j, part, self._heavy)
                else:
                    self._heavy_b = self._heavy_stats(smp, pool, exact, i, j, part, self._heavy_b)
            entry["heavy"] = dict(self._heavy if key == "a" else self._heavy_b)
            per[key] = entry
        sw = np.array(self._swaps, dtype=float).reshape(-1, 3)
        self._stats_version += 1
        return {
            "version": self._stats_version, "a": per.get("a"), "b": per.get("b"),
            "per_rung": s.walkers_per_rung(), "temperatures": s.temperatures.copy(),
            "swaps": {"sweep": sw[:, 0], "acceptance": sw[:, 1], "ejections": sw[:, 2]},
            "naive_swap": s.settings.naive_swap, "tempered": len(s.temperatures) > 1 and s.phase == "tempering",
        }

    def _applied(self) -> dict:
        s = self.sampler
        st = s.settings
        return {"step_size": st.step_size, "delta": st.delta, "viscosity_gain": st.viscosity_gain,
                "t_hot": st.t_hot, "noise": st.noise, "hot": st.hot, "trigger": st.trigger, "steps": st.steps,
                "walkers": st.walkers, "rungs": st.rungs, "seed": st.seed, "naive_swap": st.naive_swap,
                "metropolis_scale": st.metropolis_scale, "stage": self.stage if self.sampler_b is not None else s.stage,
                "phase": s.phase}

    def _publish(self):
        with self.lock:
            s = self.sampler
            snap = {"seq": self._seq + 1, "session": self.id, "status": self.status,
                    "error": self._error, "error_seq": self._error_seq, "paused_by_error": self._errors_paused,
                    "time": time.time()}
            if s is not None and self.target_obj is not None:
                if self._layout is None:
                    self._layout = self._make_layout()
                    self._stats = None
                i, j = self._layout["coords"]
                if self._stats is None:  # first frame of a target / layout: light diagnostics now
                    self._last_stats = time.perf_counter()
                    self._stats = self._make_stats()
                snap.update(
                    layout=self._layout, rungs=self._rungs_part(), walkers=self._walkers(s, i, j),
                    walkers_b=self._walkers(self.sampler_b, i, j) if self.sampler_b is not None else None,
                    trajectory=self._trajectory(s, i, j), traj_version=self._traj_version,
                    divergences=self._div(s, i, j),
                    divergences_b=self._div(self.sampler_b, i, j) if self.sampler_b is not None else None,
                    energy=self._energy_snapshot(), stats=self._stats, applied=self._applied(),
                    stage=self.stage, phase=s.phase, sweep=s.sweep_count,
                )
            self._seq += 1
        with self._slot_lock:
            self._slot = snap
            self._consumed.clear()

    @staticmethod
    def _div(s: Sampler, i: int, j: int) -> dict:
        d = s.last_divergences
        if d is None or not len(d) or s.phase != "hmc":
            return {"x": np.empty(0, np.float32), "y": np.empty(0, np.float32)}
        return {"x": d[:, i].astype(np.float32), "y": d[:, j].astype(np.float32)}

    # ------------------------------------------------------------------ for tests
    def wait_for(self, predicate, timeout: float = 30.0, poll: float = 0.02):
        """Take snapshots until ``predicate(snapshot)`` is true; return that snapshot (or None)."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            snap = self.take_snapshot()
            if snap is not None and predicate(snap):
                return snap
            time.sleep(poll)
        return None
