"""Momentum-diffusion HMC: approximate HMC with SPSA gradients, noise and a thermostat.

One sweep runs one trajectory per walker (in parallel). For walker position x with
U = -lp(x), mass M (diagonal) and K = p' M^-1 p / 2:

1. p ~ N(0, M); the walker's target energy is H* = U(x) + K(p); then p <- hot * p, so a
   hot start (hot > 1) begins above H* and the thermostat cools it back down.
2. Each step integrates Hamilton's equations with a gradient estimate g ~ grad lp (SPSA,
   see `sampler.spsa`, in the preconditioner's metric S where there is one; the exact
   gradient for comparison; or central differences, 2 dim evaluations, for small dims):
     leapfrog:  p += eps/2 g(x); x += eps M^-1 p; p += eps/2 g(x)   (g cached between steps)
     euler:     p += eps g(x);   x += eps M^-1 p                    (semi-implicit Euler)
   (kinetic energy, kick and drift: `sampler.hamiltonian`, shared with exact HMC)
   then the trigger, the thermostat and the noise act on p:
     trigger:    if |H after - H before| of the integration step > trigger, p ~ N(0, M) anew
     thermostat: p <- p exp(-gain (H - H*) eps)   (viscous friction gain x (H - H*): slows a
                 walker that is too hot, pushes one that is too cold; the exponential form
                 is the exact flow of dp = -gain (H - H*) p dt, so p never flips sign)
     noise:      p += noise sqrt(eps) M^(1/2) z,  z ~ N(0, I)
3. Every point t of the trajectory (the start included) gets a log weight, by the rule
   ``weighting``: thread -((H_t - H*) / delta)^2 + lp(x_t) (the 2017 thread's), energy
   -((H_t - H*) / delta)^2, multinomial -(H_t - H*) (multinomial HMC's exp(-H_t); an
   energy-conserving trajectory already visits points in proportion to the density, so the
   thread's + lp counts it twice: benchmarks/weighting.py). One point is drawn with
   probability proportional to exp(weight) by streaming Gumbel-max (O(1) memory), and it is
   the walker's new position.
4. A non-finite lp (or gradient estimate) anywhere abandons the trajectory: the walker
   stays where it was, and the event is counted.

Evaluations per step: one lp at the new point plus the gradient's (one-sided SPSA: 1).

The preconditioner's scale S (`sampler.preconditioning`, passed per sweep) makes the mass
mass / S^2 and is the SPSA metric. A tracked trajectory records, per point, whether the
trigger redrew the momentum there (`TrackedTrajectory.trigger`).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numba as nb
import numpy as np

from numba import types

from mdhmc.targets._jit import GRADIENT, LOG_DENSITY

from . import specialise
from .hamiltonian import diagonal_mass, drift, kick, kinetic
from .chunks import blocks
from .threads import Split
from .rng import exponential_st, fill_normal, gumbel, normal_st, xoshiro
from .spsa import spsa_gradient
from .jit import kernel, walker_kernel

__all__ = ["DiffusionParams", "DiffusionInfo", "TrackedTrajectory", "build_kernel", "diffusion_sweep", "WEIGHTINGS",
           "GRADIENTS"]

# per-walker float statistics written by the kernel
S_U, S_K, S_H, S_HERR, S_ABS_HERR, S_POINTS, S_CHOSEN_HERR, S_CHOSEN_T, S_STEP_DH2, N_FSTATS = range(10)
# per-walker integer counters
C_EVALS, C_GRAD_EVALS, C_STEPS, C_TRIGGERS, C_ABANDONED, N_ICOUNTS = range(6)


#: gradient modes (`DiffusionParams.gradient`)
GRADIENTS = ("spsa", "exact", "central")
#: point-weight rules (`DiffusionParams.weighting`): log weight of a trajectory point
WEIGHTINGS = ("thread", "energy", "multinomial")
W_THREAD, W_ENERGY, W_MULTINOMIAL = range(3)

_F8, _I8, _B1 = types.float64, types.int64, types.boolean
_V1, _M2, _M3 = types.float64[::1], types.float64[:, ::1], types.float64[:, :, ::1]
_B1V = types.boolean[::1]


@nb.njit(inline="always", nogil=True, cache=True)
def _log_weight(weighting, herr, delta, lp):
    """thread: -(Herr/delta)^2 + lp; energy: -(Herr/delta)^2; multinomial: -Herr."""
    if weighting == W_THREAD:
        return -(herr / delta) ** 2 + lp
    if weighting == W_ENERGY:
        return -(herr / delta) ** 2
    return -herr


@nb.njit(nogil=True, cache=True)
def _central(log_density, x, c, scale, g):
    """Central differences, one coordinate at a time (2 dim evaluations): small dims only."""
    d = x.shape[0]
    for j in range(d):
        h = c * scale[j]
        x0 = x[j]
        x[j] = x0 + h
        up = log_density(x)
        x[j] = x0 - h
        down = log_density(x)
        x[j] = x0
        g[j] = (up - down) / (2.0 * h)
        if not math.isfinite(g[j]):
            return 2 * (j + 1), False
    return 2 * d, True


@nb.njit(nogil=True, cache=True)
def _gradient(log_density, grad_log_density, mode, x, lpx, c, k, two_sided, scale, s, i, delta, xp, g):
    """Gradient of lp at x into g; returns (lp evaluations, gradient evaluations, finite).

    ``mode``: 0 SPSA in the metric ``scale`` (`sampler.spsa`), 1 exact, 2 central differences."""
    if mode == 1:
        ge = grad_log_density(x)
        ok = True
        for j in range(x.shape[0]):
            g[j] = ge[j]
            if not math.isfinite(ge[j]):
                ok = False
        return 0, 1, ok
    if mode == 2:
        for j in range(x.shape[0]):
            xp[j] = x[j]
        ev, ok = _central(log_density, xp, c, scale, g)
        return ev, 0, ok
    ev, ok = spsa_gradient(log_density, x, lpx, c, k, two_sided, scale, s, i, delta, xp, g)
    return ev, 0, ok


@nb.njit(nogil=True, cache=True)
def _trajectory(log_density, grad_log_density, i, x, lp, rng, inv_mass, sqrt_mass,
                step_size, n_steps, delta, gain, noise, hot, trigger,
                mode, c, k, two_sided, leapfrog, weighting, scale,
                record, traj_x, traj_logw, traj_energy, traj_trigger, scratch, fstats, icounts):
    d = x.shape[1]
    cur = scratch[i, 0]
    p = scratch[i, 1]
    g = scratch[i, 2]
    best = scratch[i, 3]
    dbuf = scratch[i, 4]
    xp = scratch[i, 5]
    zero_noise = scratch[i, 6]  # reused as the momentum-noise vector
    for j in range(d):
        cur[j] = x[i, j]
        best[j] = x[i, j]
    lp_cur = lp[i]
    fill_normal(rng, i, p, sqrt_mass)
    h_star = -lp_cur + kinetic(p, inv_mass)
    if hot != 1.0:
        for j in range(d):
            p[j] *= hot
    kin = kinetic(p, inv_mass)
    h = -lp_cur + kin
    ev, gev, ok = _gradient(log_density, grad_log_density, mode, cur, lp_cur, c, k, two_sided, scale, rng, i, dbuf, xp, g)
    evals = ev
    gevals = gev
    herr = h - h_star
    logw = _log_weight(weighting, herr, delta, lp_cur)
    best_key = logw + gumbel(rng, i)
    best_lp = lp_cur
    best_herr = herr
    best_t = 0
    if record:
        for j in range(d):
            traj_x[0, j] = cur[j]
        traj_logw[0] = logw
        traj_energy[0, 0] = -lp_cur
        traj_energy[0, 1] = kin
        traj_energy[0, 2] = h
        traj_energy[0, 3] = herr
        traj_trigger[0] = False
    sdh2 = 0.0
    sums = _point_sums_start(lp_cur, kin, h, herr)
    triggers = 0
    steps_done = 0
    abandoned = not ok
    sq = math.sqrt(step_size)
    t = 0
    while t < n_steps and not abandoned:
        t += 1
        h_before = h
        # leapfrog: half kick, drift, half kick; semi-implicit Euler: full kick, drift
        kick(p, g, 0.5 * step_size if leapfrog else step_size)
        drift(cur, p, step_size, inv_mass)
        lp_cur = log_density(cur)
        evals += 1
        if not math.isfinite(lp_cur):
            abandoned = True
            break
        ev, gev, ok = _gradient(log_density, grad_log_density, mode, cur, lp_cur, c, k, two_sided, scale, rng, i, dbuf, xp, g)
        evals += ev
        gevals += gev
        if not ok:
            abandoned = True
            break
        if leapfrog:
            kick(p, g, 0.5 * step_size)
        kin = kinetic(p, inv_mass)
        h = -lp_cur + kin
        sdh2 += (h - h_before) ** 2
        triggered = abs(h - h_before) > trigger
        if triggered:
            # an integration step that jumps in energy is a divergence in the making: start afresh
            fill_normal(rng, i, p, sqrt_mass)
            triggers += 1
        else:
            friction = math.exp(-gain * (h - h_star) * step_size)
            for j in range(d):
                p[j] *= friction
            if noise > 0.0:
                fill_normal(rng, i, zero_noise, sqrt_mass)
                for j in range(d):
                    p[j] += noise * sq * zero_noise[j]
        kin = kinetic(p, inv_mass)
        h = -lp_cur + kin
        herr = h - h_star
        logw = _log_weight(weighting, herr, delta, lp_cur)
        key = logw + gumbel(rng, i)
        if key > best_key:
            best_key = key
            best_lp = lp_cur
            best_herr = herr
            best_t = t
            for j in range(d):
                best[j] = cur[j]
        if record:
            for j in range(d):
                traj_x[t, j] = cur[j]
            traj_logw[t] = logw
            traj_energy[t, 0] = -lp_cur
            traj_energy[t, 1] = kin
            traj_energy[t, 2] = h
            traj_energy[t, 3] = herr
            traj_trigger[t] = triggered
        sums = _point_sums_add(sums, lp_cur, kin, h, herr)
        steps_done += 1
    _write_stats(i, fstats, icounts, sums, sdh2, steps_done, evals, gevals, triggers, abandoned,
                 best_herr, best_t)
    if abandoned:
        return steps_done  # walker stays at x[i]
    for j in range(d):
        x[i, j] = best[j]
    lp[i] = best_lp
    return steps_done


@nb.njit(inline="always", nogil=True, cache=True)
def _point_sums_start(lp, kin, h, herr):
    """Running sums over a trajectory's points of U, K, H, H error and |H error|: the first point."""
    return -lp, kin, h, herr, abs(herr)


