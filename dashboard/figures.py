"""Shared look of the dashboard's figures: palettes, the figure style, ranges that move only
when they must, and `Text` (a Bokeh Div in a Panel pane, updated in place).

Every figure is a plain Bokeh figure over `ColumnDataSource`s whose ``data`` is assigned
directly: with 2,000 points this is about twice as fast as re-rendering HoloViews
elements. The app applies each frame inside ``pn.io.hold()`` so one frame is one message.
"""

from __future__ import annotations

import math

import numpy as np
import panel as pn
from bokeh.models import ColumnDataSource, CustomJS, Div, InlineStyleSheet
from bokeh.plotting import figure

__all__ = ["COLD", "HOT", "HMC", "TRUTH", "rung_palette", "DENSITY_PALETTE", "make_figure", "empty", "robust_range",
           "follow_range", "fmt", "Text", "CSS"]

COLD = "#1f5fa8"  # T = 1
HOT = "#d7301f"  # hottest rung
HMC = "#e08214"  # exact HMC in the side-by-side mode
TRUTH = "#9a9a9a"
TOOLS = "pan,wheel_zoom,box_zoom,reset,save"


def fmt(v, spec: str = ".3g", dash: str = "–") -> str:
    """Format a number; None, NaN and infinities show as a dash (never 'nan')."""
    try:
        f = float(v)
    except (TypeError, ValueError):
        return dash
    if not math.isfinite(f):
        return dash
    return format(f, spec)


def _mix(c1: str, c2: str, t: float) -> str:
    a = np.array([int(c1[i:i + 2], 16) for i in (1, 3, 5)], dtype=float)
    b = np.array([int(c2[i:i + 2], 16) for i in (1, 3, 5)], dtype=float)
    r = np.round(a + (b - a) * t).astype(int)
    return "#" + "".join(f"{v:02x}" for v in r)


def rung_palette(n: int) -> list[str]:
    """Cold blue to hot red through purple, one colour per rung."""
    if n <= 1:
        return [COLD]
    return [_mix(COLD, "#8e44ad", 2 * k / (n - 1)) if k <= (n - 1) / 2 else _mix("#8e44ad", HOT, 2 * k / (n - 1) - 1)
            for k in range(n)]


# greys: blue (cold) and red (hot) walkers both keep their contrast on it, on a projector too
DENSITY_PALETTE = [_mix("#ffffff", "#e3e3e3", min(1.0, k / 110)) if k <= 110 else _mix("#e3e3e3", "#a8a8a8", (k - 110) / 145)
                   for k in range(256)]


def make_figure(title: str, width: int, height: int, **kw):
    p = figure(title=title, width=width, height=height, tools=TOOLS, toolbar_location="right",
               output_backend="canvas", **kw)
    p.toolbar.logo = None
    p.title.text_font_size = "13px"
    p.title.text_font_style = "bold"
    p.title.text_color = "#333333"
    p.axis.major_label_text_font_size = "11px"
    p.axis.axis_label_text_font_size = "12px"
    p.axis.axis_label_text_font_style = "normal"
    p.grid.grid_line_alpha = 0.35
    p.outline_line_color = "#dddddd"
    p.min_border_left = 40
    return p


def empty(*cols):
    return {c: np.empty(0) for c in cols}


def robust_range(rng, values, at_least=None, lo_q=1.0, hi_q=99.0):
    """Range over the 1-99 % quantiles, moved only when the data leave it or shrink a lot
    (every range change repaints the figure's axes)."""
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    if not len(v):
        return
    lo, hi = np.percentile(v, [lo_q, hi_q])
    if at_least is not None:
        lo, hi = min(lo, at_least[0]), max(hi, at_least[1])
    pad = 0.08 * (hi - lo) if hi > lo else 1.0
    lo, hi = float(lo - pad), float(hi + pad)
    span = rng.end - rng.start
    if lo < rng.start or hi > rng.end or (hi - lo) < 0.6 * span:
        rng.update(start=lo - pad, end=hi + pad)


def follow_range(rng, lo: float, hi: float, chunk: float, slack: float):
    """A scrolling x range (sweeps, steps): moved in chunks, not every frame."""
    if hi > rng.end or lo < rng.start or lo > rng.start + slack:
        rng.update(start=np.floor(lo / chunk) * chunk, end=np.ceil(hi / chunk) * chunk + chunk)


