"""HoloViews versions of the trace and statistics views (``MDHMC_VIEWS=holoviews``), for the
frame-rate comparison in `benchmarks/dashboard_updates.py`.

Traces (energies, H error, swaps) are DynamicMaps over `hv.streams.Buffer` (only the new rows
are sent, HoloViews streams them into the data source); statistics (Q-Q, mass, rungs) are
DynamicMaps fed by `hv.streams.Pipe`. Same ``apply(frame)`` interface as the Bokeh views.
"""

from __future__ import annotations

import holoviews as hv
import numpy as np
import panel as pn

from .figures import COLD, HMC, HOT, TRUTH, fmt, rung_palette
from .frames import Frame

__all__ = ["HvEnergyTraces", "HvQQPlots", "HvTemperatures", "HvMassBalance"]

hv.extension("bokeh", logo=False)

ENERGY_COLS = ("step", "U", "K", "H", "herr")
MEAN_COLS = ("x0", "x1", "U", "K", "H", "herr")
SWAP_COLS = ("sweep", "acceptance", "ejections")
COLORS = {"U": "#2b83ba", "K": "#fdae61", "H": "#222222", "herr": "#7b3294"}
PLOT = dict(width=540, toolbar="right", default_tools=["pan", "wheel_zoom", "box_zoom", "reset", "save"],
            framewise=True, axiswise=True)


def _empty(cols) -> dict:
    return {c: np.empty(0) for c in cols}


def _gap(cols) -> dict:
    return {c: np.array([np.nan]) for c in cols}


class _Viewer(pn.viewable.Viewer):
    def __panel__(self):
        return self._pane


class HvEnergyTraces(_Viewer):
    """Energies and the H error of the tracked walker, streamed through Buffers."""

    def __init__(self, **params):
        super().__init__(**params)
        self.buffer = hv.streams.Buffer(_empty(ENERGY_COLS), length=2000, index=False)
        self.means = hv.streams.Buffer(_empty(MEAN_COLS), length=64, index=False)
        self.delta = hv.streams.Pipe(data=1.0)
        self._last = (-np.inf, -np.inf)  # last step and last mean segment sent
        self._layout = None

        def energies(data):
            return hv.Overlay([hv.Curve(data, "step", c, label=c).opts(color=COLORS[c]) for c in ("U", "K", "H")])

        def mean_lines(data):
            return hv.Overlay([hv.Segments(data, ["x0", c, "x1", c]).opts(color=COLORS[c], line_dash="dashed")
                               for c in ("U", "K", "H")])

        e = (hv.DynamicMap(energies, streams=[self.buffer]) * hv.DynamicMap(mean_lines, streams=[self.means]))
        h = (hv.DynamicMap(lambda data: hv.HSpan(-data, data).opts(color=COLORS["herr"], alpha=0.08),
                           streams=[self.delta])
             * hv.DynamicMap(lambda data: hv.Curve(data, "step", "herr").opts(color=COLORS["herr"]), streams=[self.buffer])
             * hv.DynamicMap(lambda data: hv.Segments(data, ["x0", "herr", "x1", "herr"]).opts(
                 color=COLORS["herr"], line_dash="dashed"), streams=[self.means]))
        self._pane = pn.Column(
            pn.pane.HoloViews(e.opts(title="Energies of the tracked walker (solid) and the ensemble mean (dashed)",
                                     height=240, **PLOT)),
            pn.pane.HoloViews(h.opts(title="H error of the tracked walker (band: ±δ)", height=190, **PLOT)), margin=0)

    def apply(self, frame: Frame):
        if frame.layout.version != self._layout:
            self._layout = frame.layout.version
            self.buffer.clear()
            self.means.clear()
            self._last = (-np.inf, -np.inf)
        e = frame.energy
        if e is None or not len(e.step):
            return
        new = np.isfinite(e.step) & (e.step > self._last[0])
        if new.any():
            rows = {c: np.concatenate([getattr(e, c)[new], [np.nan]]) for c in ENERGY_COLS}
            self.buffer.send(rows)
            m = e.means.x0 > self._last[1]
            if m.any():
                self.means.send({c: getattr(e.means, c)[m] for c in MEAN_COLS})
            self._last = (float(e.step[new].max()), float(e.means.x0.max()) if len(e.means.x0) else self._last[1])
        if e.delta is not None and e.delta != self.delta.data:
            self.delta.send(e.delta)


