"""Fixed runs whose draws were saved (first before the architecture refactor, issue 9).

`tests/sampler/data/reference_draws.npz` holds, per case, the final positions, their log
densities, the recorded draws and the random streams' state after the run
(`python tests/sampler/reference_cases.py` rewrites it: do that only for a deliberate change
of the algorithm or of how the streams draw). Rewritten once since the refactor: when normal
and exponential draws moved from Box-Muller and -log(-log u) to the ziggurat (issue 14). The test
`test_reference_draws.py` reruns every case and demands bit-identical arrays: same seed,
same draws, for every stage and the variants that take other code paths.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

DATA = Path(__file__).resolve().parent / "data" / "reference_draws.npz"

_SMALL = dict(walkers=64, steps=40, diffusion_sweeps=3, sweeps=12, warmup=4, seed=5)

# name -> (target, dim, stage, settings changes on top of _SMALL)
CASES = {
    "diffusion": ("scorpio", None, "diffusion", {}),
    "diffusion-euler": ("scorpio", None, "diffusion", {"integrator": "euler"}),
    "diffusion-exact-gradient": ("scorpio", None, "diffusion", {"gradient": "exact"}),
    "diffusion-spsa-two-sided-k3": ("banana", None, "diffusion", {"spsa_two_sided": True, "spsa_k": 3, "spsa_c": 0.02}),
    "diffusion-hot-trigger-mass": ("funnel", 2, "diffusion", {"hot": 2.5, "trigger": 0.5, "mass": (1.0, 2.0),
                                                              "noise": 0.0, "delta": 0.3}),
    "diffusion-wells-20": ("stiff-wells", 20, "diffusion", {"step_size": 0.001}),
    "metropolis": ("scorpio", None, "metropolis", {}),
    "metropolis-fixed-scale-2-steps": ("donut", None, "metropolis", {"metropolis_scale": 0.7, "metropolis_steps": 2}),
    "tempering": ("multimodal", None, "tempering", {}),
    "tempering-3-rungs": ("scorpio", None, "tempering", {"rungs": 3, "t_hot": 5.0, "swaps_per_walker": 3.0}),
    "tempering-naive": ("scorpio", None, "tempering", {"naive_swap": True}),
    "hmc": ("funnel", 10, "hmc", {}),
    "pipeline": ("scorpio", None, "pipeline", {}),
    "pipeline-funnel-10": ("funnel", 10, "pipeline", {"trim_sds": 1.0}),
}


#: saved floats are compared to this fraction of the array's largest |value|: 100x the largest
#: difference a CPU with other instructions gave (`test_reference_draws.py`)
RTOL = 1e-12


def same(arr: np.ndarray, ref: np.ndarray) -> bool:
    """Integers (random streams) bit for bit; floats to RTOL of the array's scale."""
    if not np.issubdtype(ref.dtype, np.floating):
        return np.array_equal(arr, ref)
    if not np.array_equal(np.isfinite(arr), np.isfinite(ref)):
        return False
    ok = np.isfinite(ref)
    scale = float(np.abs(ref[ok]).max()) if ok.any() else 0.0
    return bool(np.all(np.abs(arr[ok] - ref[ok]) <= RTOL * max(scale, 1e-300)))

def run_case(name, targets_mod, Sampler, Settings):
    target, dim, stage, changes = CASES[name]
    # the thread's algorithm choices (`Settings.thread`): the saved draws are the thread's, and
    # must stay reachable whatever the defaults become
    s = Sampler(targets_mod.get(target, dim), Settings.thread(**{**_SMALL, **changes}), stage=stage)
    res = s.run()
    return {"final": res["final"], "lp": s.state.log_density.copy(), "draws": res["draws"],
            "rng": s.state.rng.copy(), "positions": s.state.positions.copy()}


def _imports():
    try:
        from mdhmc import targets
        from mdhmc.sampler import Sampler, Settings
    except ImportError:  # before the package became `mdhmc`
        from mdhmc import targets
        from mdhmc.sampler import Sampler, Settings
    return targets, Sampler, Settings


if __name__ == "__main__":
    t, S, St = _imports()
    arrays = {}
    for case in CASES:
        for key, arr in run_case(case, t, S, St).items():
            arrays[f"{case}/{key}"] = arr
        print(case, "done")
    DATA.parent.mkdir(exist_ok=True)
    np.savez_compressed(DATA, **arrays)
    print("wrote", DATA, DATA.stat().st_size, "bytes")
