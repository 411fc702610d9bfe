"""One adapter per method, all with the same contract.

``run(method, case, seed, budget_s, evaluate) -> RunResult``: start from dispersed points
(uniform over the target's bounds widened by 25% per side, as `sampler.ensemble` does),
run until ``budget_s`` seconds of wall time, and take *checkpoints* on a geometric time
grid. A checkpoint records cumulative wall time, log-density and gradient evaluations,
divergences after warm-up, and ``evaluate(pool)`` of the method's current estimate: at
most 4,000 of its draws so far, pooled over chains/walkers and thinned evenly in time
(`benchmarks.accuracy.pool`). The clock is paused while a checkpoint is evaluated.

What each method's estimate is at a checkpoint:

==============  ===========================================================================
``mdhmc``       `Sampler` stage "pipeline" with today's defaults (diffusion -> MAD trim ->
                tempering on the automatic ladder with the ``de+stretch`` moves): the recorded
                cold draws after the tempering warm-up; before that, the current cold
                ensemble (marked ``warmup``).
``mdhmc-*``     the ablation rows (`ABLATIONS`), each adding one idea to the one before:
                ``mdhmc-thread`` is the 2017 thread's pipeline (`Settings.thread`: thread
                point weights, no preconditioner, two rungs, random-walk Metropolis, sd
                trim); ``mdhmc-diffusion`` adds issue 10's diffusion (multinomial weights,
                curvature preconditioner, adaptive step, search); ``mdhmc-ladder`` then the
                automatic ladder; ``mdhmc-moves`` then the ensemble moves; ``mdhmc`` (all of
                it plus the MAD trim) is the new default.
``hmc``         `Sampler` stage "hmc" (exact HMC, unit mass, step size adapted in warm-up).
``metropolis``  `Sampler` stage "metropolis" (random-walk Metropolis, ensemble-scaled).
``emcee``       ``emcee.EnsembleSampler`` (stretch move, ``vectorize=True`` on
                `Target.log_density_batch`), max(100, 2 dim + 2) walkers; the second half of
                the iterations so far (the first half is burn-in).
``nuts``        BlackJAX NUTS, 4 chains, Stan-style window adaptation (1,000 steps, diagonal
                mass matrix, target acceptance 0.8, each chain adapts on its own) on the JAX
                twin of the log density (`benchmarks.jax_targets`); every draw after warm-up.
==============  ===========================================================================

The three mdhmc stages use `Settings` defaults (1,000 walkers, 100 adapting warm-up sweeps;
the HMC step size and the Metropolis scale adapt themselves), except that the pipeline
gets at most one documented setting change per case, `MDHMC_CHANGES`, chosen on seed 100
(never a benchmark seed) from a few candidates listed in RESULTS.md.

*Warm* runs call `prepare` first (numba compilation or cache load; JAX ahead-of-time
compilation) and leave it out of the clock. The cold cost is measured by
``python -m benchmarks.methods --jit METHOD CASE`` in a fresh process with an empty
``NUMBA_CACHE_DIR`` (what `benchmarks.compare` does): it prints the import and the
first-call compile times as JSON.
"""

from __future__ import annotations

import copy
import json
import os
import time

import numpy as np

from .accuracy import Case, case as get_case, pool
from .checkpoints import SMOKE, Checkpoint, RunResult, _Checkpointer, _SweepBuffer, checkpoint_grid  # noqa: F401
from .peers import NUTS_CHAINS, NUTS_WARMUP, _prepare_nuts, _run_emcee, _run_nuts, emcee_walkers  # noqa: F401

__all__ = ["METHODS", "LABELS", "MDHMC_CHANGES", "Checkpoint", "RunResult", "run", "prepare", "mdhmc_settings",
           "checkpoint_grid"]

METHODS = ("mdhmc", "mdhmc-thread", "mdhmc-diffusion", "mdhmc-ladder", "mdhmc-moves", "hmc", "metropolis", "emcee",
           "nuts")
