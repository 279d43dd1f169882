"""Detection scores, calibration, statistics and localization on a synthetic memorizing UNet."""

from __future__ import annotations

import pytest
import torch

from conftest import MEMORIZED, OTHERS
from trustgen.core.errors import TrustgenError
from trustgen.memorization.config import NemoSettings
from trustgen.memorization.detection import (
    REFERENCE_TOTAL_SNR,
    auroc,
    calibrate_threshold,
    detect,
    make_probe,
    noise_differences,
    pairwise_ms_ssim,
    probe_index,
    total_snr,
)
from trustgen.memorization.hooks import count_unet_evals, deactivate
from trustgen.memorization.layers import count as count_all
from trustgen.memorization.layers import value_layers
from trustgen.memorization.localization import exhaustive_ablation, exhaustive_evals, localize
from trustgen.memorization.statistics import ActivationStats

LAYER = "down_blocks.0.attentions.0.transformer_blocks.0.attn2.to_v"


def test_pairwise_ms_ssim_separates_a_shared_pattern_from_independent_noise():
    g = torch.Generator().manual_seed(0)
    pattern = torch.randn(1, 1, 16, 16, generator=g)
    shared = pattern + 0.05 * torch.randn(6, 1, 16, 16, generator=g)
    independent = torch.randn(6, 1, 16, 16, generator=g)
    m_shared, m_ind = pairwise_ms_ssim(shared), pairwise_ms_ssim(independent)
    assert m_shared.max() > 0.95 and m_ind.max() < 0.5
    assert torch.equal(m_shared, m_shared.T) and float(m_shared[0, 0]) == -1.0


def test_auroc_and_threshold_numbers():
    assert auroc([0.9, 0.8], [0.1, 0.2, 0.3]) == 1.0
    assert auroc([0.1], [0.9]) == 0.0
    assert auroc([0.5], [0.5]) == 0.5
    assert calibrate_threshold([0.2, 0.4]) == pytest.approx(0.3 + 0.1)
    with pytest.raises(TrustgenError):
        calibrate_threshold([0.3])


def test_detection_separates_the_synthetic_memorized_prompt(memorizing_model):
    mem, _, _ = detect(memorizing_model, MEMORIZED, probe_step=0)
    others = [detect(memorizing_model, p, probe_step=0)[0] for p in OTHERS[:6]]
    assert mem.unet_evals == 30  # two for δ and one unconditional for Wen's score, per seed
    assert mem.nemo_score > 0.9 and max(d.nemo_score for d in others) < 0.5
    assert mem.wen_score > 100 * max(d.wen_score for d in others)
    tau = calibrate_threshold([d.nemo_score for d in others])
    assert mem.nemo_score > tau
    assert auroc([mem.nemo_score], [d.nemo_score for d in others]) == 1.0


def test_statistics_roundtrip(memorizing_model, tmp_path):
    layers = value_layers(memorizing_model.unet)
    stats = ActivationStats.fit(memorizing_model, OTHERS, layers)
    assert stats.mean[LAYER].shape == (8,) and bool((stats.std[LAYER] > 0).all())
    stats.save(tmp_path / "s.safetensors")
    back = ActivationStats.load(tmp_path / "s.safetensors", layers)
    assert torch.equal(back.mean[LAYER], stats.mean[LAYER]) and back.num_prompts == len(OTHERS)


