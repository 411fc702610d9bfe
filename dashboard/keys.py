"""Keyboard shortcuts for a lecture: Space play/pause, right arrow step, r reset.

A Panel `JSComponent` registers one ``keydown`` listener on the page (not while typing in an
input) and reports the key to the server; the server maps it to the same actions as the
buttons: with the Animation tab's mode on they drive the animation, otherwise the sampler.
"""

from __future__ import annotations

import param
from panel.custom import JSComponent

__all__ = ["Keys", "KEYS"]

KEYS = {" ": "play_pause", "ArrowRight": "step", "r": "reset", "R": "reset"}


class KeyListener(JSComponent):
    """Reports Space, right arrow and r pressed anywhere on the page (``key``, ``presses``)."""

    key = param.String(default="")
    presses = param.Integer(default=0)

    _esm = """
    export function render({ model }) {
      const el = document.createElement("span");
      el.className = "mdhmc-keys";
      const handler = (e) => {
        const t = e.composedPath ? e.composedPath()[0] : e.target;
        const tag = t && t.tagName ? t.tagName.toUpperCase() : "";
        if (tag === "INPUT" || tag === "TEXTAREA" || tag === "SELECT" || (t && t.isContentEditable)) return;
        if (e.ctrlKey || e.metaKey || e.altKey) return;
        if (e.key === " " || e.key === "ArrowRight" || e.key === "r" || e.key === "R") {
          e.preventDefault();
          model.key = e.key;
          model.presses = model.presses + 1;
        }
      };
      if (window.__mdhmcKeyHandler) window.removeEventListener("keydown", window.__mdhmcKeyHandler);
      window.__mdhmcKeyHandler = handler;
      window.addEventListener("keydown", handler);
      return el;
    }
    """


class Keys:
    """The page's shortcuts for ``app`` (`dashboard.app.App`)."""

    def __init__(self, app):
        self.app = app
        self.pane = KeyListener(width=0, height=0, margin=0)
        self.last = ""  # the last action (tests)
        self.pane.param.watch(self._pressed, "presses")

    def _pressed(self, event):
        self.press(self.pane.key)

    def press(self, key: str):
        action = KEYS.get(key)
        if action is None:
            return
        self.last = action
        anim = getattr(self.app, "animation", None)
        animating = anim is not None and anim.on.value
        if action == "play_pause":
            if animating:
                anim.toggle_play()
            else:
                self.app.controls.playing = not self.app.controls.playing
        elif action == "step":
            if animating:
                anim.step()
            else:
                self.app.worker.step()
        elif action == "reset":
            if animating:
                anim.reset()
            else:
                self.app.worker.reset()
