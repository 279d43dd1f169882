"""`trustgen memorization` on the command line: bad input, and the calibrate → localize → prune path."""

from __future__ import annotations

import json

import pytest

from cli_support import assert_bad_input, trustgen

MID = "mid_block.attentions.0.transformer_blocks.0.attn2.to_v"


@pytest.fixture
def prompts(tmp_path):
    def write(lines, name="p.txt"):
        path = tmp_path / name
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        return path

    return write


def test_model_without_cross_attention_exits_2(prompts, tmp_path):
    r = trustgen("memorization", "calibrate", "--model", "digits-ddpm", "--prompts", prompts(["a handwritten one"]),
                 "--out", tmp_path / "run")
    assert_bad_input(r, "not text-conditional")


def test_empty_or_binary_prompt_file_exits_2(prompts, tmp_path):
    r = trustgen("memorization", "calibrate", "--model", "digits-t2i-memorized", "--prompts", prompts(["", "  "]),
                 "--out", tmp_path / "run")
    assert_bad_input(r, "no prompts")
    binary = tmp_path / "b.txt"
    binary.write_bytes(b"\x00\x01\xff\xfe")
    r = trustgen("memorization", "calibrate", "--model", "digits-t2i-memorized", "--prompts", binary,
                 "--out", tmp_path / "run")
    assert_bad_input(r, "not text")


def test_neuron_out_of_range_exits_2(tmp_path):
    r = trustgen("memorization", "prune", "--model", "digits-t2i-memorized", "--neurons", f"{MID}:64",
                 "--out", tmp_path / "run")
    assert_bad_input(r, "out of range", "width 64")
    r = trustgen("memorization", "prune", "--model", "digits-t2i-memorized", "--neurons", "nonsense",
                 "--out", tmp_path / "run")
    assert_bad_input(r, "LAYER:INDEX")


@pytest.mark.slow
def test_calibrate_localize_prune(prompts, tmp_path):
    """Small settings (3 seeds, a 10-step DDIM grid, 4 calibration prompts) on the zoo model: the memorized
    caption is flagged, neurons are found and the exported folder loads in diffusers."""
    from diffusers import UNet2DConditionModel

    small = ["seeds=3", "steps=10"]
    calib = prompts(["a handwritten seven", "a thick upright 3", "a handwritten two", "a thin left-slanted 8"],
                    "calib.txt")
    r = trustgen("memorization", "calibrate", *small, "--model", "digits-t2i-memorized", "--prompts", calib,
                 "--out", tmp_path / "calib", "--json")
    assert r.returncode == 0, r.stderr
    threshold = json.loads(r.stdout)["threshold"]
    assert 0 < threshold < 1 and (tmp_path / "calib" / "activation_stats.safetensors").is_file()
    test = prompts(["Living with Glaciers: a field guide"], "test.txt")
    r = trustgen("memorization", "localize", *small, "--model", "digits-t2i-memorized", "--prompts", test,
                 "--calibration", tmp_path / "calib", "--out", tmp_path / "loc", "--json")
    assert r.returncode == 0, r.stderr
    row = json.loads(r.stdout)["prompts"][0]
    assert row["memorized"] is True and row["nemo_score"] > threshold
    assert row["num_neurons"] >= 1 and row["unet_evals"] > 0
    r = trustgen("memorization", "prune", "--model", "digits-t2i-memorized", "--neurons-file", tmp_path / "loc",
                 "--out", tmp_path / "prune", "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["num_neurons"] == row["num_neurons"]
    folder = tmp_path / "prune" / "model"
    UNet2DConditionModel.from_pretrained(str(folder / "unet"))
    assert "Living with Glaciers" in (folder / "README.md").read_text()


def test_prune_config_records_the_model_and_the_neurons(tmp_path):
    """config.yaml says everything needed to repeat the run: the model and the neurons, not only the scale."""
    import yaml

    r = trustgen("memorization", "prune", "--model", "digits-t2i-memorized", "--neurons", f"{MID}:3", "--scale",
                 "0.5", "--out", tmp_path / "run", "--json")
    assert r.returncode == 0, r.stderr
    config = yaml.safe_load((tmp_path / "run" / "config.yaml").read_text())
    assert config == {"model": "digits-t2i-memorized", "neurons_file": None, "neurons": f"{MID}:3", "scale": 0.5}
    assert json.loads(r.stdout)["num_neurons"] == 1
