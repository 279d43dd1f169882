"""Detecting memorized prompts from the first denoising steps.

* **NeMo score** (Hintersdorf et al., 2024, §3.1 and App. B): draw ``n`` initial latents x_T, predict the
  noise without guidance, take one (deterministic DDIM) step to x_{t2} and predict again; the noise
  difference δ = ε_θ(x_{t2}, t2, p) − x_T is min–max normalised per sample and channel, and similar δ
  across seeds means the prompt steers every seed to the same image. The score of a prompt is the
  largest pairwise multi-scale SSIM (11×11 window, three scales weighted 0.33 each) among its seeds.
  Unlike the original code, the scheduler is stepped between the two predictions.
* **Wen score** (Wen et al., ICLR 2024, §3): the mean over seeds of ‖ε_θ(x_T, T, p) − ε_θ(x_T, T, ∅)‖₂,
  the magnitude of the text-conditional noise prediction at the first step.

A threshold is calibrated on non-memorized prompts as the mean + 1 std of their scores
(:func:`calibrate_threshold`; the paper's 0.428 holds for Stable Diffusion 1.4 only).

**Probe step (our adaptation).** NeMo probes at the first timestep, where Stable Diffusion 1.4's initial
latent still tells the model something: its total signal-to-noise ratio d·ᾱ/(1−ᾱ) over d = 4·64·64 latent
dimensions is ≈ 95 at t = 981. A small pixel model (d = 1·16·16, cosine schedule) has a total SNR of 0.22 at
its first DDIM-50 step, so its first prediction is the prompt's conditional mean for *every* prompt and carries
no seed information. :func:`probe_index` picks the first step of the DDIM grid whose total SNR reaches SD 1.4's
(:data:`REFERENCE_TOTAL_SNR`); the chain runs there with real DDIM steps and NeMo's probe (predict, step,
predict) starts at that step, with the noise difference taken against the current latent (δ = ε − x_t/√(1−ᾱ_t),
which is NeMo's ε − x_T at the first step up to 0.3 % for SD 1.4; see :func:`noise_differences`). For SD-sized
latents the rule gives step 0, the paper's probe; ``probe_step=0`` forces it anywhere.
"""

from __future__ import annotations

from contextlib import nullcontext
from dataclasses import dataclass
from typing import Any

from trustgen.core.errors import TrustgenError
from trustgen.diffusion.bundle import DiffusionModel
from trustgen.diffusion.sampling import Conditioning, make_scheduler, predict_noise
from trustgen.memorization.hooks import deactivate
from trustgen.memorization.layers import Neurons

MS_SSIM_BETAS = (0.33, 0.33, 0.33)
MS_SSIM_KERNEL = 11
MIN_SIDE = (MS_SSIM_KERNEL - 1) * 2 ** (len(MS_SSIM_BETAS) - 1) + 8  # 48: smallest side MS-SSIM accepts, + margin
# Stable Diffusion 1.4 (scaled-linear betas 0.00085–0.012, DDIM-50 with steps_offset 1): total SNR of its initial
# latent at the first timestep t = 981, 16,384 · ᾱ/(1 − ᾱ) = 16,384 · 0.005775 / 0.994225 = 95.2 (rounded down so
# SD 1.x itself maps to step 0)
REFERENCE_TOTAL_SNR = 95.0


def total_snr(alpha_bar: float, dims: int) -> float:
    """Signal-to-noise ratio summed over ``dims`` dimensions of x_t = √ᾱ x0 + √(1−ᾱ) ε (unit-variance data)."""
    return dims * alpha_bar / (1.0 - alpha_bar)


def probe_index(scheduler: Any, dims: int, reference: float = REFERENCE_TOTAL_SNR) -> int:
    """The first index i of ``scheduler.timesteps`` (its last but one at most) whose total SNR over ``dims``
    sample dimensions reaches ``reference``: 0 for Stable Diffusion 1.x (the paper's probe), later for small
    pixel-space models."""
    timesteps = [int(t) for t in scheduler.timesteps]
    for i, t in enumerate(timesteps[:-1]):
        if total_snr(float(scheduler.alphas_cumprod[t]), dims) >= reference:
            return i
    return len(timesteps) - 2


@dataclass
class Probe:
    """What detection and localization need for one prompt: its text features, the initial latents
    and the DDIM scheduler that defines the first two timesteps."""

    model: DiffusionModel
    text: Any  # TextFeatures, one row
    null_text: Any  # TextFeatures of the empty prompt, one row
    latents: Any  # n×C×H×W initial noise x_T
    scheduler: Any
    index: int = 0  # probe step: the chain runs to timesteps[index], then predict, step, predict


