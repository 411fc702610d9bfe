"""Animation a class can follow: one walker's trajectory point by point, at a speed you set.

In animation mode the sampler pauses; the tracked walker's last recorded diffusion trajectory
(full resolution, read from the sampler) is revealed one integration point at a time: the path
over the density, the H error against the ±δ window, the weight of each point, the triggers
(momentum redrawn: ``TrackedTrajectory.trigger`` where the sampler records it) and, at the end,
the drawn point. "Step" runs one sweep and animates what it did: the next trajectory, or in the
tempering phase one Metropolis proposal per followed walker (accepted: an arrow to the new
point; rejected: a ring where it stayed) or one swap sweep (a walker that changes rung changes
colour). Click a walker in the cloud to follow it (Metropolis and swaps; the diffusion
trajectory is always the sampler's tracked walker's).

The recorded trajectory is in the source ``mdhmc-anim-recorded`` (x, y, i), what has been
revealed in ``mdhmc-anim-points`` (the same columns, a prefix of it).
"""

from __future__ import annotations

import time

import numpy as np
import panel as pn
from bokeh.models import ColumnDataSource, Label, Range1d, Span

from .figures import COLD, HOT, Text, empty, make_figure, rung_palette
from .frames import Frame

__all__ = ["Animation", "recorded_trajectory"]

TICK_MS = 50
KEY_HTML = ('<div class="mdhmc-note"><b style="color:#7b3294">●</b> integration point (size = weight) '
            '<b style="color:#ff7f00">▲</b> trigger (momentum redrawn) <b style="color:#d4a900">★</b> drawn point '
            '<b style="color:#1a9850">—●</b> accepted proposal <b style="color:#d7301f">○</b> rejected</div>')
POINT_COLS = ("x", "y", "i", "herr", "w", "size")


def recorded_trajectory(sampler, i: int, j: int) -> dict | None:
    """The tracked walker's last trajectory at full resolution, as columns (caller holds the
    worker's lock); None outside diffusion."""
    tr = getattr(sampler, "last_tracked", None)
    if tr is None or not len(tr.positions):
        return None
    pos = np.asarray(tr.positions, dtype=float)
    lw = np.asarray(tr.log_weights, dtype=float)
    top = np.max(lw) if len(lw) and np.isfinite(np.max(lw)) else None
    w = np.exp(lw - top) if top is not None else np.zeros(len(pos))
    w = np.where(np.isfinite(w), w, 0.0)
    herr = np.asarray(tr.energies, dtype=float)[:, 3] if np.ndim(tr.energies) == 2 else np.full(len(pos), np.nan)
    trig = getattr(tr, "trigger", None)
    if trig is None:
        trig = getattr(tr, "triggered", None)
    trig = np.asarray(trig, dtype=bool) if trig is not None and np.shape(trig) == (len(pos),) else np.zeros(len(pos), bool)
    jj = j if pos.shape[1] > j else 0
    return {"x": pos[:, i].copy(), "y": pos[:, jj].copy(), "i": np.arange(len(pos), dtype=float),
            "herr": np.where(np.isfinite(herr), herr, np.nan), "w": w / max(w.sum(), 1e-300),
            "size": 4.0 + 14.0 * np.sqrt(w), "trigger": trig, "chosen": int(tr.chosen)}


