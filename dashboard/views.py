"""Bokeh figures of one session and how a snapshot updates them.

The fast path: every figure is a plain Bokeh figure over `ColumnDataSource`s whose
``data`` is assigned directly (HoloViews ``Pipe``/``DynamicMap`` re-rendering is about
half as fast with 2,000 points). `Views.apply` takes one snapshot from
`dashboard.model.Session` and touches only what changed (each part carries a version);
the app calls it inside ``pn.io.hold()`` so one frame is one message to the browser.
"""

from __future__ import annotations

import html

import numpy as np
from bokeh.models import (BoxAnnotation, ColumnDataSource, FactorRange, HoverTool, Label, Legend, LegendItem,
                          LinearAxis, LinearColorMapper, Range1d, Slope)
from bokeh.plotting import figure
from bokeh.transform import dodge, linear_cmap

from . import texts
from .model import fmt

__all__ = ["Views", "COLD", "HOT", "rung_palette"]

COLD = "#1f5fa8"  # T = 1
HOT = "#d7301f"  # hottest rung
HMC = "#e08214"  # exact HMC in the side-by-side mode
TRUTH = "#9a9a9a"
U_C, K_C, H_C, E_C = "#2b83ba", "#fdae61", "#222222", "#7b3294"
TOOLS = "pan,wheel_zoom,box_zoom,reset,save"
E_TITLE = "Energies of the tracked walker (solid) and the ensemble mean (dashed)"


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


DENSITY_PALETTE = [_mix("#ffffff", "#c6dbef", min(1.0, k / 110)) if k <= 110 else _mix("#c6dbef", "#6baed6", (k - 110) / 145)
                   for k in range(256)]


def _fig(title: str, width: int, height: int, **kw):
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


def _empty(*cols):
    return {c: np.empty(0) for c in cols}


