"""mdhmc's live dashboard (Panel).

Run it with ``mdhmc serve`` or ``panel serve dashboard/app.py --warm`` (``--warm``
compiles the kernels at server start instead of on the first page view).

Per browser session: one `dashboard.model.Session` (the sampler, its worker thread,
newest-wins snapshots), one `dashboard.views.Views` (Bokeh figures over
ColumnDataSources), and one periodic callback that applies the newest snapshot inside
``pn.io.hold()``. Everything of a session is stopped and dropped when it closes.
"""

from __future__ import annotations

import html
import io
import logging
import os
import time

import numba

numba.config.THREADING_LAYER = "threadsafe"  # before the first parallel kernel in this process

import panel as pn  # noqa: E402
from bokeh.models import Div, InlineStyleSheet  # noqa: E402

from mdhmc.dashboard import catalog, texts, warmup  # noqa: E402
from mdhmc.dashboard.model import STAGE_CHOICES, URL_PARAMS, Session, live_sessions, sessions_in_memory  # noqa: E402
from mdhmc.dashboard.views import STRIP_CSS, Views, strip_html  # noqa: E402
from mdhmc.sampler import presets as presets_mod  # noqa: E402

__all__ = ["create_app", "FRAME_MS"]

log = logging.getLogger("mdhmc.dashboard")

FRAME_MS = 20  # periodic callback period: at most 50 frames/s per session
ONLOAD_GRACE_S = float(os.environ.get("MDHMC_ONLOAD_GRACE_S", "20"))  # see tick()
TITLE = "mdhmc · momentum-diffusion HMC, live"

_CSS = """
.bk-btn { font-weight: 600; }
"""

HEADER_COLOR = "#27364a"
HEADER_CSS = """
.mdhmc-header { color: white; font-size: 22px; font-weight: 500; padding: 12px 22px;
  font-family: system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; }
"""
SIDEBAR_STYLES = {"background": "#ffffff", "border": "1px solid #e3e8ef", "border-radius": "6px"}


class _Prompt:
    """Widgets that send their changes at once: Panel waits 50 ms by default to coalesce
    events (``_debounce``); the session model coalesces requests itself."""

    _debounce = 0


class FloatSlider(_Prompt, pn.widgets.FloatSlider):
    pass


class IntSlider(_Prompt, pn.widgets.IntSlider):
    pass


class Select(_Prompt, pn.widgets.Select):
    pass


class Checkbox(_Prompt, pn.widgets.Checkbox):
    pass


def _bind2(widget, session: Session, name: str, to_widget=lambda v: v, to_model=lambda v: v):
    """Two-way link between a widget's value and a session parameter (no loops: param only
    notifies on change)."""
    def w2m(event):
        v = to_model(event.new)
        if v is not None and getattr(session, name) != v:
            setattr(session, name, v)

    def m2w(event):
        v = to_widget(event.new)
        if widget.value != v:
            widget.value = v

    widget.param.watch(w2m, "value")
    session.param.watch(m2w, name)


class Text:
    """A Bokeh ``Div`` in a Panel pane: updated by assigning ``.object`` / ``.visible``.

    Panel's HTML/Markdown/Alert panes make the page load MathJax (1.8 MB of JavaScript);
    a Bokeh Div with ``disable_math`` does not, and updates as directly as a data source.
    """

    def __init__(self, html: str = "", kind: str = "", visible: bool = True, css: str = "", name: str | None = None,
                 **pane_kw):
        self.kind = kind
        self.div = Div(text=self._wrap(html), disable_math=True, visible=visible, name=name,
                       stylesheets=[InlineStyleSheet(css=STRIP_CSS + ALERT_CSS + css)],
                       sizing_mode=pane_kw.pop("sizing_mode", "stretch_width"), width=pane_kw.pop("width", None))
        self.pane = pn.pane.Bokeh(self.div, **pane_kw)
        self._html = html

    def _wrap(self, html: str) -> str:
        return f'<div class="mdhmc-alert {self.kind}">{html}</div>' if self.kind else html

    @property
    def object(self) -> str:
        return self._html

    @object.setter
    def object(self, html: str):
        if html != self._html:
            self._html = html
            self.div.text = self._wrap(html)

    @property
    def visible(self) -> bool:
        return self.div.visible

    @visible.setter
    def visible(self, v: bool):
        if bool(v) != self.div.visible:
            self.div.visible = bool(v)

    def show(self, html: str, kind: str | None = None):
        if kind is not None and kind != self.kind:
            self.kind = kind
            self._html = None
        self.object = html
        self.visible = True


