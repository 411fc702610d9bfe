"""Kernels compile at their first call, not at import (`sampler.jit`): a run compiles only the
kernels it uses; `compile_all` (the dashboard's warm-up) compiles every one.

In a fresh process: this one has compiled them all already. The kernels load from the suite's
numba cache there, so the check takes seconds, not the ~25 s of an empty cache.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

SCRIPT = r"""
import json
from mdhmc import targets
from mdhmc.sampler import Sampler, Settings, jit
from mdhmc.sampler import diffusion, hmc, metropolis, moves_de, moves_dime, moves_stretch, preconditioning

def compiled():
    return {k.py_func.__qualname__: k.compiled for k in jit._ALL}

after_import = compiled()
s = Sampler(targets.get("funnel", dim=3), Settings(walkers=16, steps=3, diffusion_sweeps=2, sweeps=30, warmup=1,
                                                   moves="de+stretch"), stage="pipeline")
for _ in range(30):
    s.sweep()
after_run = compiled()
n = jit.compile_all()
print(json.dumps({"after_import": after_import, "after_run": after_run, "n": n, "after_all": compiled()}))
"""


def test_a_run_compiles_only_the_kernels_it_calls():
    env = dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    out = subprocess.run([sys.executable, "-c", SCRIPT], cwd=REPO, env=env, capture_output=True, text=True,
                         timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    r = json.loads(out.stdout.strip().splitlines()[-1])
    assert len([name for name in r["after_import"] if not name.endswith("_serial")]) == r["n"] >= 9
    assert not any(r["after_import"].values())  # importing compiles nothing
    ran = r["after_run"]
    # a 3-D pipeline: diffusion (with its curvature probe) then the affine moves; of each walker
    # kernel the prange form if the cache has it, else the serial one (`jit.WalkerKernel`)
    for name in ("diffusion_sweep", "de_sweep", "stretch_sweep"):
        assert ran[name] or ran[name + "_serial"], name
    # never called by it: the 2-D path, exact HMC, DIME
    assert not ran["_trajectory_2d"]
    assert not any(ran[name] or ran[name + "_serial"] for name in ("hmc_sweep", "dime_sweep"))
    # compile_all: every kernel but the serial forms, which a run calls only until the prange ones are ready
    assert all(v for name, v in r["after_all"].items() if not name.endswith("_serial"))
