"""``trustgen textattack run``: end-to-end runs on a few short texts, bad input, resume."""

from __future__ import annotations

import json

import pytest

from cli_support import assert_bad_input, trustgen

TEXTS = ["you are a stupid idiot", "shut up you dumb bitch", "what a lovely day it is"]
METRIC_KEYS = {"n", "success_rate", "queries_per_success", "mean_levenshtein", "mean_similarity", "perplexity_ratio",
               "valid_answer_rate", "llm_calls", "word_change_rate", "skipped"}
ROW_KEYS = {"text", "adversarial", "success", "score_before", "score_after", "queries", "levenshtein"}


@pytest.fixture
def data(tmp_path):
    path = tmp_path / "texts.jsonl"
    path.write_text("".join(json.dumps({"text": t}) + "\n" for t in TEXTS), encoding="utf-8")
    return path


def _rows(path):
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_llm_run_on_short_texts_writes_the_run_folder(data, tmp_path):
    out = tmp_path / "run"
    result = trustgen("textattack", "run", "--detector", "alt-profanity-check", "--attacker", "llm", "--data", data,
                      "--n", "3", "--out", out, "--json", "max_steps=2", "patience=4", "candidates=4",
                      "penalty_scope=answer")
    assert result.returncode == 0, result.stderr
    metrics = json.loads(result.stdout)
    assert set(metrics) >= METRIC_KEYS
    assert metrics["n"] + metrics["skipped"] == 3 and metrics["llm_calls"] >= metrics["n"]
    assert metrics["skipped_reasons"].get("below_threshold", 0) >= 1  # "what a lovely day" is not offensive
    rows = _rows(out / "results.jsonl")
    assert len(rows) == 3 and all(set(r) >= ROW_KEYS for r in rows)
    histories = _rows(out / "histories.jsonl")
    assert len(histories) == metrics["n"] and all("attempts" in h for h in histories)
    for name in ("config.yaml", "metrics.json", "report.md", "log.txt"):
        assert (out / name).is_file()
    for r in rows:
        if r["success"]:
            assert r["verified"] and r["score_after"] < 0.5


def test_random_run_resumes_and_refuses_other_settings(data, tmp_path):
    out = tmp_path / "run"
    fast = "quality_metrics=false"  # no MiniLM / SmolLM2 loads: the resume logic is under test
    first = trustgen("textattack", "run", "--detector", "alt-profanity-check", "--attacker", "random", "--data", data,
                     "--n", "1", "--out", out, "--json", fast)
    assert first.returncode == 0, first.stderr
    before = _rows(out / "results.jsonl")
    with (out / "results.jsonl").open("a", encoding="utf-8") as f:
        f.write('{"index": 1, "text": "torn li')  # a crash in the middle of a write
    second = trustgen("textattack", "run", "--detector", "alt-profanity-check", "--attacker", "random", "--data", data,
                      "--n", "3", "--out", out, "--json", fast)
    assert second.returncode == 0, second.stderr
    rows = _rows(out / "results.jsonl")
    assert rows[0] == before[0] and [r["index"] for r in rows] == [0, 1, 2]
    assert json.loads(second.stdout)["n"] + json.loads(second.stdout)["skipped"] == 3
    other = trustgen("textattack", "run", "--detector", "alt-profanity-check", "--attacker", "random", "--data", data,
                     "--n", "3", "--out", out, fast, "max_changes=5")
    assert_bad_input(other, "other settings", "max_changes")


def test_a_text_longer_than_the_llm_context_is_skipped_and_counted(tmp_path):
    data = tmp_path / "long.jsonl"
    data.write_text(json.dumps({"text": "you stupid idiot " * 3000}) + "\n", encoding="utf-8")
    result = trustgen("textattack", "run", "--detector", "alt-profanity-check", "--data", data, "--n", "1",
                      "--out", tmp_path / "run", "--json", "max_chars=100000")
    assert result.returncode == 0, result.stderr
    metrics = json.loads(result.stdout)
    assert metrics["n"] == 0 and metrics["skipped_reasons"] == {"too_long_for_llm": 1}