LABELS = {
    "mdhmc": "mdhmc pipeline",
    "mdhmc-thread": "mdhmc thread's pipeline",
    "mdhmc-diffusion": "mdhmc thread + #10 diffusion",
    "mdhmc-ladder": "mdhmc + #10 diffusion + auto ladder",
    "mdhmc-moves": "mdhmc + #10 diffusion + ladder + moves",
    "hmc": "exact HMC (mdhmc)",
    "metropolis": "RW Metropolis (mdhmc)",
    "emcee": "emcee stretch",
    "nuts": "BlackJAX NUTS",
}
_STAGE = {"mdhmc": "pipeline", "mdhmc-thread": "pipeline", "mdhmc-diffusion": "pipeline", "mdhmc-ladder": "pipeline",
          "mdhmc-moves": "pipeline", "hmc": "hmc", "metropolis": "metropolis"}
#: the ablation rows: `Settings.thread` values kept (the thread's algorithm) except these,
#: which take today's defaults; each row adds one idea to the row before (the last one,
#: + trim_rule, is the default "mdhmc")
_DIFFUSION_10 = ("weighting", "precondition", "adapt_step_size", "search")
ABLATIONS = {"mdhmc-thread": (), "mdhmc-diffusion": _DIFFUSION_10, "mdhmc-ladder": _DIFFUSION_10 + ("rungs",),
             "mdhmc-moves": _DIFFUSION_10 + ("rungs", "moves")}

# The pipeline's one documented setting change per case on top of mdhmc's defaults.
MDHMC_CHANGES: dict[str, dict] = {
    "scorpio": {},
    "funnel-2": {"step_size": 0.02},  # the funnel-neck preset's step size
    # none since run K: the search fits with the target's gradient at every dim, and its walkers move only
    # if their own quadratic model says they are far out (seed 100: within 0.05 from 1.11 s; walkers 200,
    # the change of run I, 0.33 s). Tried before: rungs 4 / 8, step_size 0.02, search_sds 10 / 20 / 50,
    # walkers 100-400 (RESULTS.md, runs H and I)
    "funnel-10": {},
    "multimodal": {},
    "stiff-wells-100": {"diffusion_sweeps": 2},  # diffusion does not move walkers here: do less of it
    # two changes here (runs E and F in RESULTS.md): with 1,000 walkers the 500 cold ones barely move in
    # 30 s at 1,000-D, and the worst of 1,000 marginal means then errs by ~3.2/sqrt(500) = 0.14 sd, over
    # the 0.1 goal whatever the sampler does; 2,500 cold walkers put that floor at 0.064. With the
    # gradient search (17 gradients a searcher, not 2,001 lp evaluations) 5,000 walkers cost less than
    # 3,000 did (seed 100: held from 7.4 s against 9.0 s)
    "stiff-wells-1000": {"diffusion_sweeps": 1, "walkers": 5000},
}


# --------------------------------------------------------------------------------------
# mdhmc's three stages
# --------------------------------------------------------------------------------------
def mdhmc_settings(method: str, c: Case, seed: int, smoke: bool = False):
    """The `Settings` a benchmark run of ``method`` ("mdhmc", "hmc", "metropolis") uses."""
    from mdhmc.sampler import Settings

    changes = dict(MDHMC_CHANGES.get(c.key, {})) if method.startswith("mdhmc") else {}
    if smoke:
        changes.update({k: SMOKE[k] for k in ("walkers", "diffusion_sweeps", "steps", "warmup")})
    if method == "metropolis":
        changes["moves"] = "rwm"  # the random-walk baseline, whatever the default mix
    if method in ABLATIONS:
        from mdhmc.sampler.settings import BY_NAME, THREAD_VALUES

        thread = {k: v for k, v in THREAD_VALUES.items() if k not in ABLATIONS[method]}
        kept = {k: BY_NAME[k].default for k in ABLATIONS[method]}
        return Settings(seed=int(seed), sweeps=100_000_000, **{**thread, **kept, **changes})
    return Settings(seed=int(seed), sweeps=100_000_000, **changes)


