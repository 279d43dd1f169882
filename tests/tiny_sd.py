"""A tiny latent Stable Diffusion built from configs (random weights, offline) for tests."""

from __future__ import annotations

from typing import Any


def toy_clip_tokenizer():  # -> CLIPTokenizer
    """A byte-level CLIP tokenizer (514 tokens, no merges) that needs no files."""
    from transformers import CLIPTokenizer

    from trustgen.diffusion.text import _bytes_to_unicode

    chars = _bytes_to_unicode()
    vocab = {t: i for i, t in enumerate(chars + [c + "</w>" for c in chars] + ["<|startoftext|>", "<|endoftext|>"])}
    return CLIPTokenizer(vocab=vocab, merges=[], model_max_length=77)


def tiny_sd_components(sample_size: int = 8, seed: int = 0) -> dict[str, Any]:
    """vae, text_encoder, tokenizer, unet, scheduler of a tiny Stable Diffusion (seeded random weights)."""
    import torch
    from diffusers import AutoencoderKL, DDIMScheduler, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel

    torch.manual_seed(seed)
    tok = toy_clip_tokenizer()
    text = CLIPTextModel(CLIPTextConfig(hidden_size=32, intermediate_size=64, num_attention_heads=4,
                                        num_hidden_layers=2, vocab_size=len(tok), bos_token_id=tok.bos_token_id,
                                        eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id))
    unet = UNet2DConditionModel(block_out_channels=(32, 64), layers_per_block=1, sample_size=sample_size,
                                in_channels=4, out_channels=4, down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
                                up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"), cross_attention_dim=32,
                                norm_num_groups=8, attention_head_dim=8)
    vae = AutoencoderKL(block_out_channels=[32, 64], latent_channels=4, norm_num_groups=8,
                        down_block_types=["DownEncoderBlock2D"] * 2, up_block_types=["UpDecoderBlock2D"] * 2)
    sched = DDIMScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", clip_sample=False,
                          set_alpha_to_one=False, steps_offset=1)  # Stable Diffusion v1 settings
    return {"vae": vae.eval(), "text_encoder": text.eval(), "tokenizer": tok, "unet": unet.eval(), "scheduler": sched}
