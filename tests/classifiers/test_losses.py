"""Label smoothing for every α, the negative-α warm-up of the paper's code, ECE, top-k."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from trustgen.classifiers.losses import alpha_at_epoch, smoothed_cross_entropy
from trustgen.classifiers.metrics import expected_calibration_error, topk_accuracy


@pytest.mark.parametrize("alpha", [0.0, 0.1, 0.5])
def test_non_negative_alpha_is_torch_label_smoothing(alpha):
    g = torch.Generator().manual_seed(0)
    logits, labels = torch.randn(32, 5, generator=g), torch.randint(0, 5, (32,), generator=g)
    ours = smoothed_cross_entropy(logits, labels, alpha)
    assert torch.allclose(ours, F.cross_entropy(logits, labels, label_smoothing=alpha), atol=1e-6)


def test_negative_alpha_is_cross_entropy_with_the_smoothed_target():
    g = torch.Generator().manual_seed(1)
    logits, labels = torch.randn(16, 4, generator=g), torch.randint(0, 4, (16,), generator=g)
    alpha = -0.05
    target = (1 - alpha) * F.one_hot(labels, 4).float() + alpha / 4  # y_LS; the off-target weights are negative
    expected = -(target * F.log_softmax(logits, 1)).sum(1).mean()
    assert torch.allclose(smoothed_cross_entropy(logits, labels, alpha), expected, atol=1e-6)


def test_warmup_schedule_is_the_papers_ls_scheduler():
    a = -0.05
    got = [alpha_at_epoch(a, e, 100) for e in range(100)]
    assert got[:50] == [0.0] * 50
    assert got[50] == pytest.approx(a / 50) and got[74] == pytest.approx(a / 2)  # the ramp's quirk: α/2 at 74
    assert got[75:] == [a] * 25
    assert alpha_at_epoch(0.1, 0, 100) == 0.1  # positive α: no warm-up
    assert alpha_at_epoch(a, 0, 100, warmup="none") == a


def test_ece_and_topk():
    probs = torch.tensor([[0.9, 0.1], [0.6, 0.4], [0.2, 0.8], [0.3, 0.7]])
    labels = torch.tensor([0, 1, 1, 1])
    # bins: 0.9 (correct), 0.6 (wrong), 0.8 (correct), 0.7 (correct): |1-.9|+|0-.6|+|1-.8|+|1-.7| over 4
    assert expected_calibration_error(probs, labels) == pytest.approx((0.1 + 0.6 + 0.2 + 0.3) / 4)
    logits = torch.log(probs)
    assert topk_accuracy(logits, labels, 1) == 0.75 and topk_accuracy(logits, labels, 5) == 1.0
