"""Detection scores, calibration, statistics and localization on a synthetic memorizing UNet."""

from __future__ import annotations

import pytest
import torch

from conftest import MEMORIZED, OTHERS
from trustgen.core.errors import TrustgenError
from trustgen.memorization.config import NemoSettings
from trustgen.memorization.detection import auroc, calibrate_threshold, detect, pairwise_ms_ssim
from trustgen.memorization.layers import count as count_all
from trustgen.memorization.layers import value_layers
from trustgen.memorization.localization import exhaustive_evals, localize
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
    mem, _, _ = detect(memorizing_model, MEMORIZED)
    others = [detect(memorizing_model, p)[0] for p in OTHERS[:6]]
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
    tau = calibrate_threshold([detect(memorizing_model, p)[0].nemo_score for p in OTHERS])
    s = NemoSettings()
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
    assert exhaustive_evals(memorizing_model, s, 10) == 20 + 2 * 10 * 8
    clean = localize(memorizing_model, OTHERS[0], stats, tau, s)
    assert clean.refined == {} and clean.unet_evals == 30
