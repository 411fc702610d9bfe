"""Q-Q plots of the two shown coordinates: sampled quantiles against exact draws, with the
KS distance (blue: the main sampler; orange: exact HMC in the side-by-side mode)."""

from __future__ import annotations

import numpy as np
import panel as pn
from bokeh.models import ColumnDataSource, Label, Range1d, Slope

from .figures import COLD, HMC, StatsView, empty, fmt, make_figure
from .frames import Layout, Stats

__all__ = ["QQPlots"]


class _QQ:
    """One coordinate's Q-Q figure."""

    def __init__(self, axis: str):
        p = self.fig = make_figure(f"Q-Q: {axis}", 290, 320, x_range=Range1d(-1, 1), y_range=Range1d(-1, 1))
        p.add_layout(Slope(gradient=1, y_intercept=0, line_color="#888888", line_dash="dashed", line_width=1.2))
        self.sources = (ColumnDataSource(empty("exact", "sample"), name=f"mdhmc-qq-{axis}"),
                        ColumnDataSource(empty("exact", "sample"), name=f"mdhmc-qq-{axis}-hmc"))
        p.scatter("exact", "sample", source=self.sources[0], size=5, fill_color=COLD, line_color=None, fill_alpha=0.8)
        p.scatter("exact", "sample", source=self.sources[1], size=5, fill_color=HMC, line_color=None, fill_alpha=0.8,
                  marker="diamond")
        # KS labels are canvas annotations (a changing Title would re-layout the page 4x a second)
        style = dict(text_baseline="top", background_fill_color="white", background_fill_alpha=0.85)
        self.ks = (Label(x=0, y=0, text="", text_font_size="12px", text_color=COLD, text_font_style="bold",
                         name=f"mdhmc-ks-{axis}", **style),
                   Label(x=0, y=0, y_offset=-32, text="", text_font_size="12px", text_color=HMC,
                         text_font_style="bold", **style))
        self.pool = Label(x=0, y=0, y_offset=-16, text="", text_font_size="10.5px", text_color="#666666", **style)
        self.note = Label(x=8, y=8, x_units="screen", y_units="screen", text="", text_font_size="11px",
                          text_color="#666666")
        for lab in (*self.ks, self.pool, self.note):
            p.add_layout(lab)
        p.toolbar_location = None

    def set_layout(self, lay: Layout, label: str):
        self.fig.title.text = f"Q-Q of {label}: cold walkers vs exact"
        self.fig.xaxis.axis_label = f"exact quantiles of {label}"
        self.fig.yaxis.axis_label = f"sampled quantiles of {label}"
        for src in self.sources:
            src.data = empty("exact", "sample")
        self.ks[0].text = self.ks[1].text = self.pool.text = ""
        self.note.text = "" if lay.has_exact else "no exact draws for this target"

    def draw(self, st: Stats, axis: int, side_by_side: bool):
        for k, entry in enumerate((st.a, st.b)):
            src, ks = self.sources[k], self.ks[k]
            if entry is None or entry.qq is None:
                if len(src.data["exact"]):
                    src.data = empty("exact", "sample")
                ks.text = ""
                continue
            q = entry.qq[axis]
            src.data = {"exact": q.exact, "sample": q.sample}
            who = "exact HMC" if k == 1 else ("pipeline" if side_by_side else "")
            text = f"KS D = {fmt(q.ks, '.3f')}" + (f" ({who})" if who else "")
            if ks.text != text:
                ks.text = text
            if k == 0 and self.pool.text != entry.pool_label:
                self.pool.text = entry.pool_label
        self._ranges()

    def _ranges(self):
        """Explicit ranges (auto ranges are computed in the browser and sent back to the server
        on every update), moved only when the data leave them or shrink a lot."""
        vals = [src.data[c] for src in self.sources for c in ("exact", "sample") if len(src.data[c])]
        if not vals:
            return
        v = np.concatenate(vals)
        v = v[np.isfinite(v)]
        if not len(v):
            return
        lo, hi = float(v.min()), float(v.max())
        r = self.fig.x_range
        if lo < r.start or hi > r.end or (hi - lo) < 0.6 * (r.end - r.start):
            pad = 0.1 * (hi - lo) if hi > lo else 1.0  # room to move before the next change
            lo, hi = lo - pad, hi + pad
            for rng in (self.fig.x_range, self.fig.y_range):
                rng.update(start=lo, end=hi)
            for lab in (*self.ks, self.pool):
                lab.update(x=lo + 0.03 * (hi - lo), y=hi - 0.03 * (hi - lo))


class QQPlots(StatsView):
    """Q-Q of the horizontal and the vertical coordinate."""

    def __init__(self, **params):
        super().__init__(**params)
        self.x, self.y = _QQ("x"), _QQ("y")
        self._row = pn.Row(pn.pane.Bokeh(self.x.fig), pn.pane.Bokeh(self.y.fig), margin=0)

    def __panel__(self):
        return self._row

    def on_layout(self, lay: Layout):
        self.x.set_layout(lay, lay.labels[0])
        self.y.set_layout(lay, lay.labels[1])

    def on_stats(self, st: Stats, lay: Layout):
        self.x.draw(st, 0, lay.side_by_side)
        self.y.draw(st, 1, lay.side_by_side)