@nb.njit(inline="always", nogil=True, cache=True)
def _point_sums_add(sums, lp, kin, h, herr):
    su, sk, sh, she, sahe = sums
    return su + -lp, sk + kin, sh + h, she + herr, sahe + abs(herr)


@nb.njit(inline="always", nogil=True, cache=True)
def _write_stats(i, fstats, icounts, sums, sdh2, steps_done, evals, gevals, triggers, abandoned,
                 best_herr, best_t):
    """A trajectory's statistics into walker i's rows of ``fstats`` / ``icounts`` (once per trajectory)."""
    npts = steps_done + 1
    su, sk, sh, she, sahe = sums
    fstats[i, S_U] = su / npts
    fstats[i, S_K] = sk / npts
    fstats[i, S_H] = sh / npts
    fstats[i, S_HERR] = she / npts
    fstats[i, S_ABS_HERR] = sahe / npts
    fstats[i, S_POINTS] = npts
    fstats[i, S_STEP_DH2] = sdh2 / steps_done if steps_done > 0 else math.nan
    icounts[i, C_EVALS] += evals
    icounts[i, C_GRAD_EVALS] += gevals
    icounts[i, C_STEPS] += steps_done
    icounts[i, C_TRIGGERS] += triggers
    if abandoned:
        icounts[i, C_ABANDONED] += 1
        fstats[i, S_CHOSEN_HERR] = 0.0
        fstats[i, S_CHOSEN_T] = -1.0
    else:
        fstats[i, S_CHOSEN_HERR] = best_herr
        fstats[i, S_CHOSEN_T] = best_t


