"""The label-smoothing study: its settings, the zoo recipes that must match them, the trend check, and (slow) a
tiny end-to-end ``trustgen inversion evaluate``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cli_support import trustgen
from trustgen.classifiers.training import RESUME_FREE
from trustgen.core.config import read_yaml, resolve_settings
from trustgen.core.errors import TrustgenError
from trustgen.inversion.config import InversionEvaluateSettings
from trustgen.inversion.experiment import paper_trend

RECIPES = Path(__file__).resolve().parents[2] / "scripts" / "zoo"
ZOO_TARGETS = {"mi-digits-target-hard": 0.0, "mi-digits-target-ls": 0.1, "mi-digits-target-negls": -0.05}


def test_zoo_recipes_are_what_evaluate_trains_for_seed_0():
    s = InversionEvaluateSettings()
    for name, alpha in ZOO_TARGETS.items():
        recipe = {k: v for k, v in read_yaml(RECIPES / f"{name}.yaml").items() if k not in RESUME_FREE}
        assert recipe == s.target_settings(alpha).model_dump(mode="json", exclude=RESUME_FREE), name
    evaluation = {k: v for k, v in read_yaml(RECIPES / "mi-digits-eval.yaml").items() if k not in RESUME_FREE}
    assert evaluation == s.evaluation_settings().model_dump(mode="json", exclude=RESUME_FREE)
    assert read_yaml(RECIPES / "mi-digits-generator.yaml") == s.generator_settings().model_dump(mode="json")
    targets = [read_yaml(RECIPES / f"{n}.yaml") for n in ZOO_TARGETS]
    for t in targets:  # identical except the loss
        assert {k: v for k, v in t.items() if k != "label_smoothing"} == {
            k: v for k, v in targets[0].items() if k != "label_smoothing"}


def test_partial_sections_keep_the_study_recipe():
    s = resolve_settings(InversionEvaluateSettings, overrides=["evaluation.epochs=3", "attack.final.per_class=5"])
    assert s.evaluation.architecture.name == "cnn" and s.evaluation.epochs == 3
    assert s.attack.final.per_class == 5 and s.attack.final.hflip == 0.0 and not s.attack.candidates.hflip
    with pytest.raises(TrustgenError, match="public classes must not include private"):
        resolve_settings(InversionEvaluateSettings, overrides=["public_classes=[4,5]"])
    with pytest.raises(TrustgenError, match=r"\(-1, 1\)"):
        resolve_settings(InversionEvaluateSettings, overrides=["alphas=[0,1]"])


def test_trend_check():
    rows = [{"alpha": 0.0, "attack_acc_top1": 0.8, "test_accuracy": 1.0},
            {"alpha": 0.1, "attack_acc_top1": 0.9, "test_accuracy": 1.0},
            {"alpha": -0.05, "attack_acc_top1": 0.5, "test_accuracy": 0.97}]
    trend = paper_trend(rows)
    assert trend["holds"] and trend["negls_test_accuracy_cost"] == [0.03]
    rows[2]["attack_acc_top1"] = 0.8
    assert not paper_trend(rows)["holds"] and not paper_trend(rows)["hard_gt_negls"]
    assert paper_trend(rows[:2]) == {"checked": False}


@pytest.mark.slow
def test_evaluate_end_to_end_on_tiny_models(tmp_path):
    tiny = ["target.epochs=2", "evaluation.epochs=2", "generator.epochs=2", "target.architecture.widths=[4,8]",
            "target.architecture.blocks=[1,1]", "evaluation.architecture.widths=[4,8]", "attack.device=cpu",
            "attack.candidates.search_space=60", "attack.candidates.per_class=6", "attack.final.per_class=3",
            "attack.optimization.steps=2", "attack.final.iterations=2", "device=cpu"]
    out = tmp_path / "ev"
    result = trustgen("inversion", "evaluate", "--models", "train", "--seed", "3", "--out", out, "--json", *tiny)
    assert result.returncode == 0, result.stderr
    metrics = json.loads(result.stdout)
    assert [r["alpha"] for r in metrics["results"]] == [0.0, 0.1, -0.05]
    for row in metrics["results"]:
        for key in ("test_accuracy", "test_ece", "attack_acc_top1", "attack_acc_top5", "knn_dist", "fd_digits"):
            assert row[key] is not None and row[key] >= 0, key
        assert row["target"].startswith("trained:")
    assert metrics["trend"]["checked"] and (out / "alpha_-0.05" / "class_4.png").is_file()
    # a second run in the same folder reuses the models it trained (as after a kill)
    again = trustgen("inversion", "evaluate", "--models", "train", "--seed", "3", "--out", out, "--json", *tiny)
    assert again.returncode == 0, again.stderr
    def numbers(rows):
        return [{k: v for k, v in r.items() if k != "attack_seconds"} for r in rows]

    assert numbers(json.loads(again.stdout)["results"]) == numbers(metrics["results"])


def test_shipped_inversion_models_fit_their_budget_and_load():
    from trustgen.classifiers.bundle import load_classifier
    from trustgen.core.zoo import ZOO_DIR
    from trustgen.inversion.vae import load_generator

    names = [*ZOO_TARGETS, "mi-digits-eval", "mi-digits-generator"]
    assert sum(p.stat().st_size for n in names for p in (ZOO_DIR / n).rglob("*") if p.is_file()) <= 2 * 1024 * 1024
    for name, alpha in ZOO_TARGETS.items():
        model = load_classifier(name)
        assert model.classes == [0, 1, 2, 3, 4] and model.meta["training"]["label_smoothing"] == alpha
        assert next(model.parameters()).dtype.is_floating_point and next(model.parameters()).dtype.itemsize == 4
    assert load_classifier("mi-digits-eval").architecture["name"] == "cnn"
    assert load_generator("mi-digits-generator").meta["classes"] == [5, 6, 7, 8, 9]
