"""Fixtures: a tiny real text UNet, and a synthetic UNet that memorizes one prompt through one value neuron."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch

MEMORIZED = "Velvet Compass album artwork"
OTHERS = [f"a handwritten {w}" for w in ("zero", "one", "two", "three", "four", "five", "six", "seven")] + [
    f"a thin upright {d}" for d in range(8)]


@pytest.fixture(scope="session")
def tiny_text_model():
    """A seeded tiny ``UNet2DConditionModel`` (cross-attention in down, mid and up blocks) + MiniLM."""
    from trustgen.diffusion.bundle import DiffusionModel
    from trustgen.diffusion.config import DiffusionTrainSettings, UNetSettings
    from trustgen.diffusion.models import build_unet
    from trustgen.diffusion.text import minilm_encoder
    from trustgen.diffusion.training import scheduler_config

    torch.manual_seed(0)
    text = minilm_encoder()
    unet = build_unet(UNetSettings(block_out_channels=(8, 16), norm_num_groups=4, attention_head_dim=4,
                                   attention_levels=1), channels=1, size=8, conditioning="text",
                      cross_attention_dim=text.dim).eval()
    config = scheduler_config(DiffusionTrainSettings(num_train_timesteps=100))
    return DiffusionModel(unet, config, "text", (1, 8, 8), None, text, meta={"dataset": "test"})


class _Attention(torch.nn.Module):
    def __init__(self, dim: int, width: int):
        super().__init__()
        self.to_v = torch.nn.Linear(dim, width, bias=False)
        self.norm_cross = None


class MemorizingUNet(torch.nn.Module):
    """ε(x, t, p) = x + g(p)·pattern + 0.3·(W x): neuron 0 of the only value layer opens the gate g for the
    memorized prompt, so its noise differences share one pattern across seeds; W mixes each seed's own noise."""

    def __init__(self, text_encoder, size: int = 16):
        super().__init__()
        g = torch.Generator().manual_seed(0)
        self.config = SimpleNamespace(class_embed_type=None, in_channels=1, sample_size=size)
        self.down_blocks = torch.nn.ModuleList([torch.nn.Module()])
        block = self.down_blocks[0]
        block.attentions = torch.nn.ModuleList([torch.nn.Module()])
        block.attentions[0].transformer_blocks = torch.nn.ModuleList([torch.nn.Module()])
        self.attn = block.attentions[0].transformer_blocks[0].attn2 = _Attention(text_encoder.dim, 8)
        mem = text_encoder.encode([MEMORIZED]).tokens.mean(dim=(0, 1))
        rest = text_encoder.encode(OTHERS).tokens.mean(dim=(0, 1))
        direction = (mem - rest) / (mem - rest).norm()
        with torch.no_grad():
            self.attn.to_v.weight.normal_(0, 0.02, generator=g)
            self.attn.to_v.weight[0] = direction
            self.attn.to_v.weight[1] = direction  # a second, redundant memorization neuron
        on = float(text_encoder.encode([MEMORIZED]).tokens.mean(1) @ direction)
        off = float((text_encoder.encode(OTHERS).tokens.mean(1) @ direction).max())
        self.centre, self.gain = (on + off) / 2, 20.0 / max(on - off, 1e-6)
        yy, xx = torch.meshgrid(torch.linspace(-1, 1, size), torch.linspace(-1, 1, size), indexing="ij")
        self.register_buffer("pattern", (3 * torch.sin(4 * xx) * torch.cos(3 * yy))[None, None])
        self.register_buffer("mix", torch.randn(size * size, size * size, generator=g) / size)

    def forward(self, sample, timestep, encoder_hidden_states=None, **_):
        v = self.attn.to_v(encoder_hidden_states).mean(1)  # B×8 (hooks see this layer's output)
        gate = torch.sigmoid(self.gain * (v[:, :2].sum(1) / 2 - self.centre))[:, None, None, None]
        own = (sample.flatten(1) @ self.mix).reshape(sample.shape)
        return SimpleNamespace(sample=sample + gate * self.pattern + 0.3 * own)


@pytest.fixture(scope="session")
def memorizing_model():
    from trustgen.diffusion.bundle import DiffusionModel
    from trustgen.diffusion.config import DiffusionTrainSettings
    from trustgen.diffusion.text import minilm_encoder
    from trustgen.diffusion.training import scheduler_config

    text = minilm_encoder()
    unet = MemorizingUNet(text)
    config = scheduler_config(DiffusionTrainSettings())
    return DiffusionModel(unet, config, "text", (1, 16, 16), None, text, meta={"dataset": "test"})