# ---------------------------------------------------------------- the 2-D path
# Why a separate path: the general trajectory keeps its walker's point, momentum, gradient
# and perturbation in rows of ``scratch`` and its xoshiro state in ``rng``, and every call
# of the target through its function pointer is opaque to LLVM, so all of that is stored
# before and reloaded after each call (two calls a step, the stream's state touched five
# times a step). In 2-D the same algorithm fits in scalars: point, momentum, gradient and
# stream state stay in registers for the whole trajectory, memory is written only where the
# density reads its argument (scratch rows 0 and 5, which fault reports read too) and the
# stream is written back once. Same operations in the same order as `_trajectory` and
# `spsa.spsa_gradient`, hence the same draws (tests/sampler/test_reference_draws.py).
# Measured in benchmarks/core_speed.py (RESULTS.md, "Core speed (#14)").


@nb.njit(inline="always", nogil=True, cache=True)
def _kinetic_2d(p0, p1, im0, im1):
    """`hamiltonian.kinetic` in 2-D, summed in its order."""
    k = 0.0
    k += p0 * p0 * im0
    k += p1 * p1 * im1
    return 0.5 * k


@nb.njit(inline="always", nogil=True, cache=True)
def _lp_at(log_density, buf, x0, x1):
    """lp at (x0, x1), through ``buf``: the density takes an array (and fault reports read it)."""
    buf[0] = x0
    buf[1] = x1
    return log_density(buf)


