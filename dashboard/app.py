"""mdhmc's live dashboard (Panel): `App`, one session's page.

Serve it with ``mdhmc serve`` or ``panel serve dashboard/app.py --show`` (``--warm``
compiles the kernels at server start instead of on the first page view), or show it in a
notebook cell::

    from mdhmc.dashboard import App
    App()

Per session: `controls.Controls` (what you set; synced with the URL), one
`worker.Worker` (the samplers and their thread, newest-wins frames), the views (Bokeh
figures over ColumnDataSources), and one periodic callback that applies the newest frame
inside ``pn.io.hold()``. When the session closes its worker thread is stopped.
"""

from __future__ import annotations

import gc
import html
import json
import logging
import os
import sys
import time
from urllib.parse import urlencode

import numba

numba.config.THREADING_LAYER = "threadsafe"  # before the first parallel kernel in this process

import panel as pn  # noqa: E402
from bokeh.models import Div, InlineStyleSheet  # noqa: E402

from mdhmc.dashboard import texts, warmup  # noqa: E402
from mdhmc.dashboard.cloud import WalkerCloud  # noqa: E402
from mdhmc.dashboard.controls import URL_KEYS, Controls, legacy_query  # noqa: E402
from mdhmc.dashboard.controls_panel import ControlsPanel  # noqa: E402
from mdhmc.dashboard.energy import EnergyTraces  # noqa: E402
from mdhmc.dashboard.figures import Text  # noqa: E402
from mdhmc.dashboard.flow import TICK_MOST_MS, TICK_MS, FrameFlow  # noqa: E402
from mdhmc.dashboard.frames import Frame  # noqa: E402
from mdhmc.dashboard.mass import MassBalance  # noqa: E402
from mdhmc.dashboard.messages import Messages  # noqa: E402
from mdhmc.dashboard.qq import QQPlots  # noqa: E402
from mdhmc.dashboard.strip import StatisticsStrip  # noqa: E402
from mdhmc.dashboard.temperatures import Temperatures  # noqa: E402
from mdhmc.dashboard import registry, scheduler  # noqa: E402
from mdhmc.dashboard.worker import Worker  # noqa: E402

__all__ = ["App", "FRAME_MS", "TITLE", "MAX_SESSIONS", "server_full", "full_page"]

log = logging.getLogger("mdhmc.dashboard")

FRAME_MS = 20  # periodic callback period where frames are polled (a notebook): at most 50 frames/s
# Served pages draw a frame when it is published or acknowledged (FrameFlow.drive); their periodic
# callback ticks every TICK_MS (dashboard/flow.py)
VIEWS_EVERY_S = 0.25  # every view but the cloud: at most 4 updates/s
# In a crowded server (a room of students) every session's frames, views and periodic callbacks
# share one Python thread: the callback period and the views' interval grow with
# `scheduler.crowd`, so the cloud keeps its frames
# Python hands the GIL to a waiting thread after this long (default 5 ms). A sweep reacquires it
# after every numba kernel (they run without it), and in a room twenty workers and the server
# thread wait for it: at 5 ms a 2 ms sweep took 60 ms of its core slot, and a frame waited for
# the slot. Shorter turns cost a little switching and keep every thread's waits short.
SWITCH_INTERVAL_S = 0.001
#: sessions one server runs at once (``mdhmc serve --max-sessions``); the next page is told to wait
MAX_SESSIONS = max(1, int(os.environ.get("MDHMC_MAX_SESSIONS", "24"))) \
    if os.environ.get("MDHMC_MAX_SESSIONS", "24").strip().isdigit() else 24
ONLOAD_GRACE_S = float(os.environ.get("MDHMC_ONLOAD_GRACE_S", "20"))  # see App._tick
TITLE = "mdhmc · momentum-diffusion HMC, live"
HEADER_COLOR = "#27364a"
HEADER_CSS = """
.mdhmc-header { color: white; font-size: 22px; font-weight: 500; padding: 12px 22px;
  font-family: system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; }
"""
SIDEBAR_STYLES = {"background": "#ffffff", "border": "1px solid #e3e8ef", "border-radius": "6px"}


