"""The sidebar: widgets for `Controls`, generated from SPEC, plus play/pause and presets.

Target, stage and the four mission sliders (Step size, Delta, Viscosity gain,
Temperature) stay in view; every other setting with ``widget=True`` sits in its group's
collapsible card (`GROUPS`). A nullable setting (None = auto) is a slider with an "auto"
checkbox beside it.
"""

from __future__ import annotations

import html
import io
import logging

import panel as pn

from mdhmc.sampler import presets as presets_mod
from mdhmc.sampler.settings import BY_NAME, GROUPS

from . import catalog, texts
from .controls import MISSION, STAGE_CHOICES, WIDGET_SETTINGS, Controls
from .figures import Text
from .messages import Messages
from .worker import Worker

__all__ = ["ControlsPanel", "setting_widget", "acts", "inactive_note", "copy_link_button"]

log = logging.getLogger("mdhmc.dashboard")
WIDTH = 300


#: Play / Pause toggles: the pressed one solid, the other an outline (colours of Bokeh's
#: success and warning buttons; the warning outline's text darker, to read on white)
PLAY_PAUSE_CSS = """
.bk-btn.bk-btn-success:not(.bk-active) { background: transparent; color: #198754; border: 1px solid #4cae4c; box-shadow: none; }
.bk-btn.bk-btn-success.bk-active { background: #5cb85c; color: #fff; border-color: #4cae4c; box-shadow: none; }
.bk-btn.bk-btn-warning:not(.bk-active) { background: transparent; color: #a86a0c; border: 1px solid #eea236; box-shadow: none; }
.bk-btn.bk-btn-warning.bk-active { background: #eea43b; color: #fff; border-color: #eea236; box-shadow: none; }
"""


class _Prompt:
    """Widgets that send their changes at once: Panel waits 50 ms by default to coalesce
    events (``_debounce``); the worker coalesces requests itself."""

    _debounce = 0


class FloatSlider(_Prompt, pn.widgets.FloatSlider):
    pass


class IntSlider(_Prompt, pn.widgets.IntSlider):
    pass


class Select(_Prompt, pn.widgets.Select):
    pass


class Checkbox(_Prompt, pn.widgets.Checkbox):
    pass


def _bind(widget, controls: Controls, name: str, to_model=lambda v: v, back: bool = True):
    """Link a widget's value to a parameter, and back (``back``; no loops: param only notifies
    on change). ``to_model`` maps a widget value to the parameter's (None: ignore it)."""
    def w2m(event):
        v = to_model(event.new)
        if v is not None and getattr(controls, name) != v:
            setattr(controls, name, v)

    def m2w(event):
        if event.new is not None and widget.value != event.new:
            widget.value = event.new

    widget.param.watch(w2m, "value")
    if back:
        controls.param.watch(m2w, name)


def _auto_slider(controls: Controls, name: str):
    """A nullable setting: the slider holds a value, the checkbox says "auto" (None)."""
    s = BY_NAME[name]
    lo, hi = s.soft
    start = controls.param[name].default
    start = start if start is not None else (1.0 if lo <= 1.0 <= hi else round((lo + hi) / 2, 6))
    # an int setting (rungs = auto) gets whole steps; a float one its declared step
    kind, extra = (IntSlider, {}) if s.kind == "int" else (FloatSlider, {"step": s.step})
    if s.kind == "int":
        start = int(max(lo, min(hi, round(start))))
    slider = kind(name=s.label, start=lo, end=hi, width=WIDTH - 70, **extra,
                  value=getattr(controls, name) if getattr(controls, name) is not None else start,
                  disabled=getattr(controls, name) is None)
    auto = Checkbox(name="auto", value=getattr(controls, name) is None, width=60, align="end")

    echo = []  # non-empty while the widgets follow the model: their own events are echoes

    def from_widgets(*_):
        if not echo:
            setattr(controls, name, None if auto.value else slider.value)
            slider.disabled = auto.value

    def from_model(event):
        echo.append(True)
        try:
            auto.value = slider.disabled = event.new is None
            if event.new is not None:
                slider.value = event.new
        finally:
            echo.pop()

    slider.param.watch(from_widgets, "value")
    auto.param.watch(from_widgets, "value")
    controls.param.watch(from_model, name)
    return pn.Row(slider, auto, margin=0)