def _lp_at_target(log_density, buf, x0, x1):
    """`_lp_at` in the copy of the 2-D path specialised for one target (`sampler.specialise`):
    calls that copy's ``_TARGET_LOG_DENSITY``, inlined, instead of the function pointer."""
    buf[0] = x0
    buf[1] = x1
    return _TARGET_LOG_DENSITY(buf)  # noqa: F821 -- bound in the specialised copy's globals


@nb.njit(inline="always", nogil=True, cache=True)
def _spsa_2d(log_density, xp, x0, x1, lpx, c, k, two_sided, cs0, cs1, sc0, sc1, unit_scale, st):
    """`spsa.spsa_gradient` in 2-D on scalars (``cs_j = c * scale_j``): (g0, g1, evals, finite, state)."""
    g0 = 0.0
    g1 = 0.0
    evals = 0
    for _ in range(k):
        bits, st = xoshiro(st)
        d0 = 1.0 if bits & np.uint64(1) else -1.0
        d1 = 1.0 if (bits >> np.uint64(1)) & np.uint64(1) else -1.0
        lp_plus = _lp_at(log_density, xp, x0 + cs0 * d0, x1 + cs1 * d1)
        evals += 1
        if two_sided:
            lp_minus = _lp_at(log_density, xp, x0 - cs0 * d0, x1 - cs1 * d1)
            evals += 1
            diff = (lp_plus - lp_minus) / (2.0 * c)
        else:
            diff = (lp_plus - lpx) / c
        if not math.isfinite(diff):
            return g0, g1, evals, False, st
        if unit_scale:  # x / 1.0 is x: skip two divisions on the step's critical path
            g0 += diff * d0
            g1 += diff * d1
        else:
            g0 += diff * d0 / sc0
            g1 += diff * d1 / sc1
    if k > 1:
        g0 /= k
        g1 /= k
    return g0, g1, evals, True, st


