"""'What you are seeing': one short paragraph and the formula for each stage / phase.

Plain HTML (no MathJax / KaTeX: the app must work offline and load nothing from a CDN).
"""

from __future__ import annotations

__all__ = ["TEXTS", "text_for", "STAGE_LABELS", "WARNING_NAIVE"]

STAGE_LABELS = {
    "pipeline": "Pipeline (diffusion → trim → tempering)",
    "diffusion": "Momentum diffusion",
    "metropolis": "Metropolis",
    "tempering": "Parallel tempering",
    "hmc": "Exact HMC (baseline)",
    "side-by-side": "Side by side: pipeline vs exact HMC",
}

_F = '<div class="mdhmc-formula">{}</div>'

TEXTS = {
    "diffusion": (
        "Momentum diffusion",
        "Every walker runs one trajectory of Hamiltonian dynamics whose gradient is an "
        "<b>SPSA</b> estimate (one extra log-density evaluation, no autodiff). Momentum "
        "<b>noise</b> makes the gradient noise Gaussian, and a <b>thermostat</b> — viscous "
        "friction proportional to the energy error — pulls <i>H</i> back to the walker's target "
        "energy <i>H</i>*. Each point of the trajectory is weighted and one is drawn: the big "
        "marker. The cloud is an <i>approximate</i>, slightly fuzzed version of the target.",
        _F.format("dp = ĝ dt − γ (H − H*) p dt + σ dW&nbsp;&nbsp;&nbsp; "
                  "w<sub>t</sub> ∝ exp(−(H<sub>err</sub>/δ)<sup>2</sup> + lp(x<sub>t</sub>))"),
    ),
    "trim": (
        "Trim",
        "The approximate draws are trimmed: walkers whose log density lies more than a few "
        "standard deviations from the ensemble's mean log density are replaced by copies of "
        "kept ones, so Metropolis starts from points that are already near equilibrium.",
        _F.format("keep |lp(x) − mean lp| ≤ k · sd(lp)"),
    ),
    "metropolis": (
        "Random-walk Metropolis",
        "Every walker proposes a Gaussian step scaled by the spread of the other half of the "
        "ensemble and accepts it with the Metropolis rule. It equilibrates local lumpiness "
        "exactly but is slow to move mass between distant regions.",
        _F.format("y = x + s · sd · z,&nbsp;&nbsp; accept with min(1, p(y) / p(x))"),
    ),
    "tempering": (
        "Parallel tempering",
        "Walkers are split into temperature rungs (colour). Half the sweeps are Metropolis at "
        "each rung's temperature; the other half try to swap walkers between adjacent rungs. "
        "A tail walker in the cold rung is happily <b>ejected</b> to the hot rung — the thread's "
        "'Maxwell's daemon' — and mass flows until the cold rung matches the target.",
        _F.format("accept swap with min(1, exp((1/T<sub>r</sub> − 1/T<sub>r+1</sub>) "
                  "(lp<sub>r+1</sub> − lp<sub>r</sub>)))"),
    ),
    "hmc": (
        "Exact HMC",
        "The baseline: leapfrog steps with the exact gradient and a Metropolis correction, so "
        "the target is kept exactly. Where the step size is too large for the geometry (the "
        "funnel's neck) trajectories <b>diverge</b> (red crosses) and the sampler stalls there.",
        _F.format("H = −lp(q) + ½ pᵀM<sup>−1</sup>p,&nbsp;&nbsp; accept with min(1, exp(H<sub>0</sub> − H<sub>1</sub>))"),
    ),
    "side-by-side": (
        "Side by side",
        "The same target, two samplers: the pipeline (diffusion → trim → tempering) on the "
        "left and exact HMC on the right. Compare their clouds, their Q-Q plots (blue: pipeline, "
        "orange: HMC) and their mass per component.",
        _F.format("pipeline: approximate, then exact by Metropolis + tempering&nbsp;&nbsp;|&nbsp;&nbsp;"
                  "HMC: exact from the start"),
    ),
}

WARNING_NAIVE = (
    "<b>Naive swap rule on.</b> Each replica copies the other's point with probability "
    "min(1, p(other)/p(own)) — the thread's first idea. It does <b>not</b> keep the target: "
    "mass piles into {where}. Watch the mass balance drift."
)


SPSA_SENTENCE = ("Every walker runs one trajectory of Hamiltonian dynamics whose gradient is an "
                 "<b>SPSA</b> estimate (one extra log-density evaluation, no autodiff).")
EXACT_SENTENCE = ("Every walker runs one trajectory of Hamiltonian dynamics with the target's <b>exact "
                  "gradient</b> (Gradient: exact; SPSA would estimate it from one extra log-density evaluation).")
PROBE_SENTENCE = ("<p><i>Diffusion probe:</i> a few cold walkers keep diffusing beside this phase, so the "
                  "diffusion sliders (step size, δ, viscosity gain) still act: on the energy panel and the "
                  "tracked trajectory.</p>")


def text_for(stage: str, phase: str | None = None, gradient: str = "spsa", probe: bool = False) -> str:
    """HTML for the stage (the pipeline shows its current phase); ``gradient``: the diffusion
    gradient in use ("spsa" or "exact"); ``probe``: the diffusion probe runs beside the phase."""
    key = stage
    if stage == "pipeline":
        key = phase if phase in TEXTS else "diffusion"
    title, body, formula = TEXTS.get(key, TEXTS["diffusion"])
    if gradient == "exact":
        body = body.replace(SPSA_SENTENCE, EXACT_SENTENCE).replace(
            " Momentum <b>noise</b> makes the gradient noise Gaussian, and", " Momentum <b>noise</b> is added, and")
        formula = formula.replace("ĝ dt", "∇lp dt")
    head = f"<b>{title}</b>"
    if stage == "pipeline":
        head = f"<b>Pipeline — now: {title.lower()}</b>"
    return f'<div class="mdhmc-teach">{head}<p>{body}</p>{formula}{PROBE_SENTENCE if probe else ""}</div>'
