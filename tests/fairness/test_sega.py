"""SEGA: equivalence with diffusers' SemanticStableDiffusionPipeline, and the combination rule's parts."""

from __future__ import annotations

import warnings

import pytest
import torch

from trustgen.diffusion.text import TextFeatures
from trustgen.fairness.sega import EditConcept, SemanticGuidance, semantic_denoise

PROMPTS = ["a photo of a cat", "a painting of a house"]
EDITS = [
    EditConcept("glasses", reverse=False, scale=5.0, warmup=1, threshold=0.9, cooldown=6),
    EditConcept("smiling", reverse=True, scale=3.0, warmup=2, threshold=0.8, weight=0.7, cooldown=4),
]


def _embed(tokenizer, text_encoder, prompts):
    ids = tokenizer(prompts, padding="max_length", max_length=tokenizer.model_max_length, truncation=True,
                    return_tensors="pt").input_ids
    with torch.no_grad():
        tokens = text_encoder(ids)[0]
    return TextFeatures(tokens, tokens[:, 0])  # pooled is unused by a Stable Diffusion UNet


@pytest.fixture(scope="module")
def tiny_sd():
    from tiny_sd import tiny_sd_components

    return tiny_sd_components(sample_size=16)


def _diffusers_images(parts, steps, seed, momentum_scale, momentum_beta):
    from diffusers.pipelines.deprecated.semantic_stable_diffusion import SemanticStableDiffusionPipeline

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pipe = SemanticStableDiffusionPipeline(**parts, safety_checker=None, feature_extractor=None,
                                               requires_safety_checker=False)
    pipe.set_progress_bar_config(disable=True)
    out = pipe(PROMPTS, num_inference_steps=steps, guidance_scale=7.5, generator=torch.Generator().manual_seed(seed),
               output_type="pt", editing_prompt=[e.prompt for e in EDITS],
               reverse_editing_direction=[e.reverse for e in EDITS], edit_guidance_scale=[e.scale for e in EDITS],
               edit_warmup_steps=[e.warmup for e in EDITS], edit_cooldown_steps=[e.cooldown for e in EDITS],
               edit_threshold=[e.threshold for e in EDITS], edit_weights=[e.weight for e in EDITS],
               edit_momentum_scale=momentum_scale, edit_mom_beta=momentum_beta)
    return out.images


def _trustgen_images(parts, steps, seed, momentum_scale, momentum_beta):
    unet, vae, scheduler = parts["unet"], parts["vae"], parts["scheduler"]
    tok, enc = parts["tokenizer"], parts["text_encoder"]
    scheduler.set_timesteps(steps)
    g = torch.Generator().manual_seed(seed)
    size = unet.config.sample_size
    latents = torch.randn((len(PROMPTS), 4, size, size), generator=g) * scheduler.init_noise_sigma
    guidance = SemanticGuidance(EDITS, guidance_scale=7.5, momentum_scale=momentum_scale, momentum_beta=momentum_beta)
    latents = semantic_denoise(unet, scheduler, latents, text=_embed(tok, enc, PROMPTS),
                               null_text=_embed(tok, enc, [""]), edits=[_embed(tok, enc, [e.prompt]) for e in EDITS],
                               guidance=guidance, step_kwargs={"eta": 0.0, "generator": g})
    with torch.no_grad():
        images = vae.decode(latents / vae.config.scaling_factor).sample
    return (images / 2 + 0.5).clamp(0, 1)


def test_sega_matches_diffusers_semantic_stable_diffusion_pipeline(tiny_sd):
    """Same seed and parameters → the same images as the reference pipeline (≤ 1e-4), over warm-up,
    partial warm-up, cooldown, reverse direction, thresholds, weights and momentum."""
    theirs = _diffusers_images(tiny_sd, 8, 0, 0.3, 0.6)
    ours = _trustgen_images(tiny_sd, 8, 0, 0.3, 0.6)
    assert ours.shape == theirs.shape == (2, 3, 32, 32)
    diff = (ours - theirs).abs().max().item()
    assert diff <= 1e-4, diff
    # and the edits did something: without them the images differ
    plain = _plain_images(tiny_sd, 8, 0)
    assert (plain - ours).abs().max().item() > 1e-2