#: `_trajectory_2d`'s signature: the sweep calls the 2-D path through a function pointer, once per
#: trajectory, so that the copy specialised for a target (`sampler.specialise`) can take its place
TRAJECTORY_2D_SIGNATURE = types.int64(LOG_DENSITY, _I8, _M2, _V1, types.uint64[:, ::1], _V1, _V1, _F8, _I8, _F8, _F8,
                                      _F8, _F8, _F8, _F8, _I8, _B1, _B1, _I8, _V1, _M3, _M2, types.int64[:, ::1])
TRAJECTORY_2D = types.FunctionType(TRAJECTORY_2D_SIGNATURE)


@kernel(TRAJECTORY_2D_SIGNATURE, nogil=True, cache=True)
def _trajectory_2d(log_density, i, x, lp, rng, inv_mass, sqrt_mass, step_size, n_steps, delta, gain, noise, hot,
                   trigger, c, k, two_sided, leapfrog, weighting, scale, scratch, fstats, icounts):
    """`_trajectory` for a 2-D target with SPSA gradients, not recorded (see above)."""
    cur = scratch[i, 0]
    xp = scratch[i, 5]
    im0, im1 = inv_mass[0], inv_mass[1]
    sm0, sm1 = sqrt_mass[0], sqrt_mass[1]
    sc0, sc1 = scale[0], scale[1]
    cs0, cs1 = c * sc0, c * sc1
    unit_scale = sc0 == 1.0 and sc1 == 1.0
    dm0, dm1 = step_size * im0, step_size * im1  # drift: x += (eps M^-1) p
    first_kick = 0.5 * step_size if leapfrog else step_size
    half_kick = 0.5 * step_size
    noise_sd = noise * math.sqrt(step_size)
    st = (rng[i, 0], rng[i, 1], rng[i, 2], rng[i, 3])
    x0 = x[i, 0]
    x1 = x[i, 1]
    cur[0] = x0
    cur[1] = x1
    b0, b1 = x0, x1
    lp_cur = lp[i]
    z0, st = normal_st(st)
    z1, st = normal_st(st)
    p0 = sm0 * z0
    p1 = sm1 * z1
    h_star = -lp_cur + _kinetic_2d(p0, p1, im0, im1)
    if hot != 1.0:
        p0 *= hot
        p1 *= hot
    kin = _kinetic_2d(p0, p1, im0, im1)
    h = -lp_cur + kin
    g0, g1, evals, ok, st = _spsa_2d(log_density, xp, x0, x1, lp_cur, c, k, two_sided, cs0, cs1, sc0, sc1, unit_scale, st)
    herr = h - h_star
    logw = _log_weight(weighting, herr, delta, lp_cur)
    e, st = exponential_st(st)
    best_key = logw + -math.log(e)
    best_lp = lp_cur
    best_herr = herr
    best_t = 0
    sdh2 = 0.0
    sums = _point_sums_start(lp_cur, kin, h, herr)
    triggers = 0
    steps_done = 0
    abandoned = not ok
    t = 0
    while t < n_steps and not abandoned:
        t += 1
        h_before = h
        p0 += first_kick * g0
        p1 += first_kick * g1
        x0 += dm0 * p0
        x1 += dm1 * p1
        lp_cur = _lp_at(log_density, cur, x0, x1)
        evals += 1
        if not math.isfinite(lp_cur):
            abandoned = True
            break
        g0, g1, ev, ok, st = _spsa_2d(log_density, xp, x0, x1, lp_cur, c, k, two_sided, cs0, cs1, sc0, sc1, unit_scale, st)
        evals += ev
        if not ok:
            abandoned = True
            break
        if leapfrog:
            p0 += half_kick * g0
            p1 += half_kick * g1
        kin = _kinetic_2d(p0, p1, im0, im1)
        h = -lp_cur + kin
        sdh2 += (h - h_before) ** 2
        if abs(h - h_before) > trigger:
            z0, st = normal_st(st)
            z1, st = normal_st(st)
            p0 = sm0 * z0
            p1 = sm1 * z1
            triggers += 1
        else:
            friction = math.exp(-gain * (h - h_star) * step_size)
            p0 *= friction
            p1 *= friction
            if noise > 0.0:
                z0, st = normal_st(st)
                z1, st = normal_st(st)
                p0 += noise_sd * (sm0 * z0)
                p1 += noise_sd * (sm1 * z1)
        kin = _kinetic_2d(p0, p1, im0, im1)
        h = -lp_cur + kin
        herr = h - h_star
        logw = _log_weight(weighting, herr, delta, lp_cur)
        e, st = exponential_st(st)
        key = logw + -math.log(e)
        if key > best_key:
            best_key = key
            best_lp = lp_cur
            best_herr = herr
            best_t = t
            b0, b1 = x0, x1
        sums = _point_sums_add(sums, lp_cur, kin, h, herr)
        steps_done += 1
    rng[i, 0], rng[i, 1], rng[i, 2], rng[i, 3] = st
    _write_stats(i, fstats, icounts, sums, sdh2, steps_done, evals, 0, triggers, abandoned,
                 best_herr, best_t)
    if not abandoned:
        x[i, 0] = b0
        x[i, 1] = b1
        lp[i] = best_lp
    return steps_done


