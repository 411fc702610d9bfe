"""Capture for slides, rendered on the server with Pillow: a PNG snapshot of the view (the
walker cloud over its density, the tracked walker's H error, the rung trace) and a short GIF
of the cloud from the last frames the page drew.

`CloudRecorder` keeps the last ``FRAMES`` frames' walkers (thinned to ``MAX_POINTS``): memory
per session is bounded (about 60 x 4,000 x 2 float32 = 2 MB).
"""

from __future__ import annotations

import collections
import io

import numpy as np
import panel as pn
from PIL import Image, ImageDraw, ImageFont

from .figures import rung_palette

__all__ = ["CloudRecorder", "render_cloud", "cloud_gif", "snapshot_png", "CapturePanel"]

FRAMES = 60
MAX_POINTS = 4000
SIZE = 640
GIF_MS = 100


def _rgb(c: str) -> tuple[int, int, int]:
    return tuple(int(c[i:i + 2], 16) for i in (1, 3, 5))


def _font(size: int):
    try:
        return ImageFont.truetype("DejaVuSans.ttf", size)
    except OSError:
        return ImageFont.load_default()


class CloudRecorder:
    """The last frames' walkers, for the GIF (fed by every frame the page draws)."""

    def __init__(self, frames: int = FRAMES):
        self.frames = collections.deque(maxlen=frames)
        self.layout = None
        self.rung = None
        self.temps = None
        self._key = None

    def apply(self, frame):
        if frame.layout is None or frame.walkers is None or frame.rungs is None:
            return
        if frame.layout is not self.layout:
            self.frames.clear()
            self.layout = frame.layout
        if frame.rungs.version != self._key:
            self.frames.clear()
            self._key = frame.rungs.version
            n = frame.rungs.walkers
            self.keep = np.arange(n) if n <= MAX_POINTS else np.linspace(0, n - 1, MAX_POINTS).astype(int)
            self.rung = frame.rungs.rung[self.keep]
            self.temps = frame.rungs.temperatures
        w = frame.walkers
        if len(w.x) == len(frame.rungs.rung):
            self.frames.append((frame.sweep, w.x[self.keep].copy(), w.y[self.keep].copy()))


def render_cloud(layout, rung, temps, x, y, title: str = "", size: int = SIZE, hide_hot: bool = False) -> Image.Image:
    """One cloud image: the density (greys), hot walkers, then cold ones on top."""
    img = Image.new("RGB", (size, size), "white")
    (x0, x1), (y0, y1) = layout.x_range, layout.y_range
    d = layout.density or {}
    if d.get("image") is not None:
        im = np.sqrt(np.asarray(d["image"], dtype=float))
        im = im / im.max() if im.max() > 0 else im
        g = (255 - 90 * im).clip(0, 255).astype(np.uint8)[::-1]  # rows: y up
        dens = Image.fromarray(g, "L").convert("RGB")
        (dx0, dx1), (dy0, dy1) = d["x"], d["y"]
        px = lambda v: int(round((v - x0) / (x1 - x0) * size))  # noqa: E731
        py = lambda v: int(round((y1 - v) / (y1 - y0) * size))  # noqa: E731
        box = (px(dx0), py(dy1), px(dx1), py(dy0))
        if box[2] > box[0] and box[3] > box[1]:
            img.paste(dens.resize((box[2] - box[0], box[3] - box[1])), box[:2])
    draw = ImageDraw.Draw(img)
    pal = [_rgb(c) for c in rung_palette(max(len(temps), 2))]
    sx = (np.asarray(x, float) - x0) / (x1 - x0) * size
    sy = (y1 - np.asarray(y, float)) / (y1 - y0) * size
    ok = np.isfinite(sx) & np.isfinite(sy)
    for r in sorted(set(np.unique(rung).tolist()), reverse=True):  # hot first, cold on top
        if r > 0 and hide_hot:
            continue
        rad = 2.4 if r == 0 else 1.8
        for a, b in zip(sx[ok & (rung == r)], sy[ok & (rung == r)]):
            draw.ellipse((a - rad, b - rad, a + rad, b + rad), fill=pal[int(r)])
    if title:
        draw.text((10, 8), title, fill=(30, 30, 30), font=_font(20))
    return img


def cloud_gif(rec: CloudRecorder, path=None, ms: int = GIF_MS, hide_hot: bool = False) -> bytes:
    """The recorded frames as an animated GIF (bytes; also written atomically to ``path``)."""
    if not rec.frames or rec.layout is None:
        raise ValueError("no frames recorded yet: let the sampler run a moment")
    imgs = [render_cloud(rec.layout, rec.rung, rec.temps, x, y, f"{rec.layout.target} · sweep {sweep}",
                         hide_hot=hide_hot).convert("P", palette=Image.ADAPTIVE, colors=64)
            for sweep, x, y in rec.frames]
    buf = io.BytesIO()
    imgs[0].save(buf, format="GIF", save_all=True, append_images=imgs[1:], duration=ms, loop=0, optimize=False)
    data = buf.getvalue()
    if path is not None:
        from mdhmc.sampler.io import atomic_write

        def write(tmp):
            with open(tmp, "wb") as f:
                f.write(data)

        atomic_write(path, write)
    return data


