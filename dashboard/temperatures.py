"""Temperature rungs: walkers per rung, and swap acceptance and ejections over time; a
warning while the (biased) naive swap rule is on."""

from __future__ import annotations

import numpy as np
import panel as pn
from bokeh.models import ColumnDataSource, CustomJSTickFormatter, FactorRange, Label, Legend, LegendItem, \
    LinearAxis, Range1d

from . import texts
from .figures import COLD, HOT, StatsView, Text, empty, follow_range, make_figure, rung_palette
from .frames import Frame, Stats

__all__ = ["Temperatures"]

SWAP_COLS = ("sweep", "acceptance", "ejections")
RUNG_COLS = ("T", "temperature", "n", "color", "label", "tick")
# the rung axis: one factor per rung ("1", "2", ...: unique whatever the temperatures, T = 1
# everywhere included); ticks read the temperature from the data, thinned when crowded
TICKS_JS = """
const d = source.data, k = d.T.indexOf(tick);
return k < 0 ? tick : d.tick[k];
"""


def rung_table(temps, per) -> dict:
    """The rung chart's data: factor, temperature, walkers, colour, count label, tick label."""
    n = len(temps)
    every = 1 if n <= 6 else (2 if n <= 10 else 4)  # no overprinted tick labels up to 16 rungs
    shown = set(range(0, n, every))
    if n - 1 not in shown:  # the hottest rung is always labelled; its neighbour makes room
        shown = {k for k in shown if n - 1 - k >= every} | {n - 1}
    ticks = [f"{t:.3g}" if k in shown else "" for k, t in enumerate(temps)]
    return {"T": [str(k + 1) for k in range(n)], "temperature": [float(t) for t in temps],
            "n": [int(v) for v in per], "color": rung_palette(n),
            "label": [f"{int(v):,}" for v in per] if n <= 8 else [""] * n, "tick": ticks}


def naive_warning(mass, lay) -> str:
    """The naive-swap warning, naming the component the walkers pile into (the one most over
    its weight) where there is a measured mass balance."""
    text = texts.WARNING_NAIVE
    if mass is None or lay is None or not lay.is_mixture or lay.weights is None or len(mass) != len(lay.weights):
        return text.format(where="the high-density regions")
    k = int(np.argmax(np.asarray(mass, dtype=float) - lay.weights))
    name = lay.components[k] if k < len(lay.components) else f"component {k + 1}"
    return text.format(where=f"the {name}")


class Temperatures(StatsView):
    """Walkers per rung (bars) and the swap history (line: acceptance; dots: ejections)."""

    def __init__(self, **params):
        super().__init__(**params)
        p = self.bars = make_figure("Walkers per temperature rung", 330, 150, x_range=FactorRange(factors=["1"]),
                                    y_range=Range1d(0, 1))
        self.rungs = ColumnDataSource(rung_table([1.0], [0]), name="mdhmc-rungs")
        p.xaxis.formatter = CustomJSTickFormatter(args={"source": self.rungs}, code=TICKS_JS)
        p.xaxis.axis_label = "temperature T of the rung"
        p.xaxis.axis_label_text_font_size = "10px"
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
        self.naive = Text(naive_warning(None, None), kind="warning", visible=False, width=330, sizing_mode=None,
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
        table = rung_table(temps, per)
        if list(self.bars.x_range.factors) != table["T"]:
            # data first, then factors: no frame draws a bar on a factor the axis lacks
            self.rungs.data = table
            self.bars.x_range.factors = table["T"]
        else:
            self.rungs.data = table
        self.bars.y_range.end = max(1.0, float(np.max(per)) * 1.25) if len(per) else 1.0
        if st.naive_swap:
            self.naive.object = naive_warning(st.a.mass, lay)
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
