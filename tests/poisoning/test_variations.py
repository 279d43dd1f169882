"""SDEdit variations and the colour transfer, on a tiny untrained denoiser and on the shipped digits DDPM."""

from __future__ import annotations

import pytest
import torch

from trustgen.core.data import ImageDataset, load_dataset
from trustgen.core.errors import TrustgenError
from trustgen.poisoning.variations import check_variation_model, color_transfer, make_variations, start_timestep


@pytest.fixture(scope="module")
def images():
    return load_dataset("digits", "test").images[:12]


@pytest.fixture(scope="module")
def tiny_model(images):
    from trustgen.diffusion.config import DiffusionTrainSettings, UNetSettings
    from trustgen.diffusion.training import new_model

    data = ImageDataset("digits", "test", images, torch.zeros(len(images), dtype=torch.long), [str(i) for i in
                                                                                                  range(10)])
    settings = DiffusionTrainSettings(num_train_timesteps=100,
                                      unet=UNetSettings(block_out_channels=(8, 16), norm_num_groups=4))
    return new_model(settings, data)


def test_color_transfer_copies_mean_and_std(images):
    assert torch.allclose(color_transfer(0.3 * images + 0.1, images), images, atol=1e-4)  # undoes an affine change
    out = color_transfer(images.flip(0) * 0.2, images)  # another image: its shape, the original's statistics
    assert out.min() >= -1 and out.max() <= 1
    assert torch.allclose(out.mean(dim=(2, 3)), images.mean(dim=(2, 3)), atol=0.05)


def test_strength_sets_the_start_timestep(tiny_model):
    assert start_timestep(tiny_model, 1.0) == 99
    assert start_timestep(tiny_model, 0.5) == 49
    assert start_timestep(tiny_model, 0.001) == 0


def test_small_strength_keeps_the_image_large_strength_does_not(tiny_model, images):
    near = make_variations(tiny_model, images, strength=0.01, steps=1, color=False, seed=0)
    far = make_variations(tiny_model, images, strength=1.0, steps=3, color=False, seed=0)
    assert near.shape == images.shape and near.dtype == torch.float32
    assert (near - images).abs().mean() < 0.1 < (far - images).abs().mean()
    again = make_variations(tiny_model, images, strength=1.0, steps=3, color=False, seed=0)
    assert torch.equal(far, again)
    assert not torch.equal(far, make_variations(tiny_model, images, strength=1.0, steps=3, color=False, seed=1))


def test_digits_ddpm_washes_out_a_badnets_patch(images):
    """The shipped DDPM (trained on the clean digits train split) at s = 0.5: the checkerboard's alternation in
    the corner is gone while the digit stays close to the original."""
    from trustgen.diffusion.bundle import load_model
    from trustgen.poisoning.attacks import apply_trigger
    from trustgen.poisoning.config import AttackSettings

    triggered = apply_trigger(images, AttackSettings(kind="badnets", patch_size=3))
    out = make_variations(load_model("digits-ddpm"), triggered, strength=0.5, steps=4, seed=0)
    board = triggered[:, 0, -3:, -3:]
    corr_before = float((board * board).mean())
    corr_after = float((out[:, 0, -3:, -3:] * board).mean())  # agreement with the ±1 pattern
    assert corr_before == 1.0 and corr_after < 0.3
    assert (out[:, :, :12, :12] - images[:, :, :12, :12]).abs().mean() < 0.5


def test_wrong_image_size_is_refused(tiny_model):
    with pytest.raises(TrustgenError, match="works on 1×16×16 images, the data set's are 1×8×8"):
        check_variation_model(tiny_model, (1, 8, 8))
