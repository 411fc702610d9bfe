"""Helpers of the CLI suite: the ``mdhmc`` command in a subprocess, the files it is fed."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TIMEOUT = 300

# tiny sizes: every run finishes in well under a second once the kernels are compiled
SMALL = ["--walkers", "40", "--sweeps", "20", "--warmup", "5", "--trajectories", "2", "--steps", "20"]

TARGET_FILES = {
    # broken: a syntax error
    "broken.py": """
        dim = 2
        def log_density(x)
            return -x[0]
    """,
    # NaN everywhere: refused when the file is loaded (validate evaluates the centre)
    "nan_all.py": """
        import math
        dim = 2
        def log_density(x):
            return math.nan
    """,
    # finite only at the exact centre of its bounds: passes the load check, then no
    # dispersed starting point is finite (sampler.ensemble.init gives up after 100 redraws)
    "nan_init.py": """
        import math
        dim = 2
        bounds = ((-1.0, 1.0), (-1.0, 1.0))
        def log_density(x):
            if x[0] == 0.0 and x[1] == 0.0:
                return 0.0
            return math.nan
    """,
    # fine, but no gradient: exact HMC is refused
    "nograd.py": """
        name = "nograd-gauss"
        dim = 2
        def log_density(x):
            return -0.5 * (x[0] ** 2 + x[1] ** 2)
    """,
}

PRESETS = {
    # a preset naming its own target and stage, overridden in part on the command line
    "banana-metropolis.json": """
        {"format": "mdhmc-preset", "version": 1, "name": "test", "target": "banana", "stage": "metropolis",
         "settings": {"walkers": 60, "sweeps": 30, "warmup": 6, "seed": 11, "t_hot": 5.0}}
    """,
    "unknown-key.json": """
        {"format": "mdhmc-preset", "version": 1, "settings": {"walkerz": 10}}
    """,
    "out-of-range.json": """
        {"format": "mdhmc-preset", "version": 1, "settings": {"step_size": -0.5}}
    """,
    "wrong-type.json": """
        {"format": "mdhmc-preset", "version": 1, "settings": {"walkers": "many"}}
    """,
    "not-json.json": """
        {"format": "mdhmc-preset", "settings": {
    """,
    "funnel-dim.json": """
        {"format": "mdhmc-preset", "version": 1, "target": "funnel", "target_dim": 5, "stage": "hmc",
         "settings": {"walkers": 50, "step_size": 0.01}}
    """,
}

STUB_APP = """
    import os
    import panel as pn
    pn.panel("stub").servable(title="stub|" + os.environ.get("MDHMC_TARGET_FILES", "<none>"))
"""


def mdhmc_cmd(*args) -> list[str]:
    return [sys.executable, "-m", "mdhmc.sampler.cli", *map(str, args)]


def run_mdhmc(*args, cwd=None, env=None, timeout=TIMEOUT) -> subprocess.CompletedProcess:
    e = dict(os.environ)
    e.setdefault("NUMBA_NUM_THREADS", "2")
    e["PYTHONPATH"] = REPO + os.pathsep + e.get("PYTHONPATH", "")
    if env:
        e.update(env)
    return subprocess.run(mdhmc_cmd(*args), cwd=cwd or REPO, env=e, capture_output=True, text=True, timeout=timeout)




class Launcher:
    """``launch(key, *args)`` submits ``mdhmc args`` once; ``result(key)`` waits for it."""

    def __init__(self, pool, workdir):
        self.pool, self.workdir, self.futures = pool, workdir, {}

    def launch(self, key, *args, env=None):
        if key not in self.futures:
            self.futures[key] = self.pool.submit(run_mdhmc, *args, cwd=self.workdir, env=env)
        return self.futures[key]

    def result(self, key) -> subprocess.CompletedProcess:
        return self.futures[key].result()
