"""The page: how one session's views are arranged (lecture mode, projector-ready).

One screen, no scrolling, at 1280x720 and up: a thin header, the controls in a sidebar that
scrolls on its own, and a main area of exactly the window's height: the statistics strip, the
walker cloud on the left (always in view: it is what a class watches) and, on the right, tabs
for the rest -- energies, Q-Q, temperatures (with the rung traces), mass, the step-by-step
animation and the lessons. Every figure stretches to its box, so the same arrangement fits
1280x720 and fills 1920x1080.

Lecture toggles (above the tabs): "Large text" (fonts for the back of a room), "Hide hot
rungs" (only T = 1 walkers in the cloud); the keyboard (Space, right arrow, r) and the
capture buttons (PNG, GIF) come from `dashboard.keys` and `dashboard.export`.
"""

from __future__ import annotations

import html
import os

import panel as pn
from bokeh.models import Div, InlineStyleSheet, Label, Legend, Plot

__all__ = ["compose", "HEADER_H", "TAB_NAMES", "set_large_text"]

HEADER_H = 40  # px
TAB_NAMES = ("Energy", "Q-Q", "Temperatures", "Mass", "Animation", "Lesson")
MAIN_HEIGHT = f"calc(100vh - {HEADER_H + 6}px)"

HEADER_CSS = f"""
.mdhmc-header {{ color: white; font-size: 20px; font-weight: 500; padding: 0 18px; line-height: {HEADER_H}px;
  white-space: nowrap; overflow: hidden; text-overflow: ellipsis;
  font-family: system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; }}
"""
#: the projector's fonts (px): normal, large
FONTS = {"title": ("13px", "19px"), "axis": ("12px", "17px"), "tick": ("11px", "15px"), "legend": ("11px", "15px"),
         "label": ("11px", "15px")}
LARGE_DIV_CSS = """
.mdhmc-teach, .mdhmc-lesson { font-size: 19px !important; line-height: 1.45; }
.mdhmc-formula { font-size: 19px !important; }
.mdhmc-v { font-size: 21px !important; }
.mdhmc-l { font-size: 13px !important; }
.mdhmc-alert { font-size: 17px !important; }
"""
_LARGE_SHEET = InlineStyleSheet(css=LARGE_DIV_CSS)


def set_large_text(figures, divs, large: bool) -> None:
    """Projector fonts on (``large``) or off, for ``figures`` and the HTML ``divs``."""
    k = 1 if large else 0
    for p in figures:
        p.title.text_font_size = FONTS["title"][k]
        for ax in (*p.xaxis, *p.yaxis, *[a for a in p.right if hasattr(a, "major_label_text_font_size")]):
            ax.major_label_text_font_size = FONTS["tick"][k]
            ax.axis_label_text_font_size = FONTS["axis"][k]
        for obj in (*p.center, *p.above, *p.below, *p.left, *p.right):
            if isinstance(obj, Legend):
                obj.label_text_font_size = FONTS["legend"][k]
            elif isinstance(obj, Label):
                obj.text_font_size = FONTS["label"][k]
    for d in divs:
        sheets = [s for s in d.stylesheets if s is not _LARGE_SHEET]
        d.stylesheets = sheets + ([_LARGE_SHEET] if large else [])


def _fig_pane(fig, name: str | None = None, **kw):
    """A figure that fills its box."""
    fig.sizing_mode = "stretch_both"
    fig.width_policy = fig.height_policy = "max"
    fig.width = fig.height = None  # the box decides, not the figure's preferred size
    fig.min_width, fig.min_height = 120, 90
    return pn.pane.Bokeh(fig, sizing_mode="stretch_both", margin=(2, 2), styles={"min-width": "0", "overflow": "hidden"},
                         **kw)


def _column(*objs, **kw):
    return pn.Column(*objs, sizing_mode="stretch_both", margin=0, **kw)


def _grid(*objs, ncols: int = 2):
    """Equal columns that never grow past their box (a CSS grid: 1fr each, min 0)."""
    return pn.GridBox(*objs, ncols=ncols, sizing_mode="stretch_both", margin=0,
                      styles={"grid-template-columns": f"repeat({ncols}, minmax(0, 1fr))", "overflow": "hidden"})


def _row(*objs, **kw):
    return pn.Row(*objs, sizing_mode="stretch_both", margin=0, **kw)


