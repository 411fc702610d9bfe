"""The walker cloud: density image and HPD contours, walkers coloured by temperature rung,
the tracked walker's trajectory (diffusion) and divergences (exact HMC)."""

from __future__ import annotations

import numpy as np
import panel as pn
from bokeh.core.properties import value
from bokeh.models import (CDSView, ColumnDataSource, CustomJS, GroupFilter, HoverTool, Label, Legend, LegendItem,
                          LinearColorMapper, Range1d, TapTool)
from bokeh.transform import linear_cmap

from .figures import COLD, DENSITY_PALETTE, HMC, empty, make_figure, rung_palette
from .frames import Frame, Layout, Points, Rungs, Trajectory

__all__ = ["WalkerCloud"]

#: the level of what moves with the frames (walkers, trajectory, divergences) and of what must stay
#: over them (legend, note). BokehJS paints a plot on two canvases, and a change to a renderer of
#: the "overlay" level repaints only the overlay canvas: the density image, contours, grid and axes
#: are not drawn again for every frame. The page's main thread per walker update, 2,000 walkers in
#: headless Chromium: 24 ms with them on the "glyph" level, 20-21 ms here
#: (`benchmarks/dashboard_updates.py`, "paint cost")
LIVE_LEVEL = "overlay"

# BokehJS clips the overlay canvas's renderers to the plot frame only where the view asks
# (``needs_clip``); glyphs do not, so walkers outside a zoomed-in range would be drawn over the
# axes. Make glyph renderers on that level ask, once per page (the views' shared prototype), and
# repaint. Run when the figure is first laid out (its inner_width is set then).
CLIP_JS = """
const proto = r.default_view.prototype;
if (!Object.prototype.hasOwnProperty.call(proto, "__mdhmc_clip")) {
  let p = proto, d = undefined;
  while (p != null && (d = Object.getOwnPropertyDescriptor(p, "needs_clip")) == null) p = Object.getPrototypeOf(p);
  const base = d != null && d.get != null ? d.get : () => false;
  Object.defineProperty(proto, "needs_clip", {configurable: true,
    get() { return this.model.level == "overlay" || base.call(this); }});
  proto.__mdhmc_clip = true;
}
for (const root of Object.values(Bokeh.index)) {
  const view = root.owner != null ? root.owner.find_one(cb_obj) : null;
  if (view != null) view.request_repaint();
}
"""


def _contour_lines(d: dict) -> dict:
    """HPD contour lines (50/90/99 %) of the density grid, one multi-line per piece."""
    xs_out, ys_out = [], []
    try:
        import contourpy

        gen = contourpy.contour_generator(d["xs"], d["ys"], d["image"], line_type="Separate")
        for lev in d.get("levels", []):
            for seg in gen.lines(lev):
                if len(seg) >= 2:
                    xs_out.append(seg[:, 0])
                    ys_out.append(seg[:, 1])
    except Exception:
        pass
    return {"xs": xs_out, "ys": ys_out}


