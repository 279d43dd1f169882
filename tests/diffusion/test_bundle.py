"""Models on disk: diffusers layout round trip, foreign pipeline folders, unsafe and corrupt files."""

from __future__ import annotations

import json

import pytest
import torch

from trustgen.core.errors import CorruptFileError, TrustgenError, UnsafeFileError
from trustgen.diffusion.bundle import load_model
from trustgen.diffusion.sampling import sample
from trustgen.diffusion.training import new_model


@pytest.fixture
def saved_uncond(tmp_path, tiny_settings, digits_train):
    model = new_model(tiny_settings(num_train_timesteps=50), digits_train)
    return model, model.save(tmp_path / "model")


def test_round_trip_gives_identical_samples(saved_uncond):
    model, folder = saved_uncond
    loaded = load_model(folder)
    assert loaded.conditioning == "none" and loaded.meta["dataset"] == "digits"
    a = sample(model, 3, sampler="ddim", steps=4, seed=1)
    b = sample(loaded, 3, sampler="ddim", steps=4, seed=1)
    assert torch.equal(a, b)


def test_unconditional_model_is_a_diffusers_ddpm_pipeline(saved_uncond):
    from diffusers import DDPMPipeline

    _, folder = saved_uncond
    pipe = DDPMPipeline.from_pretrained(str(folder), use_safetensors=True)
    images = pipe(batch_size=1, num_inference_steps=2, output_type="np").images
    assert images.shape == (1, 16, 16, 1)


def test_pickle_weights_are_refused_unless_allowed(saved_uncond):
    from safetensors.torch import load_file

    _, folder = saved_uncond
    weights = folder / "unet" / "diffusion_pytorch_model.safetensors"
    torch.save(load_file(str(weights)), folder / "unet" / "diffusion_pytorch_model.bin")
    weights.unlink()
    with pytest.raises(UnsafeFileError, match="--allow-pickle"):
        load_model(folder)
    assert load_model(folder, allow_pickle=True).conditioning == "none"


def test_corrupt_and_missing_weights_are_clear_errors(saved_uncond, tmp_path):
    _, folder = saved_uncond
    (folder / "unet" / "diffusion_pytorch_model.safetensors").write_bytes(b"not a safetensors file at all")
    with pytest.raises(CorruptFileError, match="cannot load"):
        load_model(folder)
    with pytest.raises(TrustgenError, match="neither a zoo model"):
        load_model(tmp_path / "nowhere")
    with pytest.raises(TrustgenError, match="not a diffusion model folder"):
        load_model(tmp_path)


def test_wrong_shape_weights_are_a_clear_error(saved_uncond, tmp_path, tiny_settings, digits_train):
    _, folder = saved_uncond
    other = new_model(tiny_settings(unet={"block_out_channels": (16, 32), "norm_num_groups": 4}), digits_train)
    other.unet.save_pretrained(tmp_path / "other", safe_serialization=True)
    (folder / "unet" / "diffusion_pytorch_model.safetensors").write_bytes(
        (tmp_path / "other" / "diffusion_pytorch_model.safetensors").read_bytes())
    with pytest.raises(CorruptFileError):
        load_model(folder)


def _toy_clip_tokenizer():
    from transformers import CLIPTokenizer

    from trustgen.diffusion.text import _bytes_to_unicode

    chars = _bytes_to_unicode()
    vocab = {t: i for i, t in enumerate(chars + [c + "</w>" for c in chars] + ["<|startoftext|>", "<|endoftext|>"])}
    return CLIPTokenizer(vocab=vocab, merges=[], model_max_length=77)


def test_a_tiny_stable_diffusion_folder_loads_and_samples(tmp_path):
    """A diffusers pipeline folder made elsewhere (VAE + CLIP text encoder) goes through the same code."""
    from diffusers import AutoencoderKL, DDIMScheduler, StableDiffusionPipeline, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel

    torch.manual_seed(0)
    tok = _toy_clip_tokenizer()
    text = CLIPTextModel(CLIPTextConfig(hidden_size=32, intermediate_size=64, num_attention_heads=4,
                                        num_hidden_layers=2, vocab_size=len(tok), bos_token_id=tok.bos_token_id,
                                        eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id))
    unet = UNet2DConditionModel(block_out_channels=(32, 64), layers_per_block=1, sample_size=8, in_channels=4,
                                out_channels=4, down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
                                up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"), cross_attention_dim=32,
                                norm_num_groups=8, attention_head_dim=8)
    vae = AutoencoderKL(block_out_channels=[32, 64], latent_channels=4, norm_num_groups=8,
                        down_block_types=["DownEncoderBlock2D"] * 2, up_block_types=["UpDecoderBlock2D"] * 2)
    sched = DDIMScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear")
    pipe = StableDiffusionPipeline(vae=vae, text_encoder=text, tokenizer=tok, unet=unet, scheduler=sched,
                                   safety_checker=None, feature_extractor=None, image_encoder=None,
                                   requires_safety_checker=False)
    pipe.save_pretrained(tmp_path / "sd")

    model = load_model(tmp_path / "sd")
    assert model.conditioning == "text" and model.vae is not None and model.image_shape == (4, 8, 8)
    images = sample(model, 2, prompts=["a photo of a cat"], sampler="ddim", steps=3, guidance_scale=2.0)
    assert images.shape == (2, 3, 16, 16) and torch.isfinite(images).all()
    index = json.loads((tmp_path / "sd" / "model_index.json").read_text())
    assert index["_class_name"] == "StableDiffusionPipeline"
