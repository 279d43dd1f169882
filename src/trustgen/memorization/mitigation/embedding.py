"""Wen, Liu, Chen, Lyu, *Detecting, Explaining, and Mitigating Memorization in Diffusion Models*, ICLR 2024:
inference-time mitigation. Before sampling, a few AdamW steps on the prompt's token features (the beginning token
frozen) lower the text-conditional noise norm ‖ε(x_t, e) − ε(x_t, ∅)‖₂ of the batch's own initial latents, stopping
at a target loss; the image is then sampled from the optimised features."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from trustgen.core.errors import TrustgenError
from trustgen.diffusion.bundle import DiffusionModel
from trustgen.diffusion.text import TextFeatures
from trustgen.memorization.mitigation.base import Mitigation, initial_latents, sample_features

__all__ = ["EmbeddingMitigation", "text_noise_norm"]


def text_noise_norm(model: DiffusionModel, x: Any, t: int, tokens: Any, pooled: Any, eps_null: Any) -> Any:
    """Mean over samples of ‖ε(x, t, e) − ε(x, t, ∅)‖₂ (Wen et al.'s text-conditional noise norm), differentiable."""
    from trustgen.diffusion.sampling import Conditioning, predict_noise

    n = len(x)
    text = TextFeatures(tokens.expand(n, -1, -1), pooled.expand(n, -1))
    eps = predict_noise(model, x, t, Conditioning(text=text, guidance_scale=1.0))
    return (eps - eps_null).flatten(1).norm(dim=1).mean()


@dataclass
class EmbeddingMitigation(Mitigation):
    """Wen et al. (ICLR 2024): optimise the prompt's token features per generation before sampling."""

    target_loss: float | None = None
    iterations: list[int] = field(default_factory=list)

    def calibrate_target(self, model: DiffusionModel, prompts: list[str], steps: int, seed: int) -> float:
        """Mean text-conditional noise norm of ``prompts`` at the optimisation step (10 latents each)."""
        import numpy as np
        import torch

        values = []
        null = model.text_encoder.encode([""])  # type: ignore[union-attr]
        for p in prompts:
            text = model.text_encoder.encode([p])  # type: ignore[union-attr]
            x, t = self._at_step(model, text, initial_latents(model, 10, seed), steps)
            with torch.no_grad():
                eps_null = _predict(model, x, t, null)
                values.append(float(text_noise_norm(model, x, t, text.tokens, text.pooled, eps_null)))
        return float(np.mean(values))

    def prepare(self, model: DiffusionModel, memorized: list[str], utility: list[str], *,
                progress: bool = False) -> None:
        from trustgen.memorization.hooks import count_unet_evals

        start = time.perf_counter()
        target = self.s.embed_target_loss
        if target == "auto":
            if not utility:
                raise TrustgenError("embed_target_loss=auto needs non-memorized captions to calibrate on")
            with count_unet_evals(model.unet) as evals:
                self.target_loss = self.calibrate_target(model, utility[:20], self.info.get("steps", 25),
                                                         self.s.seed + 2000)
            self.setup_unet_evals += evals[0]
        elif target != "none":
            self.target_loss = float(target)
        self.setup_seconds += time.perf_counter() - start
        self.info |= {"target_loss": self.target_loss, "lr": self.s.embed_lr, "iters": self.s.embed_iters,
                      "step": self.s.embed_step}

    def _at_step(self, model: DiffusionModel, text: TextFeatures, x: Any, steps: int) -> tuple[Any, int]:
        from trustgen.diffusion.sampling import make_scheduler

        scheduler = make_scheduler(model, "ddim", steps)
        k = min(self.s.embed_step, len(scheduler.timesteps) - 1)
        if k:
            x = sample_features(model, text, x, steps, stop=k, decode_out=False)
        return x * (scheduler.init_noise_sigma if k == 0 else 1), int(scheduler.timesteps[k])

    def features(self, model: DiffusionModel, prompt: str, text: TextFeatures, x: Any, steps: int) -> TextFeatures:
        import torch

        x, t = self._at_step(model, text, x, steps)
        null = model.text_encoder.encode([""])  # type: ignore[union-attr]
        with torch.no_grad():
            eps_null = _predict(model, x, t, null)
        tokens = text.tokens[:1].detach().clone().requires_grad_(True)
        optimizer = torch.optim.AdamW([tokens], lr=self.s.embed_lr)
        done = 0
        with torch.enable_grad():
            for _ in range(self.s.embed_iters):
                loss = text_noise_norm(model, x, t, tokens, text.pooled[:1], eps_null)
                if self.target_loss is not None and float(loss.detach()) <= self.target_loss:
                    break
                (grad,) = torch.autograd.grad(loss, [tokens])
                grad[:, 0] = 0  # the beginning token stays (as Wen et al.'s code) ...
                tokens.grad = grad
                optimizer.step()
                with torch.no_grad():  # ... exactly: their AdamW's weight decay would still shrink it
                    tokens[:, 0] = text.tokens[:1, 0]
                optimizer.zero_grad()
                done += 1
        self.iterations.append(done)
        return TextFeatures(tokens.detach(), text.pooled[:1])

    def record(self) -> dict[str, Any]:
        import numpy as np

        return {**super().record(),
                "mean_iterations": float(np.mean(self.iterations)) if self.iterations else None}


def _predict(model: DiffusionModel, x: Any, t: int, text: TextFeatures) -> Any:
    from trustgen.diffusion.sampling import Conditioning, predict_noise

    return predict_noise(model, x, t, Conditioning(text=text.expand(len(x)), guidance_scale=1.0))
