"""``trustgen fairness``: bad input (exit 2, one line) and end-to-end runs on a tiny trained text model."""

from __future__ import annotations

import json
import re

import pytest

from cli_support import assert_bad_input, trustgen


@pytest.fixture(scope="module")
def tiny_text_model(tmp_path_factory):
    """A few-step text model on digits-biased (random-ish images, but the whole pipeline runs)."""
    from trustgen.core.data import load_dataset
    from trustgen.diffusion.config import DiffusionTrainSettings, UNetSettings
    from trustgen.diffusion.training import train_diffusion

    settings = DiffusionTrainSettings(dataset="digits-biased", conditioning="text", steps=4, batch_size=8,
                                      warmup_steps=1, num_train_timesteps=50,
                                      unet=UNetSettings(block_out_channels=(8, 16), norm_num_groups=4,
                                                        attention_head_dim=4, attention_levels=1))
    result = train_diffusion(settings, load_dataset("digits-biased", "train"))
    return result.model.save(tmp_path_factory.mktemp("fair") / "model")


FAST = ["steps=4", "edit.warmup=1", "batch_size=8"]


@pytest.mark.parametrize(("args", "words"), [
    (["--attribute", "thick strokes", "--target", "1"], ["one value"]),
    (["--attribute", "thin strokes:thick strokes", "--target", "0.5,0.4"], ["sum to 1"]),
    (["--edit-scale", "-2"], ["edit scale must be >= 0"]),
])
def test_bad_input_is_one_line_and_exit_2(args, words):
    assert_bad_input(trustgen("fairness", "generate", "--prompt", "a handwritten seven", *args), *words)


@pytest.mark.parametrize(("overrides", "words"), [
    ({"attribute": "a:b:c", "targets": [0.5, 0.5]}, "2 targets for 3"),
    ({"attribute": "a:b", "targets": [1.5]}, "[0, 1]"),
    ({"attribute": "a::b"}, "empty value"),
    ({"attribute": "a:a"}, "repeats"),
    ({"guidance_scale": -1}, "guidance scale must be >= 0"),
    ({"edit": {"threshold": 1.0}}, "edit.threshold"),
    ({"draw": "sometimes"}, "draw"),
])
def test_bad_settings_name_the_problem(overrides, words):
    from trustgen.core.config import resolve_settings
    from trustgen.core.errors import TrustgenError
    from trustgen.fairness.config import FairGenerateSettings

    with pytest.raises(TrustgenError, match=re.escape(words)):
        resolve_settings(FairGenerateSettings, **overrides)


def test_a_model_without_text_conditioning_is_refused():
    result = trustgen("fairness", "generate", "--model", "digits-ddpm", "--prompt", "x", "--num", "2")
    assert_bad_input(result, "text-conditional")


def test_an_attribute_the_measure_cannot_read_is_refused():
    from trustgen.core.errors import TrustgenError
    from trustgen.fairness.attributes import StrokeThickness
    from trustgen.fairness.experiment import ValueMeter

    assert ValueMeter(StrokeThickness(), ["thick strokes", "thin strokes"]).to_value.tolist() == [1, 0]
    with pytest.raises(TrustgenError, match="stroke-thickness"):
        ValueMeter(StrokeThickness(), ["female person", "male person"])
    with pytest.raises(TrustgenError, match="same"):
        ValueMeter(StrokeThickness(), ["thin strokes", "very thin strokes"])


def test_generate_closed_loop_end_to_end(tiny_text_model, tmp_path):
    out = tmp_path / "gen"
    result = trustgen("fairness", "generate", "--model", tiny_text_model, "--prompt", "a handwritten seven",
                      "--attribute", "thin strokes:thick strokes", "--target", "0.3", "--num", "8", "--closed-loop",
                      "round_size=4", *FAST, "--out", out, "--json")
    assert result.returncode == 0, result.stderr
    m = json.loads(result.stdout)
    assert m["targets"] == [0.3, 0.7] and m["values"] == ["thin strokes", "thick strokes"]
    assert len(m["plain_share"]) == len(m["fair_share"]) == 2 and sum(m["fair_share"]) == pytest.approx(1)
    assert {"fd_digits_plain", "fd_digits_fair", "confidence_plain", "accuracy_fair"} <= set(m)
    for name in ("plain.png", "fair.png", "samples.npy", "report.md", "config.yaml", "metrics.json"):
        assert (out / name).is_file(), name


