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
``mdhmc``       `Sampler` stage "pipeline" (diffusion -> trim -> two-rung tempering): the
                recorded cold draws after the tempering warm-up; before that, the current
                cold ensemble (marked ``warmup``).
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

import contextlib
import json
import os
import time
from dataclasses import dataclass, field

import numpy as np

from .accuracy import Case, case as get_case, pool

__all__ = ["METHODS", "LABELS", "MDHMC_CHANGES", "Checkpoint", "RunResult", "run", "prepare", "mdhmc_settings",
           "checkpoint_grid"]

METHODS = ("mdhmc", "hmc", "metropolis", "emcee", "nuts")
LABELS = {
    "mdhmc": "mdhmc pipeline",
    "hmc": "exact HMC (mdhmc)",
    "metropolis": "RW Metropolis (mdhmc)",
    "emcee": "emcee stretch",
    "nuts": "BlackJAX NUTS",
}
_STAGE = {"mdhmc": "pipeline", "hmc": "hmc", "metropolis": "metropolis"}
MAX_RECORDED_VALUES = 20_000_000  # floats kept per run (as Sampler's ring buffer)

# The pipeline's one documented setting change per case on top of mdhmc's defaults.
MDHMC_CHANGES: dict[str, dict] = {
    "scorpio": {},
    "funnel-2": {"step_size": 0.02},  # the funnel-neck preset's step size
    "funnel-10": {},  # tried rungs 4 / 8, step_size 0.02: all worse
    "multimodal": {},
    "stiff-wells-100": {"diffusion_sweeps": 2},  # diffusion does not move walkers here: do less of it
    "stiff-wells-1000": {"diffusion_sweeps": 1},
}
NUTS_CHAINS = 4
NUTS_WARMUP = 1000
SMOKE = {"walkers": 64, "diffusion_sweeps": 2, "steps": 20, "warmup": 5, "nuts_warmup": 50, "nuts_chunk": 5}


@dataclass
class Checkpoint:
    wall_s: float
    lp_evals: int
    grad_evals: int
    divergences: int  # after warm-up (HMC family)
    phase: str  # "warmup" or "sampling"
    metrics: dict
    draws: np.ndarray | None = None  # the evaluated pool (kept for the last checkpoint only)

    def to_dict(self) -> dict:
        d = {k: getattr(self, k) for k in ("wall_s", "lp_evals", "grad_evals", "divergences", "phase", "metrics")}
        return d


@dataclass
class RunResult:
    method: str
    case: str
    seed: int
    budget_s: float
    warm: bool
    prepare_s: float  # compile / cache-load time spent before the clock started (warm runs)
    checkpoints: list = field(default_factory=list)
    info: dict = field(default_factory=dict)

    @property
    def final(self) -> Checkpoint:
        return self.checkpoints[-1]

    def to_dict(self) -> dict:
        return {"method": self.method, "case": self.case, "seed": self.seed, "budget_s": self.budget_s,
                "warm": self.warm, "prepare_s": self.prepare_s, "info": self.info,
                "checkpoints": [c.to_dict() for c in self.checkpoints]}


def checkpoint_grid(budget_s: float, n: int = 24, first_fraction: float = 1 / 100) -> np.ndarray:
    """Checkpoint times: geometric from ``first_fraction x budget`` to the budget."""
    return budget_s * np.geomspace(first_fraction, 1.0, n)


class _Clock:
    """Wall clock that can be paused (checkpoint evaluation is not charged to the method)."""

    def __init__(self):
        self._t0 = time.perf_counter()
        self._paused = 0.0

    def elapsed(self) -> float:
        return time.perf_counter() - self._t0 - self._paused

    @contextlib.contextmanager
    def paused(self):
        t = time.perf_counter()
        try:
            yield
        finally:
            self._paused += time.perf_counter() - t


