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


def test_a_tiny_stable_diffusion_folder_loads_and_samples(tmp_path):
    """A diffusers pipeline folder made elsewhere (VAE + CLIP text encoder) goes through the same code."""
    from diffusers import StableDiffusionPipeline

    from tiny_sd import tiny_sd_components

    pipe = StableDiffusionPipeline(**tiny_sd_components(sample_size=8), safety_checker=None, feature_extractor=None,
                                   image_encoder=None, requires_safety_checker=False)
    pipe.save_pretrained(tmp_path / "sd")

    model = load_model(tmp_path / "sd")
    assert model.conditioning == "text" and model.vae is not None and model.image_shape == (4, 8, 8)
    images = sample(model, 2, prompts=["a photo of a cat"], sampler="ddim", steps=3, guidance_scale=2.0)
    assert images.shape == (2, 3, 16, 16) and torch.isfinite(images).all()
    index = json.loads((tmp_path / "sd" / "model_index.json").read_text())
    assert index["_class_name"] == "StableDiffusionPipeline"