def setting_widget(controls: Controls, name: str):
    """The widget of setting ``name``, from its SPEC record."""
    s = BY_NAME[name]
    p = controls.param[name]
    if s.nullable:
        return _auto_slider(controls, name)
    if s.kind == "bool":
        return Checkbox.from_param(p)
    if s.kind == "choice":
        return pn.Column(Text(f'<div class="mdhmc-note">{s.label}</div>', margin=(4, 10, 0, 10)).pane,
                         pn.widgets.RadioButtonGroup.from_param(p, button_type="light", name=s.label), margin=0)
    if s.kind == "int":
        if s.soft is None:
            return pn.widgets.IntInput.from_param(p, width=WIDTH)
        return IntSlider.from_param(p, width=WIDTH)
    return FloatSlider.from_param(p, width=WIDTH, format="0.000" if (s.step or 1) < 0.01 else None)


def acts(name: str, phase: str, probe: bool = False) -> bool:
    """Whether setting ``name`` changes anything in ``phase`` (``probe``: the diffusion probe
    runs beside it, so diffusion settings act too)."""
    phases = BY_NAME[name].phases
    return not phases or phase in phases or (probe and "diffusion" in phases)


def inactive_note(name: str, stage: str, phase: str) -> str:
    """One line: the setting does nothing in this phase, and where it does."""
    s = BY_NAME[name]
    where = s.where()
    hint = ""
    if "diffusion" in s.phases and stage not in ("pipeline", "diffusion", "side-by-side"):
        hint = " — choose the Pipeline or Momentum diffusion stage"
    elif "tempering" in s.phases and stage == "pipeline" and phase == "diffusion":
        hint = " — the pipeline's next phase"
    elif "tempering" in s.phases and stage != "pipeline":
        hint = " — choose the Pipeline or Parallel tempering stage"
    elif "hmc" in s.phases:
        hint = " — choose the Exact HMC stage"
    return (f'<div class="mdhmc-inactive" data-setting="{name}">Not acting in the {html.escape(phase)} phase; '
            f'acts in: {html.escape(where)}{hint}.</div>')


COPY_JS = """
const url = window.location.href;
const done = (ok) => { btn.label = ok ? "Link copied ✓" : "Copy this page's address"; 
                       setTimeout(() => { btn.label = "Copy link"; }, 2500); };
window.mdhmc_copied_link = url;  // for a browser without clipboard access (and tests)
if (navigator.clipboard && window.isSecureContext) {
  navigator.clipboard.writeText(url).then(() => done(true), () => done(false));
} else {
  const ta = document.createElement("textarea");
  ta.value = url; document.body.appendChild(ta); ta.select();
  let ok = false; try { ok = document.execCommand("copy"); } catch (e) {}
  document.body.removeChild(ta); done(ok);
}
"""


def copy_link_button():
    """"Copy link": the page's address, which holds every setting (`dashboard.app.App.url_query`), to the
    clipboard; copied in the browser, so it works while the server is busy."""
    from bokeh.models import Button as BkButton, CustomJS

    b = BkButton(label="Copy link", name="mdhmc-copy-link", button_type="default", width=110)
    b.js_on_click(CustomJS(args={"btn": b}, code=COPY_JS))
    return pn.pane.Bokeh(b, margin=(5, 3))


INACTIVE_CSS = ".mdhmc-inactive { color: #8a6d3b; font-size: 11px; margin: -4px 0 2px 0; }"