@nb.njit(TRAJECTORY_2D_SIGNATURE, nogil=True, cache=True)
def _not_2d(log_density, i, x, lp, rng, inv_mass, sqrt_mass, step_size, n_steps, delta, gain, noise, hot,
            trigger, c, k, two_sided, leapfrog, weighting, scale, scratch, fstats, icounts):
    """`diffusion_sweep`'s 2-D path argument for a target that is not 2-D (never called)."""
    return 0


SWEEP_SIGNATURE = types.void(LOG_DENSITY, GRADIENT, TRAJECTORY_2D, _M2, _V1, types.uint64[:, ::1], _V1, _V1,
                             _F8, _I8, _F8, _F8, _F8, _F8, _F8, _I8, _F8, _I8, _B1, _B1, _I8, _V1,
                             _I8, _M2, _V1, _M2, _B1V, types.int64[::1], _M3, _M2, types.int64[:, ::1])


@walker_kernel(SWEEP_SIGNATURE, nogil=True, cache=True)
def diffusion_sweep(log_density, grad_log_density, trajectory_2d, x, lp, rng, inv_mass, sqrt_mass,
                    step_size, n_steps, delta, gain, noise, hot, trigger,
                    mode, c, k, two_sided, leapfrog, weighting, scale,
                    tracked, traj_x, traj_logw, traj_energy, traj_trigger, traj_len, scratch, fstats, icounts):
    """One trajectory for every walker, in parallel (a `sampler.jit.WalkerKernel`); updates
    ``x``/``lp`` in place.

    ``trajectory_2d`` runs the 2-D path: `_trajectory_2d`, or its copy specialised for the target.
    Walker ``tracked`` (or none if < 0) records its trajectory into ``traj_*`` (pre-allocated,
    ``n_steps + 1`` rows); ``traj_len[0]`` gets the number of points recorded. ``scratch`` is
    ``(walkers, 7, dim)``; ``fstats`` and ``icounts`` are per-walker outputs (see S_* / C_*).
    """
    n = x.shape[0]
    # the 2-D path takes what the thread's algorithm needs (SPSA, not recorded); the rest goes
    # the general way, with the same draws either way
    fast = x.shape[1] == 2 and mode == 0
    for i in nb.prange(n):
        rec = i == tracked
        if fast and not rec:
            trajectory_2d(log_density, np.int64(i), x, lp, rng, inv_mass, sqrt_mass, step_size, n_steps, delta, gain,
                          noise, hot, trigger, c, k, two_sided, leapfrog, weighting, scale, scratch, fstats, icounts)
        else:
            # np.int64: numba types a prange index int64 in one pass and uint64 in another, and
            # compiled the whole trajectory (and what it calls) twice, ~4 s with an empty cache
            done = _trajectory(log_density, grad_log_density, np.int64(i), x, lp, rng, inv_mass, sqrt_mass,
                               step_size, n_steps, delta, gain, noise, hot, trigger,
                               mode, c, k, two_sided, leapfrog, weighting, scale,
                               rec, traj_x, traj_logw, traj_energy, traj_trigger, scratch, fstats, icounts)
            if rec:
                traj_len[0] = done + 1


