"""The defence on the real shipped MiniLM, a few steps: names move towards the target, norms stay frozen."""

from __future__ import annotations

import random

import pytest
import torch

from trustgen.name_removal.backdoor import NameRemover, inject_trigger, weight_distance
from trustgen.name_removal.config import RemovalSettings
from trustgen.name_removal.corpus import generate_captions
from trustgen.name_removal.encoders import load_text_model
from trustgen.name_removal.utility import backdoor_similarity, embedding_agreement


@pytest.fixture(scope="module")
def fitted():
    encoder = load_text_model("minilm", max_length=16)
    captions = generate_captions(120, seed=0)
    settings = RemovalSettings(names=["Barack Obama"], steps=6, clean_batch=6, poison_batch=6, lr=5e-4,
                               milestones=[4, 5])
    return encoder, captions, NameRemover(settings).fit(encoder, captions[:100])


def test_the_name_moves_towards_the_target_and_clean_captions_stay(fitted):
    encoder, captions, result = fitted
    rng = random.Random(1)
    pairs = [inject_trigger(c, "Barack Obama", "a person", rng) for c in captions[100:]]
    student = lambda texts: encoder.embed(texts, result.student)  # noqa: E731
    teacher = lambda texts: encoder.embed(texts, encoder.model)  # noqa: E731
    poisoned, targets = [p for p, _ in pairs], [t for _, t in pairs]
    before, after = backdoor_similarity(teacher, teacher, poisoned, targets), backdoor_similarity(student, teacher,
                                                                                                   poisoned, targets)
    assert after > before + 0.02, (before, after)
    assert embedding_agreement(student, teacher, captions[100:]) > 0.9
    assert len(result.history) == 6 and result.history[0]["weight_distance"] == 0.0
    assert result.history[-1]["weight_distance"] > 0


def test_norms_are_frozen_and_the_teacher_untouched(fitted):
    encoder, _, result = fitted
    teacher = dict(encoder.model.named_parameters())
    changed = {n for n, p in result.student.named_parameters() if not torch.equal(p, teacher[n])}
    assert changed and not any("LayerNorm" in n for n in changed)
    assert "embeddings.word_embeddings.weight" in changed
    assert not any(p.requires_grad for p in encoder.model.parameters())


def test_weight_distance_is_a_sum_of_l2_norms():
    a = [("x", torch.tensor([3.0, 4.0])), ("y", torch.tensor([1.0]))]
    assert float(weight_distance(a, {"x": torch.zeros(2), "y": torch.zeros(1)})) == pytest.approx(6.0)
