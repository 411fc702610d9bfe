"""Presenter mode: ``?watch=<id>`` mirrors session ``<id>`` read-only.

A viewer's page has its own views (Bokeh documents are per page) but no worker and no
samplers: the presenter's newest frame (`registry.latest`) is applied when the presenter's
worker publishes it (`registry.listen` wakes the viewer's `FrameFlow`; polled where not
served). The cost of a viewer is the drawing and sending of frames only. The presenter's id
is in the server log ("session N opened") and in the page's "Copy watch link" text.
"""

from __future__ import annotations

import html
import time

import panel as pn

from . import registry, scheduler
from .cloud import WalkerCloud
from .energy import EnergyTraces
from .figures import Text
from .flow import TICK_MOST_MS, TICK_MS, FrameFlow
from .mass import MassBalance
from .qq import QQPlots
from .rungs import RungView
from .strip import StatisticsStrip
from .temperatures import Temperatures

__all__ = ["watched", "WatchPage", "WATCH_MS"]

WATCH_MS = 100  # a viewer polled (a notebook) draws at most 10 frames/s (fewer in a crowd: scheduler.pace)
VIEWS_EVERY_S = 0.25  # views other than the cloud, and the strip: at most 4 updates/s


def watched() -> int | None:
    """The session id in ``?watch=<id>``, or None (a normal page)."""
    try:
        args = pn.state.session_args or {}
        v = args.get("watch")
        if not v:
            return None
        return int(v[0])
    except (TypeError, ValueError):
        return -1


class WatchPage(pn.viewable.Viewer):
    """A read-only mirror of session ``session``."""

    def __init__(self, session: int, live: bool = True, **params):
        super().__init__(**params)
        self.session = session
        self.status = Text("", kind="info", name="mdhmc-watch-status")
        self.strip = StatisticsStrip()
        self.cloud = WalkerCloud()
        self.energy = EnergyTraces()
        self.qq = QQPlots()
        self.temperatures = Temperatures()
        self.mass = MassBalance()
        self.rungs = RungView(self._trace)
        self.views = (self.cloud, self.energy, self.qq, self.temperatures, self.mass, self.rungs)
        self.frames = 0
        self.flow = FrameFlow()  # a frame goes out when the page has shown the ones before it
        self._seq = None
        self._key = None
        self._closed = False
        # only the open tab is in the document and drawn (as on the presenter's page: layout.compose)
        tabs = pn.Tabs(("Energy", self.energy), ("Q-Q", self.qq), ("Temperatures", pn.Row(self.temperatures, self.rungs)),
                       ("Mass", self.mass), dynamic=True)
        self.tabs = tabs
        self.tab_views = ((self.energy,), (self.qq,), (self.temperatures, self.rungs), (self.mass,))
        tabs.param.watch(lambda e: self._show_tab(e.new), "active")
        self._page = pn.Column(self.status.pane, self.strip, pn.Row(self.cloud, tabs), self.flow.pane,
                               sizing_mode="stretch_width")
        self._callback = None
        self._listening = False
        self._full_at, self._views_every_s, self._paced_at = 0.0, VIEWS_EVERY_S, 0.0
        self.draw()
        if live:
            scheduler.viewer_opened()
            doc = pn.state.curdoc
            period = WATCH_MS
            if doc is not None and doc.session_context is not None:  # served: drawn on the presenter's frames
                self.flow.drive(self.draw, doc)
                registry.listen(session, self.flow.wake)
                self._listening = True
                period = TICK_MS
            self._callback = pn.state.add_periodic_callback(self.draw, period=period, start=True)
            pn.state.on_session_destroyed(lambda ctx: self.close())

    def __panel__(self):
        return self._page

    def _show_tab(self, index: int):
        """A tab opened: its views show the presenter's newest frame now."""
        frame = registry.latest(self.session)
        if frame is None or frame.layout is None or not 0 <= index < len(self.tab_views):
            return
        with pn.io.hold(pn.state.curdoc):
            for v in self.tab_views[index]:
                v.apply(frame)

    def _trace(self):
        w = registry.worker_of(self.session)
        return w.replicas.snapshot() if w is not None and hasattr(w, "replicas") else None

    def close(self):
        if self._callback is not None and not self._closed:
            scheduler.viewer_closed()
            self._callback.stop()
            print(f"mdhmc: viewer of session {self.session} closed; {self.flow.summary()}", flush=True)
        if self._listening:
            registry.unlisten(self.session, self.flow.wake)
            self._listening = False
        self.flow.stop()
        self._closed = True

    def draw(self) -> bool:
        """Apply the presenter's newest frame if it is new; True if drawn."""
        if self._closed:
            return False
        frame = registry.latest(self.session)
        if frame is None:
            self.status.show(f"Session {html.escape(str(self.session))} is not open on this server (it may have "
                             "closed). Ask the presenter for a new link.", "warning")
            return False
        now = time.monotonic()
        if self._callback is not None and now - self._paced_at >= 1.0:
            self._paced_at = now
            if self._listening:
                self._views_every_s = scheduler.pace(self._callback, TICK_MS, VIEWS_EVERY_S, TICK_MOST_MS)
            else:
                self._views_every_s = scheduler.pace(self._callback, WATCH_MS, VIEWS_EVERY_S)
        if frame.seq == self._seq or (self._callback is not None and not self.flow.ready()):
            return False
        self._seq = frame.seq
        # the cloud every frame; the rest a few times a second (fewer in a crowd), or at once on a
        # new layout: as on the presenter's page (App.apply)
        key = frame.layout.version if frame.layout is not None else None
        full = self._callback is None or key != self._key or now - self._full_at >= self._views_every_s
        if full:
            self._full_at, self._key = now, key
        with pn.io.hold(pn.state.curdoc):
            if full:
                self.status.show(f"Watching session {self.session} (read-only): the presenter's controls drive "
                                 "this page.", "info")
            if frame.layout is not None:
                hidden = [v for k, vs in enumerate(self.tab_views) if k != self.tabs.active for v in vs]
                for v in self.views:
                    if v is self.cloud or (full and not any(v is h for h in hidden)):
                        v.apply(frame)
            if full:
                self.strip.apply(frame, True)
            self.flow.stamp()
        self.frames += 1
        self.t_last = time.monotonic()
        return True
