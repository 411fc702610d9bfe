"""Temperature rungs: walkers per rung, and swap acceptance and ejections over time; a
warning while the (biased) naive swap rule is on."""

from __future__ import annotations

import numpy as np
import panel as pn
from bokeh.models import ColumnDataSource, FactorRange, Label, Legend, LegendItem, LinearAxis, Range1d

from . import texts
from .figures import COLD, HOT, StatsView, Text, empty, follow_range, make_figure, rung_palette
from .frames import Frame, Stats

__all__ = ["Temperatures"]

SWAP_COLS = ("sweep", "acceptance", "ejections")


class Temperatures(StatsView):
    """Walkers per rung (bars) and the swap history (line: acceptance; dots: ejections)."""

    def __init__(self, **params):
        super().__init__(**params)
        p = self.bars = make_figure("Walkers per temperature rung", 330, 150, x_range=FactorRange(factors=["T = 1"]),
                                    y_range=Range1d(0, 1))
        self.rungs = ColumnDataSource({"T": ["T = 1"], "n": [0], "color": [COLD], "label": [""]}, name="mdhmc-rungs")
        p.vbar(x="T", top="n", width=0.7, source=self.rungs, fill_color="color", line_color=None, fill_alpha=0.85)
        p.text(x="T", y="n", text="label", source=self.rungs, text_align="center", text_baseline="bottom",
               text_font_size="11px", y_offset=-2)
        p.xgrid.grid_line_color = None
        p.toolbar_location = None
        q = self.swaps_fig = make_figure("Swap acceptance and ejections over time", 330, 200, x_range=Range1d(0, 50),
                                         y_range=Range1d(0, 1))
        self.swaps = ColumnDataSource(empty(*SWAP_COLS), name="mdhmc-swaps")
        q.extra_y_ranges = {"ej": Range1d(0, 1)}
        q.add_layout(LinearAxis(y_range_name="ej", axis_label="ejections / swap sweep",
                                axis_label_text_font_size="11px", axis_label_text_font_style="normal"), "right")
        r1 = q.line("sweep", "acceptance", source=self.swaps, line_color=COLD, line_width=1.5)
        r2 = q.scatter("sweep", "ejections", source=self.swaps, y_range_name="ej", size=3, fill_color=HOT,
                       line_color=None, fill_alpha=0.6)
        q.add_layout(Legend(items=[LegendItem(label="swap acceptance", renderers=[r1]),
                                   LegendItem(label="ejections", renderers=[r2])],
                            location="top_right", label_text_font_size="10px", background_fill_alpha=0.7,
                            padding=2, spacing=0, margin=4))
        q.xaxis.axis_label = "sweep"
        q.yaxis[0].axis_label = "swap acceptance"
        self.note = Label(x=10, y=10, x_units="screen", y_units="screen", text="", text_font_size="11px",
                          text_color="#666666", background_fill_color="white", background_fill_alpha=0.8)
        q.add_layout(self.note)
        self.naive = Text(texts.WARNING_NAIVE, kind="warning", visible=False, width=330, sizing_mode=None,
                          margin=(2, 5))
        self._column = pn.Column(self.naive.pane, pn.pane.Bokeh(self.bars), pn.pane.Bokeh(self.swaps_fig), margin=0)

    def __panel__(self):
        return self._column

    def on_layout(self, lay):
        self.swaps.data = empty(*SWAP_COLS)

    def on_frame(self, frame: Frame):
        self.naive.visible = frame.rungs.naive_swap and frame.rungs.tempered

    def on_stats(self, st: Stats, lay):
        temps, per = st.temperatures, st.per_rung
        labels = [f"T = {t:.3g}" for t in temps]
        if list(self.bars.x_range.factors) != labels:
            self.bars.x_range.factors = labels
        self.rungs.data = {"T": labels, "n": list(per), "color": rung_palette(len(temps)),
                           "label": [f"{int(n):,}" for n in per]}
        self.bars.y_range.end = max(1.0, float(np.max(per)) * 1.25)
        sw = st.swaps
        self.swaps.data = {c: getattr(sw, c) for c in SWAP_COLS}
        if len(sw.sweep):
            follow_range(self.swaps_fig.x_range, float(sw.sweep[0]), float(sw.sweep[-1]) + 1, chunk=50.0, slack=100)
        top = max(1.0, float(np.max(sw.ejections)) * 1.1) if len(sw.ejections) else 1.0
        er = self.swaps_fig.extra_y_ranges["ej"]
        if top > er.end or top < 0.6 * er.end:
            er.end = top * 1.2
        if len(temps) <= 1:
            self.note.text = "one rung in this stage: no swaps"
        elif not len(sw.sweep):
            self.note.text = "no swap sweeps yet (tempering phase only)"
        else:
            self.note.text = ""