def resolve_probe_step(model: DiffusionModel, scheduler: Any, probe_step: int | str) -> int:
    """``probe_step`` as an index into ``scheduler.timesteps`` ("auto": :func:`probe_index`)."""
    import math

    last = len(scheduler.timesteps) - 2
    if probe_step == "auto":
        return probe_index(scheduler, math.prod(model.image_shape))
    if not isinstance(probe_step, int) or not 0 <= probe_step <= last:
        raise TrustgenError(f"probe_step must be 'auto' or an index from 0 to {last} (steps − 2), got {probe_step!r}")
    return probe_step


def make_probe(model: DiffusionModel, prompt: str, *, seeds: int = 10, seed: int = 1, steps: int = 50,
               probe_step: int | str = "auto") -> Probe:
    """Initial latents for ``seeds`` samples drawn at once from one generator seeded with ``seed`` (as NeMo);
    ``probe_step`` is an index into the DDIM timesteps or "auto" (:func:`probe_index`)."""
    import torch

    if model.conditioning != "text" or model.text_encoder is None:
        raise TrustgenError("memorization needs a text-conditional model (a UNet with cross-attention)")
    if seeds < 2:
        raise TrustgenError(f"need at least 2 seeds to compare, got {seeds}")
    scheduler = make_scheduler(model, "ddim", steps)
    g = torch.Generator(device=model.device).manual_seed(seed)
    latents = torch.randn((seeds, *model.image_shape), generator=g, device=model.device)
    latents = latents * scheduler.init_noise_sigma
    index = resolve_probe_step(model, scheduler, probe_step)
    return Probe(model, model.text_encoder.encode([prompt]), model.text_encoder.encode([""]), latents, scheduler,
                 index)


def noise_differences(probe: Probe, *, neurons: Neurons | None = None, scale: float = 0.0,
                      rows: Any = None, with_first: bool = False) -> Any:
    """NeMo's noise differences for the probe's latents (or the subset ``rows``), with ``neurons`` switched off
    for the whole chain, no guidance: DDIM steps from x_T through t_0 … t_i (i = the probe step), then the
    prediction ε at t_{i+1}; i + 2 UNet evaluations per latent.

    * i = 0 (the paper): δ = ε_θ(x_{t2}, t2, p) − x_T.
    * i > 0: δ = ε_θ(x_t, t, p) − x_t/√(1−ᾱ_t) at t = t_{i+1}, which equals −√(ᾱ_t/(1−ᾱ_t))·x̂0, the model's
      predicted clean sample, scaled. The paper's δ is this same quantity up to a term (1/√(1−ᾱ_T) − 1)·x_T,
      0.3 % of x_T for SD 1.4, 25× smaller than its x̂0 term; taken literally at a later step, ε − x_T would
      instead measure how much x̂0 moved since the first step.

    ``with_first`` also returns ε_θ(x_T, t_0, p), the first prediction (for Wen's score)."""
    import torch

    model, sch = probe.model, probe.scheduler
    x_T = probe.latents if rows is None else probe.latents[rows]
    cond = Conditioning(text=probe.text.expand(len(x_T)), guidance_scale=1.0)
    timesteps = [int(t) for t in sch.timesteps[:probe.index + 2]]
    block = deactivate(model.unet, neurons, scale=scale) if neurons else nullcontext()
    x, first = x_T, None
    with torch.no_grad(), block:
        for i, t in enumerate(timesteps):
            eps = predict_noise(model, sch.scale_model_input(x, t), t, cond)
            if i == 0:
                first = eps
            if i + 1 < len(timesteps):
                x = sch.step(eps, t, x).prev_sample
    noise = x_T if probe.index == 0 else x / (1.0 - float(sch.alphas_cumprod[timesteps[-1]])) ** 0.5
    diffs = eps - noise
    return (diffs, first) if with_first else diffs


def normalize(diffs: Any) -> Any:
    """Min–max normalise each sample and channel over its spatial dimensions to [0, 1]."""
    lo = diffs.amin(dim=(-2, -1), keepdim=True)
    hi = diffs.amax(dim=(-2, -1), keepdim=True)
    return (diffs - lo) / (hi - lo).clamp(min=1e-12)


