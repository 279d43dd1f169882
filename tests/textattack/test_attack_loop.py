"""The attack loop with real parts: alt-profanity-check as the detector, SmolLM2-135M as the attacker."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from trustgen.textattack.loop import Answer, LoopSettings, attack_text, check_chain, levenshtein
from trustgen.textattack.prompt import Step, answer_prefix, parse_answer, user_message

TEXT = "you are a stupid idiot and everyone hates you"


@pytest.fixture(scope="module")
def detector():
    from trustgen.textattack.detectors import load_detector

    return load_detector("alt-profanity-check")


class Scripted:
    """A proposer that answers from a list, then unparseable text (the rules of the loop are under test)."""

    def __init__(self, answers):
        self.answers = itertools.chain(answers, itertools.repeat(Answer("no answer", None)))
        self.calls = 0

    def propose(self, history, k):
        self.calls += 1
        return [next(self.answers) for _ in range(k)]


def text_answer(text):
    return Answer(f"|{text}|", text)


@pytest.mark.parametrize(("a", "b", "d"), [
    ("", "", 0), ("abc", "", 3), ("kitten", "sitting", 3), ("flaw", "lawn", 2), ("idiot", "idoit", 2),
    ("same", "same", 0), ("a" * 50, "b" * 50, 50),
])
def test_levenshtein(a, b, d):
    assert levenshtein(a, b) == d == levenshtein(b, a)


def test_levenshtein_limit_stops_early_but_never_under_reports():
    rng = np.random.default_rng(0)
    for _ in range(200):
        a = "".join(rng.choice(list("abc"), rng.integers(0, 12)))
        b = "".join(rng.choice(list("abc"), rng.integers(0, 12)))
        full = levenshtein(a, b)
        assert levenshtein(a, b, 3) == (full if full <= 3 else 4)


@pytest.mark.parametrize(("answer", "parsed"), [
    ("Step 1: |you are a stupid idi0t| - Prediction Score: 0.4", "you are a stupid idi0t"),
    ("|first| and |second|", "first"),
    ("no bars at all", None),
    ("|unterminated", None),
    ("||", None),
    ("|  spaced  |", "spaced"),
])
def test_parse_answer_takes_the_first_bar_span(answer, parsed):
    assert parse_answer(answer) == parsed


def test_prompt_lists_history_with_scores_and_asks_for_the_next_step():
    history = [Step(0, "a|b", 0.9), Step(1, "a/c", 0.7)]
    message = user_message(history)
    assert "Step 0: |a/b| - Prediction Score: 0.900" in message  # the delimiter never appears inside a sample
    assert "Step 1: |a/c| - Prediction Score: 0.700" in message
    assert message.endswith("Step 2:")
    assert answer_prefix(history) == "Step 2: |"


def test_answers_that_change_too_much_or_raise_the_score_are_rejected(detector):
    before = float(detector.scores([TEXT])[0])
    assert before >= 0.5
    too_much = "you are a very very stupid idiot and everyone hates you"
    assert levenshtein(TEXT, too_much) == 10
    way_too_much = "you are a really very stupid idiot and everyone hates you"
    assert levenshtein(TEXT, way_too_much) > 10
    worse = "you are a stupid fucking idiot and everyone hates you"  # 8 characters, more offensive
    assert levenshtein(TEXT, worse) <= 10 and float(detector.scores([worse])[0]) > before
    answers = [Answer("nonsense", None), text_answer(TEXT), text_answer(way_too_much), text_answer(worse)]
    result = attack_text(TEXT, detector, Scripted(answers), LoopSettings(candidates=4, patience=4))
    statuses = [a.status for a in result.attempts]
    assert statuses == ["unparseable", "unchanged", "too_many_changes", "not_lower"]
    assert result.stop == "patience" and result.steps == 0 and not result.success
    assert result.adversarial == TEXT and result.queries == 2  # the text itself and the one valid candidate
    assert result.valid_answers == 1 and result.answers == 4


def test_patience_stops_after_that_many_rejected_answers_in_a_row(detector):
    result = attack_text(TEXT, detector, Scripted(itertools.repeat(text_answer(TEXT))),
                         LoopSettings(candidates=1, patience=25))
    assert result.stop == "patience" and result.answers == 25 and result.llm_calls == 25


def test_the_best_lower_answer_is_accepted_and_success_is_verified(detector):
    mild = "you are a stupid idoit and everyone hates you"  # one swap
    clean = "you are a stupd idoit and everyone h8tes you"
    scores = detector.scores([TEXT, mild, clean])
    assert scores[0] > scores[1] or scores[0] > scores[2]
    answers = [text_answer(mild), text_answer(clean)]
    result = attack_text(TEXT, detector, Scripted(answers), LoopSettings(candidates=2))
    best = min(scores[1], scores[2])
    accepted = [a for a in result.attempts if a.status == "accepted"]
    assert len(accepted) == 1 and accepted[0].score == pytest.approx(best)
    if best < 0.5:
        assert result.success and result.verified and result.stop == "success"
        assert float(detector.scores([result.adversarial])[0]) < 0.5
        assert result.chain[0] == TEXT and result.chain[-1] == result.adversarial


class Flaky:
    """The real detector, except that it changes its mind on the final re-query."""

    def __init__(self, inner):
        self.inner, self.name, self.max_chars = inner, inner.name, inner.max_chars
        self.calls = 0

    def scores(self, texts):
        self.calls += 1
        out = self.inner.scores(texts)
        return np.full(len(texts), 0.99) if self.calls == 3 else out


def test_a_success_that_fails_verification_is_not_a_success(detector):
    clean = "you are a stupd idoit and everyone h8tes you"
    assert float(detector.scores([clean])[0]) < 0.5
    result = attack_text(TEXT, Flaky(detector), Scripted([text_answer(clean)]), LoopSettings(candidates=1))
    assert result.stop == "success" and result.verified is False and result.success is False


def test_check_chain_rechecks_every_step():
    settings = LoopSettings(max_changes=10, max_steps=2)
    assert check_chain(["abc", "abd", "abe"], settings)
    assert not check_chain(["abc", "abc"], settings)  # an empty step
    assert not check_chain(["abc", "abc" + "x" * 11], settings)  # too many characters at once
    assert not check_chain(["a", "b", "c", "d"], settings)  # too many steps


@pytest.fixture(scope="module")
def smollm2():
    from trustgen.textattack.llm import load_llm

    return load_llm("smollm2-135m", seed=0, penalty_scope="answer")


def test_smollm2_answers_several_candidates_per_call_stopping_at_the_bar(smollm2):
    history = [Step(0, TEXT, 0.97)]
    calls = smollm2.calls
    answers = smollm2.complete(user_message(history), prefix=answer_prefix(history), n=3, max_new_tokens=12)
    assert len(answers) == 3 and smollm2.calls == calls + 1
    for a in answers:
        assert a.startswith("Step 1: |")
        assert a.count("|") <= 2  # generation stops at the closing bar
    smollm2.reseed(5)
    first = smollm2.complete(user_message(history), prefix=answer_prefix(history), n=2, max_new_tokens=8)
    smollm2.reseed(5)
    assert smollm2.complete(user_message(history), prefix=answer_prefix(history), n=2, max_new_tokens=8) == first


def test_the_prompt_cache_gives_the_same_logits_as_a_fresh_prefill(smollm2):
    import torch

    h1 = [Step(0, TEXT, 0.97)]
    h2 = [*h1, Step(1, "you are a stupid idoit and everyone hates you", 0.6)]
    smollm2._prefill(smollm2.prompt_ids(user_message(h1), answer_prefix(h1)))
    ids = smollm2.prompt_ids(user_message(h2), answer_prefix(h2))
    cached = smollm2._prefill(ids)  # reuses the common prefix of the first prompt
    smollm2.prompt_cache.clear()
    fresh = smollm2._prefill(ids)
    assert torch.allclose(cached, fresh, atol=1e-3)


def test_llm_attack_runs_end_to_end(smollm2, detector):
    from trustgen.textattack.loop import LLMProposer

    proposer = LLMProposer(smollm2, length_slack=6)
    result = attack_text(TEXT, detector, proposer, LoopSettings(candidates=3, max_steps=2, patience=3))
    assert result.llm_calls >= 1 and result.answers == 3 * result.llm_calls
    assert result.stop in {"success", "max_steps", "patience"}
    assert check_chain(result.chain, LoopSettings(max_steps=2))
    for a in result.attempts:
        if a.status == "accepted":
            assert 1 <= a.levenshtein <= 10