@nb.njit(cache=True)
def _no_gradient(x):  # noqa: D401
    """Stand-in passed to the kernels when a target has no gradient (never called then)."""
    return np.zeros(x.shape[0])


class DiffusionParams(NamedTuple):
    step_size: float
    steps: int
    delta: float
    viscosity_gain: float
    noise: float
    hot: float
    trigger: float
    gradient: str  # "spsa" | "exact" | "central"
    spsa_c: float
    spsa_k: int
    spsa_two_sided: bool
    integrator: str  # "leapfrog" | "euler"
    weighting: str = "thread"  # WEIGHTINGS

    @classmethod
    def from_settings(cls, s) -> "DiffusionParams":
        return cls(s.step_size, s.steps, s.delta, s.viscosity_gain, s.noise, s.hot, s.trigger, s.gradient,
                   s.spsa_c, s.spsa_k, s.spsa_two_sided, s.integrator, s.weighting)


class TrackedTrajectory(NamedTuple):
    """The tracked walker's last trajectory: points, log weights, energies (U, K, H, H error),
    the index of the drawn point (-1 if the trajectory was abandoned) and, per point, whether
    the trigger redrew the momentum there."""

    positions: np.ndarray
    log_weights: np.ndarray
    energies: np.ndarray
    chosen: int
    trigger: np.ndarray | None = None

    @property
    def triggered(self) -> np.ndarray | None:
        """``trigger`` under the name `dashboard.readout.trajectory` looks for."""
        return self.trigger


class DiffusionInfo(NamedTuple):
    """Per-sweep diagnostics (ensemble means over walkers; counts summed). ``step_dh2``: per
    walker, the mean square energy change of one integration step (the step-size control's
    input)."""

    mean_U: float
    mean_K: float
    mean_H: float
    mean_herr: float
    mean_abs_herr: float
    chosen_herr: float
    lp_evals: int
    grad_evals: int
    steps: int
    triggers: int
    abandoned: int
    tracked: TrackedTrajectory | None
    step_dh2: np.ndarray | None = None


