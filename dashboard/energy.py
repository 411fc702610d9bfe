"""Energy traces of the tracked walker (U, K, H and the H error) with the ensemble means."""

from __future__ import annotations

import numpy as np
import panel as pn
from bokeh.models import ColumnDataSource, Legend, LegendItem, Range1d

from .figures import empty, make_figure, robust_range
from .frames import Energy, Frame

__all__ = ["EnergyTraces"]

U_C, K_C, H_C, E_C = "#2b83ba", "#fdae61", "#222222", "#7b3294"
TITLE = "Energies of the tracked walker (solid) and the ensemble mean (dashed)"
ENERGY_COLS = ("step", "U", "K", "H", "herr")
MEAN_COLS = ("x0", "x1", "U", "K", "H", "herr")


class EnergyTraces(pn.viewable.Viewer):
    """Two figures over one step axis: energies, and the H error within the ±δ window."""

    def __init__(self, **params):
        super().__init__(**params)
        p = self.energy = make_figure(TITLE, 540, 240, x_range=Range1d(0, 1), y_range=Range1d(0, 1))
        self.source = ColumnDataSource(empty(*ENERGY_COLS), name="mdhmc-energy")
        self.means = ColumnDataSource(empty(*MEAN_COLS))
        items = []
        for col, color, label in (("U", U_C, "U = −lp"), ("K", K_C, "K"), ("H", H_C, "H = U + K")):
            r = p.line("step", col, source=self.source, line_color=color, line_width=1.3)
            p.segment(x0="x0", y0=col, x1="x1", y1=col, source=self.means, line_color=color, line_dash="dashed",
                      line_width=1.6)
            items.append(LegendItem(label=label, renderers=[r]))
        p.add_layout(Legend(items=items, location="top_left", orientation="horizontal", label_text_font_size="11px",
                            background_fill_alpha=0.0, padding=0, spacing=10, margin=0, border_line_alpha=0), "above")
        p.yaxis.axis_label = "energy"
        q = self.herr = make_figure("H error of the tracked walker (band: ±δ, the weighting window)", 540, 190,
                                    x_range=p.x_range, y_range=Range1d(-1.5, 1.5))
        # the ±δ band is data (a source), so a test can read what delta the figure shows
        self.delta_band = ColumnDataSource({"y0": [-1.0], "y1": [1.0]}, name="mdhmc-delta-band")
        q.hstrip(y0="y0", y1="y1", source=self.delta_band, fill_color=E_C, fill_alpha=0.08, line_alpha=0)
        q.line("step", "herr", source=self.source, line_color=E_C, line_width=1.2)
        q.segment(x0="x0", y0="herr", x1="x1", y1="herr", source=self.means, line_color=E_C, line_dash="dashed",
                  line_width=1.6)
        q.xaxis.axis_label = "integration step (recent trajectories of the tracked walker)"
        q.yaxis.axis_label = "H − H*"
        self._version = None
        self._layout = None
        self._column = pn.Column(pn.pane.Bokeh(self.energy), pn.pane.Bokeh(self.herr), margin=0)

    def __panel__(self):
        return self._column

    def apply(self, frame: Frame):
        if frame.layout.version != self._layout:  # a new target or start: nothing to show yet
            self._layout = frame.layout.version
            self.source.data = empty(*ENERGY_COLS)
            self.means.data = empty(*MEAN_COLS)
        e = frame.energy
        if e is not None and e.version != self._version:
            self._version = e.version
            self._draw(e)
        title = TITLE if frame.phase == "diffusion" else (
            f"Energies: no trajectories in the {frame.phase} phase"
            + (" (last diffusion shown)" if e is not None and len(e.step) else ""))
        if self.energy.title.text != title:
            self.energy.title.text = title

    def _draw(self, e: Energy):
        self.source.data = {c: getattr(e, c) for c in ENERGY_COLS}
        self.means.data = {c: getattr(e.means, c) for c in MEAN_COLS}
        d = e.delta
        if d is not None and self.delta_band.data["y1"] != [d]:
            self.delta_band.data = {"y0": [-d], "y1": [d]}
        # robust y ranges: one exploding trajectory must not flatten the rest
        robust_range(self.energy.y_range, np.concatenate([e.U, e.K, e.H]))
        robust_range(self.herr.y_range, e.herr, at_least=(-(d or 1.0) * 1.5, (d or 1.0) * 1.5))
        x = e.step[np.isfinite(e.step)]
        if len(x):
            r = self.energy.x_range
            lo, hi = float(x.min()), float(x.max()) + 1
            if hi > r.end or lo < r.start or lo > r.start + 0.25 * (r.end - r.start):
                chunk = max(50.0, 0.1 * (hi - lo))  # move in steps, not every sweep
                r.update(start=lo, end=np.ceil(hi / chunk) * chunk + chunk)