class _Cloud:
    """Walker cloud: density image + HPD contours, walkers by rung, tracked trajectory."""

    def __init__(self, name: str, title: str, width: int, height: int, x_range=None, y_range=None,
                 show_traj: bool = True, point_color: str | None = None):
        self.fig = p = _fig(title, width, height, x_range=x_range or Range1d(-5, 5), y_range=y_range or Range1d(-5, 5),
                            name=f"mdhmc-{name}")
        self.density = ColumnDataSource({"image": [np.zeros((2, 2), np.float32)], "x": [0.0], "y": [0.0],
                                         "dw": [1.0], "dh": [1.0]})
        self.mapper = LinearColorMapper(palette=DENSITY_PALETTE, low=0.0, high=1.0)
        self.img = p.image(image="image", x="x", y="y", dw="dw", dh="dh", source=self.density,
                           color_mapper=self.mapper, level="image")
        self.contours = ColumnDataSource({"xs": [], "ys": []})
        p.multi_line("xs", "ys", source=self.contours, line_color="#6b8fb5", line_alpha=0.55, line_width=1.0)
        self.walkers = ColumnDataSource({"x": np.zeros(0, np.float32), "y": np.zeros(0, np.float32),
                                         "rung": np.zeros(0, np.int32)}, name=f"mdhmc-{name}-walkers")
        self.cmap = linear_cmap("rung", rung_palette(2), 0, 1)
        fill = point_color or self.cmap
        self.walker_glyph = p.scatter("x", "y", source=self.walkers, size=3.6, fill_color=fill, line_color=None,
                                      fill_alpha=0.6)
        self.legend = Legend(items=[], location="top_left", background_fill_alpha=0.75, label_text_font_size="11px",
                             glyph_height=14, glyph_width=14, spacing=0, padding=4, margin=6)
        p.add_layout(self.legend)
        self.show_traj = show_traj
        self.traj_line = ColumnDataSource(_empty("x", "y"))
        self.traj = ColumnDataSource(_empty("x", "y", "size", "w"), name=f"mdhmc-{name}-trajectory")
        self.marks = ColumnDataSource(_empty("x", "y"))  # start
        self.chosen = ColumnDataSource(_empty("x", "y"))
        self.triggers = ColumnDataSource(_empty("x", "y"))
        self.divs = ColumnDataSource(_empty("x", "y"))
        if show_traj:
            p.line("x", "y", source=self.traj_line, line_color="#3a3a3a", line_alpha=0.55, line_width=1.2)
            tr = p.scatter("x", "y", size="size", source=self.traj, fill_color="#7b3294", fill_alpha=0.55,
                           line_color="#4a1a5e", line_alpha=0.6, line_width=0.5)
            p.add_tools(HoverTool(renderers=[tr], tooltips=[("weight (rel.)", "@w{0.000}")]))
            st = p.scatter("x", "y", source=self.marks, marker="square", size=9, fill_color="white",
                           line_color="#3a3a3a", line_width=1.5)
            ch = p.scatter("x", "y", source=self.chosen, marker="star", size=22, fill_color="#ffd700",
                           line_color="#000000", line_width=1.2)
            tg = p.scatter("x", "y", source=self.triggers, marker="triangle", size=10, fill_color="#ff7f00",
                           line_color="#7f3f00")
            self.traj_items = [LegendItem(label="tracked walker's trajectory (size = weight)", renderers=[tr]),
                               LegendItem(label="its start", renderers=[st]),
                               LegendItem(label="drawn point", renderers=[ch])]
            self.trig_item = LegendItem(label="trigger (momentum redrawn)", renderers=[tg])
        else:
            self.traj_items, self.trig_item = [], None
        dv = p.scatter("x", "y", source=self.divs, marker="x", size=11, line_color="#e31a1c", line_width=2.2)
        self.div_item = LegendItem(label="divergences (last sweep)", renderers=[dv])
        self.rung_items: list = []
        self._legend_key = None
        self.note = Label(x=8, y=8, x_units="screen", y_units="screen", text="", text_font_size="11px",
                          text_color="#666666", background_fill_color="white", background_fill_alpha=0.7)
        p.add_layout(self.note)
        self.n_walkers = -1

    def set_layout(self, lay: dict):
        p = self.fig
        d = lay["density"]
        (x0, x1), (y0, y1) = lay["x_range"], lay["y_range"]
        p.x_range.update(start=x0, end=x1)
        p.y_range.update(start=y0, end=y1)
        p.xaxis.axis_label, p.yaxis.axis_label = lay["labels"]
        if d.get("image") is not None:
            img = np.sqrt(d["image"])  # sqrt: the tails stay visible
            self.density.data = {"image": [img], "x": [d["x"][0]], "y": [d["y"][0]], "dw": [d["x"][1] - d["x"][0]],
                                 "dh": [d["y"][1] - d["y"][0]]}
            self.contours.data = _contour_lines(d)
            self.img.visible = True
        else:
            self.img.visible = False
            self.contours.data = {"xs": [], "ys": []}
        self.note.text = d.get("note", "")

    def set_rungs(self, rg: dict, single_label: str = "walkers (T = 1)"):
        temps = rg["temperatures"]
        n_r = len(temps)
        self.cmap["transform"].update(palette=rung_palette(max(n_r, 2)) if n_r > 1 else [COLD, COLD],
                                      low=0, high=max(1, n_r - 1))
        rung = rg["rung"]
        self.walkers.data = {"x": np.zeros(len(rung), np.float32), "y": np.zeros(len(rung), np.float32), "rung": rung}
        self.n_walkers = len(rung)
        items = []
        if n_r > 1:
            starts = [int(np.flatnonzero(rung == r)[0]) for r in range(n_r)]
            for r in range(n_r):
                label = f"T = {temps[r]:.3g}" + (" (cold)" if r == 0 else "")
                items.append(LegendItem(label=label, renderers=[self.walker_glyph], index=starts[r]))
        else:
            items.append(LegendItem(label=single_label, renderers=[self.walker_glyph], index=0))
        self.rung_items = items
        self._legend_key = None
        self._refresh_legend()

    def _refresh_legend(self):
        traj = bool(self.show_traj and len(self.traj.data["x"]))
        trig = bool(self.trig_item is not None and len(self.triggers.data["x"]))
        div = bool(len(self.divs.data["x"]))
        key = (traj, trig, div, id(self.rung_items))
        if key == self._legend_key:
            return
        self._legend_key = key
        items = list(self.rung_items)
        if traj:
            items += self.traj_items
        if trig:
            items.append(self.trig_item)
        if div:
            items.append(self.div_item)
        self.legend.items = items

    def set_walkers(self, w: dict):
        if len(w["x"]) != self.n_walkers:
            return
        self.walkers.data.update(x=w["x"], y=w["y"])

    def set_trajectory(self, tr: dict | None):
        if not self.show_traj:
            return
        if tr is None:
            for src in (self.traj_line, self.traj, self.marks, self.chosen, self.triggers):
                if len(next(iter(src.data.values()), [])):
                    src.data = _empty(*src.data.keys())
            self._refresh_legend()
            return
        self.traj_line.data = {"x": tr["line_x"], "y": tr["line_y"]}
        self.traj.data = {"x": tr["x"], "y": tr["y"], "size": tr["size"], "w": tr["w"]}
        self.marks.data = {"x": [tr["start"][0]], "y": [tr["start"][1]]}
        c = tr["chosen"]
        self.chosen.data = {"x": [c[0]], "y": [c[1]]} if c else _empty("x", "y")
        tg = tr.get("triggers")
        self.triggers.data = {"x": tg[0], "y": tg[1]} if tg else _empty("x", "y")
        self._refresh_legend()

    def set_divergences(self, d: dict | None):
        if d is None:
            return
        if len(d["x"]) or len(self.divs.data["x"]):
            self.divs.data = {"x": d["x"], "y": d["y"]}
            self._refresh_legend()