def paired_ms_ssim(a: Any, b: Any) -> Any:
    """MS-SSIM (NeMo's settings) of each row of ``a`` with the same row of ``b`` (noise differences,
    normalised here); latents smaller than 48 px are upsampled bilinearly first. Returns a length-N tensor."""
    import torch.nn.functional as F
    from torchmetrics.functional.image import multiscale_structural_similarity_index_measure

    x, y = normalize(a.float().cpu()), normalize(b.float().cpu())
    side = min(x.shape[-2:])
    if side < MIN_SIDE:
        size = tuple(int(round(s * MIN_SIDE / side)) for s in x.shape[-2:])
        x = F.interpolate(x, size=size, mode="bilinear", align_corners=False)
        y = F.interpolate(y, size=size, mode="bilinear", align_corners=False)
    return multiscale_structural_similarity_index_measure(
        x, y, data_range=1.0, kernel_size=MS_SSIM_KERNEL, betas=MS_SSIM_BETAS, reduction="none")


def pairwise_ms_ssim(diffs: Any) -> Any:
    """The n×n matrix of MS-SSIM between all pairs of noise differences (diagonal set to −1)."""
    import torch

    n = len(diffs)
    i, j = torch.triu_indices(n, n, offset=1)
    values = paired_ms_ssim(diffs[i], diffs[j])
    out = torch.full((n, n), -1.0)
    out[i, j] = values.float()
    out[j, i] = values.float()
    return out


@dataclass
class Detection:
    """Memorization scores of one prompt."""

    prompt: str
    nemo_score: float  # max pairwise MS-SSIM of noise differences across seeds
    seed_scores: list[float]  # per seed: its max MS-SSIM to the other seeds
    wen_score: float  # mean ‖ε(p) − ε(∅)‖ at the first step
    memorized: bool | None = None
    unet_evals: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {"prompt": self.prompt, "nemo_score": self.nemo_score, "wen_score": self.wen_score,
                "memorized": self.memorized, "seed_scores": self.seed_scores, "unet_evals": self.unet_evals}


def wen_score(probe: Probe, eps_text: Any = None) -> float:
    """Wen et al.'s text-conditional noise norm ‖ε(x_T, t1, p) − ε(x_T, t1, ∅)‖₂ at the first timestep (as in
    their paper, whatever the NeMo probe step), averaged over the probe's latents; ``eps_text`` (the
    text-conditional prediction) is reused when given."""
    import torch

    t1 = int(probe.scheduler.timesteps[0])
    x = probe.scheduler.scale_model_input(probe.latents, t1)
    n = len(x)
    with torch.no_grad():
        if eps_text is None:
            eps_text = predict_noise(probe.model, x, t1, Conditioning(text=probe.text.expand(n), guidance_scale=1.0))
        eps_u = predict_noise(probe.model, x, t1, Conditioning(text=probe.null_text.expand(n), guidance_scale=1.0))
    return float((eps_text - eps_u).flatten(1).norm(dim=1).mean())


def detect(model: DiffusionModel, prompt: str, *, seeds: int = 10, seed: int = 1, steps: int = 50,
           threshold: float | None = None, probe_step: int | str = "auto") -> tuple[Detection, Probe, Any]:
    """Score ``prompt``; returns the detection, the probe and the unblocked noise differences."""
    from trustgen.memorization.hooks import count_unet_evals

    probe = make_probe(model, prompt, seeds=seeds, seed=seed, steps=steps, probe_step=probe_step)
    with count_unet_evals(model.unet) as evals:
        diffs, eps_text = noise_differences(probe, with_first=True)
        wen = wen_score(probe, eps_text)
    matrix = pairwise_ms_ssim(diffs)
    per_seed = [float(v) for v in matrix.max(dim=1).values]
    score = max(per_seed)
    flag = None if threshold is None else score > threshold
    return Detection(prompt, score, per_seed, wen, flag, evals[0]), probe, diffs


def calibrate_threshold(scores: list[float]) -> float:
    """NeMo's threshold: mean + 1 std of the scores of non-memorized prompts."""
    import numpy as np

    if len(scores) < 2:
        raise TrustgenError("calibration needs at least 2 non-memorized prompts")
    a = np.asarray(scores, dtype=np.float64)
    return float(a.mean() + a.std())


def auroc(positive: list[float], negative: list[float]) -> float:
    """Area under the ROC curve of scores (positives should score higher); ties count one half."""
    import numpy as np

    p, n = np.asarray(positive, dtype=np.float64), np.asarray(negative, dtype=np.float64)
    if p.size == 0 or n.size == 0:
        raise TrustgenError("AUROC needs at least one positive and one negative score")
    greater = (p[:, None] > n[None, :]).sum() + 0.5 * (p[:, None] == n[None, :]).sum()
    return float(greater / (p.size * n.size))