class _Checkpointer:
    """Decides when a checkpoint is due and records it (clock paused)."""

    def __init__(self, budget_s, evaluate, n_checkpoints, result: RunResult, keep_draws: bool):
        self.clock = _Clock()
        self.budget = budget_s
        self.grid = checkpoint_grid(budget_s, n_checkpoints)
        self.next = 0
        self.evaluate = evaluate
        self.result = result
        self.keep_draws = keep_draws
        self.last_pool = None

    @property
    def done(self) -> bool:
        return self.clock.elapsed() >= self.budget

    def due(self) -> bool:
        t = self.clock.elapsed()
        return t >= self.budget or (self.next < len(self.grid) and t >= self.grid[self.next])

    def take(self, draws_fn, lp_evals, grad_evals, divergences, phase):
        t = self.clock.elapsed()
        with self.clock.paused():
            while self.next < len(self.grid) and self.grid[self.next] <= t:
                self.next += 1
            X = np.asarray(draws_fn(), dtype=np.float64)
            m = self.evaluate(X) if self.evaluate is not None else {"n": int(X.shape[0])}
            self.last_pool = X
            self.result.checkpoints.append(Checkpoint(float(t), int(lp_evals), int(grad_evals), int(divergences),
                                                      phase, m, X if self.keep_draws else None))


class _SweepBuffer:
    """Keeps ``(walkers, dim)`` sweeps under a value cap by doubling the stride when full."""

    def __init__(self, max_values: int = MAX_RECORDED_VALUES):
        self.max_values = max_values
        self.items: list = []
        self.index: list = []
        self.stride = 1

    def add(self, i: int, X: np.ndarray):
        if i % self.stride:
            return
        self.items.append(np.array(X, dtype=np.float64, copy=True))
        self.index.append(i)
        if len(self.items) * self.items[0].size > self.max_values and len(self.items) > 2:
            self.stride *= 2
            keep = [k for k, j in enumerate(self.index) if j % self.stride == 0]
            self.items = [self.items[k] for k in keep]
            self.index = [self.index[k] for k in keep]

    def since(self, i0: int) -> list:
        return [x for x, j in zip(self.items, self.index) if j >= i0]


# --------------------------------------------------------------------------------------
# mdhmc's three stages
# --------------------------------------------------------------------------------------
def mdhmc_settings(method: str, c: Case, seed: int, smoke: bool = False):
    """The `Settings` a benchmark run of ``method`` ("mdhmc", "hmc", "metropolis") uses."""
    from mdhmc.sampler import Settings

    changes = dict(MDHMC_CHANGES.get(c.key, {})) if method == "mdhmc" else {}
    if smoke:
        changes.update({k: SMOKE[k] for k in ("walkers", "diffusion_sweeps", "steps", "warmup")})
    return Settings(seed=int(seed), sweeps=100_000_000, **changes)


def _run_mdhmc(method, c, target, seed, cp: _Checkpointer, smoke):
    from mdhmc.sampler import Sampler

    s = mdhmc_settings(method, c, seed, smoke)
    sampler = Sampler(target, s, stage=_STAGE[method], tracked=-1, max_recorded_values=MAX_RECORDED_VALUES)
    div_warmup = None
    res = cp.result
    while True:
        sampler.sweep()
        tot = sampler.totals
        if div_warmup is None and sampler.recording:
            div_warmup = tot.get("divergences", 0)
        if cp.due():
            recorded = len(sampler.draws) > 0
            after = tot.get("divergences", 0) - div_warmup if div_warmup is not None else 0
            cp.take(lambda: pool(sampler.draws) if recorded else sampler.cold, tot.get("lp_evals", 0),
                    tot.get("grad_evals", 0), after, "sampling" if recorded else "warmup")
            if cp.done:
                break
    r = sampler.result()
    res.info.update(
        settings_changed=dict(MDHMC_CHANGES.get(c.key, {})) if method == "mdhmc" else {}, walkers=s.walkers, sweeps=sampler.sweep_count,
        recorded_sweeps=len(sampler.draws), acceptance=r["acceptance"], swap_acceptance=r["swap_acceptance"],
        divergences_warmup=int(div_warmup if div_warmup is not None else r["totals"].get("divergences", 0)),
        trim=r["trim"],
        totals={k: int(v) for k, v in r["totals"].items()},
    )
    if method == "hmc" and sampler.history:
        res.info["step_size"] = sampler.history[-1].get("step_size")