def _robust_range(rng, values, at_least=None, lo_q=1.0, hi_q=99.0):
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


class Views:
    """All figures of one session, and `apply(snapshot)`."""

    def __init__(self):
        self.cloud = _Cloud("cloud", "Walkers", 560, 610)
        self.cloud_b = _Cloud("cloud-hmc", "Exact HMC (same target, same start)", 560, 610, x_range=self.cloud.fig.x_range,
                              y_range=self.cloud.fig.y_range, show_traj=False, point_color=HMC)
        self.cloud_b.fig.visible = False
        self._build_energy()
        self._build_qq()
        self._build_temps()
        self._build_mass()
        self.versions: dict = {}
        self.layout_version = None
        self.frames = 0
        self._cloud_title = "Walkers"

    # ------------------------------------------------------------------ energies
    def _build_energy(self):
        p = self.energy = _fig(E_TITLE, 540, 240, x_range=Range1d(0, 1), y_range=Range1d(0, 1))
        self.e_src = ColumnDataSource(_empty("step", "U", "K", "H", "herr"), name="mdhmc-energy")
        self.e_mean = ColumnDataSource(_empty("x0", "x1", "U", "K", "H", "herr"))
        items = []
        for col, color, label in (("U", U_C, "U = −lp"), ("K", K_C, "K"), ("H", H_C, "H = U + K")):
            r = p.line("step", col, source=self.e_src, line_color=color, line_width=1.3)
            p.segment(x0="x0", y0=col, x1="x1", y1=col, source=self.e_mean, line_color=color, line_dash="dashed",
                      line_width=1.6)
            items.append(LegendItem(label=label, renderers=[r]))
        p.add_layout(Legend(items=items, location="top_left", orientation="horizontal", label_text_font_size="11px",
                            background_fill_alpha=0.0, padding=0, spacing=10, margin=0, border_line_alpha=0), "above")
        p.yaxis.axis_label = "energy"
        q = self.herr = _fig("H error of the tracked walker (band: ±δ, the weighting window)", 540, 190,
                             x_range=p.x_range, y_range=Range1d(-1.5, 1.5))
        self.delta_band = BoxAnnotation(bottom=-1.0, top=1.0, fill_color=E_C, fill_alpha=0.08, line_alpha=0)
        q.add_layout(self.delta_band)
        q.line("step", "herr", source=self.e_src, line_color=E_C, line_width=1.2)
        q.segment(x0="x0", y0="herr", x1="x1", y1="herr", source=self.e_mean, line_color=E_C, line_dash="dashed",
                  line_width=1.6)
        q.xaxis.axis_label = "integration step (recent trajectories of the tracked walker)"
        q.yaxis.axis_label = "H − H*"

    # ------------------------------------------------------------------ Q-Q
    def _build_qq(self):
        self.qq = {}
        for axis in ("x", "y"):
            p = _fig(f"Q-Q: {axis}", 290, 320, x_range=Range1d(-1, 1), y_range=Range1d(-1, 1))
            p.add_layout(Slope(gradient=1, y_intercept=0, line_color="#888888", line_dash="dashed", line_width=1.2))
            a = ColumnDataSource(_empty("exact", "sample"), name=f"mdhmc-qq-{axis}")
            b = ColumnDataSource(_empty("exact", "sample"), name=f"mdhmc-qq-{axis}-hmc")
            p.scatter("exact", "sample", source=a, size=5, fill_color=COLD, line_color=None, fill_alpha=0.8)
            p.scatter("exact", "sample", source=b, size=5, fill_color=HMC, line_color=None, fill_alpha=0.8,
                      marker="diamond")
            # KS labels are canvas annotations (a changing Title would re-layout the page 4x a second)
            ks = Label(x=0, y=0, text="", text_font_size="12px", text_color=COLD, text_font_style="bold",
                       text_baseline="top", background_fill_color="white", background_fill_alpha=0.85,
                       name=f"mdhmc-ks-{axis}")
            ks_b = Label(x=0, y=0, y_offset=-32, text="", text_font_size="12px", text_color=HMC,
                         text_font_style="bold", text_baseline="top", background_fill_color="white",
                         background_fill_alpha=0.85)
            pool = Label(x=0, y=0, y_offset=-16, text="", text_font_size="10.5px", text_color="#666666",
                         text_baseline="top", background_fill_color="white", background_fill_alpha=0.85)
            note = Label(x=8, y=8, x_units="screen", y_units="screen", text="", text_font_size="11px",
                         text_color="#666666")
            for lab in (ks, ks_b, pool, note):
                p.add_layout(lab)
            p.xaxis.axis_label = "exact quantiles"
            p.yaxis.axis_label = "sampled quantiles"
            p.toolbar_location = None
            self.qq[axis] = {"fig": p, "a": a, "b": b, "ks": ks, "ks_b": ks_b, "pool": pool, "note": note}

    # ------------------------------------------------------------------ temperatures
    def _build_temps(self):
        p = self.t_bars = _fig("Walkers per temperature rung", 330, 150, x_range=FactorRange(factors=["T = 1"]),
                               y_range=Range1d(0, 1))
        self.t_src = ColumnDataSource({"T": ["T = 1"], "n": [0], "color": [COLD], "label": [""]}, name="mdhmc-rungs")
        p.vbar(x="T", top="n", width=0.7, source=self.t_src, fill_color="color", line_color=None, fill_alpha=0.85)
        p.text(x="T", y="n", text="label", source=self.t_src, text_align="center", text_baseline="bottom",
               text_font_size="11px", y_offset=-2)
        p.xgrid.grid_line_color = None
        p.toolbar_location = None
        q = self.t_swaps = _fig("Swap acceptance and ejections over time", 330, 200, x_range=Range1d(0, 50),
                                y_range=Range1d(0, 1))
        self.s_src = ColumnDataSource(_empty("sweep", "acceptance", "ejections"), name="mdhmc-swaps")
        q.extra_y_ranges = {"ej": Range1d(0, 1)}
        q.add_layout(LinearAxis(y_range_name="ej", axis_label="ejections / swap sweep",
                                axis_label_text_font_size="11px", axis_label_text_font_style="normal"), "right")
        r1 = q.line("sweep", "acceptance", source=self.s_src, line_color=COLD, line_width=1.5)
        r2 = q.scatter("sweep", "ejections", source=self.s_src, y_range_name="ej", size=3, fill_color=HOT,
                       line_color=None, fill_alpha=0.6)
        q.add_layout(Legend(items=[LegendItem(label="swap acceptance", renderers=[r1]),
                                   LegendItem(label="ejections", renderers=[r2])],
                            location="top_right", label_text_font_size="10px", background_fill_alpha=0.7,
                            padding=2, spacing=0, margin=4))
        q.xaxis.axis_label = "sweep"
        q.yaxis[0].axis_label = "swap acceptance"
        self.t_note = Label(x=10, y=10, x_units="screen", y_units="screen", text="", text_font_size="11px",
                            text_color="#666666", background_fill_color="white", background_fill_alpha=0.8)
        q.add_layout(self.t_note)

    # ------------------------------------------------------------------ mass balance
    def _build_mass(self):
        p = self.mass = _fig("Mass per component: truth vs sampled", 340, 320, x_range=FactorRange(factors=["–"]),
                             y_range=Range1d(0, 0.7))
        self.m_src = ColumnDataSource(name="mdhmc-mass", data={"comp": ["–"], "truth": [0.0], "a": [0.0], "b": [0.0],
                                       "truth_l": [""], "a_l": [""], "b_l": [""]})
        r0 = p.vbar(x=dodge("comp", -0.27, range=p.x_range), top="truth", width=0.26, source=self.m_src,
                    fill_color=TRUTH, line_color=None)
        r1 = p.vbar(x=dodge("comp", 0.0, range=p.x_range), top="a", width=0.26, source=self.m_src, fill_color=COLD,
                    line_color=None)
        self.m_b = p.vbar(x=dodge("comp", 0.27, range=p.x_range), top="b", width=0.26, source=self.m_src,
                          fill_color=HMC, line_color=None, visible=False)
        for col, off in (("truth_l", -0.27), ("a_l", 0.0), ("b_l", 0.27)):
            p.text(x=dodge("comp", off, range=p.x_range), y=col.replace("_l", ""), text=col, source=self.m_src,
                   text_align="center", text_baseline="bottom", text_font_size="9px", y_offset=-1)
        self.m_legend = Legend(items=[LegendItem(label="truth", renderers=[r0]),
                                      LegendItem(label="sampled (cold)", renderers=[r1]),
                                      LegendItem(label="exact HMC", renderers=[self.m_b])],
                               location="top_right", label_text_font_size="10px", background_fill_alpha=0.7,
                               padding=2, spacing=0, margin=4)
        p.add_layout(self.m_legend)
        self._m_items = list(self.m_legend.items)
        p.xgrid.grid_line_color = None
        p.yaxis.axis_label = "fraction of mass"
        p.toolbar_location = None
        self.m_note = Label(x=10, y=10, x_units="screen", y_units="screen", text="", text_font_size="11px",
                            text_color="#666666")
        p.add_layout(self.m_note)

    # ================================================================== apply a snapshot
    def _changed(self, key, version) -> bool:
        if self.versions.get(key) == version:
            return False
        self.versions[key] = version
        return True

    def apply(self, snap: dict) -> bool:
        """Update the figures from a snapshot; True if anything was drawn."""
        lay = snap.get("layout")
        if lay is None:
            return False
        if lay["version"] != self.layout_version:
            self.layout_version = lay["version"]
            self.versions.clear()
            self._apply_layout(lay)
        rg = snap["rungs"]
        if self._changed("rungs", rg["version"]):
            self.cloud.set_rungs(rg)
            n_r = len(rg["temperatures"])
            self.cloud.fig.title.text = (f"{self._cloud_title}: {rg['walkers']:,} walkers, "
                                         + ("colour = temperature rung" if n_r > 1 else "all at T = 1"))
            if lay["side_by_side"]:
                self.cloud_b.set_rungs({**rg, "rung": np.zeros_like(rg["rung"]), "temperatures": rg["temperatures"][:1]},
                                       single_label="exact HMC walkers (T = 1)")
        self.cloud.set_walkers(snap["walkers"])
        if snap.get("walkers_b") is not None:
            self.cloud_b.set_walkers(snap["walkers_b"])
            self.cloud_b.set_divergences(snap.get("divergences_b"))
        if self._changed("traj", (snap.get("traj_version"), snap.get("phase"))):
            self.cloud.set_trajectory(snap.get("trajectory"))
        self.cloud.set_divergences(snap.get("divergences"))
        e = snap.get("energy")
        if e is not None and self._changed("energy", e["version"]):
            self._apply_energy(e)
        title = (E_TITLE if snap.get("phase") == "diffusion" else
                 f"Energies: no trajectories in the {snap.get('phase')} phase"
                 + (" (last diffusion shown)" if e is not None and len(e["step"]) else ""))
        if self.energy.title.text != title:
            self.energy.title.text = title
        st = snap.get("stats")
        if st is not None and self._changed("stats", st["version"]):
            self._apply_stats(st, lay)
        self.frames += 1
        return True

    def _apply_layout(self, lay: dict):
        self.cloud.set_layout(lay)
        sbs = lay["side_by_side"]
        self.cloud_b.fig.visible = sbs
        if sbs:
            self.cloud_b.set_layout(lay)
        dim = f" ({lay['dim']}-D)" if lay["dim"] > 2 else ""
        self._cloud_title = ("Pipeline" if sbs else "Walkers") + f" on {lay['target']}{dim}"
        self.cloud_b.fig.title.text = f"Exact HMC on {lay['target']}{dim} (same start)"
        lx, ly = lay["labels"]
        for axis, lab in (("x", lx), ("y", ly)):
            q = self.qq[axis]
            q["fig"].title.text = f"Q-Q of {lab}: cold walkers vs exact"
            q["fig"].xaxis.axis_label = f"exact quantiles of {lab}"
            q["fig"].yaxis.axis_label = f"sampled quantiles of {lab}"
            for k in ("a", "b"):
                q[k].data = _empty("exact", "sample")
            q["ks"].text = q["ks_b"].text = q["pool"].text = ""
            q["note"].text = "" if lay["has_exact"] else "no exact draws for this target"
        comps = lay["components"] if lay["is_mixture"] else ["–"]
        self.mass.x_range.factors = comps
        w = lay["weights"] if lay["is_mixture"] else np.zeros(1)
        self.m_src.data = {"comp": comps, "truth": list(w), "a": [0.0] * len(comps), "b": [0.0] * len(comps),
                           "truth_l": [f"{v:.0%}" for v in w] if lay["is_mixture"] else [""],
                           "a_l": [""] * len(comps), "b_l": [""] * len(comps)}
        self.mass.y_range.end = max(0.3, float(np.max(w)) * 1.35) if lay["is_mixture"] else 1.0
        self.m_b.visible = sbs
        self.m_legend.items = self._m_items if sbs else self._m_items[:2]
        self.m_note.text = "" if lay["is_mixture"] else "not a mixture: no components to weigh"
        self.e_src.data = _empty("step", "U", "K", "H", "herr")
        self.e_mean.data = _empty("x0", "x1", "U", "K", "H", "herr")
        self.s_src.data = _empty("sweep", "acceptance", "ejections")

    def _apply_energy(self, e: dict):
        self.e_src.data = {"step": e["step"], "U": e["U"], "K": e["K"], "H": e["H"], "herr": e["herr"]}
        self.e_mean.data = dict(e["means"])
        d = e.get("delta")
        if d is not None:
            self.delta_band.update(bottom=-d, top=d)
        # robust y ranges: one exploding trajectory must not flatten the rest
        _robust_range(self.energy.y_range, np.concatenate([e["U"], e["K"], e["H"]]))
        _robust_range(self.herr.y_range, e["herr"], at_least=(-(d or 1.0) * 1.5, (d or 1.0) * 1.5))
        if len(e["step"]):
            x = e["step"][np.isfinite(e["step"])]
            if len(x):
                r = self.energy.x_range
                lo, hi = float(x.min()), float(x.max()) + 1
                if hi > r.end or lo < r.start or lo > r.start + 0.25 * (r.end - r.start):
                    chunk = max(50.0, 0.1 * (hi - lo))  # move in steps, not every sweep
                    r.update(start=lo, end=np.ceil(hi / chunk) * chunk + chunk)

    def _qq_ranges(self, axis: str, st: dict):
        """Explicit Q-Q ranges (auto ranges are computed in the browser and sent back to the
        server on every update), moved only when the data leave them or shrink a lot."""
        q = self.qq[axis]
        vals = [st[k]["qq"][axis][c] for k in ("a", "b") if st.get(k) and st[k].get("qq") for c in ("exact", "sample")]
        if not vals:
            return
        v = np.concatenate(vals)
        v = v[np.isfinite(v)]
        if not len(v):
            return
        lo, hi = float(v.min()), float(v.max())
        r = q["fig"].x_range
        span = r.end - r.start
        if lo < r.start or hi > r.end or (hi - lo) < 0.6 * span:
            pad = 0.1 * (hi - lo) if hi > lo else 1.0  # room to move before the next change
            lo, hi = lo - pad, hi + pad
            for rng in (q["fig"].x_range, q["fig"].y_range):
                rng.update(start=lo, end=hi)
            for lab in ("ks", "ks_b", "pool"):
                q[lab].update(x=lo + 0.03 * (hi - lo), y=hi - 0.03 * (hi - lo))

    def _apply_stats(self, st: dict, lay: dict):
        for key in ("a", "b"):
            entry = st.get(key)
            for axis in ("x", "y"):
                q = self.qq[axis]
                lab = "ks" if key == "a" else "ks_b"
                if entry is None or entry.get("qq") is None:
                    if len(q[key].data["exact"]):
                        q[key].data = _empty("exact", "sample")
                    q[lab].text = ""
                    continue
                qa = entry["qq"][axis]
                q[key].data = {"exact": qa["exact"], "sample": qa["sample"]}
                who = "pipeline" if (key == "a" and lay["side_by_side"]) else ("exact HMC" if key == "b" else "")
                text = f"KS D = {fmt(qa['ks'], '.3f')}" + (f" ({who})" if who else "")
                if q[lab].text != text:
                    q[lab].text = text
                if key == "a" and q["pool"].text != entry["pool_label"]:
                    q["pool"].text = entry["pool_label"]
            if entry is not None and lay["is_mixture"] and entry.get("mass") is not None:
                m = entry["mass"]
                self.m_src.data.update({key: list(m), f"{key}_l": [f"{v:.0%}" for v in m]})
        for axis in ("x", "y"):
            self._qq_ranges(axis, st)
        self._apply_temps(st)

    def _apply_temps(self, st: dict):
        temps = st["temperatures"]
        per = st["per_rung"]
        labels = [f"T = {t:.3g}" for t in temps]
        pal = rung_palette(len(temps))
        if list(self.t_bars.x_range.factors) != labels:
            self.t_bars.x_range.factors = labels
        self.t_src.data = {"T": labels, "n": list(per), "color": pal, "label": [f"{int(n):,}" for n in per]}
        self.t_bars.y_range.end = max(1.0, float(np.max(per)) * 1.25)
        sw = st["swaps"]
        self.s_src.data = dict(sw)
        if len(sw["sweep"]):
            x0, x1 = float(sw["sweep"][0]), float(sw["sweep"][-1])
            r = self.t_swaps.x_range
            if x1 > r.end or x0 < r.start or x0 > r.start + 100:
                chunk = 50.0
                r.update(start=np.floor(x0 / chunk) * chunk, end=np.ceil((x1 + 1) / chunk) * chunk + chunk)
        ej = sw["ejections"]
        top = max(1.0, float(np.max(ej)) * 1.1) if len(ej) else 1.0
        er = self.t_swaps.extra_y_ranges["ej"]
        if top > er.end or top < 0.6 * er.end:
            er.end = top * 1.2
        if len(temps) <= 1:
            self.t_note.text = "one rung in this stage: no swaps"
        elif not len(sw["sweep"]):
            self.t_note.text = "no swap sweeps yet (tempering phase only)"
        else:
            self.t_note.text = ""


