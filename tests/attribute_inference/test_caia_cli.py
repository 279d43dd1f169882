"""``trustgen caia``: bad input (exit 2, one line) and an attack run end to end on a small target."""

from __future__ import annotations

import json

import pytest
import torch

from cli_support import assert_bad_input, trustgen


@pytest.fixture(scope="module")
def models(tmp_path_factory, writers0, thickness_filter):
    """A writer target (2 epochs), a thickness filter (3 epochs) and a target of another input shape."""
    from trustgen.attribute_inference.config import TargetSettings
    from trustgen.attribute_inference.pipeline import train_target
    from trustgen.classifiers.bundle import Classifier
    from trustgen.classifiers.config import ArchitectureSettings
    from trustgen.classifiers.models import build_network

    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("caia")
    target = train_target(writers0, TargetSettings(epochs=2), seed=0)
    target.save(root / "target")
    thickness_filter.save(root / "filter")
    arch = ArchitectureSettings(name="cnn", widths=[8], hidden=8)
    Classifier(build_network(arch, 1, 20), classes=list(range(20)), class_names=[str(i) for i in range(20)],
               dataset="other", image_shape=(1, 8, 8), architecture=arch.model_dump()).save(root / "small")
    return root


def test_attribute_with_one_value_is_refused(models):
    assert_bad_input(trustgen("caia", "attack", "--target", models / "target", "--attribute", "thickness",
                              "--values", "thin", "--filter", models / "filter"), "at least two")


def test_empty_attack_set_is_refused(models):
    assert_bad_input(trustgen("caia", "attack", "--target", models / "target", "--attribute", "thickness",
                              "--filter", models / "filter", "attack_images=0"), "attack set is empty")


def test_editor_without_text_is_refused(models):
    assert_bad_input(trustgen("caia", "attack", "--target", models / "target", "--attribute", "thickness",
                              "--filter", models / "filter", "--editor", "digits-ddpm"), "text-conditional")


def test_target_of_another_shape_is_refused(models):
    assert_bad_input(trustgen("caia", "attack", "--target", models / "small", "--attribute", "thickness",
                              "--filter", models / "filter"), "(1, 8, 8)", "(1, 16, 16)")


def test_attack_run_reports_every_class_in_both_modes(models, tmp_path):
    out = tmp_path / "run"
    result = trustgen("caia", "attack", "--target", models / "target", "--attribute", "thickness", "--filter",
                      models / "filter", "--out", out, "--json", "attack_images=10", "steps=3")
    assert result.returncode == 0, result.stderr
    metrics = json.loads(result.stdout)
    assert metrics["sets_generated"] == 10 and metrics["sets_accepted"] >= 1
    for mode in ("probabilities", "top1"):
        r = metrics["results"][mode]
        assert r["queries"] == 2 * metrics["sets_accepted"]
        assert [c["class"] for c in r["per_class"]] == list(range(20))
        assert all(c["inferred"] in ("thin", "thick") and "true" in c for c in r["per_class"])
        assert 0 <= r["accuracy"] <= 1
    for name in ("config.yaml", "metrics.json", "report.md", "log.txt", "accepted_sets.png"):
        assert (out / name).is_file()
