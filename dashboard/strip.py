"""The statistics strip: one row of cells per sampler (stage, sweep, speed, acceptance,
ESS, R-hat, W1), and the settings the sampler actually runs on."""

from __future__ import annotations

import html

import panel as pn

from mdhmc.sampler.settings import BY_NAME

from . import texts
from .controls import MISSION
from .figures import Text, fmt
from .frames import Frame, Heavy, Strip

__all__ = ["StatisticsStrip", "strip_html"]

#: settings echoed as applied in the sampler (the mission sliders in bold); each value has the
#: class ``applied-<name>`` (underscores as dashes) for tests and benchmarks
APPLIED = (*MISSION, "noise", "hot", "trigger", "steps", "walkers", "rungs", "metropolis_scale", "seed")
SHORT = {"delta": "δ", "t_hot": "T<sub>hot</sub>"}


def _cell(label: str, value: str, cls: str = "", title: str = "") -> str:
    t = f' title="{html.escape(title)}"' if title else ""
    return (f'<div class="mdhmc-cell {cls}"{t}><div class="mdhmc-v">{html.escape(value)}</div>'
            f'<div class="mdhmc-l">{html.escape(label)}</div></div>')


def _row(s: Strip, h: Heavy, sweep: int) -> str:
    stage = {"pipeline": f"pipeline · {s.phase}", "hmc": "exact HMC"}.get(s.stage, texts.STAGE_LABELS.get(s.stage, s.stage))
    rec = "recording" if s.recording else (f"warm-up {s.stage_sweep}/{s.warmup}"
                                           if s.phase in ("metropolis", "tempering", "hmc") else "not recording")
    cells = [
        _cell("stage", stage, "mdhmc-stage", rec),
        _cell("sweep", f"{sweep:,}", "mdhmc-sweep"),
        _cell("steps/s", fmt(s.steps_per_s, ",.0f")),
        _cell("lp evals/s", fmt(s.evals_per_s, ",.0f")),
        _cell("acceptance", fmt(s.acceptance, ".2f")),
        _cell("swap acc.", fmt(s.swap_acceptance, ".2f")),
        _cell("triggers", f"{s.triggers:,}"),
        _cell("divergences", f"{s.divergences:,}", "mdhmc-bad" if s.divergences else ""),
        # float faults of the density are rejections, not errors: counted, shown, never fatal
        _cell("non-finite", f"{s.nonfinite + s.abandoned:,}", "mdhmc-nonfinite",
              f"{s.nonfinite:,} proposals rejected and {s.abandoned:,} trajectories abandoned "
              "where the log density was not a finite number"),
        _cell("ESS (min)", fmt(h.ess, ",.0f"), "", "bulk ESS of the shown coordinates, walkers as chains (ArviZ)"),
        _cell("R-hat (max)", fmt(h.rhat, ".3f")),
        _cell("sliced W1", fmt(h.w1, ".3f"), "", "sliced 1-Wasserstein distance to exact draws"),
    ]
    return '<div class="mdhmc-strip">' + "".join(cells) + "</div>"


def _applied_value(name: str, v) -> str:
    if v is None:
        return "auto"
    if isinstance(v, bool):
        return "on" if v else "off"
    if isinstance(v, int):
        return f"{v:,}" if name != "seed" else str(v)
    if name == "trigger" and v >= 1e300:
        return "off"
    return fmt(v, ".4g" if name == "step_size" else ".3g")


def strip_html(frame: Frame) -> str:
    """The diagnostics strip (one row per sampler) and the applied settings."""
    rows = []
    st = frame.stats
    if st is not None:
        rows += [_row(e.strip, e.heavy, frame.sweep if k == 0 else e.strip.sweep)
                 for k, e in enumerate((st.a, st.b)) if e is not None]
    a = frame.applied
    if a is not None:
        parts = []
        for name in APPLIED:
            label = SHORT.get(name, BY_NAME[name].label.lower())
            tag = "b" if name in MISSION else "span"
            parts.append(f'{label} <{tag} class="applied-{name.replace("_", "-")}">'
                         f'{_applied_value(name, getattr(a, name))}</{tag}>')
        rows.append('<div class="mdhmc-applied">applied in the sampler: ' + " · ".join(parts) + "</div>")
    if not rows:
        rows.append(f'<div class="mdhmc-applied">{html.escape(frame.status)}</div>')
    return "".join(rows)


class StatisticsStrip(pn.viewable.Viewer):
    """The strip, redrawn when the diagnostics or the applied settings change."""

    def __init__(self, **params):
        super().__init__(**params)
        self.text = Text("<div class='mdhmc-applied'>starting…</div>", margin=(0, 10), name="mdhmc-strip")
        self._seen = None

    def __panel__(self):
        return self.text.pane

    def apply(self, frame: Frame, playing: bool = True):
        key = (frame.stats.version if frame.stats else None, frame.applied)
        if key != self._seen or not playing:
            self._seen = key
            self.text.object = strip_html(frame)
