"""``trustgen poison train|evaluate`` end to end on tiny settings, and its bad-input contract."""

from __future__ import annotations

import json

import pytest
import torch

from cli_support import assert_bad_input, trustgen

TINY = ["train_limit=120", "test_limit=60", "classifier.epochs=2", "classifier.architecture.widths=[8]",
        "classifier.architecture.hidden=16", "variations.steps=2"]


@pytest.fixture(scope="module")
def small_model(tmp_path_factory):
    """A (untrained) diffusion model of 8×8 images, saved as a folder."""
    from trustgen.core.data import ImageDataset
    from trustgen.diffusion.config import DiffusionTrainSettings, UNetSettings
    from trustgen.diffusion.training import new_model

    data = ImageDataset("digits", "train", torch.zeros(4, 1, 8, 8), torch.zeros(4, dtype=torch.long),
                        [str(i) for i in range(10)])
    model = new_model(DiffusionTrainSettings(unet=UNetSettings(block_out_channels=(8, 8), norm_num_groups=4)), data)
    return model.save(tmp_path_factory.mktemp("model8") / "m8")


@pytest.mark.parametrize(("args", "words"), [
    (["--rate", "1.0"], ["attack.rate", "[0, 1)"]),
    (["--rate", "-0.1"], ["attack.rate", "[0, 1)"]),
    (["--target", "10"], ["target class 10", "0–9"]),
    (["attack.patch_size=17"], ["patch", "larger than the 16×16"]),
    (["--attack", "trojan"], ["unknown attack", "badnets"]),
    (["--defense", "pray"], ["unknown defence", "kd"]),
])
def test_train_bad_input_is_one_line(tmp_path, args, words):
    assert_bad_input(trustgen("poison", "train", *args, "--out", tmp_path / "run", *TINY), *words)


def test_variation_model_of_another_size_is_refused(tmp_path, small_model):
    result = trustgen("poison", "train", "--defense", "variations", "--variation-model", small_model,
                      "--out", tmp_path / "run", *TINY)
    assert_bad_input(result, "8×8", "16×16")
    result = trustgen("poison", "evaluate", "--variation-model", small_model, "--out", tmp_path / "ev", *TINY)
    assert_bad_input(result, "8×8", "16×16")


def test_train_kd_writes_a_model_with_a_card(tmp_path):
    out = tmp_path / "kd"
    result = trustgen("poison", "train", "--attack", "badnets", "--defense", "kd", "--rate", "0.2", "--out", out,
                      "--json", *TINY)
    assert result.returncode == 0, result.stderr
    metrics = json.loads(result.stdout)
    assert metrics["defense"] == "kd" and metrics["attack"] == "badnets"
    assert metrics["poisoned_samples"] == round(0.2 * 108) or metrics["poisoned_samples"] > 0
    assert 0 <= metrics["asr"] <= 1 and 0 <= metrics["clean_accuracy"] <= 1
    card = json.loads((out / "model" / "card.json").read_text())
    assert "CE term: textbook" in card["description"] and "digits-ddpm" in card["description"]
    info = json.loads((out / "model" / "classifier.json").read_text())
    assert info["distillation"]["ce"] == "textbook" and info["poisoning"]["defense"] == "kd"
    for name in ("config.yaml", "metrics.json", "report.md", "examples.png", "log.txt"):
        assert (out / name).is_file()
    from trustgen.classifiers.bundle import load_classifier

    assert load_classifier(out).num_classes == 10


def test_evaluate_compares_four_models(tmp_path):
    out = tmp_path / "ev"
    result = trustgen("poison", "evaluate", "--attack", "blended", "--seed", "0", "--out", out, "--json", *TINY)
    assert result.returncode == 0, result.stderr
    metrics = json.loads(result.stdout)
    assert set(metrics["results"]) == {"blended"}
    assert set(metrics["results"]["blended"]) == {"clean", "teacher", "variations", "kd"}
    for key in ("blended_clean_asr", "blended_teacher_asr", "blended_variations_asr", "blended_kd_asr",
                "blended_kd_clean_accuracy", "blended_clean_clean_target_rate"):
        assert 0 <= metrics[key] <= 1
    assert "| student on variations + KD |" in (out / "report.md").read_text()