def _plain_images(parts, steps, seed):
    unet, vae, scheduler = parts["unet"], parts["vae"], parts["scheduler"]
    tok, enc = parts["tokenizer"], parts["text_encoder"]
    scheduler.set_timesteps(steps)
    g = torch.Generator().manual_seed(seed)
    size = unet.config.sample_size
    latents = torch.randn((len(PROMPTS), 4, size, size), generator=g) * scheduler.init_noise_sigma
    latents = semantic_denoise(unet, scheduler, latents, text=_embed(tok, enc, PROMPTS),
                               null_text=_embed(tok, enc, [""]), edits=[], guidance=SemanticGuidance([]))
    with torch.no_grad():
        return (vae.decode(latents / vae.config.scaling_factor).sample / 2 + 0.5).clamp(0, 1)


def test_fair_generation_runs_on_a_latent_stable_diffusion_folder(tmp_path):
    """The same FairGenerator drives a latent pipeline folder (VAE decode), each image steered its own way."""
    import numpy as np
    from diffusers import StableDiffusionPipeline

    from tiny_sd import tiny_sd_components
    from trustgen.diffusion.bundle import load_model
    from trustgen.fairness.config import FairGenerateSettings
    from trustgen.fairness.sampling import FairGenerator, initial_noise

    pipe = StableDiffusionPipeline(**tiny_sd_components(sample_size=8), safety_checker=None, feature_extractor=None,
                                   image_encoder=None, requires_safety_checker=False)
    pipe.save_pretrained(tmp_path / "sd")
    model = load_model(tmp_path / "sd")
    settings = FairGenerateSettings(model=str(tmp_path / "sd"), attribute="female person:male person", steps=4,
                                    guidance_scale=3.0, edit={"warmup": 1, "threshold": 0.5})
    gen = FairGenerator(model, settings)
    noise = initial_noise(model, 4, 0)
    plain = gen.generate(noise, ["a photo of a doctor"])
    fair = gen.generate(noise, ["a photo of a doctor"], np.array([0, 1, 0, 1]))
    assert plain.shape == fair.shape == (4, 3, 16, 16)
    assert torch.isfinite(fair).all() and (fair - plain).abs().amax(dim=(1, 2, 3)).min() > 1e-3
    # the two directions differ for the same noise
    mirrored = gen.generate(noise, ["a photo of a doctor"], np.array([1, 0, 1, 0]))
    assert (mirrored - fair).abs().amax(dim=(1, 2, 3)).min() > 1e-3


def test_guidance_rule_parts_on_random_tensors():
    """Threshold keeps the top (1 − λ) of each channel; warm-up holds edits back while momentum builds."""
    g = torch.Generator().manual_seed(0)
    u, t, e = (torch.randn(2, 3, 8, 8, generator=g) for _ in range(3))
    rule = SemanticGuidance([EditConcept("x", scale=1.0, warmup=2, threshold=0.75)], guidance_scale=1.0,
                            momentum_scale=0.5, momentum_beta=0.5)
    kept = rule.edit_term(0, e - u, rule.concepts[0], torch.tensor(1.0))
    assert ((kept != 0).flatten(2).sum(-1) == 16).all()  # 25 % of 64 positions per image and channel
    assert torch.allclose(rule(0, u, t, [e]), t, atol=1e-6)  # warm-up: plain guidance …
    assert rule.momentum is not None and rule.momentum.abs().sum() > 0  # … but momentum accumulates
    after = rule(2, u, t, [e])
    assert not torch.allclose(after, t)
    reverse = EditConcept("x", reverse=True, threshold=0.0, warmup=0)
    assert torch.allclose(SemanticGuidance([reverse], guidance_scale=1.0, momentum_scale=0.0)(0, u, t, [e]),
                          t - 5.0 * (e - u))
    with pytest.raises(ValueError, match="scale"):
        EditConcept("x", scale=-1.0)