def test_an_attribute_without_a_measure_still_generates_open_loop(tiny_text_model, tmp_path):
    from trustgen.core.config import resolve_settings
    from trustgen.core.errors import TrustgenError
    from trustgen.fairness.config import FairGenerateSettings
    from trustgen.fairness.experiment import run_generate

    overrides = [*FAST, "num=2", "attribute=female person:male person"]
    settings = resolve_settings(FairGenerateSettings, overrides=overrides, model=str(tiny_text_model))
    m = run_generate(settings, tmp_path / "open")
    assert m["steered_share"] == [0.5, 0.5] and "fair_share" not in m
    with pytest.raises(TrustgenError, match="stroke-thickness"):
        run_generate(settings.model_copy(update={"closed_loop": True}), tmp_path / "closed")


def test_evaluate_reports_the_issue_keys(tiny_text_model, tmp_path):
    result = trustgen("fairness", "evaluate", "--model", tiny_text_model, "--seed", "0", "per_digit=1",
                      "targets=[0.5]", "round_size=5", *FAST, "--out", tmp_path / "ev", "--json")
    assert result.returncode == 0, result.stderr
    m = json.loads(result.stdout)
    for key in ("plain_share", "targets", "accuracy_plain", "accuracy_guided", "fd_plain", "fd_guided"):
        assert key in m, key
    assert set(m["targets"][0]) >= {"target", "open_loop_share", "closed_loop_share"}
    assert 0.5 <= m["plain_share"] <= 1 and m["num"] == 10
    assert m["measure_agreement"] == 1.0  # on real test images the measure reproduces the labels
    assert (tmp_path / "ev" / "closed-50.png").is_file()


def test_evaluation_report_with_and_without_the_closed_loop():
    from trustgen.fairness.report import evaluation_report

    row = {"target": 0.5, "open_loop_share": 0.46, "open_loop_accuracy": 0.94, "open_loop_fd_digits": 20.0,
           "open_loop_distance_from_half_per_digit": 0.1}
    m = {"model": "m", "num": 200, "values": ["thin strokes", "thick strokes"], "measure": "stroke-thickness",
         "plain_share": 0.88, "plain_majority": "thick strokes", "accuracy_plain": 0.98, "accuracy_guided": 0.94,
         "accuracy_guided_worst": 0.9, "fd_plain": 15.0, "fd_guided": 20.0, "fd_floor": 12.0,
         "plain_distance_from_half_per_digit": 0.38, "measure_agreement": 1.0, "measure_noise_sigma": 0.05,
         "measure_noise_agreement": 0.97, "measure_width_spearman": 0.7, "attribute_prompt_share": [0.9, 0.95],
         "targets": [row], "grids": ["plain", "open-50"]}
    text = evaluation_report(m)
    assert "| 0.50 | 0.460 | – |" in text and "0.311" in text and "![open-50](open-50.png)" in text
    row.update(closed_loop_share=0.5, closed_loop_accuracy=0.93, closed_loop_fd_digits=21.0,
               closed_loop_distance_from_half_per_digit=0.09)
    assert "| 0.50 | 0.460 | 0.500 |" in evaluation_report(m)


def test_edit_settings_user_beats_model_recommendation_beats_defaults():
    from trustgen.core.config import resolve_settings
    from trustgen.fairness.config import FairGenerateSettings, effective_edit

    meta = {"fairness": {"edit": {"scale": 0.75, "threshold": 0.0}}}
    chosen = effective_edit(resolve_settings(FairGenerateSettings, overrides=["edit.threshold=0.5"]).edit, meta)
    assert (chosen.scale, chosen.threshold, chosen.warmup) == (0.75, 0.5, 5)
    assert effective_edit(FairGenerateSettings().edit, {}).scale == 4.0  # Fair Diffusion's script


def test_the_digit_a_prompt_names():
    from trustgen.fairness.experiment import prompted_digit

    assert prompted_digit("a handwritten seven") == 7
    assert prompted_digit("a 7 with thin strokes") == 7
    assert prompted_digit("a seven or a 3") is None and prompted_digit("a photo of a doctor") is None
