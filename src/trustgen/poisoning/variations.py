"""Diffusion-based image variations of a training set (Struppek et al., 2023, §3), SDEdit-style.

The authors replace every training image by one Versatile Diffusion image variation, then match its colours to
the original (mean/std colour transfer). Here the variation comes from a small pixel-space DDPM (SDEdit, Meng et
al., ICLR 2022): noise the image to timestep ``t_s = round(s·T) − 1`` with the model's own schedule,
``x_s = √ᾱ_s·x + √(1 − ᾱ_s)·ε``, and run deterministic DDIM back to ``t = 0``. Small ``s`` keeps the image (and
the trigger); ``s = 1`` is a fresh sample that keeps nothing of it. A class-conditional model is conditioned on
each image's label, so the variation keeps its class by construction. Names and labels stay the originals'.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch

from trustgen.core.errors import TrustgenError

if TYPE_CHECKING:
    from trustgen.diffusion.bundle import DiffusionModel


def check_variation_model(model: DiffusionModel, image_shape: tuple[int, int, int]) -> None:
    """:class:`TrustgenError` if the model denoises another image size or needs text."""
    if tuple(model.image_shape) != tuple(image_shape):
        raise TrustgenError(f"the variation model works on {'×'.join(map(str, model.image_shape))} images, the "
                            f"data set's are {'×'.join(map(str, image_shape))}")
    if model.conditioning == "text" or model.vae is not None:
        raise TrustgenError("variations need a pixel-space unconditional or class-conditional diffusion model, "
                            f"not a {'latent' if model.vae is not None else 'text-conditional'} one")


def start_timestep(model: DiffusionModel, strength: float) -> int:
    """``round(s·T) − 1``, at least 0."""
    return max(round(strength * model.num_train_timesteps) - 1, 0)


def color_transfer(variation: torch.Tensor, original: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    """Per image and channel, shift and scale ``variation`` to the mean and standard deviation of ``original``
    (the authors' mean/std transfer, done here in the model's own colour space), clipped to [-1, 1]."""
    mv, sv = variation.mean(dim=(2, 3), keepdim=True), variation.std(dim=(2, 3), keepdim=True)
    mo, so = original.mean(dim=(2, 3), keepdim=True), original.std(dim=(2, 3), keepdim=True)
    return ((variation - mv) / (sv + eps) * so + mo).clamp(-1, 1)


def make_variations(model: DiffusionModel, images: torch.Tensor, *, strength: float, steps: int = 10,
                    labels: torch.Tensor | None = None, color: bool = True, seed: int = 42, batch_size: int = 256,
                    progress: bool = False) -> torch.Tensor:
    """One variation per image of ``images`` (N×C×H×W in [-1, 1]), float32 on the CPU."""
    from diffusers import DDPMScheduler

    from trustgen.core.progress import track
    from trustgen.diffusion.sampling import Conditioning, denoise_ddim

    check_variation_model(model, tuple(images.shape[1:]))  # type: ignore[arg-type]
    if model.conditioning == "class" and labels is None:
        raise TrustgenError("a class-conditional variation model needs the images' labels")
    model.unet.eval()
    device = model.device
    alpha_bar = DDPMScheduler.from_config(model.scheduler_config).alphas_cumprod.to(torch.float64)
    t_start = start_timestep(model, strength)
    n = min(steps, t_start + 1)
    timesteps = sorted({int(t) for t in torch.linspace(t_start, 0, n).round().tolist()}, reverse=True)
    a = float(alpha_bar[t_start])
    gen = torch.Generator().manual_seed(seed)
    chunks = []
    for start in track(range(0, len(images), batch_size), description=f"variations (s = {strength:g})",
                       enabled=progress, total=-(-len(images) // batch_size)):
        x0 = images[start : start + batch_size].float()
        noise = torch.randn(x0.shape, generator=gen)
        xt = (a**0.5 * x0 + (1 - a) ** 0.5 * noise).to(device)
        cond = Conditioning()
        if model.conditioning == "class":
            assert labels is not None
            cond = Conditioning(labels=labels[start : start + batch_size].to(device))
        out = denoise_ddim(model, xt, timesteps, cond).float().cpu().clamp(-1, 1)
        chunks.append(color_transfer(out, x0) if color else out)
    return torch.cat(chunks) if chunks else images.clone()
