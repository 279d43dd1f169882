"""Robustness of a mitigation: can a small change of the caption's text embedding bring the memorized image back?

Hintersdorf et al., *Finding Dori: Memorization in Text-to-Image Diffusion Models Is Less Local Than Assumed*
(2025) show that pruning-based mitigations can be undone by perturbing the text embedding. We test every mitigation
the same way: projected gradient descent (L2) on the caption's token features δ, ‖δ‖₂ ≤ ρ·‖e‖₂ (ρ =
``retrigger_radius``), minimising the denoising loss ‖ε_θ(√ᾱ_t x₀ + √(1−ᾱ_t) ε, t, e + δ) − ε‖² of the memorized
training image x₀ *through the mitigated forward pass* (neurons off, attention edited or fine-tuned weights). For the
``embedding`` mitigation the search runs on the unmitigated UNet and the inference-time optimisation is then applied
to e + δ, as a deployed pipeline would. The attacker knows the training image — an upper bound on what an attacker
with the caption alone can do. No I/O here.
"""

from __future__ import annotations

from typing import Any

from trustgen.diffusion.bundle import DiffusionModel
from trustgen.diffusion.text import TextFeatures

__all__ = ["perturb_embedding"]


def perturb_embedding(model: DiffusionModel, context: Any, text: TextFeatures, image: Any, *, radius: float,
                      steps: int, batch: int, seed: int) -> tuple[TextFeatures, dict[str, Any]]:
    """Token features within the ball that make ``model`` (inside ``context``, the mitigated forward pass) denoise
    towards ``image`` (1×C×H×W, in the model's sample space). Returns the features and the search's losses."""
    import torch
    from diffusers import DDPMScheduler

    from trustgen.diffusion.models import text_inputs

    g = torch.Generator().manual_seed(seed)
    noise_sched = DDPMScheduler.from_config(model.scheduler_config)
    base = text.tokens[:1].detach()
    eps = radius * float(base.norm())
    alpha = 2.5 * eps / steps  # the usual PGD step for an L2 ball
    delta = torch.zeros_like(base)
    pooled = text.pooled[:1].expand(batch, -1)
    x0 = image.to(base.device).expand(batch, -1, -1, -1)
    losses = []
    # one fixed set of (t, ε) pairs, stratified over the schedule: the objective is deterministic, so PGD descends it
    T = model.num_train_timesteps
    t = ((torch.arange(batch) + torch.rand(batch, generator=g)) * T / batch).long().clamp(0, T - 1)
    noise = torch.randn(x0.shape, generator=g)
    xt = noise_sched.add_noise(x0, noise, t)
    with context, torch.enable_grad():
        for _ in range(steps):
            delta.requires_grad_(True)
            feats = TextFeatures((base + delta).expand(batch, -1, -1), pooled)
            pred = model.unet(xt, t, **text_inputs(model.unet, feats)).sample
            loss = torch.nn.functional.mse_loss(pred, noise)
            (grad,) = torch.autograd.grad(loss, [delta])
            losses.append(float(loss.detach()))
            with torch.no_grad():
                delta = delta - alpha * grad / grad.norm().clamp(min=1e-12)
                norm = float(delta.norm())
                if norm > eps:
                    delta = delta * (eps / norm)
    return TextFeatures(base + delta.detach(), text.pooled[:1]), {
        "loss_first": losses[0], "loss_last": losses[-1], "delta_norm": float(delta.norm()), "radius": eps}
