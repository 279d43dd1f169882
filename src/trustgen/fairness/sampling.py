"""Fair sampling (Friedrich et al., *Fair Diffusion: Instructing Text-to-Image Generation Models on
Fairness*, 2023): every image is pushed towards one value of an attribute and away from the others
with SEGA, the value drawn with probability equal to its target share.

* ``probabilistic``: an independent draw per image (the paper's description);
* ``stratified``: exact counts ``round(target · N)`` in random order — what the authors' script did
  (it redrew a random 0/1 list until exactly half were 1).

Every image is edited, also one that already shows its value, and plain and guided images of a run
start from the same noise, as in the authors' edit mode.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from trustgen.core.errors import TrustgenError
from trustgen.core.progress import track
from trustgen.diffusion.bundle import DiffusionModel
from trustgen.diffusion.sampling import build_conditioning, decode, denoise, make_scheduler
from trustgen.fairness.config import GuidedSampling, effective_edit
from trustgen.fairness.sega import EditConcept, SemanticGuidance, semantic_denoise


def exact_counts(targets: Sequence[float] | np.ndarray, num: int) -> np.ndarray:
    """Integer counts summing to ``num`` closest to ``targets · num`` (largest remainder)."""
    raw = np.asarray(targets, dtype=np.float64) * num
    counts = np.floor(raw).astype(np.int64)
    order = np.argsort(-(raw - counts), kind="stable")
    counts[order[: num - int(counts.sum())]] += 1
    return counts


def draw_choices(targets: Sequence[float] | np.ndarray, num: int, rng: np.random.Generator, *,
                 stratified: bool) -> np.ndarray:
    """The attribute value (index) each of ``num`` images is steered towards."""
    p = np.asarray(targets, dtype=np.float64)
    if stratified:
        return rng.permutation(np.repeat(np.arange(len(p)), exact_counts(p, num)))
    return rng.choice(len(p), size=num, p=p / p.sum())


def directions(choices: np.ndarray, k: int) -> torch.Tensor:
    """Concept signs k×N: +1 (add) for each image's chosen value, −1 (remove) for the others."""
    chosen = torch.as_tensor(np.asarray(choices), dtype=torch.long)
    return torch.where(torch.arange(k)[:, None] == chosen[None, :], 1.0, -1.0)


def initial_noise(model: DiffusionModel, num: int, seed: int) -> torch.Tensor:
    """The starting noise x_T of ``num`` images (shared by plain and fair generation of one run)."""
    g = torch.Generator().manual_seed(seed)
    return torch.randn((num, *model.image_shape), generator=g)


class FairGenerator:
    """Plain and SEGA-steered generation from given noise, prompts and chosen attribute values."""

    def __init__(self, model: DiffusionModel, settings: GuidedSampling, *, progress: bool = False) -> None:
        if model.conditioning != "text" or model.text_encoder is None:
            raise TrustgenError("fair generation needs a text-conditional model (SEGA steers with edit prompts); "
                                f"this model's conditioning is {model.conditioning!r}")
        self.model = model
        self.settings = settings
        self.progress = progress
        self.values = settings.values
        self.edit_text = model.text_encoder.encode(self.values)
        self.edit = e = effective_edit(settings.edit, model.meta)
        self.concepts = [EditConcept(v, scale=e.scale, warmup=e.warmup, threshold=e.threshold, cooldown=e.cooldown)
                         for v in self.values]
        if e.warmup >= settings.steps:
            raise TrustgenError(f"edit warm-up ({e.warmup} steps) must be shorter than the {settings.steps} "
                                "sampling steps, or no edit is ever applied")

    def _run(self, noise: torch.Tensor, prompts: list[str], choices: np.ndarray | None, start: int) -> torch.Tensor:
        model, s = self.model, self.settings
        cond = build_conditioning(model, len(noise), prompts=prompts, guidance_scale=s.guidance_scale)
        scheduler = make_scheduler(model, s.sampler, s.steps)
        g = torch.Generator().manual_seed(s.seed * 1_000_003 + start)  # DDPM step noise, distinct per row block
        x = noise.to(model.device) * scheduler.init_noise_sigma
        if choices is None:
            x = denoise(model, x, scheduler, [int(t) for t in scheduler.timesteps], cond, g)
        else:
            guidance = SemanticGuidance(self.concepts, guidance_scale=cond.guidance_scale,
                                        momentum_scale=self.edit.momentum_scale,
                                        momentum_beta=self.edit.momentum_beta)
            edits = [self.edit_text[i : i + 1] for i in range(len(self.values))]
            x = semantic_denoise(model.unet, scheduler, x, text=cond.text, null_text=cond.null_text, edits=edits,
                                 guidance=guidance, directions=directions(choices, len(self.values)),
                                 step_kwargs={"generator": g})
        return decode(model, x).cpu().clamp(-1, 1).float()

    def generate(self, noise: torch.Tensor, prompts: list[str], choices: np.ndarray | None = None,
                 start: int = 0) -> torch.Tensor:
        """Images from ``noise`` (N×C×H×W) for ``prompts`` (one or N); ``choices`` (N value indices) steer
        each image with SEGA (None: plain sampling); ``start`` is the run-wide index of the first row (it
        seeds DDPM's step noise)."""
        n = len(noise)
        prompts = prompts * n if len(prompts) == 1 else list(prompts)
        if len(prompts) != n or (choices is not None and len(choices) != n):
            raise ValueError("noise, prompts and choices must have the same length")
        b = self.settings.batch_size
        what = "plain" if choices is None else "fair"
        parts = [self._run(noise[i : i + b], prompts[i : i + b], None if choices is None else choices[i : i + b],
                           start + i)
                 for i in track(range(0, n, b), description=f"{what} images {start}–{start + n}",
                                enabled=self.progress)]
        return torch.cat(parts)


def share(measured: np.ndarray, k: int) -> list[float]:
    """Share of each of ``k`` values among measured value indices."""
    counts = np.bincount(np.asarray(measured, dtype=np.int64), minlength=k)
    return [float(c) / max(int(counts.sum()), 1) for c in counts]

