"""Guided lessons: a story in steps, each step a shipped preset (``presets/lesson-<name>-<n>.json``)
whose description is the step's paragraph. Step files are ordinary presets (the loader and the
CLI accept them); a lesson is the files sharing ``<name>``, in the order of ``<n>``.
"""

from __future__ import annotations

import html
import re

import panel as pn

from mdhmc.sampler import presets as presets_mod

from .figures import Text

__all__ = ["lessons", "LessonPanel"]

_STEP = re.compile(r"^lesson-(?P<name>.+)-(?P<n>\d+)$")
LESSON_CSS = ".mdhmc-lesson { font-size: 14px; line-height: 1.45; color: #26323f; } .mdhmc-lesson h3 { margin: 4px 0; }"


def lessons() -> dict[str, list[tuple[str, dict]]]:
    """Lesson name -> [(preset key, preset), ...] in step order."""
    out: dict[str, list] = {}
    for key, p in presets_mod.builtin_presets().items():
        m = _STEP.match(key)
        if m:
            out.setdefault(m["name"], []).append((int(m["n"]), key, p))
    return {k: [(key, p) for _, key, p in sorted(v)] for k, v in sorted(out.items())}


def _title(p) -> str:
    return re.sub(r"^Lesson:\s*", "", re.sub(r"\s*\(\d+/\d+\)$", "", p["name"] or ""))


class LessonPanel(pn.viewable.Viewer):
    """Choose a lesson, then Previous / Next: each step loads its preset and shows its paragraph."""

    def __init__(self, controls, messages, load_preset, **params):
        super().__init__(**params)
        self.controls, self.messages, self.load_preset = controls, messages, load_preset
        try:
            self.all = lessons()
        except Exception as exc:  # a broken preset file must not take the page down
            self.all = {}
            messages.show_info(f"Lessons unavailable: {exc}", "warning")
        self.choose = pn.widgets.Select(name="Lesson", options={_title(v[0][1]): k for k, v in self.all.items()},
                                        width=300, margin=(2, 4))
        self.prev = pn.widgets.Button(name="◀ Previous", width=100, margin=(20, 4, 2, 4))
        self.next = pn.widgets.Button(name="Next ▶", width=100, button_type="primary", margin=(20, 4, 2, 4))
        self.text = Text("<div class='mdhmc-lesson'>Choose a lesson and press <b>Next</b>: each step loads its "
                         "settings and explains what to watch.</div>", css=LESSON_CSS, name="mdhmc-lesson-text")
        self.step = -1
        self.prev.on_click(lambda e: self.go(self.step - 1))
        self.next.on_click(lambda e: self.go(self.step + 1))
        self.choose.param.watch(lambda e: setattr(self, "step", -1), "value")
        self._column = pn.Column(pn.FlexBox(self.choose, self.prev, self.next, margin=0, flex_wrap="wrap"), self.text.pane,
                                 sizing_mode="stretch_width", margin=0)

    def __panel__(self):
        return self._column

    def go(self, n: int):
        steps = self.all.get(self.choose.value) or []
        if not steps:
            return
        n = max(0, min(n, len(steps) - 1))
        self.step = n
        key, preset = steps[n]
        self.load_preset(preset, f"'{key}'")
        self.text.object = (f"<div class='mdhmc-lesson'><h3>{html.escape(_title(preset))} — step {n + 1} of "
                            f"{len(steps)}</h3><p>{html.escape(preset['description'])}</p></div>")
