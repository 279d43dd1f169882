"""Baselines in the attack's harness: random character edits and DeepWordBug, on a real detector."""

from __future__ import annotations

import numpy as np
import pytest

from trustgen.textattack.baselines import (
    DEEPWORDBUG_MAX_LEVENSHTEIN,
    DeepWordBugPort,
    RandomProposer,
    random_edit,
    textattack_available,
)
from trustgen.textattack.loop import LoopSettings, attack_text, check_chain, levenshtein
from trustgen.textattack.prompt import Step

TEXT = "you are a stupid idiot and everyone hates you"


@pytest.fixture(scope="module")
def detector():
    from trustgen.textattack.detectors import load_detector

    return load_detector("alt-profanity-check")


def test_random_edits_stay_within_the_bounds():
    settings = LoopSettings(min_changes=1, max_changes=10)
    proposer = RandomProposer(settings, seed=0)
    answers = proposer.propose([Step(0, TEXT, 0.9)], 50)
    assert len(answers) == 50
    assert all(1 <= levenshtein(TEXT, a.text or "") <= 10 for a in answers)
    rng = np.random.default_rng(1)
    assert levenshtein("abc", random_edit("abc", 1, rng)) <= 1


def test_random_search_is_reproducible_and_verified(detector):
    settings = LoopSettings(candidates=4, max_steps=10, patience=8)
    runs = []
    for _ in range(2):
        proposer = RandomProposer(settings, seed=3)
        runs.append(attack_text(TEXT, detector, proposer, settings))
    assert runs[0].adversarial == runs[1].adversarial and runs[0].queries == runs[1].queries
    r = runs[0]
    assert check_chain(r.chain, settings)
    if r.success:
        assert float(detector.scores([r.adversarial])[0]) < 0.5


def test_deepwordbug_port_edits_words_within_its_budget(detector):
    attack = DeepWordBugPort(detector, LoopSettings(), seed=0)
    before = float(detector.scores([TEXT])[0])
    result = attack.run(TEXT, before)
    assert result.queries > 1 and result.levenshtein <= DEEPWORDBUG_MAX_LEVENSHTEIN
    assert result.success == (result.stop == "success")
    # stopwords are never modified
    kept = {"you", "are", "a", "and", "everyone"}
    assert kept <= set(result.adversarial.split())
    if result.success:
        assert float(detector.scores([result.adversarial])[0]) < 0.5


def test_textattack_absence_is_reported_in_one_line(monkeypatch):
    import os

    env = dict(os.environ)
    why = textattack_available()
    assert dict(os.environ) == env  # importing TextAttack must not leave its cache variables behind
    if why is not None:
        assert "\n" not in why
