"""The robust trim (median +- k MAD of lp) and diagnostics computed on series that are chains."""

import numpy as np

from mdhmc import targets
from mdhmc.sampler import Settings, diagnostics, trim
from mdhmc.sampler.ensemble import init


def _with_outliers(n=200):
    target = targets.get("scorpio")
    state = init(target, n, 0, positions=target.sample_exact(n, np.random.default_rng(0)))
    # walkers stuck far out (their positions do not matter here): 5 at -1e8, 10 at -500
    state.log_density[:5] = -1e8
    state.log_density[5:15] = -500.0
    return state


def test_mad_trim_removes_stragglers_that_the_sd_rule_keeps():
    """The walkers at lp ~ -1e8 inflate the sd so much that mean +- 3 sd keeps the ones at -500
    (the bulk is near -5); median +- 3 x 1.4826 MAD drops all 15 (and the refill copies kept
    walkers)."""
    state = _with_outliers()
    _, info = trim.build_kernel(3.0, "sd")(state)
    assert info.replaced == 5 and np.sum(state.log_density == -500.0) >= 10  # kept (the refill may copy them)
    state = _with_outliers()
    _, info = trim.build_kernel(3.0, "mad")(state)
    assert 15 <= info.replaced <= 25 and np.all(state.log_density > -100)
    assert Settings().trim_rule == "mad" and Settings.thread().trim_rule == "sd"


def test_ess_and_rhat_of_independent_draws():
    """Independent draws: ESS near the number of draws, R-hat near 1."""
    rng = np.random.default_rng(1)
    ess, rhat = diagnostics.ess_rhat(rng.standard_normal((200, 64, 3)))
    assert np.all((ess > 0.6 * 200 * 64) & (ess < 1.6 * 200 * 64)), ess
    assert np.all(np.abs(rhat - 1) < 0.05), rhat


def test_ess_sees_walkers_that_share_states():
    """Walkers that swap states between slots look like many independent chains walker by
    walker; the ensemble-mean series sees that they are one slow chain: here every walker
    holds one of 4 AR(1) chains (rho 0.99, tau ~ 200), reshuffled between slots each draw."""
    rng = np.random.default_rng(2)
    n, chains = 400, 4
    z = np.zeros((n, chains))
    for t in range(1, n):
        z[t] = 0.99 * z[t - 1] + np.sqrt(1 - 0.99**2) * rng.standard_normal(chains)
    slots = np.stack([z[t][rng.integers(0, chains, 64)] for t in range(n)])[:, :, None]
    ess, _ = diagnostics.ess_rhat(slots)
    assert ess[0] < 100, ess  # at most a few effective draws per chain, not thousands