#: which recorded draws make mdhmc's estimate: "all" (every sweep after the sampler's warm-up,
#: the rule RESULTS.md's tables use) or "second-half" (the later half of them, emcee's rule)
ESTIMATES = ("all", "second-half")


def _run_mdhmc(method, c, target, seed, cp: _Checkpointer, smoke, estimate: str = "all"):
    from mdhmc.sampler import Sampler

    s = mdhmc_settings(method, c, seed, smoke)
    # every recorded sweep goes to the same stride-doubling buffer as NUTS's draws, so the estimate
    # is all draws so far thinned evenly in time (the sampler's own ring buffer keeps only the
    # latest sweeps: 400 at 100-D, 40 at 1,000-D)
    sampler = Sampler(target, s, stage=_STAGE[method], tracked=-1, keep_sweeps=1)
    recorded, n_recorded = _SweepBuffer(), 0
    div_warmup = None
    res = cp.result
    while True:
        rec = sampler.sweep()
        tot = sampler.totals
        if rec["recording"]:
            recorded.add(n_recorded, sampler.draws[-1])
            n_recorded += 1
            if div_warmup is None:
                div_warmup = tot.get("divergences", 0)
        if cp.due():
            after = tot.get("divergences", 0) - div_warmup if div_warmup is not None else 0
            since = n_recorded // 2 if estimate == "second-half" else 0
            cp.take(lambda: pool(recorded.since(since) or recorded.items[-1:]) if recorded.items else sampler.cold,
                    tot.get("lp_evals", 0), tot.get("grad_evals", 0), after, "sampling" if recorded.items else "warmup")
            if cp.done:
                break
    r = sampler.result()
    res.info.update(
        settings_changed=dict(MDHMC_CHANGES.get(c.key, {})) if method.startswith("mdhmc") else {}, walkers=s.walkers,
        sweeps=sampler.sweep_count, recorded_sweeps=n_recorded, acceptance=r["acceptance"],
        swap_acceptance=r["swap_acceptance"], temperatures=r["temperatures"].tolist(),
        pair_acceptance=[float(a) for a in r["pair_acceptance"]],
        divergences_warmup=int(div_warmup if div_warmup is not None else r["totals"].get("divergences", 0)),
        trim=r["trim"],
        totals={k: int(v) for k, v in r["totals"].items()},
    )
    if method == "hmc" and sampler.history:
        res.info["step_size"] = sampler.history[-1].get("step_size")


def _prepare_mdhmc(method, c: Case, target, smoke: bool):
    """A short run with the case's own settings, so that it compiles what the benchmark run will
    and nothing else. Few walkers, but as many as span the space where the run's do (with fewer,
    an affine-only move mix gains random-walk Metropolis, whose kernel the run never calls) and
    give the automatic ladder as many rungs (with one, the swap kernel is never called)."""
    from mdhmc.sampler import Sampler, trim
    from mdhmc.sampler.moves import WALKERS_PER_DIM

    s = mdhmc_settings(method, c, 1, smoke)
    walkers = WALKERS_PER_DIM * target.dim + 2 if s.walkers >= WALKERS_PER_DIM * target.dim else 8
    while walkers < s.walkers and s.replace(walkers=walkers).rung_count(target.dim) != s.rung_count(target.dim):
        walkers = min(2 * walkers, s.walkers)
    s = s.replace(walkers=min(walkers, s.walkers), diffusion_sweeps=1, steps=2, sweeps=40, warmup=2)
    sampler = Sampler(target, s, stage=_STAGE[method], tracked=-1)
    for _ in range(41):
        sampler.sweep()
    # the trim's refill compiles on the first walker it replaces, which so short a run rarely has
    state = copy.deepcopy(sampler.state)
    state.log_density[0] = -1e100  # far below any spread; its square still finite
    trim.build_kernel(s.trim_sds, s.trim_rule)(state)
    target.log_density_batch(np.zeros((2, target.dim)))