@pytest.mark.parametrize(("args", "words"), [
    (["--detector", "no-such-detector"], ["no-such-detector"]),
    (["--detector", "alt-profanity-check", "--llm", "no-such-llm"], ["unknown LLM"]),
    (["--detector", "alt-profanity-check", "--attacker", "genetic"], ["--attacker"]),
    (["--detector", "alt-profanity-check", "--llm", "http://127.0.0.1:9/v1", "request_timeout=3"],
     ["cannot reach the LLM endpoint"]),
    (["--detector", "alt-profanity-check", "max_changes=0"], ["max_changes"]),
    (["--detector", "alt-profanity-check", "min_changes=5", "max_changes=3"], ["min_changes"]),
])
def test_bad_input_is_one_line_and_exit_2(args, words, tmp_path):
    assert_bad_input(trustgen("textattack", "run", *args, "--out", tmp_path / "run"), *words)


@pytest.mark.parametrize(("content", "words"), [
    ("", ["no texts"]),
    ("not json\n", ["line 1", "not JSON"]),
    ('{"txt": "x"}\n', ["line 1", "text"]),
])
def test_bad_data_files_are_one_line_and_exit_2(content, words, tmp_path):
    data = tmp_path / "bad.jsonl"
    data.write_text(content, encoding="utf-8")
    result = trustgen("textattack", "run", "--detector", "alt-profanity-check", "--attacker", "random",
                      "--data", data, "--out", tmp_path / "run")
    assert_bad_input(result, *words)


def test_llm_search_run_writes_the_run_folder(data, tmp_path):
    out = tmp_path / "search"
    result = trustgen("textattack", "run", "--detector", "alt-profanity-check", "--attacker", "llm-search", "--data",
                      data, "--n", "2", "--out", out, "--json", "beam=1", "words_per_step=1", "mask_candidates=6",
                      "similarity_floor=0.5", "query_budget=60", "threads=1")
    assert result.returncode == 0, result.stderr
    metrics = json.loads(result.stdout)
    assert set(metrics) >= METRIC_KEYS | {"cpu_seconds_per_text"}
    assert metrics["attacker"] == "llm-search" and metrics["implementation"].startswith("llm-search")
    assert metrics["n"] >= 1 and metrics["n"] + metrics["skipped"] == 2
    assert metrics["llm_calls"] >= metrics["n"] and metrics["unverified"] == 0
    rows = _rows(out / "results.jsonl")
    attacked = [r for r in rows if not r.get("skipped")]
    assert len(rows) == 2 and all(set(r) >= ROW_KEYS and r["queries"] <= 60 for r in rows)
    assert any(r["success"] for r in attacked)
    for r in attacked:
        if r["success"]:
            assert r["verified"] and r["score_after"] < 0.5 and r["adversarial"] != r["text"]
    histories = _rows(out / "histories.jsonl")
    assert len(histories) == len(attacked) and all(h["attempts"] for h in histories)
    assert "Beam search" in (out / "report.md").read_text(encoding="utf-8")


@pytest.mark.parametrize(("args", "words"), [
    (["beam=0"], ["beam"]),
    (["similarity_floor=1.5"], ["similarity_floor"]),
    (["similarity_floor=-0.2"], ["similarity_floor"]),
    (["query_budget=5"], ["query_budget=5", "below one llm-search step"]),
    (["mask_candidates=0", "search_samples=0"], ["mask_candidates"]),
    (["--llm", "http://127.0.0.1:9/v1", "search_samples=0"], ["endpoint", "search_samples"]),
])
def test_llm_search_bad_settings_are_one_line_and_exit_2(args, words, data, tmp_path):
    result = trustgen("textattack", "run", "--detector", "alt-profanity-check", "--attacker", "llm-search",
                      "--data", data, *args, "--out", tmp_path / "run")
    assert_bad_input(result, *words)
