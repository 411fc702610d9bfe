"""Energy traces of the tracked walker (U, K, H and the H error) with the ensemble means."""

from __future__ import annotations

import time

import numpy as np
import panel as pn
from bokeh.models import ColumnDataSource, Legend, LegendItem, Range1d

from .figures import empty, make_figure
from .frames import Energy, Frame

__all__ = ["EnergyTraces", "robust_limits"]

U_C, K_C, H_C, E_C = "#2b83ba", "#fdae61", "#222222", "#7b3294"
#: titles short enough to read whole at 1280x720 and in large text (a Bokeh title does not wrap)
TITLE = "Energy: tracked walker (solid), mean (dashed)"
ENERGY_COLS = ("step", "U", "K", "H", "herr")
MEAN_COLS = ("x0", "x1", "U", "K", "H", "herr", "step_size", "delta", "viscosity_gain")
CLIP_COLS = ("step", "y", "angle", "color")
CLIP_C = "#d7191c"
REDRAW_S = 0.25


def robust_limits(values, at_least=None, q=(5.0, 95.0), widen=0.35) -> tuple[float, float] | None:
    """An axis range from the 5-95 % quantiles widened by 35 % of their span each side: a few
    exploding trajectories (funnel spikes, 1e149 on the banana) must not flatten the rest;
    they are clipped at the edge and marked. None without finite values."""
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    if not len(v):
        return None
    lo, hi = np.percentile(v, q)
    span = hi - lo if hi > lo else max(1.0, abs(hi) * 0.1)
    lo, hi = lo - widen * span, hi + widen * span
    lo, hi = max(lo, float(v.min()) - 0.05 * span), min(hi, float(v.max()) + 0.05 * span)  # no empty margins
    if at_least is not None:
        lo, hi = min(lo, at_least[0]), max(hi, at_least[1])
    return float(lo), float(hi)


def _set_range(rng, lim) -> None:
    """Move ``rng`` to ``lim`` when it differs by more than 15 % of its span (each move repaints)."""
    if lim is None:
        return
    span = max(lim[1] - lim[0], 1e-12)
    if abs(rng.start - lim[0]) > 0.15 * span or abs(rng.end - lim[1]) > 0.15 * span:
        rng.update(start=lim[0], end=lim[1])


def _clipped(step, cols, colors, lim) -> dict:
    """Points of ``cols`` outside ``lim``: at the edge, as triangles pointing out of the plot."""
    lo, hi = lim
    out = {c: [] for c in CLIP_COLS}
    for v, color in zip(cols, colors):
        v = np.asarray(v, dtype=float)
        for mask, edge, angle in ((v > hi, hi, 0.0), (v < lo, lo, np.pi)):
            k = np.flatnonzero(mask & np.isfinite(step))
            out["step"].append(step[k])
            out["y"].append(np.full(len(k), edge))
            out["angle"].append(np.full(len(k), angle))
            out["color"].append(np.full(len(k), color, dtype=object))
    data = {c: np.concatenate(v) if v else np.empty(0) for c, v in out.items()}
    data["color"] = [str(c) for c in data["color"]]  # strings: an empty numeric array is no colour
    return data


def _no_clipped() -> dict:
    return {"step": np.empty(0), "y": np.empty(0), "angle": np.empty(0), "color": []}


def _bounded(v, lim):
    """Values beyond the range, pulled to just outside it: the line leaves the plot, and no
    1e149 reaches the browser's canvas."""
    lo, hi = lim
    span = hi - lo
    return np.clip(np.asarray(v, dtype=float), lo - span, hi + span)


