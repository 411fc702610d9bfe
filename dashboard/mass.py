"""Mass per mixture component: the truth against the cold walkers (and exact HMC beside them)."""

from __future__ import annotations

import numpy as np
import panel as pn
from bokeh.models import ColumnDataSource, FactorRange, Label, Legend, LegendItem, Range1d
from bokeh.transform import dodge

from .figures import COLD, HMC, TRUTH, StatsView, make_figure
from .frames import Layout, Stats

__all__ = ["MassBalance"]

BARS = (("truth", -0.27, TRUTH, "truth"), ("a", 0.0, COLD, "sampled (cold)"), ("b", 0.27, HMC, "exact HMC"))


class MassBalance(StatsView):
    """Bars per component: truth (grey), sampled (blue), exact HMC (orange, side by side)."""

    def __init__(self, **params):
        super().__init__(**params)
        p = self.fig = make_figure("Mass per component: truth vs sampled", 340, 320,
                                   x_range=FactorRange(factors=["–"]), y_range=Range1d(0, 0.7))
        self.source = ColumnDataSource(name="mdhmc-mass", data={"comp": ["–"], "truth": [0.0], "a": [0.0], "b": [0.0],
                                                                "truth_l": [""], "a_l": [""], "b_l": [""]})
        items = []
        for col, off, color, label in BARS:
            r = p.vbar(x=dodge("comp", off, range=p.x_range), top=col, width=0.26, source=self.source,
                       fill_color=color, line_color=None)
            p.text(x=dodge("comp", off, range=p.x_range), y=col, text=f"{col}_l", source=self.source,
                   text_align="center", text_baseline="bottom", text_font_size="9px", y_offset=-1)
            items.append(LegendItem(label=label, renderers=[r]))
        self.hmc_bars = items[2].renderers[0]
        self.legend = Legend(items=items, location="top_right", label_text_font_size="10px", background_fill_alpha=0.7,
                             padding=2, spacing=0, margin=4)
        p.add_layout(self.legend)
        self._items = items
        p.xgrid.grid_line_color = None
        p.yaxis.axis_label = "fraction of mass"
        p.toolbar_location = None
        self.note = Label(x=10, y=10, x_units="screen", y_units="screen", text="", text_font_size="11px",
                          text_color="#666666")
        p.add_layout(self.note)
        self._pane = pn.pane.Bokeh(self.fig)

    def __panel__(self):
        return self._pane

    def on_stats(self, st: Stats, lay: Layout):
        if lay.is_mixture:
            self._draw(st)

    def on_layout(self, lay: Layout):
        comps = list(lay.components) if lay.is_mixture else ["–"]
        w = lay.weights if lay.is_mixture else np.zeros(1)
        self.fig.x_range.factors = comps
        self.source.data = {"comp": comps, "truth": list(w), "a": [0.0] * len(comps), "b": [0.0] * len(comps),
                            "truth_l": [f"{v:.0%}" for v in w] if lay.is_mixture else [""],
                            "a_l": [""] * len(comps), "b_l": [""] * len(comps)}
        self.fig.y_range.end = max(0.3, float(np.max(w)) * 1.35) if lay.is_mixture else 1.0
        self.hmc_bars.visible = lay.side_by_side
        self.legend.items = self._items if lay.side_by_side else self._items[:2]
        self.note.text = "" if lay.is_mixture else "not a mixture: no components to weigh"

    def _draw(self, st: Stats):
        for key, entry in (("a", st.a), ("b", st.b)):
            if entry is not None and entry.mass is not None:
                self.source.data.update({key: list(entry.mass), f"{key}_l": [f"{v:.0%}" for v in entry.mass]})