CSS = """
.mdhmc-strip { display: flex; flex-wrap: wrap; gap: 6px; margin: 2px 0 4px 0; }
.mdhmc-cell { background: #f6f8fb; border: 1px solid #e1e6ee; border-radius: 6px; padding: 3px 9px; min-width: 74px; }
.mdhmc-cell.mdhmc-stage { min-width: 190px; }
.mdhmc-v { font-size: 15px; font-weight: 600; color: #1d2b3a; font-variant-numeric: tabular-nums; white-space: nowrap; }
.mdhmc-l { font-size: 10.5px; color: #6b7785; text-transform: uppercase; letter-spacing: .03em; }
.mdhmc-bad .mdhmc-v { color: #c0392b; }
.mdhmc-applied { font-size: 12px; color: #4b5563; margin: 2px 0 0 2px; }
.mdhmc-teach { font-size: 13.5px; line-height: 1.45; color: #26323f; }
.mdhmc-teach p { margin: 4px 0 6px 0; }
.mdhmc-formula { font-family: "DejaVu Serif", Georgia, serif; font-size: 14.5px; background: #f4f1fa;
  border-left: 3px solid #7b3294; padding: 5px 9px; border-radius: 3px; color: #2b1f3a; }
.mdhmc-alert { border-radius: 6px; padding: 7px 12px; font-size: 13.5px; line-height: 1.4; border: 1px solid; }
.mdhmc-alert.danger { background: #fdecea; border-color: #f5c2bd; color: #7d1d12; }
.mdhmc-alert.warning { background: #fff6e0; border-color: #f3d48a; color: #6b4a00; }
.mdhmc-alert.success { background: #e9f6ec; border-color: #b7dfc1; color: #1d5a2c; }
.mdhmc-alert.info { background: #e8f1fb; border-color: #b9d3ef; color: #19406b; }
.mdhmc-note { font-size: 12px; color: #555; }
.mdhmc-section { font-weight: 600; color: #27364a; font-size: 13px; margin-top: 4px; }
"""


LIVE_JS = """
const html = cb_obj.tags[0];
const view = window.Bokeh && Bokeh.index ? Bokeh.index.find_one(div) : null;
if (view != null && view.markup_el != null) {
  div.setv({text: html}, {silent: true});  // the model agrees with what is shown (tests read it)
  view.markup_el.innerHTML = html;
} else {
  div.text = html;  // not drawn yet: the usual way
}
"""


class Text:
    """A Bokeh ``Div`` in a Panel pane: updated by assigning ``.object`` / ``.visible``.

    Panel's HTML/Markdown/Alert panes make the page load MathJax (1.8 MB of JavaScript);
    a Bokeh Div with ``disable_math`` does not, and updates as directly as a data source.
    """

    def __init__(self, html: str = "", kind: str = "", visible: bool = True, css: str = "", name: str | None = None,
                 live: bool = False, **pane_kw):
        self.kind = kind
        self.div = Div(text=self._wrap(html), disable_math=True, visible=visible, name=name,
                       stylesheets=[InlineStyleSheet(css=CSS + css)],
                       sizing_mode=pane_kw.pop("sizing_mode", "stretch_width"), width=pane_kw.pop("width", None))
        # live: a text that changes every frame goes through a data source (no view) whose change
        # writes it into the drawn Div (`LIVE_JS`); setting ``Div.text`` instead makes BokehJS lay out
        # the whole page again (a profile of the default page: 16% of the browser's main thread)
        self.carrier = None
        if live:
            self.carrier = ColumnDataSource(tags=[self.div.text])
            self.carrier.js_on_change("tags", CustomJS(args={"div": self.div}, code=LIVE_JS))
            self.div.tags = [self.carrier]
        self.pane = pn.pane.Bokeh(self.div, **pane_kw)
        self._html = html

    def _wrap(self, html: str) -> str:
        return f'<div class="mdhmc-alert {self.kind}">{html}</div>' if self.kind else html

    @property
    def object(self) -> str:
        return self._html

    @object.setter
    def object(self, html: str):
        if html != self._html:
            self._html = html
            if self.carrier is not None:
                self.carrier.tags = [self._wrap(html)]
            else:
                self.div.text = self._wrap(html)

    @property
    def visible(self) -> bool:
        return self.div.visible

    @visible.setter
    def visible(self, v: bool):
        if bool(v) != self.div.visible:
            self.div.visible = bool(v)

    def show(self, html: str, kind: str | None = None):
        if kind is not None and kind != self.kind:
            self.kind = kind
            self._html = None
        self.object = html
        self.visible = True


class StatsView(pn.viewable.Viewer):
    """A statistics panel: reset when a frame brings a new layout (target, coordinates),
    redrawn when it brings new statistics; each version is applied once."""

    def __init__(self, **params):
        super().__init__(**params)
        self._seen = (None, None)  # layout, stats versions

    def apply(self, frame):
        lay, st = frame.layout, frame.stats
        if lay.version != self._seen[0]:
            self._seen = (lay.version, None)
            self.on_layout(lay)
        self.on_frame(frame)
        if st is not None and st.version != self._seen[1]:
            self._seen = (lay.version, st.version)
            self.on_stats(st, lay)

    def on_layout(self, lay):
        """A new target or pair of coordinates."""

    def on_frame(self, frame):
        """Every frame (cheap updates only)."""

    def on_stats(self, st, lay):
        """New statistics."""

