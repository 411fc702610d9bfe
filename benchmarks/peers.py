"""The peers of the comparison: emcee's stretch move and BlackJAX NUTS, as adapters with
the contract of `benchmarks.methods` (dispersed starts, checkpoints on the clock)."""

from __future__ import annotations

import numpy as np

from .accuracy import Case, pool
from .checkpoints import SMOKE, _Checkpointer, _SweepBuffer

NUTS_CHAINS = 4
NUTS_WARMUP = 1000


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
