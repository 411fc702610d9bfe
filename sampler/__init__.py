"""mdhmc's sampler core: momentum-diffusion SPSA-HMC, trim, Metropolis, parallel tempering,
exact HMC, and the pipeline that chains them. Kernels are numba, array-only, parallel over
walkers with per-walker random streams (same seed, same draws, whatever the thread count).

Functional pieces (BlackJAX-style ``build_kernel(...) -> step(state, ...) -> (state, info)``):
`sampler.diffusion`, `sampler.metropolis`, `sampler.tempering`, `sampler.hmc`, `sampler.trim`,
with the ensemble state in `sampler.ensemble`. The live driver is `Sampler`.
"""

from .ensemble import EnsembleState, init
from .pipeline import Sampler
from .settings import STAGES, Settings, SettingsError

from . import diffusion, hmc, metropolis, tempering, trim  # noqa: E402

__all__ = ["EnsembleState", "init", "Sampler", "Settings", "SettingsError", "STAGES", "diffusion", "hmc",
           "metropolis", "tempering", "trim"]