class EnergyTraces(pn.viewable.Viewer):
    """Two figures over one step axis: energies, and the H error within the ±δ window."""

    def __init__(self, **params):
        super().__init__(**params)
        p = self.energy = make_figure(TITLE, 540, 240, x_range=Range1d(0, 1), y_range=Range1d(0, 1))
        self.source = ColumnDataSource(empty(*ENERGY_COLS), name="mdhmc-energy")
        self.means = ColumnDataSource(empty(*MEAN_COLS), name="mdhmc-energy-means")
        self.clipped = ColumnDataSource(_no_clipped(), name="mdhmc-energy-clipped")
        items = []
        for col, color, label in (("U", U_C, "U = −lp"), ("K", K_C, "K"), ("H", H_C, "H = U + K")):
            r = p.line("step", col, source=self.source, line_color=color, line_width=1.3)
            p.segment(x0="x0", y0=col, x1="x1", y1=col, source=self.means, line_color=color, line_dash="dashed",
                      line_width=1.6)
            items.append(LegendItem(label=label, renderers=[r]))
        p.scatter("step", "y", source=self.clipped, marker="triangle", angle="angle", size=7, fill_color="color",
                  line_color=CLIP_C, line_width=0.5)
        # its legend swatch: a glyph with scalar styles and one point never drawn (NaN; an empty
        # glyph draws no swatch at all). A swatch drawn from the clipped glyph reads
        # row 0 of its colour and angle columns, which an empty source does not have ('Offset is
        # outside the bounds of the DataView' in the browser)
        swatch = p.scatter(x=[np.nan], y=[np.nan], marker="triangle", size=7, fill_color=CLIP_C, line_color=CLIP_C,
                           line_width=0.5)
        items.append(LegendItem(label="off the scale", renderers=[swatch]))
        p.add_layout(Legend(items=items, location="top_left", orientation="horizontal", label_text_font_size="11px",
                            background_fill_alpha=0.0, padding=0, spacing=10, margin=0, border_line_alpha=0), "above")
        p.yaxis.axis_label = "energy"
        q = self.herr = make_figure("H error of the tracked walker, band ±δ", 540, 190,
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
        self._drawn_at = 0.0
        self._layout = None
        self._column = pn.Column(pn.pane.Bokeh(self.energy), pn.pane.Bokeh(self.herr), margin=0)

    def __panel__(self):
        return self._column

    def apply(self, frame: Frame):
        if frame.layout.version != self._layout:  # a new target or start: nothing to show yet
            self._layout = frame.layout.version
            self.source.data = empty(*ENERGY_COLS)
            self.means.data = empty(*MEAN_COLS)
            self.clipped.data = _no_clipped()
        e = frame.energy
        now = time.monotonic()
        # new trajectories arrive with every sweep; redrawn a few times a second (each redraw
        # sends ~10k numbers to the browser: more would crowd out the sliders' messages)
        if e is not None and e.delta is not None and self.delta_band.data["y1"] != [e.delta]:
            self.delta_band.data = {"y0": [-e.delta], "y1": [e.delta]}  # a new delta shows at once: 2 numbers
        # a cleared trace, and the first trajectories after one, show at once
        at_once = e is not None and not (len(e.step) and len(self.source.data["step"]))
        if e is not None and e.version != self._version and (now - self._drawn_at >= REDRAW_S or at_once):
            self._version = e.version
            self._drawn_at = now
            self._draw(e)
        title = energy_title(frame)
        if self.energy.title.text != title:
            self.energy.title.text = title

    def _draw(self, e: Energy):
        d = e.delta
        if d is not None and self.delta_band.data["y1"] != [d]:
            self.delta_band.data = {"y0": [-d], "y1": [d]}
        if not len(e.step):
            self.source.data = empty(*ENERGY_COLS)
            self.means.data = empty(*MEAN_COLS)
            self.clipped.data = _no_clipped()
            return
        # robust y ranges: one exploding trajectory must not flatten the rest (clipped, marked)
        lim = robust_limits(np.concatenate([e.U, e.K, e.H])) or (0.0, 1.0)
        band = (d or 1.0) * 1.5
        lim_err = robust_limits(e.herr, at_least=(-band, band)) or (-band, band)
        self.source.data = {"step": e.step, "U": _bounded(e.U, lim), "K": _bounded(e.K, lim),
                            "H": _bounded(e.H, lim), "herr": _bounded(e.herr, lim_err)}
        self.means.data = {c: _bounded(getattr(e.means, c), lim) if c in ("U", "K", "H") else
                           (_bounded(e.means.herr, lim_err) if c == "herr" else getattr(e.means, c))
                           for c in MEAN_COLS}
        self.clipped.data = _clipped(e.step, (e.U, e.K, e.H), (U_C, K_C, H_C), lim)
        _set_range(self.energy.y_range, lim)
        _set_range(self.herr.y_range, lim_err)
        x = e.step[np.isfinite(e.step)]
        if len(x):
            r = self.energy.x_range
            lo, hi = float(x.min()), float(x.max()) + 1
            if hi > r.end or lo < r.start or lo > r.start + 0.25 * (r.end - r.start):
                chunk = max(50.0, 0.1 * (hi - lo))  # move in steps, not every sweep
                r.update(start=lo, end=np.ceil(hi / chunk) * chunk + chunk)


def energy_title(frame: Frame) -> str:
    """What the energy panel shows now: the diffusing walkers' energies, or why there are none."""
    if frame.phase == "diffusion":
        return TITLE
    if frame.probe:
        return f"Diffusion probe: {frame.probe} cold walkers"
    return f"Energy: no trajectories in the {frame.phase} phase"