def quiet_closed_sockets() -> None:
    """Drop the event loop's "Task exception was never retrieved ... WebSocketClosedError"
    reports (idempotent; on the server's loop). Panel writes a frame's messages to the socket
    as tornado futures and awaits them later; when the page closes between the two, the
    writes fail on a closed socket and nobody retrieves the error (holoviz/panel#3113): a
    closed page, not a fault, so no traceback. Any other unretrieved exception is reported
    as before."""
    import asyncio

    from tornado.iostream import StreamClosedError
    from tornado.ioloop import IOLoop
    from tornado.websocket import WebSocketClosedError

    loop = IOLoop.current().asyncio_loop
    if getattr(loop, "_mdhmc_quiet", False):
        return
    previous = loop.get_exception_handler()

    def handler(loop: asyncio.AbstractEventLoop, context: dict):
        if isinstance(context.get("exception"), (WebSocketClosedError, StreamClosedError)):
            return
        if previous is not None:
            previous(loop, context)
        else:
            loop.default_exception_handler(context)

    loop.set_exception_handler(handler)
    loop._mdhmc_quiet = True


def server_full(limit: int | None = None) -> bool:
    """Whether the server already runs its cap of sessions (each open session holds a worker)."""
    limit = MAX_SESSIONS if limit is None else limit
    if registry.open_count() < limit:
        return False
    gc.collect()  # a worker never closed (the --warm run's) counts until it is collected
    return registry.open_count() >= limit


def full_page():
    """What the page over the cap shows instead of a session: no worker, no samplers."""
    n = registry.open_count()
    log.warning("mdhmc: server full (%d sessions open, limit %d): a page was turned away", n, MAX_SESSIONS)
    text = (f"<h2>{html.escape(TITLE)}</h2><p class='mdhmc-server-full'>This server is full: it runs at most "
            f"{MAX_SESSIONS} sessions at once and {n} are open. Close another tab of the dashboard, or reload "
            "this page in a minute.</p>")
    return pn.pane.HTML(text, margin=20, disable_math=True)


