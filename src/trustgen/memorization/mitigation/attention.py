"""Ren, Li, Zeng, Xu, Lyu, Xing, Tang, *Unveiling and Mitigating Memorization in Text-to-image Diffusion Models
through Cross Attention*, ECCV 2024: inference-time mitigation. In every cross-attention layer and step the beginning
token's attention logits are multiplied by ``c1`` (1.25) and the summary tokens (the end token and the padding after
it) are masked out, which spreads the attention that memorized prompts concentrate on a few trigger tokens."""

from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from typing import Any

from trustgen.core.errors import TrustgenError
from trustgen.diffusion.bundle import DiffusionModel
from trustgen.diffusion.text import TextFeatures
from trustgen.memorization.mitigation.base import Mitigation, initial_latents, sample_features

__all__ = ["AttentionMitigation", "summary_tokens"]


def summary_tokens(model: DiffusionModel, prompt: str) -> tuple[Any, int]:
    """A 1×S bool mask of ``prompt``'s summary tokens (its end token and the padding after it) and S."""
    enc = model.text_encoder
    tokens = enc.tokenizer([prompt], padding="max_length", truncation=True,  # type: ignore[union-attr]
                           max_length=enc.max_length, return_tensors="pt")  # type: ignore[union-attr]
    mask = tokens["attention_mask"][0]
    length = int(mask.sum())
    import torch

    positions = torch.arange(len(mask))
    return (positions >= max(length - 1, 1))[None], len(mask)


@dataclass
class AttentionMitigation(Mitigation):
    """Ren et al. (ECCV 2024): beginning-token logits × c1, summary tokens masked, in every cross-attention layer."""

    def prepare(self, model: DiffusionModel, memorized: list[str], utility: list[str], *,
                progress: bool = False) -> None:
        from trustgen.diffusion.attention import cross_attention_names

        if not cross_attention_names(model.unet):
            raise TrustgenError("attention mitigation re-weights cross-attention, and this model has no "
                                "cross-attention layers (attn2)")
        self.info |= {"c1": self.s.attn_c1, "mask_summary": self.s.attn_mask_summary,
                      "variant": "Ren et al. 2024: beginning-token logit × c1, summary tokens masked"}

    def unet_context(self, model: DiffusionModel, prompt: str) -> AbstractContextManager[Any]:
        import torch

        from trustgen.diffusion.attention import edit_cross_attention

        drop, length = summary_tokens(model, prompt)
        scale = torch.ones(1, length)
        scale[0, 0] = self.s.attn_c1
        return edit_cross_attention(model.unet, scale=scale, drop=drop if self.s.attn_mask_summary else None)

    def generate(self, model: DiffusionModel, prompt: str, n: int, seed: int, steps: int, *,
                 text: TextFeatures | None = None, for_accuracy: bool = False) -> Any:
        text = text if text is not None else model.text_encoder.encode([prompt])  # type: ignore[union-attr]
        x = initial_latents(model, n, seed)
        with nullcontext() if self.gated_out(prompt) else self.unet_context(model, prompt):  # the prompt's tokens
            images = sample_features(model, text, x, steps)
        self.generation_images += n
        return images