def compose(app):
    """The page of ``app`` (`dashboard.app.App`): builds the lecture views, adds those that
    draw frames to ``app.views``, and returns the root Panel object."""
    from . import export, keys, lessons
    from .animation import Animation
    from .rungs import RungView

    app.rung_view = RungView(app.worker)
    app.animation = Animation(app.worker, app.controls, cloud=app.cloud)
    app.views = tuple(app.views) + (app.rung_view, app.animation)
    app.cloud.on_pick(app.animation.track)

    # names for tests and the lecture's screenshots: the figure's place on the page is checked
    for fig, name in ((app.energy.energy, "energy"), (app.energy.herr, "herr"), (app.qq.x.fig, "qq-x"),
                      (app.qq.y.fig, "qq-y"), (app.temperatures.bars, "rungs"), (app.temperatures.swaps_fig, "swaps"),
                      (app.mass.fig, "mass")):
        fig.name = f"mdhmc-{name}-fig"
    energy = _column(_fig_pane(app.energy.energy), _fig_pane(app.energy.herr))
    qq = _grid(_fig_pane(app.qq.x.fig), _fig_pane(app.qq.y.fig))
    t = app.temperatures
    trace, pairs = app.rung_view.figures
    temps = _column(t.naive.pane, _grid(_fig_pane(trace), _fig_pane(pairs), _fig_pane(t.bars), _fig_pane(t.swaps_fig)))
    mass = _fig_pane(app.mass.fig)
    a = app.animation.figures
    anim = _column(app.animation.toolbar, _grid(_fig_pane(a[0]), _column(_fig_pane(a[1]), _fig_pane(a[2]))))
    app.lessons = lessons.LessonPanel(app.controls, app.messages, app.sidebar.load_preset)
    app.teach.div.update(sizing_mode="stretch_width", width=None)
    lesson = pn.Column(app.lessons, app.teach.pane, sizing_mode="stretch_both", margin=(4, 8),
                       styles={"overflow-y": "auto"})
    # dynamic: only the open tab is in the page's document. The hidden ones were two thirds of its
    # ~1,100 models, and Bokeh maps every model of a document for every message in and out: in a
    # room of twenty pages that was the largest cost of the server's one Python thread. Hidden
    # views are not drawn either; a tab shows the newest frame when it opens (App.show_tab).
    tabs = pn.Tabs(("Energy", energy), ("Q-Q", qq), ("Temperatures", temps), ("Mass", mass), ("Animation", anim),
                   ("Lesson", lesson), sizing_mode="stretch_both", dynamic=True, margin=0, name="mdhmc-tabs")
    app.tabs = tabs
    app.tab_views = ((app.energy,), (app.qq,), (app.temperatures, app.rung_view), (app.mass,), (), ())
    tabs.param.watch(lambda e: app.show_tab(e.new), "active")

    large = pn.widgets.Toggle(name="Large text", value=False, width=92, margin=(2, 3))
    hide_hot = pn.widgets.Toggle(name="Hide hot", value=False, width=82, margin=(2, 3))
    app.large_text, app.hide_hot = large, hide_hot
    capture = export.CapturePanel(app)
    app.capture = capture
    app.views = tuple(app.views) + (capture,)
    app.keys = keys.Keys(app)

    clouds = _row(_fig_pane(app.cloud.fig), app.cloud_hmc._pane, styles={"flex": "1 1 50%"})
    app.cloud_hmc.fig.sizing_mode = "stretch_both"
    app.cloud_hmc._pane.sizing_mode = "stretch_both"
    right = _column(pn.Row(large, hide_hot, *capture.buttons, app.keys.pane, app.flow.pane, margin=0,
                           sizing_mode="stretch_width"),
                    tabs, styles={"flex": "1 1 50%", "overflow": "hidden"}, min_width=380)
    main = pn.Column(app.messages, app.strip, _row(clouds, right), sizing_mode="stretch_width", margin=0,
                     styles={"height": MAIN_HEIGHT, "overflow": "hidden"})

    def on_large(event):
        figs = [app.cloud.fig, app.cloud_hmc.fig] + [f for v in (app.energy, app.qq, app.temperatures, app.mass)
                                          for f in _view_figures(v)] + app.rung_view.figures + app.animation.figures
        set_large_text(figs, [app.teach.div, app.strip.text.div, app.lessons.text.div], event.new)

    large.param.watch(on_large, "value")
    hide_hot.param.watch(lambda e: app.cloud.set_hide_hot(e.new), "value")

    if os.environ.get("MDHMC_TEMPLATE") == "bootstrap":
        from .app import HEADER_COLOR, TITLE

        return pn.template.BootstrapTemplate(title=TITLE, header_background=HEADER_COLOR, sidebar_width=330,
                                             sidebar=[app.sidebar], main=[main])
    from .app import HEADER_COLOR, SIDEBAR_STYLES, TITLE

    header = Div(text=f'<div class="mdhmc-header">{html.escape(TITLE)}</div>', disable_math=True,
                 stylesheets=[InlineStyleSheet(css=HEADER_CSS)], margin=0, height=HEADER_H,
                 sizing_mode="stretch_width")
    side = pn.Column(app.sidebar, width=330, margin=(4, 6, 0, 6),
                     styles=dict(SIDEBAR_STYLES, **{"height": MAIN_HEIGHT, "overflow-y": "auto"}))
    return pn.Column(pn.Row(pn.pane.Bokeh(header, margin=0), sizing_mode="stretch_width",
                            margin=0, height=HEADER_H, styles={"background": HEADER_COLOR}),
                     pn.Row(side, main, sizing_mode="stretch_width", margin=0),
                     sizing_mode="stretch_width", margin=0)


def _view_figures(view) -> list:
    out = []
    for name in ("fig", "energy", "herr", "bars", "swaps_fig"):
        f = getattr(view, name, None)
        if isinstance(f, Plot):
            out.append(f)
    for sub in ("x", "y"):
        f = getattr(getattr(view, sub, None), "fig", None)
        if isinstance(f, Plot):
            out.append(f)
    return out
