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


def _why_undefined(s: Strip) -> dict:
    """Why a cell shows a dash, per cell, in the sampler's current phase."""
    ph = s.phase
    why = {}
    if ph == "diffusion":
        why["acceptance"] = "diffusion has no accept/reject step: every trajectory moves its walker"
    else:
        why["acceptance"] = f"no {ph} sweep timed in this stage yet"
    if ph != "tempering":
        why["swap"] = "swaps run only in the tempering phase"
    elif s.rungs <= 1:
        why["swap"] = "one temperature rung: nothing to swap"
    else:
        why["swap"] = "no swap sweep in this stage yet"
    why["speed"] = "no sweep timed in this stage yet"
    why["triggers"] = "thermostat triggers are counted in the diffusion phase only"
    why["divergences"] = "divergences are counted in exact HMC only"
    rec = "warm-up: no draws recorded yet" if ph != "diffusion" or s.stage == "pipeline" else \
        "too few recorded sweeps yet"
    why["ess"] = f"needs at least 4 recorded sweeps ({rec})"
    why["w1"] = ("no exact draws for this target: no distance to them" if not s.has_exact
                 else "not computed yet (needs recorded draws)")
    return why


def _num(label: str, v, spec: str, why: str, cls: str = "", title: str = "") -> str:
    """A cell whose undefined value (NaN / None) shows a dash and, as its tooltip, why."""
    txt = fmt(v, spec)
    return _cell(label, txt, cls, title if txt != "–" else why)


def _count(label: str, v, why: str, cls: str = "", title: str = "") -> str:
    if v is None:
        return _cell(label, "–", cls, why)
    return _cell(label, f"{v:,}", cls, title)


def _row(s: Strip, h: Heavy, sweep: int, progress: float | None = None) -> str:
    stage = {"pipeline": f"pipeline · {s.phase}", "hmc": "exact HMC"}.get(s.stage, texts.STAGE_LABELS.get(s.stage, s.stage))
    rec = "recording" if s.recording else (f"warm-up {s.stage_sweep}/{s.warmup}"
                                           if s.phase in ("metropolis", "tempering", "hmc") else "not recording")
    why = _why_undefined(s)
    sweep_txt = f"{sweep:,}" + (f" · {100 * progress:.0f} %" if progress is not None else "")
    cells = [
        _cell("stage", stage, "mdhmc-stage", rec),
        _cell("sweep", sweep_txt, "mdhmc-sweep",
              "walkers of the sweep under way already moved" if progress is not None else ""),
        _num("steps/s", s.steps_per_s, ",.0f", why["speed"]),
        _num("lp evals/s", s.evals_per_s, ",.0f", why["speed"]),
        _num("acceptance", s.acceptance, ".2f", why["acceptance"], "mdhmc-acceptance"),
        _num("swap acc.", s.swap_acceptance, ".2f", why["swap"], "mdhmc-swap-acceptance"),
        _count("triggers", s.triggers, why["triggers"], "mdhmc-triggers"),
        _count("divergences", s.divergences, why["divergences"],
               "mdhmc-divergences" + (" mdhmc-bad" if s.divergences else "")),
        # float faults of the density are rejections, not errors: counted, shown, never fatal
        _cell("non-finite", f"{s.nonfinite + s.abandoned:,}", "mdhmc-nonfinite",
              f"{s.nonfinite:,} proposals rejected and {s.abandoned:,} trajectories abandoned "
              "where the log density was not a finite number (this stage)"),
        _num("ESS (min)", h.ess, ",.0f", why["ess"], "mdhmc-ess",
             "bulk ESS of the shown coordinates, walkers as chains (ArviZ)"),
        _num("R-hat (max)", h.rhat, ".3f", why["ess"], "mdhmc-rhat"),
        _num("sliced W1", h.w1, ".3f", why["w1"], "mdhmc-w1", "sliced 1-Wasserstein distance to exact draws"),
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
        rows += [_row(e.strip, e.heavy, frame.sweep if k == 0 else e.strip.sweep, frame.progress if k == 0 else None)
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
        self.text = Text("<div class='mdhmc-applied'>starting…</div>", margin=(0, 10), name="mdhmc-strip", live=True)
        self._seen = None

    def __panel__(self):
        return self.text.pane

    def apply(self, frame: Frame, playing: bool = True):
        progress = None if frame.progress is None else round(frame.progress * 20)
        key = (frame.stats.version if frame.stats else None, frame.applied, progress)
        if key != self._seen or not playing:
            self._seen = key
            self.text.object = strip_html(frame)
