"""The attack's filter, black box and margin vote on hand-made numbers."""

from __future__ import annotations

import math

import pytest
import torch

from trustgen.attribute_inference.attack import BlackBox, accept_sets, infer, random_guess, vote
from trustgen.core.errors import TrustgenError


def test_accept_sets_needs_every_variant_right_and_confident():
    probs = torch.tensor([
        [[0.9, 0.1], [0.2, 0.8]],  # both right and > 0.6: kept
        [[0.9, 0.1], [0.45, 0.55]],  # second right but 0.55: dropped
        [[0.3, 0.7], [0.2, 0.8]],  # first wrong: dropped
    ])
    assert accept_sets(probs, 0.6).tolist() == [True, False, False]


def test_probability_vote_sums_advantages_not_counts():
    # 3 sets, 2 values, 1 class: value 0 wins two sets narrowly, value 1 one set by far
    logp = torch.tensor([[[-1.0], [-1.1]], [[-1.0], [-1.1]], [[-3.0], [-0.5]]])
    (c,) = vote(logp, ["thin", "thick"], "probabilities")
    assert c.votes == {"thin": 2, "thick": 1}
    assert c.inferred == "thick"
    assert math.isclose(c.advantage["thick"], 2.5) and math.isclose(c.advantage["thin"], 0.2, abs_tol=1e-6)
    assert math.isclose(c.margin, 2.3 / 2.7, rel_tol=1e-5)


def test_top1_vote_counts_only_sets_with_one_variant_in_the_class():
    # 3 sets × 2 variants, 3 classes: top-1 answers
    labels = torch.tensor([[0, 1], [0, 0], [2, 0]])
    scores = torch.nn.functional.one_hot(labels, 3).float()
    c0, c1, c2 = vote(scores, ["a", "b"], "top1", seed=0)
    assert c0.votes == {"a": 1, "b": 1} and c0.voted_sets == 2  # set 1 (both in class 0) does not vote
    assert c1.inferred == "b" and c1.votes == {"a": 0, "b": 1}
    assert c2.inferred == "a" and not c2.guessed


def test_top1_vote_guesses_when_no_set_votes():
    scores = torch.nn.functional.one_hot(torch.tensor([[0, 0]]), 2).float()
    _, c1 = vote(scores, ["a", "b"], "top1", seed=0)
    assert c1.guessed and c1.voted_sets == 0 and c1.margin == 0.0


def test_black_box_counts_queries_and_hides_scores_in_top1_mode():
    net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(4, 3))
    x = torch.randn(5, 1, 2, 2)
    probs = BlackBox(net, "probabilities")
    assert probs(x).shape == (5, 3) and probs.queries == 5
    top1 = BlackBox(net, "top1")
    assert top1(x).shape == (5,) and top1.queries == 5
    with pytest.raises(TrustgenError):
        BlackBox(net, "logits")  # type: ignore[arg-type]


def test_infer_refuses_an_empty_attack_set():
    net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(4, 3))
    with pytest.raises(TrustgenError, match="empty"):
        infer(BlackBox(net, "top1"), torch.zeros(0, 2, 1, 2, 2), ["a", "b"], num_classes=3, attribute="x")


def test_random_guess_is_seeded_and_uses_the_values():
    g = random_guess(20, ["a", "b"], seed=3)
    assert g == random_guess(20, ["a", "b"], seed=3) and set(g) <= {"a", "b"}