class WalkerCloud(pn.viewable.Viewer):
    """One sampler's walkers over the target. ``hmc=True``: the exact-HMC cloud of the
    side-by-side mode (one colour, no trajectory; shares the main cloud's ranges)."""

    def __init__(self, hmc: bool = False, share=None, **params):
        super().__init__(**params)
        name = "cloud-hmc" if hmc else "cloud"
        self.hmc = hmc
        self.fig = p = make_figure("Exact HMC (same target, same start)" if hmc else "Walkers", 560, 610,
                                   x_range=share.fig.x_range if share else Range1d(-5, 5),
                                   y_range=share.fig.y_range if share else Range1d(-5, 5), name=f"mdhmc-{name}")
        self.density = ColumnDataSource({"image": [np.zeros((2, 2), np.float32)], "x": [0.0], "y": [0.0],
                                         "dw": [1.0], "dh": [1.0]})
        self.img = p.image(image="image", x="x", y="y", dw="dw", dh="dh", source=self.density, level="image",
                           color_mapper=LinearColorMapper(palette=DENSITY_PALETTE, low=0.0, high=1.0))
        self.contours = ColumnDataSource({"xs": [], "ys": []})
        p.multi_line("xs", "ys", source=self.contours, line_color="#7f7f7f", line_alpha=0.6, line_width=1.0)
        self.walkers = ColumnDataSource({"x": np.zeros(0, np.float32), "y": np.zeros(0, np.float32),
                                         "rung": np.zeros(0, np.int32), "layer": []}, name=f"mdhmc-{name}-walkers")
        self.cmap = linear_cmap("rung", rung_palette(2), 0, 1)
        # hot rungs first, the cold rung drawn over them (two views of one source: the data stay
        # in walker order); cold walkers are larger and opaque, and outlined in white so that
        # they stand out on the density. The views filter on the source's own "layer" column: a
        # BooleanFilter's mask travels apart from the data and could disagree with it in length
        # ("Offset is outside the bounds of the DataView" in the browser)
        self.hot_glyph = p.scatter("x", "y", source=self.walkers, size=3.4, fill_color=HMC if hmc else self.cmap,
                                   line_color=None, fill_alpha=0.45,
                                   view=CDSView(filter=GroupFilter(column_name="layer", group="hot")), visible=not hmc,
                                   level=LIVE_LEVEL)
        self.walker_glyph = p.scatter("x", "y", source=self.walkers, size=4.6, fill_color=HMC if hmc else self.cmap,
                                      line_color="white", line_width=0.4, line_alpha=0.7, fill_alpha=0.9,
                                      view=CDSView(filter=GroupFilter(column_name="layer", group="cold")),
                                      level=LIVE_LEVEL)
        p.js_on_change("inner_width", CustomJS(args={"r": self.walker_glyph}, code=CLIP_JS))
        # the legend's swatches: one glyph per rung with a scalar colour and one point that is
        # never drawn (NaN; an empty glyph draws no swatch at all). A swatch drawn from
        # a data index reads the browser's per-row colour array, which after a regroup could be
        # shorter than the index ("Offset is outside the bounds of the DataView")
        self.swatches: list = []
        self.hide_hot = self._has_hot = False
        self._pick = None
        if not hmc:
            p.add_tools(TapTool(renderers=[self.walker_glyph, self.hot_glyph], mode="replace"))
            self.walkers.selected.on_change("indices", self._picked)
        self.legend = Legend(items=[], location="top_left", background_fill_alpha=0.75, label_text_font_size="11px",
                             glyph_height=14, glyph_width=14, spacing=0, padding=4, margin=6,
                             level=LIVE_LEVEL)  # over the walkers, which are on this level
        p.add_layout(self.legend)
        self.traj_line = ColumnDataSource(empty("x", "y"))
        self.traj = ColumnDataSource(empty("x", "y", "size", "w"), name=f"mdhmc-{name}-trajectory")
        self.marks = ColumnDataSource(empty("x", "y"))  # start
        self.chosen = ColumnDataSource(empty("x", "y"))
        self.triggers = ColumnDataSource(empty("x", "y"))
        self.divs = ColumnDataSource(empty("x", "y"))
        self.traj_items, self.trig_item = [], None
        if not hmc:
            p.line("x", "y", source=self.traj_line, line_color="#3a3a3a", line_alpha=0.55, line_width=1.2,
                   level=LIVE_LEVEL)
            tr = p.scatter("x", "y", size="size", source=self.traj, fill_color="#7b3294", fill_alpha=0.35,
                           line_color="#4a1a5e", line_alpha=0.6, line_width=0.5, level=LIVE_LEVEL)
            p.add_tools(HoverTool(renderers=[tr], tooltips=[("weight (rel.)", "@w{0.000}")]))
            st = p.scatter("x", "y", source=self.marks, marker="square", size=9, fill_color="white",
                           line_color="#3a3a3a", line_width=1.5, level=LIVE_LEVEL)
            ch = p.scatter("x", "y", source=self.chosen, marker="star", size=22, fill_color="#ffd700",
                           line_color="#000000", line_width=1.2, level=LIVE_LEVEL)
            tg = p.scatter("x", "y", source=self.triggers, marker="triangle", size=10, fill_color="#ff7f00",
                           line_color="#7f3f00", level=LIVE_LEVEL)
            self.traj_items = [LegendItem(label="tracked walker's trajectory (size = weight)", renderers=[tr],
                                          visible=False),
                               LegendItem(label="its start", renderers=[st], visible=False),
                               LegendItem(label="drawn point", renderers=[ch], visible=False)]
            self.trig_item = LegendItem(label="trigger (momentum redrawn)", renderers=[tg], visible=False)
        dv = p.scatter("x", "y", source=self.divs, marker="x", size=11, line_color="#e31a1c", line_width=2.2,
                       level=LIVE_LEVEL)
        self.div_item = LegendItem(label="divergences (last sweep)", renderers=[dv], visible=False)
        self.rung_items: list = []  # one per swatch, made with it
        self._rung_labels: list[str] = []  # their texts
        self.note = Label(x=8, y=8, x_units="screen", y_units="screen", text="", text_font_size="11px",
                          text_color="#666666", background_fill_color="white", background_fill_alpha=0.7,
                          level=LIVE_LEVEL)
        p.add_layout(self.note)
        self.n_walkers = -1
        self._title = "Walkers"
        self._versions = (None, None, None)  # layout, rungs, trajectory
        self._pane = pn.pane.Bokeh(self.fig)

    def __panel__(self):
        return self._pane

    def apply(self, frame: Frame):
        """Draw a frame (only what changed since the last one)."""
        lay, rg = frame.layout, frame.rungs
        seen_layout, seen_rungs, seen_traj = self._versions
        if lay.version != seen_layout:
            self.set_layout(lay)
            seen_rungs = seen_traj = None
        if rg.version != seen_rungs:
            self.set_rungs(rg)
        walkers = frame.walkers_b if self.hmc else frame.walkers
        if walkers is not None:
            self.set_walkers(walkers)
        traj_key = (frame.traj_version, frame.phase)
        if not self.hmc and traj_key != seen_traj:
            self.set_trajectory(frame.trajectory)
        self.set_divergences(frame.divergences_b if self.hmc else frame.divergences)
        self._versions = (lay.version, rg.version, traj_key)

    def set_layout(self, lay: Layout):
        p = self.fig
        d = lay.density
        p.x_range.update(start=lay.x_range[0], end=lay.x_range[1])
        p.y_range.update(start=lay.y_range[0], end=lay.y_range[1])
        p.xaxis.axis_label, p.yaxis.axis_label = lay.labels
        if d.get("image") is not None:
            self.density.data = {"image": [np.sqrt(d["image"])],  # sqrt: the tails stay visible
                                 "x": [d["x"][0]], "y": [d["y"][0]], "dw": [d["x"][1] - d["x"][0]],
                                 "dh": [d["y"][1] - d["y"][0]]}
            self.contours.data = _contour_lines(d)
            self.img.visible = True
        else:
            self.img.visible = False
            self.contours.data = {"xs": [], "ys": []}
        self.note.text = d.get("note", "")
        dim = f" ({lay.dim}-D)" if lay.dim > 2 else ""
        if self.hmc:
            p.title.text = f"Exact HMC on {lay.target}{dim} (same start)"
        self._title = ("Pipeline on " if lay.side_by_side else "") + f"{lay.target}{dim}"
        self.fig.visible = lay.side_by_side or not self.hmc
        self._pane.visible = self.fig.visible

    def set_rungs(self, rg: Rungs):
        temps = rg.temperatures if not self.hmc else rg.temperatures[:1]
        rung = rg.rung if not self.hmc else np.zeros_like(rg.rung)
        n_r = len(temps)
        self.cmap["transform"].update(palette=rung_palette(max(n_r, 2)) if n_r > 1 else [COLD, COLD],
                                      low=0, high=max(1, n_r - 1))
        cold = rung == 0
        self.walkers.data = {"x": np.zeros(len(rung), np.float32), "y": np.zeros(len(rung), np.float32), "rung": rung,
                             "layer": np.where(cold, "cold", "hot").tolist()}
        self.n_walkers = len(rung)
        if not self.hmc:
            self._has_hot = bool((~cold).any())
            self.hot_glyph.visible = self._has_hot and not self.hide_hot
        palette = [HMC] if self.hmc else (rung_palette(n_r) if n_r > 1 else [COLD])
        grown = False
        while len(self.swatches) < len(palette):
            self.swatches.append(self.fig.scatter(x=[np.nan], y=[np.nan], size=6, fill_color=COLD, line_color="white",
                                                  line_width=0.4))
            self.rung_items.append(LegendItem(label=value(""), renderers=[self.swatches[-1]], visible=False))
            self._rung_labels.append("")
            grown = True
        for glyph, color in zip(self.swatches, palette):
            glyph.glyph.fill_color = color
        if n_r > 1:
            labels = [f"T = {temps[r]:.3g}" + (" (cold)" if r == 0 else "") for r in range(n_r)]
        else:
            labels = ["exact HMC walkers (T = 1)" if self.hmc else "walkers (T = 1)"]
        # the legend's items are fixed models whose labels and visibility change: a new list of
        # items changes the document's model graph, and Bokeh then walks every model of the page
        # (~1,000) -- with the ladder adapting during warm-up, once per frame
        for r, item in enumerate(self.rung_items):
            show = r < len(labels)
            if show and self._rung_labels[r] != labels[r]:
                self._rung_labels[r] = labels[r]
                item.label = value(labels[r])  # a bare string would name a data column ("Invalid field")
            if item.visible != show:
                item.visible = show
        if grown:
            self.legend.items = self.rung_items + self.traj_items + [i for i in (self.trig_item, self.div_item) if i]
        if not self.hmc:
            self.fig.title.text = (f"{self._title}: {rg.walkers:,} walkers, "
                                   + ("colour = rung" if n_r > 1 else "all at T = 1"))
        self._refresh_legend()

    def _refresh_legend(self):
        """Show the legend items of what is drawn now (visibility only: see `set_rungs`)."""
        traj = bool(len(self.traj.data["x"]))
        trig = bool(self.trig_item is not None and len(self.triggers.data["x"]))
        div = bool(len(self.divs.data["x"]))
        for items, show in ((self.traj_items, traj), ([self.trig_item] if self.trig_item else [], trig),
                            ([self.div_item], div)):
            for item in items:
                if item.visible != show:
                    item.visible = show

    def set_hide_hot(self, hide: bool):
        """Show only the T = 1 walkers (lecture toggle)."""
        self.hide_hot = bool(hide)
        self.hot_glyph.visible = not self.hide_hot and self._has_hot

    def on_pick(self, callback):
        """``callback(walker_index)`` when a walker is clicked in the cloud."""
        self._pick = callback

    def _picked(self, attr, old, new):
        if new and self._pick is not None:
            self._pick(int(new[0]))

    def set_walkers(self, w: Points):
        if len(w.x) == self.n_walkers:
            d = self.walkers.data
            if np.array_equal(d["x"], w.x) and np.array_equal(d["y"], w.y):
                return  # unmoved (a frame of new settings while paused): nothing to send or paint
            d.update(x=w.x, y=w.y)

    def set_trajectory(self, tr: Trajectory | None):
        if tr is None:
            for src in (self.traj_line, self.traj, self.marks, self.chosen, self.triggers):
                if len(next(iter(src.data.values()), [])):
                    src.data = empty(*src.data.keys())
        else:
            self.traj_line.data = {"x": tr.line_x, "y": tr.line_y}
            # smaller than the recorded sizes: the trajectory must not hide the cloud under it
            self.traj.data = {"x": tr.x, "y": tr.y, "size": 2.0 + 0.5 * np.asarray(tr.size), "w": tr.w}
            self.marks.data = {"x": [tr.start[0]], "y": [tr.start[1]]}
            self.chosen.data = {"x": [tr.chosen[0]], "y": [tr.chosen[1]]} if tr.chosen else empty("x", "y")
            self.triggers.data = {"x": tr.triggers.x, "y": tr.triggers.y} if tr.triggers else empty("x", "y")
        self._refresh_legend()

    def set_divergences(self, d: Points | None):
        if d is not None and (len(d.x) or len(self.divs.data["x"])):
            self.divs.data = {"x": d.x, "y": d.y}
            self._refresh_legend()
