"""End-to-end flow control between one page and the server: a frame goes out only when the
page has shown the ones before it.

Without it the server pushed up to 50 frames/s whatever the browser could take. On a busy
machine the browser fell behind, the frames queued in the server's socket buffers (4.6 GB
of server memory in one test run) and every answer to the user -- a slider's applied value,
Pause -- arrived behind tens of seconds of queued frames.

Two Bokeh models with no view carry the handshake: the server stamps each frame with a number
(``mdhmc-frame``'s ``tags``, in the same patch as the frame); the page copies it, after its
next paint (``requestAnimationFrame``), to ``mdhmc-frame-ack``, whose change comes back to the
server. They are data sources, not Divs: any change to a Div makes BokehJS lay out the whole
page again (``MarkupView`` re-renders on every property change), and two Div changes per frame
held the page to 5-8 painted frames/s. `FrameFlow.ready` allows ``in_flight`` frames not yet
shown. A page that does not answer (no JavaScript: a Bokeh client that does not echo, a tab
the browser throttles) still gets a frame every ``timeout_s``. Plain Bokeh models, so a Python ``bokeh.client`` can echo
too (`benchmarks/bokeh_clients.py`).

Served pages are driven by events, not polled (`FrameFlow.drive`): a frame is drawn when the
worker publishes it (`FrameFlow.wake`, from the worker thread) if the page may take it, or
when the page acknowledges a frame and a newer one waits. Polling every page 8-50 times a
second cost the server's one Python thread a Panel callback per poll (20 pages: 17% of it,
mostly no-ops) and added up to a poll period to every frame's way to the page.
"""

from __future__ import annotations

import collections
import logging
import time

import panel as pn
from bokeh.layouts import column
from bokeh.models import ColumnDataSource, CustomJS

__all__ = ["FrameFlow", "FRAME_MODEL", "ACK_MODEL", "TICK_MS", "TICK_MOST_MS"]

# A driven page's periodic callback only starts the session, suspends it without a browser, draws
# a frame whose views were skipped and sends to a page that stopped answering: 4 times a second,
# less in a crowd (scheduler.pace), never less than once a second
TICK_MS, TICK_MOST_MS = 250, 1000

log = logging.getLogger(__name__)

FRAME_MODEL = "mdhmc-frame"
ACK_MODEL = "mdhmc-frame-ack"

ECHO_JS = """
const n = cb_obj.tags.length ? cb_obj.tags[0] : 0;
requestAnimationFrame(() => { ack.tags = [n]; });
"""


class FrameFlow:
    """The handshake of one page (server side)."""

    #: frames sent and not yet shown: with 2 the page waited for each acknowledgement's round trip
    #: (28 walker updates/s at 2,000 walkers while it painted 50 frames/s); 3 keeps it painting
    #: (42-53/s), and Pause's last frame still lands within 300 ms (benchmarks/dashboard_updates.py)
    IN_FLIGHT = 3

    def __init__(self, in_flight: int = IN_FLIGHT, timeout_s: float = 1.0):
        self.in_flight = int(in_flight)
        self.timeout_s = float(timeout_s)
        self.frame = ColumnDataSource(name=FRAME_MODEL, tags=[0])
        self.ack = ColumnDataSource(name=ACK_MODEL, tags=[0])
        self.frame.js_on_change("tags", CustomJS(args={"ack": self.ack}, code=ECHO_JS))
        # an empty hidden column whose tags hold the two sources: that puts them in the document
        self.pane = pn.pane.Bokeh(column(tags=[self.frame, self.ack], visible=False, width=0, height=0), margin=0,
                                  width=0, height=0)
        self.sent = 0
        self._sent_at = 0.0
        self.waited = 0  # ticks that held a frame back (tests, benchmarks)
        self._stamped = collections.deque(maxlen=8)  # (number, time sent) of recent frames
        self.rtt_s, self.rtt_n = 0.0, 0  # acknowledgement round trips (the server log's close line)
        self._draw = self._doc = self._loop = None
        self._woken = False
        self.ack.on_change("tags", self._acked)

    @property
    def acked(self) -> int:
        tags = self.ack.tags
        try:
            return int(tags[0]) if tags else 0
        except (TypeError, ValueError):  # a page can send anything: never trust it
            return 0

    def ready(self) -> bool:
        """Whether the next frame may go out now (server thread)."""
        if self.sent - self.acked < self.in_flight or time.monotonic() - self._sent_at > self.timeout_s:
            return True
        self.waited += 1
        return False

    def stamp(self):
        """Number the frame being drawn (inside its ``pn.io.hold``, server thread)."""
        self.sent += 1
        self._sent_at = time.monotonic()
        self._stamped.append((self.sent, self._sent_at))
        self.frame.tags = [self.sent]

    # ------------------------------------------------------------ event-driven frames
    def drive(self, draw, doc) -> None:
        """Call ``draw()`` on the server thread whenever a frame may go out: after `wake` and
        after each acknowledgement (served pages; call on the server thread). ``draw`` returns
        whether it drew (False: nothing new)."""
        from tornado.ioloop import IOLoop

        self._draw, self._doc, self._loop = draw, doc, IOLoop.current()

    def stop(self) -> None:
        self._draw = None

    def wake(self) -> None:
        """A new frame is ready (any thread; thread-safe: one callback on the server's loop,
        never two pending)."""
        if self._draw is None or self._woken:
            return
        self._woken = True
        self._loop.add_callback(self._run)

    def _run(self):
        self._woken = False  # before drawing: a frame published meanwhile wakes us again
        draw = self._draw
        if draw is None or not self.ready():
            return
        from panel.io.state import set_curdoc

        try:
            with set_curdoc(self._doc):  # Panel's hold and widgets act on this page's document
                draw()
        except Exception:  # a bad frame must not stop the next ones
            log.exception("mdhmc: frame failed")

    def _acked(self, attr, old, new):
        """The page showed a frame (server thread, from the page's message)."""
        n, now = self.acked, time.monotonic()
        while self._stamped and self._stamped[0][0] <= n:
            k, t = self._stamped.popleft()
            if k == n:
                self.rtt_s += now - t
                self.rtt_n += 1
        if self._draw is not None:
            self._run()

    def summary(self) -> str:
        """Frames sent and their acknowledgement round trip (the server log)."""
        return f"{self.sent} frames, ack {1000 * self.rtt_s / max(1, self.rtt_n):.0f} ms on average"