class ControlsPanel(pn.viewable.Viewer):
    """Every control of a session, two-way linked to its `Controls`."""

    def __init__(self, controls: Controls, worker: Worker, messages: Messages, **params):
        super().__init__(**params)
        self.controls, self.worker, self.messages = controls, worker, messages
        c = controls
        self.target = Select.from_param(c.param.target, sizing_mode="stretch_width")
        self.dim = Select(name="Dimension", options=[2], sizing_mode="stretch_width", visible=False)
        self.xcoord = Select(name="Horizontal coordinate", options={"x": 0}, width=140, visible=False)
        self.ycoord = Select(name="Vertical coordinate", options={"y": 1}, width=140, visible=False)
        self.stage = Select(name="Stage", options={texts.STAGE_LABELS[s]: s for s in STAGE_CHOICES}, value=c.stage,
                            sizing_mode="stretch_width")
        _bind(self.stage, c, "stage")
        # back from the controls through _refresh_target_widgets: options first, then values
        _bind(self.dim, c, "target_dim", to_model=lambda v: v or None, back=False)
        _bind(self.xcoord, c, "xcoord", back=False)
        _bind(self.ycoord, c, "ycoord", back=False)
        c.param.watch(self._refresh_target_widgets, ["target", "target_dim", "xcoord", "ycoord"])
        self._refresh_target_widgets()
        buttons = self._buttons()
        cards = [pn.Card(*(setting_widget(c, n) for n in names if n not in MISSION),
                         *([pn.widgets.IntSlider.from_param(c.param.sweeps_per_frame, width=WIDTH)]
                           if group == "ensemble" else []),
                         title=GROUPS[group], collapsed=True, sizing_mode="stretch_width", margin=(4, 0))
                 for group, names in WIDGET_SETTINGS.items() if set(names) - set(MISSION)]
        cards.append(pn.Card(*self._presets(), title="Presets", collapsed=True, sizing_mode="stretch_width",
                             margin=(4, 0)))
        # the mission sliders say when they do not act in the phase shown (`show_phase`)
        self.mission = {n: setting_widget(c, n) for n in MISSION}
        self.inactive = {n: Text("", css=INACTIVE_CSS, visible=False, margin=(0, 10), name=f"mdhmc-inactive-{n}")
                         for n in MISSION}
        self._phase_key = None
        mission = [part for n in MISSION for part in (self.mission[n], self.inactive[n].pane)]
        self._column = pn.Column(self.target, self.dim, pn.Row(self.xcoord, self.ycoord, margin=0), self.stage,
                                 buttons, copy_link_button(), *mission, *cards, sizing_mode="stretch_width",
                                 margin=0)

    def __panel__(self):
        return self._column

    def show_phase(self, stage: str, phase: str, probe: bool = False):
        """Mark the mission sliders that do nothing in ``phase``: one line under each says where it
        acts (a note, not a restyle of the slider: that re-renders the widget)."""
        key = (stage, phase, bool(probe))
        if key == self._phase_key or not phase:
            return
        self._phase_key = key
        for n in MISSION:
            on = acts(n, phase, probe)
            self.inactive[n].object = "" if on else inactive_note(n, stage, phase)
            self.inactive[n].visible = not on

    def _refresh_target_widgets(self, *_):
        c = self.controls
        dims = catalog.dims_for(c.target)
        self.dim.options = list(dims)
        self.dim.visible = len(dims) > 1
        if len(dims) > 1:
            self.dim.value = c.target_dim if c.target_dim in dims else dims[0]
        t = c.target_object()
        names = catalog.coord_names(t) if t is not None else ["x", "y"]
        opts = {n: i for i, n in enumerate(names)}
        self.xcoord.options = self.ycoord.options = opts
        self.xcoord.visible = self.ycoord.visible = len(names) > 2
        if c.xcoord < len(names):
            self.xcoord.value = c.xcoord
        if c.ycoord < len(names):
            self.ycoord.value = c.ycoord

    def _buttons(self):
        c, w = self.controls, self.worker
        # Play and Pause are toggles: the one in force is shown pressed (solid), the other as an
        # outline. A toggle's state reaches the page as a class on its button; changing a Button's
        # style instead re-rendered it and laid out the whole page, which held the frame that shows
        # Pause taking effect back by ~170 ms (benchmarks/dashboard_updates.py)
        play = pn.widgets.Toggle(name="Play", button_type="success", value=c.playing, width=70, margin=(5, 3),
                                 stylesheets=[PLAY_PAUSE_CSS])
        pause = pn.widgets.Toggle(name="Pause", button_type="warning", value=not c.playing, width=70, margin=(5, 3),
                                  stylesheets=[PLAY_PAUSE_CSS])
        step = pn.widgets.Button(name="Step", button_type="primary", width=66, margin=(5, 3))
        reset = pn.widgets.Button(name="Reset", button_type="danger", width=70, margin=(5, 3))
        syncing = [False]

        def show(*_):
            """Press the toggle in force (also after a click on the one already in force, which
            the page un-pressed)."""
            syncing[0] = True
            try:
                play.value, pause.value = c.playing, not c.playing
            finally:
                syncing[0] = False

        def clicked(playing: bool):
            def on_click(_event):
                if syncing[0]:
                    return
                c.playing = playing
                if playing:
                    self.messages.hide_error()
                show()
            return on_click

        play.param.watch(clicked(True), "value")
        pause.param.watch(clicked(False), "value")
        step.on_click(lambda e: w.step())
        reset.on_click(lambda e: (w.reset(), self.messages.hide_error()))
        c.param.watch(show, "playing")
        return pn.Row(play, pause, step, reset, margin=(6, 4))

    def load_preset(self, preset, where: str):
        """Apply a preset (a `Preset` or JSON bytes) from the page, and say what happened."""
        try:
            notes = self.controls.apply_preset(preset)
        except Exception as exc:  # PresetError / SettingsError: one sentence
            self.messages.show_info(f"Preset not loaded ({where}): {exc}", "danger")
            return
        self.worker.reset()
        self.messages.show_info(f"Loaded preset {where}." + (" " + " ".join(notes) if notes else ""), "success")
        self.messages.hide_error()
        self.controls.playing = True

    def _presets(self) -> list:
        try:
            builtin = presets_mod.builtin_presets()
        except Exception as exc:  # a broken preset file must not take the app down
            builtin = {}
            log.warning("mdhmc: built-in presets unreadable: %s", exc)
        choose = Select(name="Built-in presets", options={p["name"] or k: k for k, p in builtin.items()},
                        sizing_mode="stretch_width")
        apply = pn.widgets.Button(name="Load preset", button_type="primary", sizing_mode="stretch_width")
        desc = Text("", margin=(0, 10))
        upload = pn.widgets.FileInput(accept=".json", multiple=False, sizing_mode="stretch_width")

        def show_desc(*_):
            p = builtin.get(choose.value)
            desc.object = f'<div class="mdhmc-note">{html.escape(p.get("description", ""))}</div>' if p else ""

        choose.param.watch(show_desc, "value")
        show_desc()
        apply.on_click(lambda e: self.load_preset(builtin[choose.value], repr(builtin[choose.value]["name"]))
                       if choose.value in builtin else None)
        upload.param.watch(lambda e: self.load_preset(bytes(e.new), f"from {upload.filename or 'file'}")
                           if e.new else None, "value")
        save = pn.widgets.FileDownload(callback=lambda: io.StringIO(self.controls.preset_json() + "\n"),
                                       filename="mdhmc-preset.json", label="Save settings as preset JSON",
                                       button_type="default", sizing_mode="stretch_width", embed=False)
        return [choose, desc.pane, apply,
                Text('<div class="mdhmc-note">Load a preset JSON (the CLI\'s format):</div>', margin=(4, 10, 0, 10)).pane,
                upload, save]
