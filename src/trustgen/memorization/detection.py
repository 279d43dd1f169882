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


@dataclass
class Probe:
    """What detection and localization need for one prompt: its text features, the initial latents
    and the DDIM scheduler that defines the first two timesteps."""

    model: DiffusionModel
    text: Any  # TextFeatures, one row
    null_text: Any  # TextFeatures of the empty prompt, one row
    latents: Any  # n×C×H×W initial noise x_T
    scheduler: Any


def make_probe(model: DiffusionModel, prompt: str, *, seeds: int = 10, seed: int = 1, steps: int = 50) -> Probe:
    """Initial latents for ``seeds`` samples drawn at once from one generator seeded with ``seed`` (as NeMo)."""
    import torch

    if model.conditioning != "text" or model.text_encoder is None:
        raise TrustgenError("memorization needs a text-conditional model (a UNet with cross-attention)")
    if seeds < 2:
        raise TrustgenError(f"need at least 2 seeds to compare, got {seeds}")
    scheduler = make_scheduler(model, "ddim", steps)
    g = torch.Generator(device=model.device).manual_seed(seed)
    latents = torch.randn((seeds, *model.image_shape), generator=g, device=model.device)
    latents = latents * scheduler.init_noise_sigma
    return Probe(model, model.text_encoder.encode([prompt]), model.text_encoder.encode([""]), latents, scheduler)


def noise_differences(probe: Probe, *, neurons: Neurons | None = None, scale: float = 0.0,
                      rows: Any = None, with_first: bool = False) -> Any:
    """δ = ε_θ(x_{t2}, t2, p) − x_T for the probe's latents (or the subset ``rows``), with ``neurons`` switched
    off; two UNet evaluations per latent, no guidance. ``with_first`` also returns ε_θ(x_T, t1, p)."""
    import torch

    model, sch = probe.model, probe.scheduler
    x = probe.latents if rows is None else probe.latents[rows]
    cond = Conditioning(text=probe.text.expand(len(x)), guidance_scale=1.0)
    t1, t2 = (int(t) for t in sch.timesteps[:2])
    block = deactivate(model.unet, neurons, scale=scale) if neurons else nullcontext()
    with torch.no_grad(), block:
        eps = predict_noise(model, sch.scale_model_input(x, t1), t1, cond)
        x2 = sch.step(eps, t1, x).prev_sample
        eps2 = predict_noise(model, sch.scale_model_input(x2, t2), t2, cond)
    return (eps2 - x, eps) if with_first else eps2 - x


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
    """Wen et al.'s text-conditional noise norm ‖ε(x_T, t1, p) − ε(x_T, t1, ∅)‖₂ at the first timestep, averaged
    over the probe's latents; ``eps_text`` (the text-conditional prediction) is reused when given."""
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
           threshold: float | None = None) -> tuple[Detection, Probe, Any]:
    """Score ``prompt``; returns the detection, the probe and the unblocked noise differences."""
    from trustgen.memorization.hooks import count_unet_evals

    probe = make_probe(model, prompt, seeds=seeds, seed=seed, steps=steps)
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
