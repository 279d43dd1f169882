"""Sampling: determinism, exact UNet-evaluation counts, partial chains, guidance."""

from __future__ import annotations

import pytest
import torch

from trustgen.core.errors import TrustgenError
from trustgen.diffusion.sampling import make_scheduler, sample, timesteps_between
from trustgen.diffusion.training import new_model


@pytest.fixture
def uncond(digits_train, tiny_settings):
    return new_model(tiny_settings(num_train_timesteps=50), digits_train)


def _count_calls(model):
    calls = []
    handle = model.unet.register_forward_hook(lambda m, i, o: calls.append(i[0].shape[0]))
    return calls, handle


def test_same_seed_same_images_other_seed_differs(uncond):
    a = sample(uncond, 4, sampler="ddim", steps=5, seed=3)
    b = sample(uncond, 4, sampler="ddim", steps=5, seed=3)
    c = sample(uncond, 4, sampler="ddim", steps=5, seed=4)
    assert a.shape == (4, 1, 16, 16) and a.dtype == torch.float32
    assert float(a.min()) >= -1 and float(a.max()) <= 1
    assert torch.equal(a, b) and not torch.equal(a, c)


@pytest.mark.parametrize(("sampler", "steps", "expected"), [("ddpm", None, 50), ("ddpm", 10, 10), ("ddim", 7, 7)])
def test_unet_evaluations_equal_the_sampler_steps(uncond, sampler, steps, expected):
    calls, handle = _count_calls(uncond)
    try:
        sample(uncond, 3, sampler=sampler, steps=steps)
    finally:
        handle.remove()
    assert len(calls) == expected


def test_batches_do_not_change_the_count(uncond):
    calls, handle = _count_calls(uncond)
    try:
        sample(uncond, 5, sampler="ddim", steps=4, batch_size=2)
    finally:
        handle.remove()
    assert calls == [2] * 4 + [2] * 4 + [1] * 4


def test_timesteps_between_splits_the_chain_without_overlap(uncond):
    sched = make_scheduler(uncond, "ddpm", None)
    high = timesteps_between(sched, 50, 10)
    low = timesteps_between(sched, 10, 0)
    assert high == list(range(49, 9, -1)) and low == list(range(9, -1, -1))


def test_bad_sampler_and_steps_are_clear_errors(uncond):
    with pytest.raises(TrustgenError, match="unknown sampler"):
        sample(uncond, 2, sampler="euler")
    with pytest.raises(TrustgenError, match="between 1 and 50"):
        sample(uncond, 2, sampler="ddim", steps=500)
    with pytest.raises(TrustgenError, match="unconditional"):
        sample(uncond, 2, prompts=["a seven"])


def test_class_guidance_doubles_the_batch_and_respects_labels(digits_train, tiny_settings):
    model = new_model(tiny_settings(conditioning="class"), digits_train)
    calls, handle = _count_calls(model)
    try:
        x = sample(model, 4, sampler="ddim", steps=3, labels=[0, 1, 2, 3], guidance_scale=2.0)
    finally:
        handle.remove()
    assert x.shape == (4, 1, 16, 16) and calls == [8, 8, 8]
    with pytest.raises(TrustgenError, match="integers in"):
        sample(model, 2, labels=[0, 11])


def test_text_model_with_minilm_follows_the_prompt_mechanics(tiny_settings):
    from trustgen.core.data import load_dataset

    data = load_dataset("digits-captioned", "train")
    model = new_model(tiny_settings(conditioning="text"), data)
    assert model.text_encoder is not None and model.text_encoder.dim == 384
    a = sample(model, 2, prompts=["a handwritten seven"], sampler="ddim", steps=3, guidance_scale=3.0)
    b = sample(model, 2, prompts=["a handwritten one"], sampler="ddim", steps=3, guidance_scale=3.0)
    assert not torch.equal(a, b)  # the prompt reaches the UNet
    with pytest.raises(TrustgenError, match="give --prompt"):
        sample(model, 2)


def test_explicit_ddim_equals_diffusers_ddim_and_splits_exactly(uncond):
    from trustgen.collab.schedule import alpha_bars
    from trustgen.diffusion.sampling import Conditioning, denoise, denoise_ddim

    torch.manual_seed(0)
    for p in uncond.unet.parameters():  # a fresh UNet predicts ~0; make its output matter
        p.data.add_(0.05 * torch.randn_like(p))
    x = torch.randn(3, 1, 16, 16, generator=torch.Generator().manual_seed(1))
    scheduler = make_scheduler(uncond, "ddim", 10)
    grid = [int(t) for t in scheduler.timesteps]
    reference = denoise(uncond, x.clone(), scheduler, grid, Conditioning())
    ours = denoise_ddim(uncond, x.clone(), grid, Conditioning())
    assert torch.allclose(ours, reference, atol=1e-5)
    # split at any step: the first part ends at the noise level of the next listed step
    a = alpha_bars(uncond.scheduler_config)
    head = denoise_ddim(uncond, x.clone(), grid[:4], Conditioning(), final_alpha_bar=float(a[grid[4]]))
    assert torch.allclose(denoise_ddim(uncond, head, grid[4:], Conditioning()), ours, atol=1e-5)