def _line_panel(w: int, h: int, title: str, series, ylim=None, band=None) -> Image.Image:
    """A small line chart: ``series`` = [(x, y, colour), ...]."""
    img = Image.new("RGB", (w, h), "white")
    dr = ImageDraw.Draw(img)
    dr.rectangle((0, 0, w - 1, h - 1), outline=(210, 210, 210))
    dr.text((8, 4), title, fill=(30, 30, 30), font=_font(16))
    xs = [np.asarray(s[0], float) for s in series if len(s[0])]
    ys = [np.asarray(s[1], float) for s in series if len(s[1])]
    if not xs:
        dr.text((8, h // 2), "nothing yet", fill=(120, 120, 120), font=_font(15))
        return img
    ax, ay = np.concatenate(xs), np.concatenate(ys)
    fin = np.isfinite(ax) & np.isfinite(ay)
    if not fin.any():
        return img
    lo_x, hi_x = float(ax[fin].min()), float(ax[fin].max()) or 1.0
    lo_y, hi_y = ylim if ylim else (float(ay[fin].min()), float(ay[fin].max()))
    hi_x = hi_x if hi_x > lo_x else lo_x + 1
    hi_y = hi_y if hi_y > lo_y else lo_y + 1
    top, bot, left, right = 28, h - 10, 10, w - 10
    X = lambda v: left + (v - lo_x) / (hi_x - lo_x) * (right - left)  # noqa: E731
    Y = lambda v: bot - (v - lo_y) / (hi_y - lo_y) * (bot - top)  # noqa: E731
    if band is not None:
        dr.rectangle((left, Y(band[1]), right, Y(band[0])), fill=(222, 233, 246))
    for x, y, c in series:
        pts = [(X(a), Y(b)) for a, b in zip(x, y) if np.isfinite(a) and np.isfinite(b)]
        if len(pts) > 1:
            dr.line(pts, fill=_rgb(c), width=2)
    return img


def snapshot_png(app) -> bytes:
    """The view as one PNG: cloud, the tracked walker's H error, the rung trace."""
    rec = app.capture.recorder
    if not rec.frames:
        raise ValueError("no frame drawn yet")
    if hasattr(app, "draw_all"):
        app.draw_all()  # the energy and rung views may sit in closed tabs, not drawn
    sweep, x, y = rec.frames[-1]
    cloud = render_cloud(rec.layout, rec.rung, rec.temps, x, y, f"{rec.layout.target} · sweep {sweep}",
                         hide_hot=app.cloud.hide_hot)
    e = app.energy.source.data
    band = app.energy.delta_band.data
    d = float(band["y1"][0]) if len(band["y1"]) else 1.0
    herr = _line_panel(480, 320, "H error of the tracked walker (band ±δ)",
                       [(e["step"], e["herr"], "#444444")], band=(-d, d))
    tr = app.rung_view.trace.data
    rungs = _line_panel(480, 320, "Rungs of followed walkers",
                        [(x_, y_, c) for x_, y_, c in zip(tr["xs"], tr["ys"], tr["color"])])
    out = Image.new("RGB", (SIZE + 480, SIZE), "white")
    out.paste(cloud, (0, 0))
    out.paste(herr, (SIZE, 0))
    out.paste(rungs, (SIZE, 320))
    buf = io.BytesIO()
    out.save(buf, format="PNG")
    return buf.getvalue()


class CapturePanel:
    """The PNG and GIF download buttons, and the recorder that feeds the GIF."""

    def __init__(self, app):
        self.app = app
        self.recorder = CloudRecorder()
        self.png = pn.widgets.FileDownload(callback=self._png, filename="mdhmc-view.png", label="PNG",
                                           button_type="light", width=64, margin=(2, 3), embed=False)
        self.gif = pn.widgets.FileDownload(callback=self._gif, filename="mdhmc-cloud.gif", label="GIF",
                                           button_type="light", width=64, margin=(2, 3), embed=False)
        self.buttons = [self.png, self.gif]

    def apply(self, frame):
        self.recorder.apply(frame)

    def _png(self):
        try:
            return io.BytesIO(snapshot_png(self.app))
        except Exception as exc:
            self.app.messages.show_info(f"No snapshot: {exc}", "warning")
            return io.BytesIO(b"")

    def _gif(self):
        try:
            return io.BytesIO(cloud_gif(self.recorder, hide_hot=self.app.cloud.hide_hot))
        except Exception as exc:
            self.app.messages.show_info(f"No GIF: {exc}", "warning")
            return io.BytesIO(b"")
