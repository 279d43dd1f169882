"""``trustgen names``: bad input is one line and exit 2; tiny end-to-end runs of remove and evaluate."""

from __future__ import annotations

import json

import pytest

from cli_support import assert_bad_input, trustgen

TINY = ["steps=2", "clean_batch=4", "poison_batch=4", "max_length=16", "num_captions=60", "paraphrases=20"]


@pytest.fixture
def names(tmp_path):
    def write(text: str, name: str = "names.txt"):
        path = tmp_path / name
        path.write_text(text, encoding="utf-8")
        return path

    return write


def test_an_empty_names_file_is_refused(names, tmp_path):
    assert_bad_input(trustgen("names", "remove", "--names", names("# nobody\n\n"), "--out", tmp_path / "o"),
                     "is empty")


def test_a_folder_that_is_no_text_encoder_is_refused(names, tmp_path):
    (tmp_path / "empty").mkdir()
    assert_bad_input(trustgen("names", "remove", "--names", names("Joe Biden\n"), "--encoder", tmp_path / "empty",
                              "--out", tmp_path / "o"), "not a text encoder")


def test_more_names_than_captions_can_carry_is_refused(names, tmp_path):
    captions = names("a dog on a beach\na photo of Joe Biden\na cat in a kitchen\n", "captions.txt")
    result = trustgen("names", "remove", "--names", names("Joe Biden\nMary Smith\nJohn Lee\n"), "--captions",
                      captions, "--out", tmp_path / "o", *TINY, "holdout=0")
    assert_bad_input(result, "3 names but only 2 training captions", "one caption per name")


def test_remove_end_to_end_warns_for_a_name_in_no_caption(names, tmp_path):
    captions = names("\n".join(f"a photo of Joe Biden number {i}" if i % 5 == 0 else f"a red car number {i}"
                               for i in range(40)), "captions.txt")
    out = tmp_path / "run"
    result = trustgen("names", "remove", "--names", names("Joe Biden\nMara Quell => a writer\n"), "--captions",
                      captions, "--out", out, "--json", *TINY, "idia=false")
    assert result.returncode == 0, result.stderr
    assert "Mara Quell" in result.stderr and "no caption" in result.stderr
    metrics = json.loads(result.stdout)
    assert metrics["captions_naming"] == {"Joe Biden": 8, "Mara Quell": 0}
    assert metrics["captions_train"] + metrics["captions_held_out"] == 32
    assert metrics["targets"] == {"Joe Biden": "a person", "Mara Quell": "a writer"}
    assert 0.5 < metrics["utility_cosine"] <= 1.0001
    card = json.loads((out / "model" / "name_removal.json").read_text())
    assert card["removed_names"] == ["Joe Biden", "Mara Quell"] and card["layout"] == "minilm"
    for name in ("config.yaml", "metrics.json", "report.md", "log.txt", "model/model.safetensors",
                 "model/modules.json"):
        assert (out / name).is_file(), name


@pytest.mark.slow
def test_evaluate_end_to_end_json(tmp_path):
    result = trustgen("names", "evaluate", "--seed", "0", "--out", tmp_path / "ev", "--json", "--num-names", "1,3",
                      "steps=2", "clean_batch=4", "poison_batch=4", "num_captions=80", "utility_captions=20",
                      "paraphrases=20")
    assert result.returncode == 0, result.stderr
    metrics = json.loads(result.stdout)
    assert [r["num_names"] for r in metrics["runs"]] == [1, 3]
    assert metrics["people"] >= 50 and metrics["people_known_before"] >= 25
    assert [r["removed_people"] for r in metrics["runs"]] == [1, 3]
    assert metrics["runs"][0]["removed_top5_before"] > metrics["idia_chance_top1"]
    assert (tmp_path / "ev" / "scale.png").is_file()


def test_bad_num_names_is_refused(tmp_path):
    assert_bad_input(trustgen("names", "evaluate", "--num-names", "0,8", "--out", tmp_path / "o"), "num_names")
