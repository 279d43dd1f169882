"""Attribute edits of real images with a text-conditional diffusion model, SDEdit-style (Meng et al., ICLR 2022).

Caia (Struppek et al., 2023, §3) inverts each real image (null-text inversion) and re-generates it with
Prompt-to-Prompt once per attribute value, so the variants differ essentially only in the attribute. Here the
editor is SDEdit: noise the real image to ``strength`` of the schedule (one shared noise draw for all values of an
image, as Caia shares the inverted latent), then denoise with deterministic DDIM conditioned on the edit prompt
(base prompt + attribute text, e.g. ``"a handwritten seven with thin strokes"``). No null-text inversion and no
attention control: the shared noise and the partial strength play their role on 16×16 digits.
"""

from __future__ import annotations

from typing import Any

import torch

from trustgen.core.errors import TrustgenError


def require_text_editor(model: Any) -> None:
    """:class:`TrustgenError` unless ``model`` (a ``DiffusionModel``) is text-conditional."""
    if getattr(model, "conditioning", None) != "text" or getattr(model, "text_encoder", None) is None:
        raise TrustgenError(f"the editor must be a text-conditional diffusion model; this one is conditioned on "
                            f"{getattr(model, 'conditioning', 'nothing')!r}")


def sdedit(model: Any, images: torch.Tensor, prompts: list[str], *, strength: float = 0.5, steps: int = 10,
           guidance_scale: float = 1.0, noise: torch.Tensor | None = None, seed: int = 0,
           batch_size: int = 256) -> torch.Tensor:
    """``images`` (N×C×H×W in [-1, 1]) noised to ``strength`` ∈ (0, 1] and denoised with ``prompts`` (N) by
    ``steps`` DDIM steps; ``noise`` (N×C×H×W) is drawn from ``seed`` when not given."""
    from diffusers import DDPMScheduler

    from trustgen.diffusion.sampling import Conditioning, denoise_ddim, encode_prompts

    require_text_editor(model)
    if not 0 < strength <= 1:
        raise TrustgenError(f"edit strength must lie in (0, 1], got {strength}")
    if len(prompts) != len(images):
        raise TrustgenError(f"got {len(prompts)} edit prompts for {len(images)} images")
    if tuple(images.shape[1:]) != tuple(model.image_shape):
        raise TrustgenError(f"the editor works on {tuple(model.image_shape)} images, got {tuple(images.shape[1:])}")
    T = model.num_train_timesteps
    t_start = max(int(round(strength * T)) - 1, 0)
    timesteps = sorted({int(t) for t in torch.linspace(t_start, 0, max(steps, 1)).round().long()}, reverse=True)
    abar = DDPMScheduler.from_config(model.scheduler_config).alphas_cumprod
    if noise is None:
        noise = torch.randn(images.shape, generator=torch.Generator().manual_seed(seed))
    a = float(abar[t_start])
    device = model.device
    unique = sorted(set(prompts))
    feats, null = encode_prompts(model, unique)
    index = torch.tensor([unique.index(p) for p in prompts], device=feats.tokens.device)
    out = []
    for i in range(0, len(images), batch_size):
        x0 = images[i : i + batch_size].to(device)
        xt = a**0.5 * x0 + (1 - a) ** 0.5 * noise[i : i + batch_size].to(device)
        cond = Conditioning(text=feats[index[i : i + batch_size]], null_text=null, guidance_scale=guidance_scale)
        out.append(denoise_ddim(model, xt, timesteps, cond).cpu())
    return torch.cat(out).clamp(-1, 1).float()
