"""`evaluate_memorization` end to end on the synthetic memorizing UNet (the zoo run is in docs/memorization.md)."""

from __future__ import annotations

import pytest
import torch

from conftest import MEMORIZED, OTHERS
from trustgen.memorization.config import NemoSettings
from trustgen.memorization.evaluate import evaluate_memorization
from trustgen.memorization.replication import generate, pairwise_ssim
from trustgen.memorization.resume import PARTIAL_FILE, LocalizationCache


def test_pairwise_ssim_is_one_on_the_diagonal_and_low_for_noise():
    g = torch.Generator().manual_seed(0)
    a = torch.rand(3, 1, 16, 16, generator=g) * 2 - 1
    sims = pairwise_ssim(a, torch.cat([a, torch.rand(2, 1, 16, 16, generator=g) * 2 - 1]))
    assert sims.shape == (3, 5)
    assert sims[[0, 1, 2], [0, 1, 2]] == pytest.approx(1.0, abs=1e-5) and sims[:, 3:].max() < 0.3


@pytest.mark.slow
def test_evaluate_detects_mitigates_and_counts_on_a_model_that_memorizes_through_two_neurons(memorizing_model,
                                                                                            tmp_path, monkeypatch):
    captions = {"memorized": [MEMORIZED], "nonmemorized": OTHERS[8:], "calibration": OTHERS[:8]}
    # the memorized caption's "training image" is what the model makes for it; the training set is noise
    image = generate(memorizing_model, MEMORIZED, 1, 3, 5)
    train = torch.rand(6, 1, 16, 16, generator=torch.Generator().manual_seed(1)) * 2 - 1
    s = NemoSettings(probe_step=0, seeds=6)
    kwargs = {"seed": 1, "s": s, "gen_seeds": 3, "gen_steps": 5, "per_digit": 1, "image_calibration": 4,
              "resume_folder": tmp_path}
    metrics, grid = evaluate_memorization(memorizing_model, captions, image, train, **kwargs)
    assert metrics["detection_auroc"] == 1.0 and metrics["detection_tpr"] == 1.0
    assert metrics["frac_replicated_before"] == 1.0 and metrics["frac_mitigated"] == 1.0
    row = metrics["per_caption"][0]
    assert {layer for layer, _ in row["neurons"]} == {"down_blocks.0.attentions.0.transformer_blocks.0.attn2.to_v"}
    assert {i for _, i in row["neurons"]} <= {0, 1} and metrics["median_neurons"] == row["num_neurons"] >= 1
    assert row["max_ssim_after"] < metrics["image_threshold"] <= row["max_ssim_before"]
    assert metrics["evals_ratio_exhaustive"] == pytest.approx(row["exhaustive_unet_evals"] / row["unet_evals"])
    assert metrics["nonmem_accuracy_delta_one_caption_median"] is not None
    assert grid.shape == (4, 1, 16, 16)  # training image, before, after, random control

    # a rerun into the same folder reads the localization back instead of searching again, with the same result
    assert metrics["localizations_resumed"] == 0 and (tmp_path / PARTIAL_FILE).is_file()

    def no_search(*args, **kw):
        raise AssertionError("localize ran again on a resumed caption")

    monkeypatch.setattr("trustgen.memorization.localization.localize", no_search)
    again, _ = evaluate_memorization(memorizing_model, captions, image, train, **kwargs)
    assert again["localizations_resumed"] == 1
    assert again["per_caption"][0]["neurons"] == row["neurons"] and again["frac_mitigated"] == 1.0
    assert again["unet_evals_per_prompt"] == metrics["unet_evals_per_prompt"]


def test_localization_cache_keeps_records_under_its_key_and_starts_over_on_another_key_or_a_cut_file(tmp_path):
    record = {"neurons": [["layer", 3]], "unet_evals": 120}
    LocalizationCache(tmp_path, "key-a").put("a caption", record)
    assert LocalizationCache(tmp_path, "key-a").get("a caption") == record
    assert LocalizationCache(tmp_path, "key-a").resumed == 1
    other = LocalizationCache(tmp_path, "key-b")  # another model, seed or setting: nothing is reused
    assert other.resumed == 0 and other.get("a caption") is None
    (tmp_path / PARTIAL_FILE).write_text('{"key": "key-a", "records": {"a cap')  # a kill mid-write of an old version
    assert LocalizationCache(tmp_path, "key-a").resumed == 0
    (tmp_path / PARTIAL_FILE).write_text('{"key": "key-a", "records": {"a caption": {"unet_evals": 1}}}')
    assert LocalizationCache(tmp_path, "key-a").resumed == 0  # a record without its neurons is not reused


def test_cache_key_changes_with_the_seed_the_threshold_and_the_statistics():
    from trustgen.memorization.resume import cache_key
    from trustgen.memorization.statistics import ActivationStats

    stats = ActivationStats({"layer": torch.ones(4)}, {"layer": torch.ones(4)}, 2)
    key = cache_key(NemoSettings(), 0, 0.9, stats)
    assert key == cache_key(NemoSettings(), 0, 0.9, stats)
    assert key != cache_key(NemoSettings(), 1, 0.9, stats) and key != cache_key(NemoSettings(), 0, 0.91, stats)
    assert key != cache_key(NemoSettings(seeds=4), 0, 0.9, stats)
    assert key != cache_key(NemoSettings(), 0, 0.9, ActivationStats({"layer": torch.ones(4) * 2},
                                                                    {"layer": torch.ones(4)}, 2))
