"""Build diffusers denoisers for trustgen's three conditionings.

* ``none``  → ``UNet2DModel``
* ``class`` → ``UNet2DModel`` with a class-embedding table of ``num_classes + 1`` rows
  (the extra row is the "no class" token used for classifier-free guidance)
* ``text``  → ``UNet2DConditionModel`` whose cross-attention reads text-encoder features
"""

from __future__ import annotations

from typing import Any

from trustgen.diffusion.config import UNetSettings


def _block_types(n_levels: int, attention_levels: int, plain: str, attn: str) -> tuple[str, ...]:
    """Plain blocks at high resolution, attention blocks at the lowest ``attention_levels`` levels."""
    return tuple(attn if i >= n_levels - attention_levels else plain for i in range(n_levels))


def build_unet(
    unet: UNetSettings,
    *,
    channels: int,
    size: int,
    conditioning: str,
    num_classes: int | None = None,
    cross_attention_dim: int | None = None,
) -> Any:
    """A freshly initialised diffusers UNet for images ``channels×size×size``."""
    from diffusers import UNet2DConditionModel, UNet2DModel

    levels = len(unet.block_out_channels)
    common: dict[str, Any] = {
        "sample_size": size, "in_channels": channels, "out_channels": channels,
        "block_out_channels": unet.block_out_channels, "layers_per_block": unet.layers_per_block,
        "norm_num_groups": unet.norm_num_groups, "attention_head_dim": unet.attention_head_dim,
    }
    if conditioning == "text":
        if cross_attention_dim is None:
            raise ValueError("a text-conditional UNet needs cross_attention_dim")
        down = _block_types(levels, unet.attention_levels, "DownBlock2D", "CrossAttnDownBlock2D")
        up = tuple(t.replace("Down", "Up") for t in reversed(down))
        return UNet2DConditionModel(
            down_block_types=down,
            up_block_types=up,
            cross_attention_dim=cross_attention_dim,
            **common,
            **({"class_embed_type": "projection", "projection_class_embeddings_input_dim": cross_attention_dim}
               if unet.pooled_text else {}),
        )
    down = _block_types(levels, unet.attention_levels, "DownBlock2D", "AttnDownBlock2D")
    up = tuple(t.replace("Down", "Up") for t in reversed(down))
    kwargs: dict[str, Any] = {}
    if conditioning == "class":
        if not num_classes:
            raise ValueError("a class-conditional UNet needs num_classes")
        kwargs["num_class_embeds"] = num_classes + 1
    return UNet2DModel(down_block_types=down, up_block_types=up, add_attention=unet.attention_levels > 0,
                       **common, **kwargs)


def text_inputs(unet: Any, text: Any) -> dict[str, Any]:
    """UNet keyword inputs for :class:`~trustgen.diffusion.text.TextFeatures`: token features for
    cross-attention, plus the pooled embedding when the UNet has a projection class embedding."""
    kwargs = {"encoder_hidden_states": text.tokens}
    if getattr(unet.config, "class_embed_type", None) == "projection":
        kwargs["class_labels"] = text.pooled
    return kwargs


def count_parameters(module: Any) -> int:
    """Number of parameters of a torch module."""
    return sum(int(p.numel()) for p in module.parameters())
