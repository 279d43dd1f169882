"""What every mitigation shares: the :class:`Mitigation` interface, and generation from the same initial latents
as :func:`trustgen.diffusion.sampling.sample` for the same seed. No I/O here."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from typing import Any

from trustgen.diffusion.bundle import DiffusionModel
from trustgen.diffusion.text import TextFeatures
from trustgen.memorization.config import MitigationSettings

__all__ = ["Mitigation", "initial_latents", "sample_features"]


def initial_latents(model: DiffusionModel, n: int, seed: int) -> Any:
    """x_T for ``n`` samples from a generator seeded with ``seed`` — the latents ``sample`` draws for that seed."""
    import torch

    g = torch.Generator(device=model.device).manual_seed(seed)
    return torch.randn((n, *model.image_shape), generator=g, device=model.device)


def _cond(model: DiffusionModel, text: TextFeatures, n: int) -> Any:
    from trustgen.diffusion.sampling import Conditioning

    rows = text if len(text) == n else text.expand(n)
    null = model.text_encoder.encode([""])  # type: ignore[union-attr]
    return Conditioning(text=rows, null_text=null, guidance_scale=float(model.meta.get("guidance_scale", 1.0)))


def sample_features(model: DiffusionModel, text: TextFeatures, x: Any, steps: int, *, start: int = 0,
                    stop: int | None = None, decode_out: bool = True) -> Any:
    """Run the DDIM-``steps`` chain over timesteps[start:stop] from ``x`` conditioned on ``text`` (one row or one per
    sample); the decoded images in [-1, 1] when the chain ends (``decode_out``), else the latents."""
    from trustgen.diffusion.sampling import decode, denoise, make_scheduler

    scheduler = make_scheduler(model, "ddim", steps)
    timesteps = [int(t) for t in scheduler.timesteps][start:stop]
    x = denoise(model, x * scheduler.init_noise_sigma if start == 0 else x, scheduler, timesteps,
                _cond(model, text, len(x)))
    return decode(model, x).clamp(-1, 1).float().cpu() if decode_out else x


@dataclass
class Mitigation:
    """A prepared mitigation: how it generates, what it costs, what a pipeline needs to apply it."""

    name: str
    s: MitigationSettings
    setup_unet_evals: int = 0  # forward UNet evaluations (one per batch row) spent preparing (localize, fine-tune)
    setup_seconds: float = 0.0
    generation_unet_evals: int = 0  # forward evaluations spent by generate() beyond the plain chain
    generation_images: int = 0
    info: dict[str, Any] = field(default_factory=dict)
    # prompt -> memorized? When set, the inference-time methods act only on the prompts it flags
    gate: Callable[[str], bool] | None = None

    def gated_out(self, prompt: str) -> bool:
        """True when a gate is set and does not flag ``prompt`` (the mitigation then leaves it alone)."""
        return self.gate is not None and not self.gate(prompt)

    def prepare(self, model: DiffusionModel, memorized: list[str], utility: list[str], *,
                progress: bool = False) -> None:
        """Get ready to mitigate ``memorized`` (``utility``: non-memorized captions some methods use)."""

    def unet_context(self, model: DiffusionModel, prompt: str) -> AbstractContextManager[Any]:
        """The mitigated forward pass for ``prompt`` (hooks or processors), for generation and the re-trigger."""
        return nullcontext()

    def mitigated_model(self, model: DiffusionModel) -> DiffusionModel:
        """The model whose UNet generation runs (a fine-tuned copy for ``finetune``)."""
        return model

    def features(self, model: DiffusionModel, prompt: str, text: TextFeatures, x: Any, steps: int) -> TextFeatures:
        """The text features sampling uses for ``prompt`` from latents ``x`` (changed by ``embedding``)."""
        return text

    def generate(self, model: DiffusionModel, prompt: str, n: int, seed: int, steps: int, *,
                 text: TextFeatures | None = None, for_accuracy: bool = False) -> Any:
        """``n`` images of ``prompt`` under the mitigation; ``text`` overrides the prompt's token features (the
        re-trigger search's perturbed features). ``for_accuracy``: the deployed setting for any prompt (NeMo: the
        union of all captions' neurons) rather than the one for a known memorized caption."""
        from trustgen.memorization.hooks import count_unet_evals

        m = self.mitigated_model(model)
        text = text if text is not None else m.text_encoder.encode([prompt])  # type: ignore[union-attr]
        x = initial_latents(m, n, seed)
        with self.accuracy_context(m) if for_accuracy else self.unet_context(m, prompt):
            with count_unet_evals(m.unet) as extra:
                if not self.gated_out(prompt):
                    text = self.features(m, prompt, text, x, steps)
            images = sample_features(m, text, x, steps)
        self.generation_unet_evals += extra[0]
        self.generation_images += n
        return images

    def accuracy_context(self, model: DiffusionModel) -> AbstractContextManager[Any]:
        """The mitigation as deployed for every prompt (used for the utility check)."""
        return nullcontext()

    def record(self) -> dict[str, Any]:
        """JSON-ready: method, settings it uses, what it found, cost."""
        return {"method": self.name, **self.info, "setup_unet_evals": self.setup_unet_evals,
                "setup_seconds": self.setup_seconds}