class App(pn.viewable.Viewer):
    """One dashboard session. Keyword arguments set controls (``App(target="funnel",
    target_dim=5, step_size=0.02)``); ``max_lag_s`` bounds how long the worker waits for a
    frame to be drawn before it sweeps on. ``live=False``: no worker thread and no periodic
    callback; the caller drives ``app.worker.advance()`` and `App.draw` (tests)."""

    def __init__(self, max_lag_s: float = 0.25, live: bool = True, **controls):
        super().__init__()
        # no design system: the Bootstrap design puts 220 kB of CSS into every shadow root, and
        # Bokeh 3 recomputes styles several times per repaint -- it cut the page to a few frames/s
        pn.extension(raw_css=[".bk-btn { font-weight: 600; }"], notifications=False)
        pn.config.global_loading_spinner = True  # the tab shows that it is loading, not a blank page
        warmup.ensure_started(block_first=True, background=True)
        self.doc = pn.state.curdoc
        self.controls = Controls(**controls)
        self.worker = Worker(self.controls, max_lag_s=max_lag_s)
        self.messages = Messages()
        self.sidebar = ControlsPanel(self.controls, self.worker, self.messages)
        self.strip = StatisticsStrip()
        self.cloud = WalkerCloud()
        self.cloud_hmc = WalkerCloud(hmc=True, share=self.cloud)
        self.energy = EnergyTraces()
        self.qq = QQPlots()
        self.temperatures = Temperatures()
        self.mass = MassBalance()
        self.views = (self.cloud, self.cloud_hmc, self.energy, self.qq, self.temperatures, self.mass)
        self.teach = Text(texts.text_for(self.controls.stage, "diffusion"), width=540, sizing_mode=None,
                          margin=(4, 10))
        self.controls.param.watch(lambda e: self.messages.show_error(e.new) if e.new else None, "notice")
        self.frames = 0  # frames applied (tests, benchmarks)
        self.flow = FrameFlow()  # a frame goes out when the page has shown the ones before it
        self._live = bool(live)
        self._full_key, self._full_at = None, 0.0
        # the newest frame if its views and strip were skipped (drawn at most 4 times a second):
        # drawn whole once no newer frame comes, e.g. the one frame of a Step while paused
        self._stale: Frame | None = None
        self._teach_key = None
        self._loaded = False
        self._live_since = None
        self._closed = False
        self._callback = None
        self._served = False
        self._views_every_s, self._paced_at = VIEWS_EVERY_S, 0.0
        self.tab_views: tuple = ()  # per tab of the page, the views it shows (layout.compose)
        self._last: Frame | None = None  # the newest frame drawn: a tab that opens shows it
        self._page = self._build_page()
        self._every_frame = tuple(v for v in (self.cloud, self.cloud_hmc, getattr(self, "animation", None),
                                              getattr(self, "capture", None)) if v is not None)
        self._sync_url()
        self._start(live)

    def __panel__(self):
        return self._page

    # ------------------------------------------------------------------ page
    def _build_page(self):
        from mdhmc.dashboard import layout  # the arrangement (lecture mode) lives there

        return layout.compose(self)

    def _sync_url(self):
        """Controls <-> URL query (served pages only); keys of older links are read too.

        Read once, when the page opens (a dimension after its target); written whole, from the
        current controls, after every change -- so the URL is never one change behind, and a
        link copied after a preset holds the preset's target and stage too."""
        loc = pn.state.location
        if loc is None or self.doc is None or self.doc.session_context is None:
            return
        query = dict(loc.query_params)
        old = legacy_query(query)
        mapped = {}
        for k in URL_KEYS:
            if k in query:
                try:
                    mapped[k] = self.controls.param[k].deserialize(query[k])
                except Exception:
                    mapped[k] = query[k]
        first = {k: mapped.pop(k) for k in ("target", "target_dim") if k in mapped}
        for part in (first, mapped, old):
            if part:
                self._set_from_link(part)
        self._location = loc
        self.controls.param.watch(self._write_url, list(URL_KEYS))
        self._write_url()

    def url_query(self) -> str:
        """The query that restores the current controls (``?target=...&step_size=...``)."""
        out = {}
        for k in URL_KEYS:
            v = self.controls.param[k].serialize(getattr(self.controls, k))
            out[k] = v if isinstance(v, str) else json.dumps(v)
        return "?" + urlencode(out)

    def _write_url(self, *events):
        loc = getattr(self, "_location", None)
        if loc is not None:
            q = self.url_query()
            if loc.search != q:
                loc.search = q

    def _set_from_link(self, mapped: dict):
        """Link values in one change (one budget check: one notice names everything clipped);
        if a value is refused, one by one, and those refused are named in one warning."""
        changed = {k: v for k, v in mapped.items() if getattr(self.controls, k, None) != v}
        try:
            self.controls.param.update(**changed)
            return
        except Exception:
            pass
        bad = []
        for k, v in mapped.items():
            try:
                if getattr(self.controls, k) != v:
                    setattr(self.controls, k, v)
            except Exception:
                bad.append(f"{k}={v!r}")
        if bad:
            self.messages.show_info("Ignored link parameters: " + ", ".join(bad), "warning")

    # ------------------------------------------------------------------ lifecycle
    def _start(self, live: bool):
        # the first frame goes out with the page itself: build the sampler and draw its start now
        try:
            self.worker.prime()
            self.draw()
        except Exception as exc:
            log.exception("mdhmc: first frame failed")
            self.messages.show_error(f"Could not start: {type(exc).__name__}: {exc}")
        if not live:
            return
        if self.doc is not None and self.doc.session_context is not None \
                and sys.getswitchinterval() > SWITCH_INTERVAL_S:  # served: the server process
            sys.setswitchinterval(SWITCH_INTERVAL_S)
        pn.state.on_session_destroyed(self._destroyed)
        self._served = self.doc is not None and self.doc.session_context is not None
        if self._served:
            self.flow.drive(self._draw_event, self.doc)
            self.worker.on_publish = self.flow.wake
        self._callback = pn.state.add_periodic_callback(self._tick, period=TICK_MS if self._served else FRAME_MS,
                                                        start=True)
        pn.state.onload(self._onload)  # at once where there is no server session (a notebook)

    def _connected(self) -> bool:
        """Whether a browser is connected to this session; True where that cannot be told
        (a notebook, other servers)."""
        try:
            return self.doc.session_context.session.connection_count > 0
        except Exception:
            return True

    def _onload(self):
        self._loaded = True
        if self.worker.running or self._closed:
            return
        self.worker.start()
        print(f"mdhmc: session {self.worker.id} opened ({len(registry.live())} live)", flush=True)

    def _tick(self):
        live = self._connected()
        if not self._loaded:
            # Frames start when Panel reports the page loaded (onload): changes made between the
            # browser pulling the document and that moment are not sent to it by Panel, so a
            # one-off change (an error message) could be lost. Fallback: a browser connected for
            # ONLOAD_GRACE_S without onload starts anyway. A plain GET of the page never does.
            if live:
                self._live_since = self._live_since or time.monotonic()
                if time.monotonic() - self._live_since > ONLOAD_GRACE_S:
                    print(f"mdhmc: session {self.worker.id}: no onload {ONLOAD_GRACE_S:.0f} s after connecting; "
                          "starting anyway", flush=True)
                    self._onload()
            return
        # no browser, no sweeps: between a page closing and the server dropping its session
        self.worker.suspend(not live)
        self._pace()
        if live and self.flow.ready():
            try:
                if not self.draw() and self._stale is not None \
                        and time.monotonic() - self._full_at >= self._views_every_s:
                    # the last frame's views and strip were skipped; its cloud is on the page
                    # already (sent again, it showed as a walker update after Pause)
                    self.draw(self._stale, rest=True)
            except Exception:  # never let one bad frame stop the periodic callback
                log.exception("mdhmc: frame failed")

    def _draw_event(self) -> bool:
        """A frame was published or acknowledged (served pages, server thread): draw the newest."""
        if not self._loaded or self._closed:
            return False
        return self.draw()

    def _pace(self):
        """Once a second: the callback period and the views' interval for the current crowd."""
        now = time.monotonic()
        if now - self._paced_at < 1.0:
            return
        self._paced_at = now
        if self._served:
            self._views_every_s = scheduler.pace(self._callback, TICK_MS, VIEWS_EVERY_S, TICK_MOST_MS)
        else:
            self._views_every_s = scheduler.pace(self._callback, FRAME_MS, VIEWS_EVERY_S)

    def close(self) -> bool:
        """Stop the periodic callback and the worker thread; True if the thread stopped."""
        self._closed = True
        self.flow.stop()
        self.worker.on_publish = None
        if self._callback is not None:
            try:
                self._callback.stop()
            except Exception:
                pass
        return self.worker.close(timeout=2.0)

    def _destroyed(self, session_context):
        t0 = time.perf_counter()
        stopped = self.close()
        msg = (f"mdhmc: session {self.worker.id} closed; worker "
               f"{'stopped' if stopped else 'still finishing a block of walkers'} in {time.perf_counter() - t0:.2f} s "
               f"({len(registry.live())} live, {registry.open_count()} open, {registry.in_memory() - 1} other sessions "
               f"in memory); {self.flow.summary()} of {self.worker.published} published; core slots: "
               f"{self.worker.slot_times.summary()}")
        log.info(msg)
        print(msg, flush=True)

    # ------------------------------------------------------------------ frames
    def draw(self, frame: Frame | None = None, rest: bool = False) -> bool:
        """Apply ``frame`` (default: the newest, if there is one) as one document change; True if
        drawn. ``rest``: only what was skipped when it was drawn (its views and strip)."""
        frame = frame if frame is not None else self.worker.take_frame()
        if frame is None:
            return False
        with pn.io.hold(self.doc):
            pause = self.apply(frame, rest=rest)
            self.flow.stamp()
        if pause and self.controls.playing:
            self.controls.playing = False  # outside the hold: widget changes inside it were lost
        return True

    def _hidden_views(self) -> tuple:
        """Views in tabs that are not open: not in the page's document, not drawn."""
        active = getattr(getattr(self, "tabs", None), "active", 0)
        return tuple(v for k, views in enumerate(self.tab_views) if k != active for v in views)

    def show_tab(self, index: int) -> None:
        """Tab ``index`` opened (server thread): draw its views from the newest frame now."""
        frame = self._last
        if frame is None or frame.layout is None or not 0 <= index < len(self.tab_views):
            return
        with pn.io.hold(self.doc):
            for view in self.tab_views[index]:
                try:
                    view.apply(frame)
                except Exception:
                    log.exception("mdhmc: drawing tab %d failed", index)

    def draw_all(self) -> None:
        """Draw every view from the newest frame, hidden tabs too (the PNG snapshot reads them)."""
        for k in range(len(self.tab_views)):
            self.show_tab(k)

    def apply(self, frame: Frame, rest: bool = False) -> bool:
        """Draw ``frame`` in every view (``rest``: not those drawn every frame: it was drawn
        before); True if its error paused the worker."""
        # the cloud every frame; the other views a few times a second (and at once after a new
        # layout, stage or phase): each of their updates repaints more canvases in the browser,
        # and the page's paint rate is what bounds the cloud's frame rate (dashboard/flow.py)
        now = time.monotonic()
        # a new layout, stage, phase, ladder, error or applied setting is drawn whole at once: a
        # slider's applied value waited up to VIEWS_EVERY_S for the strip before
        key = (frame.layout.version if frame.layout is not None else None, frame.stage, frame.phase,
               frame.rungs.version if frame.rungs is not None else None, frame.error_seq, frame.applied)
        full = not self._live or key != self._full_key or now - self._full_at >= self._views_every_s
        if full:
            self._full_key, self._full_at = key, now
        self._stale = None if full else frame
        self._last = frame
        if frame.layout is not None:
            try:
                hidden = self._hidden_views() if self._live else ()
                for view in self.views:
                    every = any(view is v for v in self._every_frame)
                    if (every and not rest) or (not every and full and not any(view is v for v in hidden)):
                        view.apply(frame)
            except Exception as exc:  # a drawing problem must not stop the session
                log.exception("mdhmc: frame failed")
                self.messages.show_error(f"Drawing failed: {type(exc).__name__}: {exc}")
            gradient = frame.applied.gradient if frame.applied is not None else "spsa"
            key = (frame.stage, frame.phase, gradient, bool(frame.probe))
            if key != self._teach_key:
                self._teach_key = key
                self.teach.object = texts.text_for(*key)
                self.sidebar.show_phase(frame.stage, frame.phase, bool(frame.probe))
        if full:
            self.strip.apply(frame, self.controls.playing)
        self.frames += 1
        return self.messages.apply(frame)


if __name__.startswith("bokeh_app") or __name__ == "__main__":
    # `panel serve dashboard/app.py` runs this file as a fresh script per session and clears
    # its globals when the session ends; the session's callbacks must outlive that, so they
    # come from the imported (persistent) module.
    from mdhmc.dashboard.app import TITLE as _TITLE, App as _App, full_page as _full_page, server_full as _full

    from mdhmc.dashboard.app import quiet_closed_sockets as _quiet
    from mdhmc.dashboard.bokeh_refs import install as _lazy_refs

    _lazy_refs()  # Bokeh's per-message maps of every model, looked up instead (dashboard/bokeh_refs.py)

    from mdhmc.dashboard.watch import WatchPage as _Watch, watched as _watched

    _quiet()
    _session = _watched()  # ?watch=<id>: a read-only mirror of another session (no worker)
    (_Watch(_session) if _session is not None else _full_page() if _full() else _App()).servable(title=_TITLE)