def _prepare_mdhmc(method, target):
    from mdhmc.sampler import Sampler, Settings

    s = Settings(walkers=8, diffusion_sweeps=1, steps=2, sweeps=40, warmup=2, seed=1)
    sampler = Sampler(target, s, stage=_STAGE[method], tracked=-1)
    for _ in range(41):
        sampler.sweep()
    target.log_density_batch(np.zeros((2, target.dim)))


# --------------------------------------------------------------------------------------
# emcee
# --------------------------------------------------------------------------------------
def emcee_walkers(dim: int) -> int:
    return max(100, 2 * dim + 2)


def _run_emcee(c, target, seed, cp: _Checkpointer, smoke):
    import emcee

    from mdhmc.sampler.ensemble import dispersed_starts

    n = emcee_walkers(target.dim)
    rng = np.random.default_rng(seed)
    p0 = dispersed_starts(target, n, rng)
    sampler = emcee.EnsembleSampler(n, target.dim, target.log_density_batch, vectorize=True)
    sampler.random_state = np.random.RandomState(seed).get_state()
    buf = _SweepBuffer()
    state = emcee.State(p0, log_prob=target.log_density_batch(p0))
    evals = n
    it = 0
    accepted = 0
    prev = state.coords.copy()
    for state in sampler.sample(state, iterations=None, store=False, progress=False):
        it += 1
        evals += n
        accepted += int(np.any(state.coords != prev, axis=1).sum())
        prev = state.coords.copy()
        buf.add(it, state.coords)
        if cp.due():
            cp.take(lambda: pool(buf.since(it // 2 + 1)), evals, 0, 0, "sampling")
            if cp.done:
                break
    cp.result.info.update(walkers=n, iterations=it, acceptance=accepted / max(1, it * n),
                          burn_in="first half of the iterations")


# --------------------------------------------------------------------------------------
# BlackJAX NUTS
# --------------------------------------------------------------------------------------
_NUTS_CACHE: dict = {}


def _nuts_chunk(c: Case) -> int:
    return 25 if c.dim <= 10 else 10


def _nuts_functions(c: Case, n_warmup: int, chunk: int):
    """AOT-compiled (warm-up, sampling chunk) for a case; cached per process."""
    key = (c.key, NUTS_CHAINS, n_warmup, chunk)
    if key in _NUTS_CACHE:
        return _NUTS_CACHE[key]
    import blackjax
    import jax

    from . import jax_targets

    logdensity = jax_targets.log_density(c.target, c.dim)

    def warm_one(key, pos):
        wa = blackjax.window_adaptation(blackjax.nuts, logdensity)
        (state, params), info = wa.run(key, pos, num_steps=n_warmup)
        return (state, params["step_size"], params["inverse_mass_matrix"],
                info.info.num_integration_steps.sum(), info.info.is_divergent.sum())

    kernel = blackjax.nuts.build_kernel()

    def sample_chunk(keys, states, step_size, inv_mass):
        def one(key, state, eps, imm):
            def body(st, k):
                st, info = kernel(k, st, logdensity, eps, imm)
                return st, (st.position, info.num_integration_steps, info.is_divergent)

            return jax.lax.scan(body, state, jax.random.split(key, chunk))

        return jax.vmap(one)(keys, states, step_size, inv_mass)

    keys = jax.random.split(jax.random.key(0), NUTS_CHAINS)
    pos = jax.numpy.zeros((NUTS_CHAINS, c.dim))
    warm_c = jax.jit(jax.vmap(warm_one)).lower(keys, pos).compile()
    state_shape = jax.eval_shape(jax.vmap(warm_one), keys, pos)
    chunk_c = jax.jit(sample_chunk).lower(keys, *state_shape[:3]).compile()
    _NUTS_CACHE[key] = (warm_c, chunk_c)
    return warm_c, chunk_c


def _run_nuts(c, target, seed, cp: _Checkpointer, smoke):
    import jax

    from mdhmc.sampler.ensemble import dispersed_starts

    n_warmup = SMOKE["nuts_warmup"] if smoke else NUTS_WARMUP
    chunk = SMOKE["nuts_chunk"] if smoke else _nuts_chunk(c)
    warm_c, chunk_c = _nuts_functions(c, n_warmup, chunk)
    rng = np.random.default_rng(seed)
    pos = jax.numpy.asarray(dispersed_starts(target, NUTS_CHAINS, rng))
    key = jax.random.key(seed)
    key, k1 = jax.random.split(key)
    state, eps, imm, n_int, n_div = warm_c(jax.random.split(k1, NUTS_CHAINS), pos)
    grads = int(np.asarray(n_int).sum()) + NUTS_CHAINS
    grads_warmup = grads
    div_warmup = int(np.asarray(n_div).sum())
    buf = _SweepBuffer()
    divs = 0
    draws = 0
    while True:
        key, k = jax.random.split(key)
        state, (p, ni, dv) = chunk_c(jax.random.split(k, NUTS_CHAINS), state, eps, imm)
        p = np.asarray(p)  # (chains, chunk, dim); blocks until ready
        grads += int(np.asarray(ni).sum())
        divs += int(np.asarray(dv).sum())
        for j in range(p.shape[1]):
            draws += 1
            buf.add(draws, p[:, j, :])
        if cp.due():
            cp.take(lambda: pool(buf.items), grads, grads, divs, "sampling")
            if cp.done:
                break
    cp.result.info.update(chains=NUTS_CHAINS, warmup=n_warmup, draws_per_chain=draws, divergences_warmup=div_warmup,
                          step_size=[float(v) for v in np.asarray(eps)],
                          grad_evals_warmup=grads_warmup)


def _prepare_nuts(c, smoke):
    n_warmup = SMOKE["nuts_warmup"] if smoke else NUTS_WARMUP
    chunk = SMOKE["nuts_chunk"] if smoke else _nuts_chunk(c)
    _nuts_functions(c, n_warmup, chunk)


# --------------------------------------------------------------------------------------
# The uniform entry points
# --------------------------------------------------------------------------------------
def prepare(method: str, c: Case | str, smoke: bool = False) -> float:
    """Compile (or load from cache) everything ``method`` runs on ``c``; return the seconds."""
    c = get_case(c) if isinstance(c, str) else c
    t0 = time.perf_counter()
    target = c.get_target()
    if method in _STAGE:
        _prepare_mdhmc(method, target)
    elif method == "emcee":
        import emcee  # noqa: F401

        target.log_density_batch(np.zeros((2, target.dim)))
    elif method == "nuts":
        _prepare_nuts(c, smoke)
    else:
        raise KeyError(f"unknown method {method!r}; methods are {', '.join(METHODS)}")
    return time.perf_counter() - t0


def run(method: str, c: Case | str, seed: int = 0, budget_s: float | None = None, evaluate=None,
        n_checkpoints: int = 24, warm: bool = True, smoke: bool = False, keep_final_draws: bool = True) -> RunResult:
    """Run ``method`` on case ``c`` for ``budget_s`` seconds (default: the case's budget).

    ``evaluate(pool) -> dict`` scores each checkpoint (e.g. `accuracy.Reference.metrics`).
    ``warm=True`` compiles first, outside the clock. The pool of the last checkpoint is
    kept in ``result.final.draws`` when ``keep_final_draws``.
    """
    c = get_case(c) if isinstance(c, str) else c
    if method not in METHODS:
        raise KeyError(f"unknown method {method!r}; methods are {', '.join(METHODS)}")
    budget_s = float(budget_s if budget_s is not None else c.budget_s)
    prep = prepare(method, c, smoke) if warm else 0.0
    target = c.get_target()
    res = RunResult(method, c.key, int(seed), budget_s, bool(warm), float(prep))
    cp = _Checkpointer(budget_s, evaluate, n_checkpoints, res, keep_draws=False)
    if method in _STAGE:
        _run_mdhmc(method, c, target, seed, cp, smoke)
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