def build_kernel(target, mass=None, tracked: int = 0, trajectory_2d=None):
    """Return ``step(state, params, chunks=None, scale=None) -> (state, DiffusionInfo)``.

    Buffers are allocated once per (walkers, steps) shape and reused. ``mass`` is a
    diagonal (None: unit). ``tracked`` is the walker whose trajectory is recorded (-1: none).
    ``chunks`` (`sampler.chunks.Chunks`): run the walkers in blocks (same draws).
    ``scale`` (`sampler.preconditioning`): a per-coordinate scale S; the mass becomes
    mass / S^2 and S is the SPSA perturbation's metric (None: neither).
    ``step.buffers`` holds the scratch: row ``scratch[i, 0]`` is walker i's current point,
    ``scratch[i, 5]`` its last SPSA-perturbed point (where a failing density was called).
    ``trajectory_2d``: the 2-D path to run (default: the target's specialised copy once it is
    ready, `sampler.specialise`, else `_trajectory_2d`).
    """
    dim = target.dim
    base_inv_mass, base_sqrt_mass = diagonal_mass(mass, dim)
    ones = np.ones(dim)
    lp_fn = target.log_density
    grad_fn = target.grad_log_density if target.grad_log_density is not None else _no_gradient
    bufs = {}
    split = Split()

    def step(state, params: DiffusionParams, chunks=None, scale=None):
        n = state.walkers
        if params.gradient == "exact" and target.grad_log_density is None:
            raise ValueError(f"target {target.name!r} has no gradient: use gradient='spsa'")
        key = (n, params.steps)
        if bufs.get("key") != key:
            bufs.clear()
            bufs["key"] = key
            bufs["scratch"] = np.empty((n, 7, dim))
            bufs["traj_x"] = np.empty((params.steps + 1, dim))
            bufs["traj_logw"] = np.empty(params.steps + 1)
            bufs["traj_energy"] = np.empty((params.steps + 1, 4))
            bufs["traj_trigger"] = np.zeros(params.steps + 1, dtype=np.bool_)
            bufs["fstats"] = np.empty((n, N_FSTATS))
            bufs["icounts"] = np.empty((n, N_ICOUNTS), dtype=np.int64)
        if scale is None:
            inv_mass, sqrt_mass, metric = base_inv_mass, base_sqrt_mass, ones
        else:
            metric = np.ascontiguousarray(scale, dtype=np.float64)
            inv_mass, sqrt_mass = base_inv_mass * metric**2, base_sqrt_mass / metric
        traj_len = np.zeros(1, dtype=np.int64)
        icounts = bufs["icounts"]
        icounts[:] = 0
        fstats = bufs["fstats"]
        x, lp, rng, scratch = state.positions, state.log_density, state.rng, bufs["scratch"]
        mode = GRADIENTS.index(params.gradient)
        # the target's own copy of the 2-D path once it is compiled and checked (same draws)
        traj_2d = trajectory_2d
        if traj_2d is None and dim == 2:
            traj_2d = specialise.ready(lp_fn)
        if traj_2d is None:
            # only a 2-D target runs it: others get a stub of the same type, and the 2-D path
            # (~8 s of compilation with an empty cache) is not compiled for them
            traj_2d = _trajectory_2d if dim == 2 else _not_2d
        traj_2d = getattr(traj_2d, "dispatcher", traj_2d)  # a function-pointer argument: the compiled one
        def part(sweep, lo, hi):
            # walker streams are rows of rng, so a block of walkers is a block of rows
            trk_in_block = int(tracked) - lo if lo <= tracked < hi else -1
            sweep(lp_fn, grad_fn, traj_2d, x[lo:hi], lp[lo:hi], rng[lo:hi], inv_mass, sqrt_mass,
                  float(params.step_size), int(params.steps), float(params.delta),
                  float(params.viscosity_gain), float(params.noise), float(params.hot),
                  float(params.trigger), mode, float(params.spsa_c),
                  int(params.spsa_k), bool(params.spsa_two_sided), params.integrator == "leapfrog",
                  WEIGHTINGS.index(params.weighting), metric,
                  trk_in_block, bufs["traj_x"], bufs["traj_logw"], bufs["traj_energy"],
                  bufs["traj_trigger"], traj_len, scratch[lo:hi], fstats[lo:hi], icounts[lo:hi])

        for lo, hi in blocks(chunks, "diffusion", n):
            diffusion_sweep.run(split, lo, hi, part)
        if dim == 2:
            specialise.sweep_done(lp_fn)  # a requested copy compiles from now on, beside the sampler
        trk = None
        if 0 <= tracked < n:
            L = int(traj_len[0])
            trk = TrackedTrajectory(bufs["traj_x"][:L].copy(), bufs["traj_logw"][:L].copy(),
                                    bufs["traj_energy"][:L].copy(), int(fstats[tracked, S_CHOSEN_T]),
                                    bufs["traj_trigger"][:L].copy())
        tot = icounts.sum(axis=0)
        means = fstats.mean(axis=0)
        info = DiffusionInfo(
            float(means[S_U]), float(means[S_K]), float(means[S_H]), float(means[S_HERR]), float(means[S_ABS_HERR]),
            float(means[S_CHOSEN_HERR]), int(tot[C_EVALS]), int(tot[C_GRAD_EVALS]), int(tot[C_STEPS]),
            int(tot[C_TRIGGERS]), int(tot[C_ABANDONED]), trk, fstats[:, S_STEP_DH2].copy(),
        )
        return state, info

    step.buffers = bufs
    return step