# --------------------------------------------------------------------------------------
# The uniform entry points
# --------------------------------------------------------------------------------------
def prepare(method: str, c: Case | str, smoke: bool = False) -> float:
    """Compile (or load from cache) everything ``method`` runs on ``c``; return the seconds."""
    c = get_case(c) if isinstance(c, str) else c
    t0 = time.perf_counter()
    target = c.get_target()
    if method in _STAGE:
        _prepare_mdhmc(method, c, target, smoke)
    elif method == "emcee":
        import emcee  # noqa: F401

        target.log_density_batch(np.zeros((2, target.dim)))
    elif method == "nuts":
        _prepare_nuts(c, smoke)
    else:
        raise KeyError(f"unknown method {method!r}; methods are {', '.join(METHODS)}")
    return time.perf_counter() - t0


def run(method: str, c: Case | str, seed: int = 0, budget_s: float | None = None, evaluate=None,
        n_checkpoints: int = 24, warm: bool = True, smoke: bool = False, keep_final_draws: bool = True,
        estimate: str = "all") -> RunResult:
    """Run ``method`` on case ``c`` for ``budget_s`` seconds (default: the case's budget).

    ``evaluate(pool) -> dict`` scores each checkpoint (e.g. `accuracy.Reference.metrics`).
    ``warm=True`` compiles first, outside the clock. The pool of the last checkpoint is
    kept in ``result.final.draws`` when ``keep_final_draws``. ``estimate``: mdhmc's rule (`ESTIMATES`).
    """
    c = get_case(c) if isinstance(c, str) else c
    if method not in METHODS:
        raise KeyError(f"unknown method {method!r}; methods are {', '.join(METHODS)}")
    if estimate not in ESTIMATES:
        raise ValueError(f"unknown estimate {estimate!r}; estimates are {', '.join(ESTIMATES)}")
    budget_s = float(budget_s if budget_s is not None else c.budget_s)
    prep = prepare(method, c, smoke) if warm else 0.0
    target = c.get_target()
    res = RunResult(method, c.key, int(seed), budget_s, bool(warm), float(prep))
    cp = _Checkpointer(budget_s, evaluate, n_checkpoints, res, keep_draws=False)
    if method in _STAGE:
        _run_mdhmc(method, c, target, seed, cp, smoke, estimate)
        res.info["estimate"] = estimate
    elif method == "emcee":
        _run_emcee(c, target, seed, cp, smoke)
    else:
        _run_nuts(c, target, seed, cp, smoke)
    if keep_final_draws and res.checkpoints:
        res.checkpoints[-1].draws = cp.last_pool
    return res


def _jit_main(method: str, key: str, smoke: bool) -> dict:
    """Import and first-call compile times in this (fresh) process."""
    t0 = time.perf_counter()
    # only what a user of this method imports: mdhmc (its kernels compile at import), or
    # emcee + the targets (numba log densities), or jax + blackjax + the JAX twins
    if method in _STAGE:
        from mdhmc import sampler  # noqa: F401
        from mdhmc import targets  # noqa: F401
    elif method == "emcee":
        import emcee  # noqa: F401

        from mdhmc import targets  # noqa: F401
    elif method == "nuts":
        import blackjax  # noqa: F401
        import jax  # noqa: F401

        from . import jax_targets  # noqa: F401
    import_s = time.perf_counter() - t0
    jit_s = prepare(method, key, smoke)
    return {"method": method, "case": key, "import_s": import_s, "jit_s": jit_s,
            "numba_cache_dir": os.environ.get("NUMBA_CACHE_DIR")}


if __name__ == "__main__":
    import argparse

    ap = argparse.ArgumentParser(description="Measure a method's import and first-call JIT time (fresh process).")
    ap.add_argument("--jit", nargs=2, metavar=("METHOD", "CASE"), required=True)
    ap.add_argument("--smoke", action="store_true")
    a = ap.parse_args()
    print(json.dumps(_jit_main(a.jit[0], a.jit[1], a.smoke)))
