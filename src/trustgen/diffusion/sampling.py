"""DDPM and DDIM sampling with optional classifier-free guidance.

``denoise`` is the core loop over an explicit list of timesteps, so a caller can run any
part of the chain (CollaFuse runs ``T → t_c`` on the server and ``t_c → 0`` on the
client). ``sample`` runs the whole chain for N images in batches.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from trustgen.core.errors import TrustgenError
from trustgen.diffusion.bundle import DiffusionModel
from trustgen.diffusion.models import text_inputs
from trustgen.diffusion.text import TextFeatures

SAMPLERS = ("ddpm", "ddim")


def make_scheduler(model: DiffusionModel, sampler: str, steps: int | None) -> Any:
    """A fresh diffusers scheduler of kind ``sampler`` with ``steps`` inference steps (default: T for DDPM,
    50 for DDIM), sharing the model's noise schedule."""
    from diffusers import DDIMScheduler, DDPMScheduler

    if sampler not in SAMPLERS:
        raise TrustgenError(f"unknown sampler {sampler!r}: use ddpm or ddim")
    T = model.num_train_timesteps
    config = {k: v for k, v in model.scheduler_config.items() if not k.startswith("_")}
    if sampler == "ddpm":
        scheduler = DDPMScheduler.from_config(config)
        n = steps or T
    else:
        scheduler = DDIMScheduler.from_config(config)
        n = steps or 50
    if not 1 <= n <= T:
        raise TrustgenError(f"--steps must be between 1 and {T}, got {n}")
    scheduler.set_timesteps(n)
    return scheduler


@dataclass
class Conditioning:
    """What the denoiser is conditioned on, batched: class labels or text features, plus the null input."""

    labels: Any = None  # int64 B (class)
    text: Any = None  # TextFeatures of B prompts (text)
    null_text: Any = None  # TextFeatures of the empty prompt (one row)
    null_label: int | None = None
    guidance_scale: float = 1.0

    def rows(self, index: slice) -> Conditioning:
        return Conditioning(
            None if self.labels is None else self.labels[index],
            None if self.text is None else self.text[index],
            self.null_text, self.null_label, self.guidance_scale,
        )


def predict_noise(model: DiffusionModel, x: Any, t: int, cond: Conditioning) -> Any:
    """ε̂(x, t | cond), with classifier-free guidance when ``cond.guidance_scale != 1``."""
    import torch

    unet = model.unet
    timesteps = torch.full((x.shape[0],), int(t), device=x.device, dtype=torch.long)
    guided = cond.guidance_scale != 1.0
    if model.conditioning == "none":
        return unet(x, timesteps).sample
    if model.conditioning == "class":
        labels = cond.labels
        if guided:
            null = torch.full_like(labels, int(cond.null_label))  # type: ignore[arg-type]
            both = unet(torch.cat([x, x]), torch.cat([timesteps, timesteps]), class_labels=torch.cat([labels, null]))
            eps_c, eps_u = both.sample.chunk(2)
            return eps_u + cond.guidance_scale * (eps_c - eps_u)
        return unet(x, timesteps, class_labels=labels).sample
    text = cond.text
    if guided:
        both = TextFeatures.cat([text, cond.null_text.expand(len(text))])
        out = unet(torch.cat([x, x]), torch.cat([timesteps, timesteps]), **text_inputs(unet, both))
        eps_c, eps_u = out.sample.chunk(2)
        return eps_u + cond.guidance_scale * (eps_c - eps_u)
    return unet(x, timesteps, **text_inputs(unet, text)).sample


def denoise(
    model: DiffusionModel,
    x: Any,
    scheduler: Any,
    timesteps: Sequence[int],
    cond: Conditioning,
    generator: Any = None,
) -> Any:
    """Run ``scheduler.step`` over ``timesteps`` (descending) starting from ``x``."""
    import torch

    with torch.no_grad():
        for t in timesteps:
            eps = predict_noise(model, x, int(t), cond)
            x = scheduler.step(eps, int(t), x, generator=generator).prev_sample
    return x