def test_localization_finds_the_memorization_neurons_and_counts_evals(memorizing_model):
    layers = value_layers(memorizing_model.unet)
    stats = ActivationStats.fit(memorizing_model, OTHERS, layers)
    tau = calibrate_threshold([detect(memorizing_model, p, probe_step=0)[0].nemo_score for p in OTHERS])
    s = NemoSettings(probe_step=0)
    loc = localize(memorizing_model, MEMORIZED, stats, tau, s)
    found = set(loc.refined.get(LAYER, []))
    # the gate reads the mean of neurons 0 and 1; the other six neurons carry nothing and must be dropped
    assert found == {0, 1} and list(loc.refined) == [LAYER]
    assert count_all(loc.initial) >= 2
    # switching them off removes the shared pattern: same-seed similarity drops from 1 to what the seed's own
    # noise explains; when the selection cannot get below τ, refinement keeps what it reached (as NeMo's code)
    assert loc.ssim_initial is not None and loc.ssim_refined is not None
    assert loc.ssim_refined <= max(tau, loc.ssim_initial) + 1e-6 and loc.ssim_refined < 0.5
    # every check costs two evaluations per memorized seed, on top of the 30 of detection
    assert loc.unet_evals > 30 and (loc.unet_evals - 30) % 20 == 0
    assert exhaustive_evals(memorizing_model, s, 10) == 30 + 2 * 10 * 8
    clean = localize(memorizing_model, OTHERS[0], stats, tau, s)
    assert clean.refined == {} and clean.unet_evals == 30
    # our rule: the detection score itself with the neurons off must fall below τ (all 10 seeds per check)
    by_score = localize(memorizing_model, MEMORIZED, stats, tau, NemoSettings(probe_step=0, check="score"))
    assert by_score.refined and set(by_score.refined[LAYER]) <= {0, 1} and list(by_score.refined) == [LAYER]
    # with the gate closed the prompt scores like the non-memorized ones (≈ τ, from > 0.9 unblocked)
    assert by_score.ssim_refined <= max(tau, by_score.ssim_initial) + 1e-6 and by_score.ssim_refined < 0.5
    assert by_score.detection.nemo_score > 0.9 and (by_score.unet_evals - 30) % 20 == 0
    with deactivate(memorizing_model.unet, by_score.refined):
        assert detect(memorizing_model, MEMORIZED, probe_step=0)[0].nemo_score == pytest.approx(by_score.ssim_refined)


def test_exhaustive_ablation_ranks_the_memorization_neurons_first_and_costs_what_is_predicted(memorizing_model):
    others = [detect(memorizing_model, p, probe_step=0)[0] for p in OTHERS[:6]]
    tau = calibrate_threshold([d.nemo_score for d in others])
    s = NemoSettings(probe_step=0)
    ablation = exhaustive_ablation(memorizing_model, MEMORIZED, tau, s)
    assert ablation is not None
    singles = ablation.similarity[LAYER]
    assert len(singles) == 8
    # neurons 0 and 1 open the gate; each alone off lowers the similarity more than any of the six others
    assert max(singles[0], singles[1]) < min(singles[2:])
    assert set(ablation.selected[LAYER]) <= {0, 1} and ablation.ssim_selected < 0.5
    mem = detect(memorizing_model, MEMORIZED, probe_step=0, threshold=tau)[0]
    kept = sum(v > tau for v in mem.seed_scores)
    assert ablation.unet_evals_single == exhaustive_evals(memorizing_model, s, kept)
    assert ablation.unet_evals == ablation.unet_evals_single + 2 * kept * (1 + ablation.to_dict()["num_selected"])
    assert exhaustive_ablation(memorizing_model, OTHERS[0], tau, s) is None


def _ddim(config: dict, steps: int = 50):
    from diffusers import DDIMScheduler

    scheduler = DDIMScheduler.from_config(config)
    scheduler.set_timesteps(steps)
    return scheduler