class Animation:
    """The animation tab: toolbar and three figures; driven by its own periodic callback."""

    def __init__(self, worker, controls, cloud=None):
        self.worker, self.controls = worker, controls
        self.on = pn.widgets.Toggle(name="Animate", value=False, button_type="primary", width=84, margin=(2, 3))
        self.play = pn.widgets.Toggle(name="▶ Play", value=True, width=72, margin=(2, 3))
        self.step_btn = pn.widgets.Button(name="Step ⏭", width=72, margin=(2, 3))
        self.restart = pn.widgets.Button(name="Restart", width=72, margin=(2, 3))
        self.speed = pn.widgets.FloatSlider(name="points / s", start=1, end=200, value=10, step=1, width=150,
                                            margin=(0, 8))
        self.status = pn.pane.Str("", margin=(6, 6), styles={"font-size": "13px"})
        self.key = Text(KEY_HTML, name="mdhmc-anim-key", margin=(0, 6))
        self.toolbar = pn.Column(pn.FlexBox(self.on, self.play, self.step_btn, self.restart, self.speed, self.status,
                                            margin=0, sizing_mode="stretch_width", flex_wrap="wrap"),
                                 self.key.pane, margin=0, sizing_mode="stretch_width")
        p = self.path_fig = make_figure("Trajectory, point by point", 330, 330,
                                        x_range=cloud.fig.x_range if cloud else Range1d(-5, 5),
                                        y_range=cloud.fig.y_range if cloud else Range1d(-5, 5), name="mdhmc-anim-path")
        if cloud is not None:  # the same density image as the cloud (shared source)
            p.image(image="image", x="x", y="y", dw="dw", dh="dh", source=cloud.density, level="image",
                    color_mapper=cloud.img.glyph.color_mapper)
        self.recorded = ColumnDataSource(empty(*POINT_COLS, "trigger"), name="mdhmc-anim-recorded")
        self.points = ColumnDataSource(empty(*POINT_COLS), name="mdhmc-anim-points")
        self.head = ColumnDataSource(empty("x", "y"))
        self.trig = ColumnDataSource(empty("x", "y"), name="mdhmc-anim-triggers")
        self.drawn = ColumnDataSource(empty("x", "y"), name="mdhmc-anim-drawn")
        p.line("x", "y", source=self.recorded, visible=False)  # the whole recording, in the page (tests read it)
        p.line("x", "y", source=self.points, line_color="#3a3a3a", line_alpha=0.6, line_width=1.5)
        p.scatter("x", "y", size="size", source=self.points, fill_color="#7b3294", fill_alpha=0.45,
                  line_color="#4a1a5e")
        p.scatter("x", "y", source=self.trig, marker="triangle", size=13, fill_color="#ff7f00", line_color="#7f3f00")
        p.scatter("x", "y", source=self.head, size=14, fill_color="white", line_color="black", line_width=2.5)
        p.scatter("x", "y", source=self.drawn, marker="star", size=26, fill_color="#ffd700", line_color="black")
        # Metropolis proposals and swaps of the followed walkers
        self.moves = ColumnDataSource({"x0": [], "y0": [], "x1": [], "y1": [], "color": []}, name="mdhmc-anim-moves")
        self.rejected = ColumnDataSource(empty("x", "y"), name="mdhmc-anim-rejected")
        self.followed = ColumnDataSource({"x": [], "y": [], "color": []}, name="mdhmc-anim-followed")
        p.segment("x0", "y0", "x1", "y1", source=self.moves, line_color="color", line_width=3)
        p.scatter("x1", "y1", source=self.moves, marker="circle", size=9, fill_color="color", line_color=None)
        p.scatter("x", "y", source=self.rejected, marker="circle", size=20, fill_alpha=0, line_color=HOT,
                  line_width=3)
        p.scatter("x", "y", source=self.followed, size=12, fill_color="color", line_color="black", line_width=1.5)
        self.caption = Label(x=8, y=8, x_units="screen", y_units="screen", text="", text_font_size="12px",
                             background_fill_color="white", background_fill_alpha=0.85)
        p.add_layout(self.caption)
        q = self.herr_fig = make_figure("H error against the ±δ window", 330, 160, x_range=Range1d(0, 10),
                                        y_range=Range1d(-1.5, 1.5))
        self.band = ColumnDataSource({"y0": [-1.0], "y1": [1.0]}, name="mdhmc-anim-delta")
        q.hstrip(y0="y0", y1="y1", source=self.band, fill_color=COLD, fill_alpha=0.12, line_alpha=0)
        q.line("i", "herr", source=self.points, line_color="#444444", line_width=1.5)
        q.scatter("i", "herr", source=self.points, size=4, fill_color="#7b3294", line_color=None)
        self.cursor = Span(location=0, dimension="height", line_color="#999999", line_dash="dashed")
        q.add_layout(self.cursor)
        q.xaxis.axis_label = "integration point"
        r = self.weight_fig = make_figure("Weight of each point (one is drawn)", 330, 150, x_range=q.x_range,
                                          y_range=Range1d(0, 1))
        r.vbar(x="i", top="w", width=0.9, source=self.points, fill_color="#7b3294", line_color=None)
        r.xaxis.axis_label = "integration point"
        for f in (q, r):
            f.toolbar_location = None
        self.figures = [self.path_fig, self.herr_fig, self.weight_fig]
        self._rec = None
        self._k = 0
        self._last_t = None
        self._traj_version = None
        self._waiting_step = False
        self._followed_version = None
        self._coords = (0, 1)
        self._cb = None
        self.on.param.watch(self._toggle, "value")
        self.step_btn.on_click(lambda e: self.step())
        self.restart.on_click(lambda e: self.reset())

    # ------------------------------------------------------------------ user actions
    def _toggle(self, event):
        if event.new:
            self.controls.playing = False  # the class follows one trajectory at a time
            self.load()
            if self._cb is None:
                self._cb = pn.state.add_periodic_callback(self.tick, period=TICK_MS, start=True)
        else:
            if self._cb is not None:
                self._cb.stop()
                self._cb = None

    def toggle_play(self):
        self.play.value = not self.play.value

    def reset(self):
        """Back to the trajectory's first point."""
        self._k = 0
        self._last_t = None
        self._reveal()

    def step(self):
        """Finish the current trajectory if it is running, else one sweep and animate it."""
        if not self.on.value:
            self.on.value = True
        if self._rec is not None and self._k < len(self._rec["x"]):
            self._k = len(self._rec["x"])
            self._reveal()
            return
        self._waiting_step = True
        self.worker.step()

    def track(self, walker: int):
        """Follow the walker clicked in the cloud (its rung changes and proposals)."""
        rep = getattr(self.worker, "replicas", None)
        if rep is not None:
            rep.pick(walker)
        self.status.object = f"following walker {walker}"

    # ------------------------------------------------------------------ drawing
    def load(self) -> bool:
        """Take the tracked walker's last trajectory from the sampler; True if there is one."""
        s = self.worker.sampler
        if s is None:
            return False
        with self.worker.lock:
            rec = recorded_trajectory(s, *self._coords)
            delta = float(getattr(s.settings, "delta", 1.0) or 1.0)
        if rec is None:
            self._rec = None
            self.recorded.data = empty(*POINT_COLS, "trigger")
            self.points.data = empty(*POINT_COLS)
            self.caption.text = "no diffusion trajectory in this phase: Step shows proposals and swaps"
            return False
        self._rec = rec
        self.recorded.data = {c: rec[c] for c in (*POINT_COLS, "trigger")}
        self.band.data = {"y0": [-delta], "y1": [delta]}
        n = len(rec["x"])
        self.herr_fig.x_range.update(start=-0.5, end=n - 0.5)
        h = rec["herr"][np.isfinite(rec["herr"])]
        top = max(1.5 * delta, float(np.max(np.abs(h))) * 1.1 if len(h) else 0.0)
        self.herr_fig.y_range.update(start=-top, end=top)
        self.weight_fig.y_range.update(start=0, end=max(1e-12, float(np.max(rec["w"])) * 1.15))
        self._k = 0
        self._last_t = None
        self._reveal()
        return True

    def _reveal(self):
        rec = self._rec
        if rec is None:
            return
        n = len(rec["x"])
        k = int(min(max(self._k, 0), n))
        self.points.data = {c: rec[c][:k] for c in POINT_COLS}
        if k:
            self.head.data = {"x": [rec["x"][k - 1]], "y": [rec["y"][k - 1]]}
        else:
            self.head.data = empty("x", "y")
        t = rec["trigger"][:k]
        self.trig.data = {"x": rec["x"][:k][t], "y": rec["y"][:k][t]}
        ch = rec["chosen"]
        done = k >= n
        self.drawn.data = {"x": [rec["x"][ch]], "y": [rec["y"][ch]]} if done and 0 <= ch < n else empty("x", "y")
        self.cursor.location = k - 1
        self.caption.text = (f"point {k} of {n}" + (f" · drawn: point {ch + 1}" if done and ch >= 0 else "")
                             + (f" · {int(t.sum())} trigger(s)" if t.any() else ""))

    def tick(self):
        """Advance the animation (periodic callback, server thread)."""
        if not self.on.value:
            return
        now = time.monotonic()
        if self._rec is not None and self.play.value and self._k < len(self._rec["x"]):
            if self._last_t is None:
                self._last_t = now
                self._k = max(self._k, 1)
            else:
                adv = int((now - self._last_t) * self.speed.value)
                if adv:
                    self._k += adv
                    self._last_t += adv / self.speed.value
            self._reveal()
        else:
            self._last_t = None

    def apply(self, frame: Frame):
        """Per frame: the coordinates shown, and what a Step produced."""
        if frame.layout is not None:
            self._coords = frame.layout.coords
        if not self.on.value:
            return
        if self._waiting_step and frame.traj_version != self._traj_version:
            self._waiting_step = False
            self.load()
        self._traj_version = frame.traj_version
        self._draw_followed()

    def _draw_followed(self):
        rep = getattr(self.worker, "replicas", None)
        snap = rep.snapshot() if rep is not None else None
        if snap is None or snap.version == self._followed_version:
            return
        self._followed_version = snap.version
        i, j = self._coords
        k = len(snap.temperatures)
        pal = rung_palette(max(k, 2))
        a = snap.after
        if not len(a):
            return
        jj = j if a.shape[1] > j else 0
        self.followed.data = {"x": a[:, i], "y": a[:, jj], "color": [pal[int(r)] for r in snap.rung_after]}
        b = snap.before
        if snap.move == "metropolis" and len(b) == len(a):
            moved = np.any(b != a, axis=1)
            self.moves.data = {"x0": b[moved, i], "y0": b[moved, jj], "x1": a[moved, i], "y1": a[moved, jj],
                               "color": ["#1a9850"] * int(moved.sum())}
            self.rejected.data = {"x": a[~moved, i], "y": a[~moved, jj]}
            self.caption.text = (f"Metropolis: {int(moved.sum())} of {len(a)} followed walkers accepted "
                                 "(arrow), the rest rejected (ring)")
        elif snap.move == "swap" and len(snap.rung_before) == len(a):
            changed = snap.rung_before != snap.rung_after
            self.moves.data = {"x0": [], "y0": [], "x1": [], "y1": [], "color": []}
            self.rejected.data = empty("x", "y")
            self.caption.text = (f"swap sweep: {int(changed.sum())} of {len(a)} followed walkers changed rung "
                                 "(and colour)")