def denoise_ddim(model: DiffusionModel, x: Any, timesteps: Sequence[int], cond: Conditioning,
                 final_alpha_bar: float = 1.0) -> Any:
    """Deterministic DDIM (η = 0; Song et al., 2021) over an explicit descending list of timesteps.

    Unlike diffusers' ``DDIMScheduler`` (uniform spacing only) any list works, so a chain can be split at
    any step: each step moves to the next listed timestep, the last one to noise level ``final_alpha_bar``
    (1: the clean image). ``x̂0`` is clipped as the model's schedule says (``clip_sample``).
    """
    import torch
    from diffusers import DDPMScheduler

    config = model.scheduler_config
    alpha_bar = DDPMScheduler.from_config(config).alphas_cumprod.to(torch.float64)
    clip = bool(config.get("clip_sample", True))
    bound = float(config.get("clip_sample_range", 1.0))
    with torch.no_grad():
        for i, t in enumerate(timesteps):
            eps = predict_noise(model, x, int(t), cond)
            a_t = float(alpha_bar[int(t)])
            a_prev = float(alpha_bar[int(timesteps[i + 1])]) if i + 1 < len(timesteps) else final_alpha_bar
            x0 = (x - (1 - a_t) ** 0.5 * eps) / a_t**0.5
            if clip:
                x0 = x0.clamp(-bound, bound)
            x = a_prev**0.5 * x0 + (1 - a_prev) ** 0.5 * eps
    return x


def timesteps_between(scheduler: Any, t_high: int, t_low: int) -> list[int]:
    """The scheduler's inference timesteps t with ``t_low <= t < t_high``, descending."""
    return [int(t) for t in scheduler.timesteps if t_low <= int(t) < t_high]


def encode_prompts(model: DiffusionModel, prompts: list[str]) -> tuple[Any, Any]:
    """Text features of ``prompts`` and of the empty prompt."""
    if model.text_encoder is None:
        raise TrustgenError("this model is not text-conditional: drop --prompt")
    return model.text_encoder.encode(prompts), model.text_encoder.encode([""])


def build_conditioning(
    model: DiffusionModel,
    num: int,
    *,
    labels: Any = None,
    prompts: list[str] | None = None,
    guidance_scale: float | None = None,
    generator: Any = None,
) -> Conditioning:
    """Conditioning for ``num`` samples; class models default to labels cycling 0..K-1."""
    import torch

    scale = float(guidance_scale if guidance_scale is not None else model.meta.get("guidance_scale", 1.0))
    if model.conditioning == "none":
        if prompts or labels is not None:
            raise TrustgenError("this model is unconditional: it takes no prompt or label")
        return Conditioning()
    if model.conditioning == "class":
        k = len(model.class_names or [])
        if labels is None:
            labels = torch.arange(num) % k
        labels = torch.as_tensor(labels, dtype=torch.long).to(model.device)
        if labels.numel() != num or int(labels.min()) < 0 or int(labels.max()) >= k:
            raise TrustgenError(f"class labels must be {num} integers in [0, {k})")
        return Conditioning(labels=labels, null_label=k, guidance_scale=scale)
    if not prompts:
        raise TrustgenError("this model is text-conditional: give --prompt")
    if len(prompts) == 1:
        prompts = prompts * num
    if len(prompts) != num:
        raise TrustgenError(f"got {len(prompts)} prompts for {num} samples")
    unique = sorted(set(prompts))
    feats, null = encode_prompts(model, unique)
    pos = {p: i for i, p in enumerate(unique)}
    index = torch.tensor([pos[p] for p in prompts], device=feats.tokens.device)
    return Conditioning(text=feats[index], null_text=null, guidance_scale=scale)


def sample(
    model: DiffusionModel,
    num: int,
    *,
    sampler: str = "ddim",
    steps: int | None = None,
    seed: int = 0,
    labels: Any = None,
    prompts: list[str] | None = None,
    guidance_scale: float | None = None,
    batch_size: int = 250,
    progress: bool = False,
) -> Any:
    """Generate ``num`` images (float32 N×C×H×W in [-1, 1], on CPU)."""
    import torch

    from trustgen.core.progress import track

    if num < 1:
        raise TrustgenError(f"--num must be at least 1, got {num}")
    model.unet.eval()
    device = model.device
    generator = torch.Generator(device=device).manual_seed(seed)
    cond = build_conditioning(model, num, labels=labels, prompts=prompts, guidance_scale=guidance_scale)
    scheduler = make_scheduler(model, sampler, steps)
    timesteps = [int(t) for t in scheduler.timesteps]
    chunks = []
    starts = list(range(0, num, batch_size))
    for start in track(starts, description=f"sampling {num} ({sampler}, {len(timesteps)} steps)", enabled=progress):
        n = min(batch_size, num - start)
        x = torch.randn((n, *model.image_shape), generator=generator, device=device)
        x = x * scheduler.init_noise_sigma
        x = denoise(model, x, scheduler, timesteps, cond.rows(slice(start, start + n)), generator)
        chunks.append(decode(model, x).cpu())
    return torch.cat(chunks).clamp(-1, 1).float()


def decode(model: DiffusionModel, x: Any) -> Any:
    """Latents → images for VAE pipelines; identity for pixel-space models."""
    import torch

    if model.vae is None:
        return x
    with torch.no_grad():
        scale = float(getattr(model.vae.config, "scaling_factor", 1.0))
        return model.vae.decode(x / scale).sample