def test_probe_step_rule_gives_the_paper_step_for_sd14_and_a_later_one_for_a_small_pixel_model():
    sd14 = _ddim({"num_train_timesteps": 1000, "beta_start": 0.00085, "beta_end": 0.012,
                  "beta_schedule": "scaled_linear", "steps_offset": 1})
    first = int(sd14.timesteps[0])
    assert first == 981
    assert total_snr(float(sd14.alphas_cumprod[first]), 4 * 64 * 64) == pytest.approx(95.2, abs=0.1)
    assert probe_index(sd14, 4 * 64 * 64) == 0  # SD 1.x: NeMo's own probe at the first timestep
    assert probe_index(sd14, 4 * 96 * 96) == 0
    ours = _ddim({"num_train_timesteps": 1000, "beta_start": 0.0001, "beta_end": 0.02,
                  "beta_schedule": "squaredcos_cap_v2"})
    i = probe_index(ours, 16 * 16)  # digits-t2i-memorized: 1×16×16 pixels, cosine schedule
    assert i == 17 and int(ours.timesteps[i]) == 640
    assert total_snr(float(ours.alphas_cumprod[int(ours.timesteps[i])]), 256) >= REFERENCE_TOTAL_SNR
    assert total_snr(float(ours.alphas_cumprod[int(ours.timesteps[i - 1])]), 256) < REFERENCE_TOTAL_SNR
    assert total_snr(float(ours.alphas_cumprod[980]), 256) < 0.3  # the paper's step carries no seed information
    assert probe_index(ours, 256, reference=1e9) == 48  # never reached: the last step that has a successor


def test_probe_step_setting_is_checked(memorizing_model):
    with pytest.raises(ValueError, match="probe_step"):
        NemoSettings(probe_step=-1)
    assert NemoSettings().probe_step == "auto" and NemoSettings(probe_step=3).probe_step == 3
    with pytest.raises(TrustgenError, match="probe_step"):
        make_probe(memorizing_model, MEMORIZED, steps=10, probe_step=9)
    assert make_probe(memorizing_model, MEMORIZED, probe_step="auto").index == 17


def test_probe_runs_the_ddim_chain_to_the_probe_step(memorizing_model):
    from trustgen.diffusion.sampling import Conditioning, predict_noise

    probe = make_probe(memorizing_model, MEMORIZED, seeds=3, probe_step=4)
    with count_unet_evals(memorizing_model.unet) as evals:
        diffs, eps_first = noise_differences(probe, with_first=True)
    assert evals[0] == 3 * (4 + 2)  # four chain steps, the probe step's prediction, the next one
    sch, x = probe.scheduler, probe.latents
    cond = Conditioning(text=probe.text.expand(3), guidance_scale=1.0)
    for t in [int(t) for t in sch.timesteps[:5]]:
        eps = predict_noise(memorizing_model, x, t, cond)
        x = sch.step(eps, t, x).prev_sample
    t = int(sch.timesteps[5])
    a = float(sch.alphas_cumprod[t])
    eps = predict_noise(memorizing_model, x, t, cond)
    assert torch.allclose(diffs, eps - x / (1 - a) ** 0.5, atol=1e-5)  # = −√(ᾱ/(1−ᾱ))·x̂0
    x0 = (x - (1 - a) ** 0.5 * eps) / a**0.5
    assert torch.allclose(diffs, -((a / (1 - a)) ** 0.5) * x0, atol=1e-4)
    assert torch.allclose(eps_first, predict_noise(memorizing_model, probe.latents, int(sch.timesteps[0]), cond))
    # the default (auto) probe on this 16×16 pixel model still separates the synthetic memorized prompt
    mem, _, _ = detect(memorizing_model, MEMORIZED)
    other, _, _ = detect(memorizing_model, OTHERS[0])
    assert mem.unet_evals == 10 * (17 + 2 + 1) and mem.nemo_score > other.nemo_score


def test_a_model_recommendation_fills_only_unset_settings():
    from trustgen.memorization.config import effective_settings

    meta = {"memorization": {"include_up": True}}
    assert effective_settings(NemoSettings(), meta).include_up is True
    assert effective_settings(NemoSettings(include_up=False), meta).include_up is False  # the user's word wins
    s = effective_settings(NemoSettings(seeds=4, probe_step=0), {})
    assert (s.seeds, s.probe_step, s.include_up) == (4, 0, False)