ALERT_CSS = """
.mdhmc-alert { border-radius: 6px; padding: 7px 12px; font-size: 13.5px; line-height: 1.4; border: 1px solid; }
.mdhmc-alert.danger { background: #fdecea; border-color: #f5c2bd; color: #7d1d12; }
.mdhmc-alert.warning { background: #fff6e0; border-color: #f3d48a; color: #6b4a00; }
.mdhmc-alert.success { background: #e9f6ec; border-color: #b7dfc1; color: #1d5a2c; }
.mdhmc-alert.info { background: #e8f1fb; border-color: #b9d3ef; color: #19406b; }
.mdhmc-note { font-size: 12px; color: #555; }
.mdhmc-section { font-weight: 600; color: #27364a; font-size: 13px; margin-top: 4px; }
"""


def create_app(session_kwargs: dict | None = None):
    """Build one session's app (template) and start its worker and periodic callback."""
    # no design system: the Bootstrap design puts 220 kB of CSS into every shadow root, and Bokeh
    # 3 recomputes styles several times per repaint -- it cut the page to a few frames a second
    pn.extension(raw_css=[_CSS], notifications=False)
    warmup.ensure_started(block_first=True, background=True)
    doc = pn.state.curdoc
    session = Session(**(session_kwargs or {}))
    views = Views()

    # ------------------------------------------------------------------ controls
    def P(name, **kw):
        return FloatSlider.from_param(session.param[name], width=300, **kw)

    def PI(name, **kw):
        return IntSlider.from_param(session.param[name], width=300, **kw)

    target_w = Select.from_param(session.param.target, sizing_mode="stretch_width")
    dim_w = Select(name="Dimension", options=[2], sizing_mode="stretch_width", visible=False)
    xcoord_w = Select(name="Horizontal coordinate", options={"x": 0}, width=140, visible=False)
    ycoord_w = Select(name="Vertical coordinate", options={"y": 1}, width=140, visible=False)
    stage_w = Select(name="Stage", options={texts.STAGE_LABELS[s]: s for s in STAGE_CHOICES},
                     value=session.stage, sizing_mode="stretch_width")
    _bind2(stage_w, session, "stage")

    def refresh_target_widgets(*_):
        dims = catalog.dims_for(session.target)
        dim_w.options = list(dims)
        dim_w.visible = len(dims) > 1
        if len(dims) > 1:
            dim_w.value = session.dim if session.dim in dims else dims[0]
        try:
            t = catalog.get_target(session.target, session.dim)
            names = catalog.coord_names(t)
        except Exception:
            names = ["x", "y"]
        opts = {n: i for i, n in enumerate(names)}
        show = len(names) > 2
        xcoord_w.options = opts
        ycoord_w.options = opts
        xcoord_w.visible = ycoord_w.visible = show
        if session.xcoord < len(names):
            xcoord_w.value = session.xcoord
        if session.ycoord < len(names):
            ycoord_w.value = session.ycoord

    session.param.watch(refresh_target_widgets, ["target", "dim", "xcoord", "ycoord"])
    dim_w.param.watch(lambda e: setattr(session, "dim", e.new) if e.new and session.dim != e.new else None, "value")
    xcoord_w.param.watch(lambda e: setattr(session, "xcoord", e.new) if e.new is not None else None, "value")
    ycoord_w.param.watch(lambda e: setattr(session, "ycoord", e.new) if e.new is not None else None, "value")
    refresh_target_widgets()

    play_b = pn.widgets.Button(name="Play", button_type="success", width=70, margin=(5, 3))
    pause_b = pn.widgets.Button(name="Pause", button_type="warning", width=70, margin=(5, 3))
    step_b = pn.widgets.Button(name="Step", button_type="primary", width=66, margin=(5, 3))
    reset_b = pn.widgets.Button(name="Reset", button_type="danger", width=70, margin=(5, 3))
    play_b.on_click(lambda e: (session.play(), setattr(error_box, "visible", False)))
    pause_b.on_click(lambda e: session.pause())
    step_b.on_click(lambda e: session.step())
    reset_b.on_click(lambda e: (session.reset(), setattr(error_box, "visible", False)))

    def playing_changed(*_):
        play_b.button_style = "solid" if session.playing else "outline"
        pause_b.button_style = "outline" if session.playing else "solid"

    session.param.watch(playing_changed, "playing")
    playing_changed()

    step_size_w = P("step_size", format="0.000")
    delta_w = P("delta")
    gain_w = P("viscosity_gain")
    t_hot_w = P("t_hot")
    noise_w = P("noise")
    hot_w = P("hot")
    trigger_w = P("trigger")
    steps_w = PI("steps")
    walkers_w = PI("walkers")
    spf_w = PI("sweeps_per_frame")
    ms_auto_w = Checkbox.from_param(session.param.metropolis_auto)
    ms_w = P("metropolis_scale", disabled=session.metropolis_auto)
    session.param.watch(lambda e: setattr(ms_w, "disabled", e.new), "metropolis_auto")
    seed_w = pn.widgets.IntInput.from_param(session.param.seed, sizing_mode="stretch_width")
    rungs_w = PI("rungs")
    naive_w = Checkbox.from_param(session.param.naive_swap)
    dsweeps_w = PI("diffusion_sweeps")
    warmup_w = PI("warmup")
    gradient_w = pn.widgets.RadioButtonGroup.from_param(session.param.gradient, button_type="light")
    swaps_w = P("swaps_per_walker")
    trim_w = P("trim_sds")

    # presets ---------------------------------------------------------------------------
    try:
        builtin = presets_mod.builtin_presets()
    except Exception as exc:  # a broken preset file must not take the app down
        builtin = {}
        log.warning("mdhmc: built-in presets unreadable: %s", exc)
    preset_sel = Select(name="Built-in presets", options={p["name"] or k: k for k, p in builtin.items()},
                        sizing_mode="stretch_width")
    preset_apply = pn.widgets.Button(name="Load preset", button_type="primary", sizing_mode="stretch_width")
    preset_desc = Text("", margin=(0, 10))
    preset_file = pn.widgets.FileInput(accept=".json", multiple=False, sizing_mode="stretch_width")

    def show_desc(*_):
        p = builtin.get(preset_sel.value)
        preset_desc.object = f'<div class="mdhmc-note">{html.escape(p.get("description", ""))}</div>' if p else ""

    preset_sel.param.watch(show_desc, "value")
    show_desc()

    def apply_preset(p, where):
        try:
            notes = session.apply_preset(p)
        except Exception as exc:  # PresetError / SettingsError: one sentence
            info_box.show(html.escape(f"Preset not loaded ({where}): {exc}"), "danger")
            return
        info_box.show(html.escape(f"Loaded preset {where}." + (" " + " ".join(notes) if notes else "")), "success")
        error_box.visible = False
        session.play()

    preset_apply.on_click(lambda e: apply_preset(builtin[preset_sel.value], repr(builtin[preset_sel.value]["name"]))
                          if preset_sel.value in builtin else None)

    def file_loaded(event):
        if event.new:
            apply_preset(bytes(event.new), f"from {preset_file.filename or 'file'}")

    preset_file.param.watch(file_loaded, "value")

    def preset_download():
        return io.StringIO(session.preset_json() + "\n")

    preset_save = pn.widgets.FileDownload(callback=preset_download, filename="mdhmc-preset.json",
                                          label="Save settings as preset JSON", button_type="default",
                                          sizing_mode="stretch_width", embed=False)

    # ------------------------------------------------------------------ main panes
    strip = Text("<div class='mdhmc-applied'>starting…</div>", margin=(0, 10), name="mdhmc-strip")
    status = Text("", kind="warning", visible=False, margin=(2, 10))
    teach = Text(texts.text_for(session.stage, "diffusion"), width=540, sizing_mode=None, margin=(4, 10))
    error_box = Text("", kind="danger", visible=False, margin=(2, 10), name="mdhmc-error")
    info_box = Text("", kind="info", visible=False, margin=(2, 10))
    naive_box = Text(texts.WARNING_NAIVE, kind="warning", visible=session.naive_swap, width=330, sizing_mode=None,
                     margin=(2, 5))
    load_errors = catalog.load_errors()
    files_box = Text("<b>Target files that could not be loaded:</b><br>" + "<br>".join(html.escape(e) for e in load_errors),
                     kind="warning", visible=bool(load_errors), margin=(2, 10))

    def bk(fig, **kw):
        return pn.pane.Bokeh(fig, **kw)

    cloud_pane = bk(views.cloud.fig)
    cloud_b_pane = bk(views.cloud_b.fig, visible=False)
    energy_col = pn.Column(teach.pane, bk(views.energy), bk(views.herr), margin=0)
    temps_col = pn.Column(naive_box.pane, bk(views.t_bars), bk(views.t_swaps), margin=0)
    main = pn.Column(
        files_box.pane, error_box.pane, info_box.pane, status.pane, strip.pane,
        pn.FlexBox(cloud_pane, cloud_b_pane, energy_col, gap="4px", flex_wrap="wrap"),
        pn.FlexBox(bk(views.qq["x"].get("fig")), bk(views.qq["y"]["fig"]), temps_col, bk(views.mass),
                   gap="4px", flex_wrap="wrap"),
        sizing_mode="stretch_width",
    )

    def note(text):
        return Text(f'<div class="mdhmc-note">{text}</div>', margin=(4, 10, 0, 10)).pane

    def tab(*objs):
        return pn.Column(*objs, sizing_mode="stretch_width", margin=(4, 0))

    tabs = pn.Tabs(
        ("More", tab(noise_w, hot_w, trigger_w, steps_w, walkers_w, spf_w, ms_auto_w, ms_w, seed_w)),
        ("Tempering", tab(rungs_w, naive_w, dsweeps_w, warmup_w, swaps_w, trim_w,
                          note("Gradient estimate (diffusion)"), gradient_w)),
        ("Presets", tab(preset_sel, preset_desc.pane, preset_apply, note("Load a preset JSON (the CLI's format):"),
                        preset_file, preset_save)),
        sizing_mode="stretch_width", margin=(8, 0, 0, 0),
    )
    sidebar = [
        target_w, dim_w, pn.Row(xcoord_w, ycoord_w, margin=0), stage_w,
        pn.Row(play_b, pause_b, step_b, reset_b, margin=(6, 4)),
        step_size_w, delta_w, gain_w, t_hot_w, tabs,
    ]

    if os.environ.get("MDHMC_TEMPLATE") == "bootstrap":
        tmpl = pn.template.BootstrapTemplate(title=TITLE, header_background=HEADER_COLOR, sidebar_width=330,
                                             sidebar=[pn.Column(*sidebar, sizing_mode="stretch_width", margin=0)],
                                             main=[main])
    else:
        # no template: Panel's templates carry HTML panes that make every page load MathJax
        header = Div(text=f'<div class="mdhmc-header">{html.escape(TITLE)}</div>', disable_math=True,
                     stylesheets=[InlineStyleSheet(css=HEADER_CSS)], margin=0)
        side = pn.Column(*sidebar, width=330, margin=(6, 8, 6, 8), styles=SIDEBAR_STYLES)
        tmpl = pn.Column(pn.Row(pn.pane.Bokeh(header, margin=0), sizing_mode="stretch_width", margin=(0, 0, 4, 0),
                                styles={"background": HEADER_COLOR}),
                         pn.Row(side, main, sizing_mode="stretch_width", margin=0),
                         sizing_mode="stretch_width", margin=0)

    # ------------------------------------------------------------------ URL sync
    def url_error(mapped: dict):
        bad = []
        for k, v in mapped.items():
            try:
                setattr(session, k, v)
            except Exception:
                bad.append(f"{k}={v!r}")
        if bad:
            info_box.show(html.escape("Ignored link parameters: " + ", ".join(bad)), "warning")

    if pn.state.location is not None:
        pn.state.location.sync(session, URL_PARAMS, on_error=url_error)
    refresh_target_widgets()

    # ------------------------------------------------------------------ frames
    seen = {"error": 0, "strip_v": None, "teach": None, "status": None, "sbs": None, "naive": None}

    debug = {"t": time.monotonic(), "frames": 0} if os.environ.get("MDHMC_DEBUG_FRAMES") else None

    def connected() -> bool:
        """Whether a browser is connected to this session (Bokeh's ServerSession); True when
        that cannot be told (other servers)."""
        try:
            return doc.session_context.session.connection_count > 0
        except Exception:
            return True

    ready = {"loaded": False, "live_since": None}

    def tick():
        live = connected()
        if not ready["loaded"]:
            # Frames start when Panel reports the page loaded (onload): changes made between the
            # browser pulling the document and that moment are not sent to it by Panel, so a
            # one-off change (an error message) could be lost. Fallback: a browser connected for
            # 10 s without onload starts anyway. A plain GET of the page (no browser) never does.
            if live:
                ready["live_since"] = ready["live_since"] or time.monotonic()
                if time.monotonic() - ready["live_since"] > ONLOAD_GRACE_S:
                    print(f"mdhmc: session {session.id}: no onload {ONLOAD_GRACE_S:.0f} s after connecting; "
                          "starting anyway", flush=True)
                    loaded()
            return
        # no browser, no sweeps: between a page closing and the server dropping its session
        session.suspend(not live)
        if live:
            try:
                draw()
            except Exception:  # never let one bad frame stop the periodic callback
                log.exception("mdhmc: frame failed")

    def draw():
        snap = session.take_snapshot()
        if debug is not None:
            now = time.monotonic()
            if now - debug["t"] > 5:
                sweeps = session.sampler.sweep_count if session.sampler is not None else -1
                print(f"mdhmc debug: session {session.id}: {debug['frames'] / (now - debug['t']):.1f} frames/s, "
                      f"sweep {sweeps}, playing {session.playing}, thread {session.running}, "
                      f"suspended {session.suspended}, error-paused {session._errors_paused}", flush=True)
                debug.update(t=now, frames=0)
            debug["frames"] += snap is not None
        if snap is None:
            return
        with pn.io.hold(doc):
            try:
                views.apply(snap)
            except Exception as exc:  # a drawing problem must not stop the session
                log.exception("mdhmc: frame failed")
                error_box.show(html.escape(f"Drawing failed: {type(exc).__name__}: {exc}"))
            st = snap.get("stats")
            key = (st or {}).get("version"), snap.get("applied", {}).get("step_size") if snap.get("applied") else None
            if key != seen["strip_v"] or not session.playing:
                seen["strip_v"] = key
                new = strip_html(snap)
                if new != strip.object:
                    strip.object = new
            tkey = (snap.get("stage"), snap.get("phase"))
            if tkey != seen["teach"] and snap.get("stage"):
                seen["teach"] = tkey
                teach.object = texts.text_for(*tkey)
            stat = snap.get("status", "")
            show = stat not in ("running", "ready", "", "paused after an error")
            if (stat, show) != seen["status"]:
                seen["status"] = (stat, show)
                status.object = html.escape(f"{stat}…") if show else ""
                status.visible = show
            pause_now = False
            if snap.get("error_seq", 0) != seen["error"]:
                seen["error"] = snap["error_seq"]
                if snap.get("error"):
                    error_box.show(html.escape(snap["error"]) + (" — <b>paused</b>; change settings or Reset, then Play."
                                                                 if snap.get("paused_by_error") else ""))
                pause_now = bool(snap.get("paused_by_error"))
            lay = snap.get("layout")
            if lay is not None:
                sbs = lay["side_by_side"]
                if sbs != seen["sbs"]:
                    seen["sbs"] = sbs
                    cloud_b_pane.visible = sbs
                rg = snap["rungs"]
                naive = bool(rg.get("naive_swap")) and rg.get("tempered", False)
                if naive != seen["naive"]:
                    seen["naive"] = naive
                    naive_box.visible = naive
        if pause_now and session.playing:
            session.playing = False  # outside the hold: widget changes inside it were lost

    callbacks = []
    session_closed = False

    def destroyed(session_context):
        nonlocal session_closed
        session_closed = True
        for cb in callbacks:
            try:
                cb.stop()
            except Exception:
                pass
        stopped = session.close(timeout=2.0)
        msg = (f"mdhmc: session {session.id} closed; worker {'stopped' if stopped else 'still finishing a sweep'} "
               f"({len(live_sessions())} live, {sessions_in_memory() - 1} other sessions in memory)")
        log.info(msg)
        print(msg, flush=True)

    pn.state.on_session_destroyed(destroyed)
    # the first frame goes out with the page itself: build the sampler and draw its start now
    try:
        session.prime()
        draw()
    except Exception as exc:
        log.exception("mdhmc: first frame failed")
        error_box.show(html.escape(f"Could not start: {type(exc).__name__}: {exc}"))
    callbacks.append(pn.state.add_periodic_callback(tick, period=FRAME_MS, start=True))

    t_created = time.monotonic()

    def loaded():
        if os.environ.get("MDHMC_DEBUG_FRAMES"):
            print(f"mdhmc debug: session {session.id} loaded {time.monotonic() - t_created:.1f} s after creation, "
                  f"connected for {time.monotonic() - (ready['live_since'] or time.monotonic()):.1f} s", flush=True)
        ready["loaded"] = True
        if session.running or session_closed:
            return
        session.start()
        print(f"mdhmc: session {session.id} opened ({len(live_sessions())} live)", flush=True)

    pn.state.onload(loaded)
    tmpl._mdhmc_session = session  # for in-process tests
    return tmpl


if __name__.startswith("bokeh_app") or __name__ == "__main__":
    # `panel serve dashboard/app.py` runs this file as a fresh script per session and clears
    # its globals when the session ends; the session's callbacks must outlive that, so they
    # come from the imported (persistent) module.
    from mdhmc.dashboard.app import TITLE as _TITLE, create_app as _create_app

    _create_app().servable(title=_TITLE)