class HvQQPlots(_Viewer):
    """Q-Q of both shown coordinates, one Pipe each."""

    def __init__(self, **params):
        super().__init__(**params)
        self.pipes = (hv.streams.Pipe(data=None), hv.streams.Pipe(data=None))
        self._seen = None
        self._pane = pn.Row(*(pn.pane.HoloViews(hv.DynamicMap(self._plot, streams=[p])) for p in self.pipes), margin=0)

    @staticmethod
    def _plot(data):
        if data is None:
            return hv.Scatter([]).opts(width=290, height=320)
        label, qqs = data
        layers = [hv.Slope(1, 0).opts(color="#888888", line_dash="dashed")]
        texts = []
        for k, (q, color) in enumerate(zip(qqs, (COLD, HMC), strict=False)):
            if q is None:
                continue
            layers.append(hv.Scatter((q.exact, q.sample), f"exact quantiles of {label}",
                                     f"sampled quantiles of {label}").opts(color=color, size=5))
            texts.append(f"KS D = {fmt(q.ks, '.3f')}")
        return hv.Overlay(layers).opts(title=f"Q-Q of {label}: " + " / ".join(texts), width=290, height=320,
                                       framewise=True, toolbar=None)

    def apply(self, frame: Frame):
        st = frame.stats
        if st is None or st.version == self._seen:
            return
        self._seen = st.version
        for axis, pipe in enumerate(self.pipes):
            qqs = [e.qq[axis] if e is not None and e.qq is not None else None for e in (st.a, st.b)]
            pipe.send((frame.layout.labels[axis], qqs) if any(q is not None for q in qqs) else None)


class HvTemperatures(_Viewer):
    """Walkers per rung (Pipe) and the swap history (Buffer)."""

    def __init__(self, **params):
        super().__init__(**params)
        self.rungs = hv.streams.Pipe(data=([1.0], [0]))
        self.swaps = hv.streams.Buffer(_empty(SWAP_COLS), length=400, index=False)
        self._seen = (None, None)
        self._last = -np.inf

        def bars(data):
            temps, per = data
            labels = [f"T = {t:.3g}" for t in temps]
            return hv.Bars((labels, list(per)), "rung", "walkers").opts(
                color=hv.Cycle(rung_palette(len(temps))), width=330, height=150, framewise=True, toolbar=None,
                title="Walkers per temperature rung")

        def history(data):
            return (hv.Curve(data, "sweep", "acceptance").opts(color=COLD)
                    * hv.Scatter(data, "sweep", "ejections").opts(color=HOT, size=3))

        self._pane = pn.Column(pn.pane.HoloViews(hv.DynamicMap(bars, streams=[self.rungs])),
                               pn.pane.HoloViews(hv.DynamicMap(history, streams=[self.swaps]).opts(
                                   width=330, height=200, framewise=True,
                                   title="Swap acceptance and ejections over time")), margin=0)

    def apply(self, frame: Frame):
        lay, st = frame.layout, frame.stats
        if lay.version != self._seen[0]:
            self._seen = (lay.version, None)
            self.swaps.clear()
            self._last = -np.inf
        if st is None or st.version == self._seen[1]:
            return
        self._seen = (lay.version, st.version)
        self.rungs.send((st.temperatures, st.per_rung))
        new = st.swaps.sweep > self._last
        if new.any():
            self.swaps.send({c: getattr(st.swaps, c)[new] for c in SWAP_COLS})
            self._last = float(st.swaps.sweep[new].max())


class HvMassBalance(_Viewer):
    """Mass per component (truth, sampled, exact HMC) through a Pipe."""

    def __init__(self, **params):
        super().__init__(**params)
        self.pipe = hv.streams.Pipe(data=[])
        self._seen = None

        def bars(data):
            return hv.Bars(data, ["component", "who"], "mass").opts(
                color=hv.Cycle([TRUTH, COLD, HMC]), width=340, height=320, framewise=True, toolbar=None,
                title="Mass per component: truth vs sampled", multi_level=False)

        self._pane = pn.pane.HoloViews(hv.DynamicMap(bars, streams=[self.pipe]))

    def apply(self, frame: Frame):
        lay, st = frame.layout, frame.stats
        if not lay.is_mixture or st is None or st.version == self._seen:
            return
        self._seen = st.version
        rows = [(c, "truth", float(w)) for c, w in zip(lay.components, lay.weights, strict=True)]
        for who, e in (("sampled", st.a), ("exact HMC", st.b)):
            if e is not None and e.mass is not None:
                rows += [(c, who, float(m)) for c, m in zip(lay.components, e.mass, strict=True)]
        self.pipe.send(rows)
