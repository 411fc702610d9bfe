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
"""

from __future__ import annotations

import time

import panel as pn
from bokeh.layouts import column
from bokeh.models import ColumnDataSource, CustomJS

__all__ = ["FrameFlow", "FRAME_MODEL", "ACK_MODEL"]

FRAME_MODEL = "mdhmc-frame"
ACK_MODEL = "mdhmc-frame-ack"

ECHO_JS = """
const n = cb_obj.tags.length ? cb_obj.tags[0] : 0;
requestAnimationFrame(() => { ack.tags = [n]; });
"""


class FrameFlow:
    """The handshake of one page (server side)."""

    def __init__(self, in_flight: int = 2, timeout_s: float = 1.0):
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
        self.frame.tags = [self.sent]
