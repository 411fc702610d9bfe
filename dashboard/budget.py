"""What one dashboard session may cost the server: a memory bound and a work-per-sweep bound.

A link such as ``?walkers=1000000&steps=10000000`` is inside the settings' bounds, yet one
sweep of it is 2e13 integration steps and its ensemble, frames and plot copies take
gigabytes. Every session is therefore held to

- memory: ``walkers x dimension <= MAX_WALKER_COORDS`` (about ``BYTES_PER_WALKER_COORD`` bytes
  each: positions, momenta, gradients, proposals, the frame and the plot's copies), and
- work: ``walkers x length x dimension <= MAX_SWEEP_WORK`` per sweep, where the length is
  each of ``LENGTH_SETTINGS`` (diffusion steps, Metropolis steps, HMC leapfrog steps). A
  sweep within it takes seconds, not hours; it runs in blocks of walkers anyway, so Pause
  and page closes act between blocks.

`clip` is pure: the controls apply it to every change (URL, widget, preset) and name what
it clipped in one line. ``MDHMC_SESSION_MEMORY_MB`` and ``MDHMC_SESSION_WORK`` change the
bounds for a bigger machine.
"""

from __future__ import annotations

import os

__all__ = ["MAX_WALKER_COORDS", "MAX_SWEEP_WORK", "LENGTH_SETTINGS", "clip"]

BYTES_PER_WALKER_COORD = 256
SESSION_MEMORY_MB = float(os.environ.get("MDHMC_SESSION_MEMORY_MB", "256"))
MAX_WALKER_COORDS = max(1000, int(SESSION_MEMORY_MB * 2**20 // BYTES_PER_WALKER_COORD // 1000 * 1000))
MAX_SWEEP_WORK = int(float(os.environ.get("MDHMC_SESSION_WORK", "1e8")))  # coordinate-steps per sweep
LENGTH_SETTINGS = ("steps", "metropolis_steps", "hmc_steps")


def clip(values: dict, dim: int, changed=()) -> tuple[dict, list[str]]:
    """Clip ``values`` (setting name -> value: ``walkers`` and the `LENGTH_SETTINGS`) to the
    session's budget for a target of dimension ``dim``. Returns ``(updates, notes)``: the
    settings to change and one sentence per change. A length just ``changed`` (or any
    length, when walkers did not change) is clipped; when only walkers changed, walkers are."""
    dim = max(1, int(dim))
    updates: dict = {}
    notes: list[str] = []
    walkers = int(values["walkers"])
    most = max(2, MAX_WALKER_COORDS // dim)
    if walkers > most:
        walkers = updates["walkers"] = most
        notes.append(f"walkers clipped to {most:,}: a session holds at most {MAX_WALKER_COORDS:,} walker "
                     f"coordinates (walkers × dimension {dim}; about {SESSION_MEMORY_MB:.0f} MB)")
    for name in LENGTH_SETTINGS:
        if name not in values or values[name] is None:
            continue
        length = int(values[name])
        if walkers * length * dim <= MAX_SWEEP_WORK:
            continue
        if "walkers" in changed and name not in changed:
            walkers = updates["walkers"] = max(2, MAX_SWEEP_WORK // (length * dim))
            notes.append(f"walkers clipped to {walkers:,}: a sweep may do at most {MAX_SWEEP_WORK:,} steps × "
                         f"walkers × dimension per session ({name} {length:,}, dimension {dim})")
        else:
            most_len = max(1, MAX_SWEEP_WORK // (walkers * dim))
            updates[name] = most_len
            notes.append(f"{name} clipped to {most_len:,}: a sweep may do at most {MAX_SWEEP_WORK:,} steps × "
                         f"walkers × dimension per session (walkers {walkers:,}, dimension {dim})")
    return updates, notes
