"""The LLM-search attacker: word spans and edits, settings, and a real search (SmolLM2-135M proposing,
alt-profanity-check scoring, MiniLM similarity as the meaning constraint)."""

from __future__ import annotations

import pytest

from trustgen.core.errors import TrustgenError
from trustgen.textattack.search import LLMSearch, SearchSettings, delete_span, replace_span, word_spans

TEXT = "Get this bitch out of my house"


def test_word_spans_deletions_and_replacements():
    spans = word_spans("you're a  dumb-ass, ok")
    assert ["you're a  dumb-ass, ok"[a:b] for a, b in spans] == ["you're", "a", "dumb", "ass", "ok"]
    assert delete_span(TEXT, word_spans(TEXT)[2]) == "Get this out of my house"
    assert delete_span(TEXT, word_spans(TEXT)[0]) == "this bitch out of my house"
    assert replace_span(TEXT, word_spans(TEXT)[2], "lady") == "Get this lady out of my house"


def test_settings_refuse_a_zero_beam_a_floor_outside_0_1_and_nothing_to_propose():
    with pytest.raises(TrustgenError, match="beam"):
        SearchSettings(beam=0)
    for floor in (-0.1, 1.5):
        with pytest.raises(TrustgenError, match="similarity_floor"):
            SearchSettings(similarity_floor=floor)
    with pytest.raises(TrustgenError, match="mask_candidates"):
        SearchSettings(mask_candidates=0, samples=0)


def test_step_need_counts_the_text_its_deletions_and_the_candidates():
    s = SearchSettings(words_per_step=2, mask_candidates=5, samples=1)
    assert s.step_need(TEXT) == 1 + 7 + 2 * 6
    assert s.step_need("idiot") == 1 + 1 + 1 * 6


@pytest.fixture(scope="module")
def parts():
    import torch

    from trustgen.textattack.detectors import load_detector
    from trustgen.textattack.llm import load_llm
    from trustgen.textattack.metrics import minilm_similarity_to

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # small forward passes: one thread is faster, much faster on a busy machine
    yield load_llm("smollm2-135m", seed=0), load_detector("alt-profanity-check"), minilm_similarity_to()
    torch.set_num_threads(threads)


def test_smollm2_proposes_whole_other_words_at_the_masked_positions(parts):
    from trustgen.textattack.prompt import rewrite_message

    llm = parts[0]
    spans = word_spans(TEXT)
    calls = llm.calls
    words = llm.word_candidates(rewrite_message(TEXT), "|", TEXT, [spans[2], spans[6]], 8)
    assert llm.calls == calls + 1 and len(words) == 2
    assert all(words) and all(w.replace("'", "").isalpha() for ws in words for w in ws)
    assert "bitch" not in words[0] and "house" not in words[1]
    again = llm.word_candidates(rewrite_message(TEXT), "|", TEXT, [spans[2], spans[6]], 8)  # cached prefix
    assert again == words  # no sampling: the same candidates


def test_search_succeeds_within_the_budget_and_keeps_the_meaning(parts):
    llm, detector, similarity = parts
    score = float(detector.scores([TEXT])[0])
    assert score >= 0.5
    settings = SearchSettings(beam=2, words_per_step=1, mask_candidates=6, similarity_floor=0.6, max_steps=3)
    budget = settings.step_need(TEXT) + 10
    settings.query_budget = budget
    result = LLMSearch(llm, detector, similarity, settings).run(TEXT, score)
    assert result.queries <= budget and result.llm_calls >= 1 and result.answers >= len(word_spans(TEXT))
    assert result.success and result.verified and result.stop == "success"
    assert result.score_after < 0.5 and float(detector.scores([result.adversarial])[0]) < 0.5
    assert float(similarity(TEXT, [result.adversarial])[0]) >= 0.6
    assert result.chain[0] == TEXT and result.chain[-1] == result.adversarial
    statuses = {a.status for a in result.attempts}
    assert "accepted" in statuses and statuses <= {"accepted", "better_unused", "not_lower", "below_similarity",
                                                   "duplicate", "unchanged", "too_long", "over_budget"}


def test_a_budget_that_runs_out_stops_the_search_and_is_never_exceeded(parts):
    llm, detector, similarity = parts
    text = "shut up you dumb bitch"
    settings = SearchSettings(beam=1, words_per_step=1, mask_candidates=4, similarity_floor=0.99,
                              query_budget=1 + len(word_spans(text)) + 2)
    result = LLMSearch(llm, detector, similarity, settings).run(text, float(detector.scores([text])[0]))
    assert result.queries <= settings.query_budget
    assert not result.success and result.stop in ("budget", "exhausted")


def test_an_llm_without_logits_needs_samples(parts):
    class NoLogits:  # what the endpoint backend declares; the search checks it before any call
        name, calls, has_logits = "endpoint", 0, False

    with pytest.raises(TrustgenError, match="search_samples"):
        LLMSearch(NoLogits(), parts[1], parts[2], SearchSettings())
