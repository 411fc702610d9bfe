"""Messages above the plots: target files that did not load, the last error, what a preset
load did, and what the worker is busy with (compiling, a long sweep)."""

from __future__ import annotations

import html

import panel as pn

from . import catalog
from .figures import Text
from .frames import Frame

__all__ = ["Messages"]

QUIET = ("running", "ready", "", "paused after an error")  # statuses not worth a banner


class Messages(pn.viewable.Viewer):
    """The alert boxes of one session."""

    def __init__(self, **params):
        super().__init__(**params)
        errors = catalog.load_errors()
        self.files = Text("<b>Target files that could not be loaded:</b><br>"
                          + "<br>".join(html.escape(e) for e in errors), kind="warning", visible=bool(errors),
                          margin=(2, 10))
        self.error = Text("", kind="danger", visible=False, margin=(2, 10), name="mdhmc-error")
        self.info = Text("", kind="info", visible=False, margin=(2, 10))
        self.status = Text("", kind="warning", visible=False, margin=(2, 10))
        self._error_seq = 0
        self._status = None
        self._column = pn.Column(self.files.pane, self.error.pane, self.info.pane, self.status.pane,
                                 sizing_mode="stretch_width", margin=0)

    def __panel__(self):
        return self._column

    def show_error(self, text: str):
        self.error.show(html.escape(text))

    def show_info(self, text: str, kind: str = "info"):
        self.info.show(html.escape(text), kind)

    def hide_error(self):
        self.error.visible = False

    def apply(self, frame: Frame) -> bool:
        """Show a frame's status and new error; True if the error paused the worker."""
        show = frame.status not in QUIET
        if (frame.status, show) != self._status:
            self._status = (frame.status, show)
            self.status.object = html.escape(f"{frame.status}…") if show else ""
            self.status.visible = show
        if frame.error_seq == self._error_seq:
            return False
        self._error_seq = frame.error_seq
        if frame.error:
            self.error.show(html.escape(frame.error) + (" — <b>paused</b>; change settings or Reset, then Play."
                                                        if frame.paused_by_error else ""))
        return frame.paused_by_error
