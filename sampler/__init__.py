"""mdhmc's sampler core: momentum-diffusion SPSA-HMC, trim, Metropolis, parallel tempering,
exact HMC, and the pipeline that chains them. Kernels are numba, array-only, parallel over
walkers with per-walker random streams (same seed, same draws, whatever the thread count).

Layers, bottom up:

- kernels, one contract for every stage (BlackJAX-style ``build_kernel(...) -> step(state,
  ...) -> (state, info)``, info a NamedTuple apart from the state):
  `sampler.diffusion`, `sampler.metropolis`, `sampler.tempering` (the swap move),
  `sampler.hmc`, `sampler.trim`; the ensemble state is `sampler.ensemble`, the shared
  Hamiltonian pieces `sampler.hamiltonian`, the random streams `sampler.rng`;
- `sampler.adaptation`: the one warm-up rule (Robbins-Monro on a log scale) with explicit state;
- `sampler.moves`: each kernel as a move (settings, adaptation, record entries) and the
  schedule of weighted moves that makes a phase;
- `Sampler` (`sampler.pipeline`): the live driver the CLI and the dashboard use.
"""

import importlib

from .settings import STAGES, Settings, SettingsError

__all__ = ["EnsembleState", "init", "Sampler", "Settings", "SettingsError", "STAGES", "adaptation", "diffusion",
           "hamiltonian", "hmc", "jit", "metropolis", "moves", "specialise", "tempering", "trim"]

# Modules import on first use, so that `mdhmc --help`, `mdhmc targets` and a Ctrl-C at start-up
# stay instant; the big kernels compile (or load from numba's cache) at their first call (`sampler.jit`).
_LAZY = {"EnsembleState": "ensemble", "init": "ensemble", "Sampler": "pipeline"}
_MODULES = {"adaptation", "diffusion", "hamiltonian", "hmc", "jit", "metropolis", "moves", "specialise", "tempering",
            "trim"}


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    if name in _MODULES:
        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(__all__))
