"""Semantic guidance (SEGA; Brack et al., *SEGA: Instructing Text-to-Image Models using Semantic
Guidance*, NeurIPS 2023) as a step over any diffusers text-conditional UNet and scheduler.

Per denoising step ``i``, with ε_u, ε_p and ε_c the noise estimates for the empty prompt, the prompt
and edit concept ``c``:

* classifier-free guidance ``g = s_g (ε_p − ε_u)``;
* per concept ``ψ_c = d_c s_c (ε_c − ε_u)`` with direction ``d_c = +1`` (add) or ``−1`` (remove),
  kept only where ``|ψ_c|`` reaches its ``λ_c``-quantile over the spatial positions of each image and
  channel (λ = 0.9 keeps the strongest 10 %);
* the concepts' weighted sum ``e = Σ w_c ψ_c`` (weights clipped at 0) plus momentum: ``e ← e + s_m v``,
  then ``v ← β_m v + (1 − β_m) e`` — momentum accumulates from step 0, also during warm-up;
* ``e`` is added to ``g`` once every active concept is past its warm-up ``δ_c``; while only some are,
  their weight-normalised ψ are added without momentum; a concept contributes nothing from its
  cooldown step on;
* ε̂ = ε_u + g.

These are the semantics of the authors' ``SemanticEditPipeline`` (semdiffusers), which diffusers
adopted as ``SemanticStableDiffusionPipeline`` and later deprecated; ``tests/fairness`` checks that
:func:`semantic_denoise` reproduces that pipeline's images. One generalisation: ``directions`` may
give every image its own sign per concept, which is what Fair Diffusion's per-image sampling needs.
Defaults are the paper's / pipeline's: ``s_e = 5``, ``δ = 10``, ``λ = 0.9``, ``s_m = 0.1``,
``β_m = 0.4``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch

from trustgen.diffusion.models import text_inputs
from trustgen.diffusion.text import TextFeatures


@dataclass(frozen=True)
class EditConcept:
    """One edit concept of SEGA with its hyperparameters (defaults: Brack et al. 2023)."""

    prompt: str
    reverse: bool = False  # True: steer away from the concept (remove it)
    scale: float = 5.0  # edit guidance scale s_e
    warmup: int = 10  # steps before the concept is applied (δ)
    threshold: float = 0.9  # per-channel quantile λ of |ψ| below which ψ is zeroed
    weight: float = 1.0  # w_c in the weighted sum (negative counts as 0)
    cooldown: int | None = None  # step from which the concept stops (None: never)

    def __post_init__(self) -> None:
        if self.scale < 0:
            raise ValueError(f"edit scale must be >= 0 (use reverse=True to remove a concept), got {self.scale}")
        if not 0.0 <= self.threshold < 1.0:
            raise ValueError(f"edit threshold is a quantile in [0, 1), got {self.threshold}")
        if self.warmup < 0:
            raise ValueError(f"edit warm-up must be >= 0 steps, got {self.warmup}")


class SemanticGuidance:
    """The SEGA combination rule with its momentum state (one instance per denoising run)."""

    def __init__(
        self,
        concepts: Sequence[EditConcept],
        *,
        guidance_scale: float = 7.5,
        momentum_scale: float = 0.1,
        momentum_beta: float = 0.4,
    ) -> None:
        if momentum_scale < 0:
            raise ValueError(f"momentum scale must be >= 0, got {momentum_scale}")
        if not 0.0 <= momentum_beta < 1.0:
            raise ValueError(f"momentum beta must be in [0, 1), got {momentum_beta}")
        self.concepts = list(concepts)
        self.guidance_scale = float(guidance_scale)
        self.momentum_scale = float(momentum_scale)
        self.momentum_beta = float(momentum_beta)
        self.momentum: torch.Tensor | None = None

    def edit_term(self, step: int, psi: torch.Tensor, concept: EditConcept, sign: torch.Tensor) -> torch.Tensor:
        """``ψ_c`` (B×C×H×W) signed, scaled and thresholded; ``sign`` is B (±1 or 0) or a scalar."""
        if concept.cooldown is not None and step >= concept.cooldown:
            return torch.zeros_like(psi)
        psi = psi * sign.reshape(-1, *([1] * (psi.ndim - 1))) * concept.scale
        cut = torch.quantile(psi.abs().flatten(start_dim=2).float(), concept.threshold, dim=2).to(psi.dtype)
        return torch.where(psi.abs() >= cut[:, :, None, None], psi, torch.zeros_like(psi))

    def __call__(
        self,
        step: int,
        eps_uncond: torch.Tensor,
        eps_text: torch.Tensor,
        eps_edits: Sequence[torch.Tensor],
        directions: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """The guided noise estimate ε̂ at denoising step ``step`` (0-based).

        ``directions`` (concepts × batch, values +1/−1/0) overrides each concept's ``reverse`` per image.
        """
        guidance = self.guidance_scale * (eps_text - eps_uncond)
        if not self.concepts:
            return eps_uncond + guidance
        if len(eps_edits) != len(self.concepts):
            raise ValueError(f"got {len(eps_edits)} edit estimates for {len(self.concepts)} concepts")
        if self.momentum is None:
            self.momentum = torch.zeros_like(guidance)
        terms, weights = [], []
        for c, (concept, eps_c) in enumerate(zip(self.concepts, eps_edits, strict=True)):
            sign = (torch.tensor(-1.0 if concept.reverse else 1.0, dtype=eps_c.dtype, device=eps_c.device)
                    if directions is None else directions[c].to(eps_c))
            terms.append(self.edit_term(step, eps_c - eps_uncond, concept, sign))
            cooling = concept.cooldown is not None and step >= concept.cooldown
            weights.append(0.0 if cooling else max(concept.weight, 0.0))
        warm = [c for c, concept in enumerate(self.concepts) if step >= concept.warmup]
        if 0 < len(warm) < len(self.concepts):
            total = sum(weights[c] for c in warm)
            if total > 0:
                guidance = guidance + sum(weights[c] / total * terms[c] for c in warm)
        edit = sum(w * t for w, t in zip(weights, terms, strict=True)) + self.momentum_scale * self.momentum
        self.momentum = self.momentum_beta * self.momentum + (1 - self.momentum_beta) * edit
        if len(warm) == len(self.concepts):
            guidance = guidance + edit
        return eps_uncond + guidance


def _rows(features: TextFeatures, n: int) -> TextFeatures:
    """``features`` as ``n`` rows (a single row is broadcast)."""
    if len(features) == n:
        return features
    if len(features) == 1:
        return features.expand(n)
    raise ValueError(f"text features have {len(features)} rows, expected 1 or {n}")


def semantic_denoise(
    unet: Any,
    scheduler: Any,
    latents: torch.Tensor,
    *,
    text: TextFeatures,
    null_text: TextFeatures,
    edits: Sequence[TextFeatures],
    guidance: SemanticGuidance,
    directions: torch.Tensor | None = None,
    step_kwargs: dict[str, Any] | None = None,
) -> torch.Tensor:
    """Run the whole chain of ``scheduler`` (timesteps already set) from ``latents`` with SEGA.

    ``unet`` is any diffusers text-conditional UNet (pixel or latent space); ``text``, ``null_text`` and
    each of ``edits`` are text features of 1 or B rows. One UNet call per step evaluates the 2 + C
    branches [unconditional, prompt, edit_1 … edit_C] as one batch, as the reference pipeline does.
    """
    batch = latents.shape[0]
    branches = 2 + len(edits)
    feats = TextFeatures.cat([_rows(null_text, batch), _rows(text, batch), *(_rows(e, batch) for e in edits)])
    inputs = text_inputs(unet, feats)
    x = latents
    with torch.no_grad():
        for i, t in enumerate(scheduler.timesteps):
            model_in = scheduler.scale_model_input(torch.cat([x] * branches), t)
            eps = unet(model_in, t, **inputs).sample.chunk(branches)
            eps_hat = guidance(i, eps[0], eps[1], eps[2:], directions)
            x = scheduler.step(eps_hat, t, x, **(step_kwargs or {})).prev_sample
    return x
