"""Editing the attention logits of a UNet's cross-attention layers at inference.

:func:`edit_cross_attention` replaces the processor of every ``attn2`` (cross-attention) module of a diffusers
``UNet2DConditionModel`` by :class:`LogitEditProcessor` for the duration of a ``with`` block: the attention logits
``s = q·kᵀ/√d`` of each text token are multiplied by a per-token factor and chosen tokens can be masked out (their
logit set to −∞) before the softmax. Everything else is what diffusers' plain ``AttnProcessor`` computes. This is the
mechanism of inference-time attention re-weighting methods such as Ren et al., *Unveiling and Mitigating
Memorization in Text-to-image Diffusion Models through Cross Attention*, ECCV 2024 (scale the beginning token's
logits, mask the summary tokens), and of prompt-weighting schemes that up- or down-weight single words.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from trustgen.core.errors import TrustgenError

__all__ = ["LogitEditProcessor", "cross_attention_names", "edit_cross_attention"]


def cross_attention_names(unet: Any) -> list[str]:
    """Processor keys (``…attn2.processor``) of the cross-attention modules of ``unet``; empty when it has none."""
    processors = getattr(unet, "attn_processors", None)
    if not isinstance(processors, dict):
        return []
    return [k for k in processors if k.endswith("attn2.processor")]


class LogitEditProcessor:
    """Cross-attention with edited logits: ``softmax(scale ⊙ (q·kᵀ/√d) + mask)``.

    ``scale`` is a B×S (or 1×S) tensor of per-token factors over the S text tokens, ``drop`` a B×S (or 1×S) bool
    tensor of tokens to mask out (never all of them). Rows follow the UNet's batch.
    """

    def __init__(self, scale: Any = None, drop: Any = None):
        self.scale = scale
        self.drop = drop

    def _per_row(self, value: Any, batch: int, heads: int) -> Any:
        if value.shape[0] not in (1, batch):
            raise TrustgenError(f"attention edit has {value.shape[0]} rows for a batch of {batch}")
        return value.expand(batch, -1).repeat_interleave(heads, dim=0)[:, None, :]

    def __call__(self, attn: Any, hidden_states: Any, encoder_hidden_states: Any = None, attention_mask: Any = None,
                 temb: Any = None, *args: Any, **kwargs: Any) -> Any:
        import torch

        residual = hidden_states
        if attn.spatial_norm is not None:
            hidden_states = attn.spatial_norm(hidden_states, temb)
        input_ndim = hidden_states.ndim
        if input_ndim == 4:
            batch, channel, height, width = hidden_states.shape
            hidden_states = hidden_states.view(batch, channel, height * width).transpose(1, 2)
        context = hidden_states if encoder_hidden_states is None else encoder_hidden_states
        batch, length, _ = context.shape
        attention_mask = attn.prepare_attention_mask(attention_mask, length, batch)
        if attn.group_norm is not None:
            hidden_states = attn.group_norm(hidden_states.transpose(1, 2)).transpose(1, 2)
        query = attn.to_q(hidden_states)
        if encoder_hidden_states is not None and attn.norm_cross:
            context = attn.norm_encoder_hidden_states(context)
        query = attn.head_to_batch_dim(query)
        key = attn.head_to_batch_dim(attn.to_k(context))
        value = attn.head_to_batch_dim(attn.to_v(context))
        logits = attn.scale * torch.bmm(query.float(), key.float().transpose(-1, -2))
        heads = attn.heads
        if self.scale is not None:
            logits = logits * self._per_row(self.scale.to(logits), batch, heads)
        if self.drop is not None:
            drop = self._per_row(self.drop.to(logits.device), batch, heads)
            logits = logits.masked_fill(drop, float("-inf"))
        if attention_mask is not None:
            logits = logits + attention_mask
        probs = logits.softmax(dim=-1).to(value.dtype)
        hidden_states = attn.batch_to_head_dim(torch.bmm(probs, value))
        hidden_states = attn.to_out[1](attn.to_out[0](hidden_states))
        if input_ndim == 4:
            hidden_states = hidden_states.transpose(-1, -2).reshape(batch, channel, height, width)
        if attn.residual_connection:
            hidden_states = hidden_states + residual
        return hidden_states / attn.rescale_output_factor


@contextmanager
def edit_cross_attention(unet: Any, *, scale: Any = None, drop: Any = None) -> Iterator[LogitEditProcessor]:
    """Within the block every cross-attention layer of ``unet`` uses :class:`LogitEditProcessor` with ``scale``
    and ``drop``; the previous processors are restored afterwards. The yielded processor's ``scale``/``drop`` may
    be changed inside the block. :class:`TrustgenError` if the UNet has no cross-attention."""
    names = cross_attention_names(unet)
    if not names:
        raise TrustgenError("this model has no cross-attention layers (attn2) whose attention could be re-weighted")
    if drop is not None and bool(drop.all(dim=-1).any()):
        raise TrustgenError("an attention edit may not mask every text token")
    before = unet.attn_processors
    processor = LogitEditProcessor(scale, drop)
    unet.set_attn_processor({k: (processor if k in names else v) for k, v in before.items()})
    try:
        yield processor
    finally:
        unet.set_attn_processor(before)