# ---------------------------------------------------------------------------------------
# HTML parts: diagnostics strip, teaching text
# ---------------------------------------------------------------------------------------
def _cell(label: str, value: str, cls: str = "", title: str = "") -> str:
    t = f' title="{html.escape(title)}"' if title else ""
    return (f'<div class="mdhmc-cell {cls}"{t}><div class="mdhmc-v">{html.escape(value)}</div>'
            f'<div class="mdhmc-l">{html.escape(label)}</div></div>')


def strip_html(snap: dict) -> str:
    """The diagnostics strip (one row per sampler) and the applied settings."""
    st = snap.get("stats") or {}
    rows = []
    for key in ("a", "b"):
        entry = st.get(key)
        if not entry:
            continue
        s = entry["strip"]
        h = entry.get("heavy", {})
        stage = texts.STAGE_LABELS.get(s["stage"], s["stage"])
        if s["stage"] == "pipeline":
            stage = f"pipeline · {s['phase']}"
        elif s["stage"] == "hmc":
            stage = "exact HMC"
        who = ""
        rec = "recording" if s["recording"] else (f"warm-up {s['stage_sweep']}/{s['warmup']}"
                                                  if s["phase"] in ("metropolis", "tempering", "hmc") else "not recording")
        sweep = snap.get("sweep", s["sweep"]) if key == "a" else s["sweep"]
        cells = [
            _cell("stage", (who + ": " if who else "") + stage, "mdhmc-stage", rec),
            _cell("sweep", f"{sweep:,}", "mdhmc-sweep"),
            _cell("steps/s", fmt(s["steps_per_s"], ",.0f")),
            _cell("lp evals/s", fmt(s["evals_per_s"], ",.0f")),
            _cell("acceptance", fmt(s["acceptance"], ".2f")),
            _cell("swap acc.", fmt(s["swap_acceptance"], ".2f")),
            _cell("triggers", f"{s['triggers']:,}"),
            _cell("divergences", f"{s['divergences']:,}", "mdhmc-bad" if s["divergences"] else ""),
            _cell("ESS (min)", fmt(h.get("ess"), ",.0f"), "",
                  "bulk ESS of the shown coordinates, walkers as chains (ArviZ)"),
            _cell("R-hat (max)", fmt(h.get("rhat"), ".3f")),
            _cell("sliced W1", fmt(h.get("w1"), ".3f"), "", "sliced 1-Wasserstein distance to exact draws"),
        ]
        rows.append('<div class="mdhmc-strip">' + "".join(cells) + "</div>")
    a = snap.get("applied")
    if a:
        ms = "auto" if a["metropolis_scale"] is None else fmt(a["metropolis_scale"], ".3g")
        trig = "off" if a["trigger"] >= 1e300 else fmt(a["trigger"], ".3g")
        rows.append(
            '<div class="mdhmc-applied">applied in the sampler: '
            f'step size <b class="applied-step-size">{fmt(a["step_size"], ".4g")}</b> · '
            f'δ <b class="applied-delta">{fmt(a["delta"], ".3g")}</b> · '
            f'viscosity gain <b class="applied-gain">{fmt(a["viscosity_gain"], ".3g")}</b> · '
            f'T<sub>hot</sub> <b class="applied-t-hot">{fmt(a["t_hot"], ".3g")}</b> · '
            f'noise {fmt(a["noise"], ".3g")} · hot start {fmt(a["hot"], ".3g")} · trigger {trig} · '
            f'steps {a["steps"]:,} · walkers <b class="applied-walkers">{a["walkers"]:,}</b> · rungs {a["rungs"]} · '
            f'Metropolis scale {ms} · seed {a["seed"]}</div>')
    if not rows:
        rows.append(f'<div class="mdhmc-applied">{html.escape(snap.get("status", ""))}</div>')
    return "".join(rows)


STRIP_CSS = """
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
"""
