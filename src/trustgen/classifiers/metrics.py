"""Classifier evaluation: accuracy, top-k accuracy, expected calibration error, negative log-likelihood."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

ECE_BINS = 15


@torch.no_grad()
def predict_logits(model: nn.Module, images: torch.Tensor, *, batch_size: int = 512) -> torch.Tensor:
    """Logits of ``images`` (model in eval mode, batched, on the model's device; returned on the CPU)."""
    model.eval()
    device = next(model.parameters()).device
    return torch.cat([model(images[i : i + batch_size].to(device)).float().cpu()
                      for i in range(0, len(images), batch_size)])


def topk_accuracy(logits: torch.Tensor, labels: torch.Tensor, k: int) -> float:
    """Fraction of rows whose label is among the ``k`` largest logits (k clipped to the number of classes)."""
    k = min(k, logits.shape[1])
    top = logits.topk(k, dim=1).indices
    return float((top == labels[:, None]).any(dim=1).float().mean())


def expected_calibration_error(probs: torch.Tensor, labels: torch.Tensor, bins: int = ECE_BINS) -> float:
    """ECE (Guo et al., 2017): the mean over equal-width confidence bins of |accuracy − confidence|, weighted by
    each bin's share of the samples; confidence is the top-1 probability."""
    conf, pred = probs.max(dim=1)
    correct = (pred == labels).float()
    edges = torch.linspace(0, 1, bins + 1)
    ece = torch.zeros(())
    for low, high in zip(edges[:-1], edges[1:], strict=True):
        inside = (conf > low) & (conf <= high) if low > 0 else (conf >= low) & (conf <= high)
        if inside.any():
            ece += inside.float().mean() * (correct[inside].mean() - conf[inside].mean()).abs()
    return float(ece)


def reliability(probs: torch.Tensor, labels: torch.Tensor, bins: int = ECE_BINS) -> list[dict[str, float]]:
    """Per confidence bin: its range, number of samples, accuracy and mean confidence (for a reliability plot)."""
    conf, pred = probs.max(dim=1)
    correct = (pred == labels).float()
    edges = torch.linspace(0, 1, bins + 1)
    rows = []
    for low, high in zip(edges[:-1], edges[1:], strict=True):
        inside = (conf > low) & (conf <= high) if low > 0 else (conf >= low) & (conf <= high)
        n = int(inside.sum())
        rows.append({"low": float(low), "high": float(high), "count": n,
                     "accuracy": float(correct[inside].mean()) if n else float("nan"),
                     "confidence": float(conf[inside].mean()) if n else float("nan")})
    return rows


def classification_metrics(logits: torch.Tensor, labels: torch.Tensor) -> dict[str, Any]:
    """Accuracy, top-5 accuracy, ECE, NLL and mean top-1 confidence of ``logits`` against ``labels``."""
    probs = logits.softmax(dim=1)
    return {
        "accuracy": topk_accuracy(logits, labels, 1),
        "top5_accuracy": topk_accuracy(logits, labels, 5),
        "ece": expected_calibration_error(probs, labels),
        "nll": float(F.cross_entropy(logits, labels)),
        "mean_confidence": float(probs.max(dim=1).values.mean()),
        "num_images": int(len(labels)),
    }
