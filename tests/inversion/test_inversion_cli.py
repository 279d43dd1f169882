"""``trustgen inversion`` and ``trustgen classify`` on the command line: bad input (exit 2, one line) and tiny
end-to-end runs."""

from __future__ import annotations

import json

import pytest

from cli_support import assert_bad_input, trustgen

TINY_ATTACK = ["candidates.search_space=40", "candidates.per_class=6", "optimization.steps=3", "final.per_class=3",
               "final.iterations=2", "device=cpu"]


def test_attack_end_to_end(tmp_path, tiny_target, tiny_generator, tiny_evaluator):
    out = tmp_path / "attack"
    result = trustgen("inversion", "attack", "--target", tiny_target, "--generator", tiny_generator,
                      "--classes", "0,2", "--evaluation", tiny_evaluator, "--out", out, "--json", *TINY_ATTACK)
    assert result.returncode == 0, result.stderr
    metrics = json.loads(result.stdout)
    assert metrics["classes"] == [0, 2] and metrics["num_final"] == 6
    assert 0 <= metrics["attack_acc_top1"] <= 1 and metrics["knn_dist"] >= 0 and metrics["fd_digits"] >= 0
    assert (out / "class_0.png").is_file() and (out / "class_2.png").is_file()
    assert {"config.yaml", "metrics.json", "report.md", "log.txt", "reconstructions.safetensors"} <= {
        p.name for p in out.iterdir()}


def _generator_of_8x8_images(folder):
    from trustgen.inversion.vae import Decoder, DecoderGenerator

    meta = {"widths": [4, 8]}
    return DecoderGenerator(Decoder(2, (1, 8, 8), [4, 8]), 2, (1, 8, 8), meta).save(folder)


@pytest.mark.parametrize(("args", "words"), [
    (["--classes", "0,7"], ["class 7", "outside the target's classes"]),
    (["--target", "digits-ddpm"], ["not a classifier"]),
    (["--generator", "SHAPE"], ["makes 1×8×8 images", "expects 1×16×16"]),
])
def test_attack_bad_input(tmp_path, tiny_target, tiny_generator, args, words):
    given = {"--target": str(tiny_target), "--generator": str(tiny_generator)}
    given.update(dict(zip(args[::2], args[1::2], strict=True)))
    if given["--generator"] == "SHAPE":
        given["--generator"] = str(_generator_of_8x8_images(tmp_path / "g8"))
    flat = [x for pair in given.items() for x in pair]
    assert_bad_input(trustgen("inversion", "attack", *flat, "--out", tmp_path / "bad", *TINY_ATTACK), *words)


def test_alpha_outside_the_open_interval_is_refused(tmp_path):
    assert_bad_input(trustgen("classify", "train", "--alpha", "1.5", "--out", tmp_path), "(-1, 1)", "label_smoothing")
    assert_bad_input(trustgen("inversion", "evaluate", "alphas=[0,-1]", "--out", tmp_path), "(-1, 1)")


def test_classify_train_resume_and_evaluate(tmp_path):
    out = tmp_path / "clf"
    tiny = ["architecture.widths=[4,8]", "architecture.blocks=[1,1]", "batch_size=128", "device=cpu"]
    result = trustgen("classify", "train", "--classes", "0-2", "--epochs", "1", "--alpha", "-0.05", "--out", out,
                      "--json", *tiny)
    assert result.returncode == 0, result.stderr
    metrics = json.loads(result.stdout)
    assert metrics["classes"] == [0, 1, 2] and 0 <= metrics["test_ece"] <= 1
    card = json.loads((out / "model" / "card.json").read_text())
    assert card["kind"] == "classifier" and "model.safetensors" in card["files"]
    result = trustgen("classify", "evaluate", "--model", out, "--out", tmp_path / "ev", "--json")
    assert result.returncode == 0, result.stderr
    ev = json.loads(result.stdout)
    assert ev["accuracy"] == pytest.approx(metrics["test_accuracy"]) and (tmp_path / "ev" / "reliability.png").is_file()
    assert_bad_input(trustgen("classify", "evaluate", "--model", "digits-ddpm", "--out", tmp_path / "x"),
                     "not a classifier")
    assert_bad_input(trustgen("classify", "train", "--resume", tmp_path / "nothing"), "nothing to resume")
