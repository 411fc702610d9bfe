"""Keyboard shortcuts for a lecture: Space play/pause, right arrow step, r reset.

A Panel `JSComponent` registers one ``keydown`` listener on the page (not for a key meant for a
focused control: typing in an input, arrows on a slider, Space on a button) and reports the key to the server; the server maps it to the same actions as the
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
        // a key meant for a focused control is not a shortcut: the arrow keys move a focused
        // slider (noUiSlider's handle, role=slider), Space presses a focused button
        if (e.defaultPrevented || e.ctrlKey || e.metaKey || e.altKey) return;
        const path = e.composedPath ? e.composedPath() : [e.target];
        for (const t of path) {
          if (!t || !t.tagName) continue;
          const tag = t.tagName.toUpperCase();
          if (tag === "INPUT" || tag === "TEXTAREA" || tag === "SELECT" || tag === "BUTTON" || t.isContentEditable) return;
          const role = t.getAttribute ? t.getAttribute("role") : null;
          if (role === "slider" || role === "button" || role === "checkbox" || role === "tab" || role === "listbox") return;
          if (t.classList && t.classList.contains("noUi-handle")) return;
        }
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
