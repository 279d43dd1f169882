"""Judging a model-inversion attack as the PPA authors do (``attack.py``, ``metrics/``):

* **attack accuracy @1 / @5**: how often an *independent* evaluation classifier (another architecture, trained
  separately on the same private classes) assigns a reconstruction to the class it was made for;
* **nearest-training distance** (their "KNN distance"): per reconstruction, the squared L2 distance in the
  evaluation classifier's penultimate features to the nearest training image of its class, averaged (lower means
  the reconstructions lie closer to real private images);
* **FD** of the reconstructions against the training images of the attacked classes, in the features of an
  offline extractor (``fd_digits`` on digits: the shipped digits classifier, *not* Inception FID), with its
  real-vs-real floor.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from trustgen.classifiers.bundle import Classifier
from trustgen.classifiers.metrics import predict_logits, topk_accuracy


@torch.no_grad()
def _features(model: Classifier, images: torch.Tensor, batch_size: int = 512) -> torch.Tensor:
    model.eval()
    device = next(model.parameters()).device
    return torch.cat([model.features(images[i : i + batch_size].to(device)).float().cpu()
                      for i in range(0, len(images), batch_size)])


def attack_accuracy(evaluator: Classifier, images: torch.Tensor, labels: list[int] | torch.Tensor
                    ) -> dict[str, float]:
    """Top-1 / top-5 accuracy of ``evaluator`` on ``images`` made for data-set ``labels``, and its mean confidence
    in the intended class. Top-5 is 1 by construction when the evaluator knows five classes or fewer."""
    index = torch.tensor(evaluator.indices_of([int(v) for v in labels]))
    logits = predict_logits(evaluator, images)
    probs = logits.softmax(dim=1)
    return {"acc_top1": topk_accuracy(logits, index, 1), "acc_top5": topk_accuracy(logits, index, 5),
            "eval_confidence": float(probs.gather(1, index[:, None]).mean())}


def nearest_training_distance(evaluator: Classifier, images: torch.Tensor, labels: list[int] | torch.Tensor,
                              train_images: torch.Tensor, train_labels: torch.Tensor) -> dict[str, Any]:
    """Mean over ``images`` of the squared L2 feature distance to the closest training image of the same label
    (``train_labels`` are data-set labels), overall and per label."""
    labels = torch.as_tensor([int(v) for v in labels])
    feats, train_feats = _features(evaluator, images), _features(evaluator, train_images)
    nearest = torch.empty(len(images))
    per_class = {}
    for label in labels.unique().tolist():
        rows = labels == label
        ref = train_feats[train_labels == label]
        d = torch.cdist(feats[rows].double(), ref.double()) ** 2
        nearest[rows] = d.min(dim=1).values.float()
        per_class[int(label)] = float(nearest[rows].mean())
    return {"knn_dist": float(nearest.mean()), "knn_dist_per_class": per_class}


def reconstruction_fd(images: torch.Tensor, reference: torch.Tensor, floor_images: torch.Tensor, *,
                      extractor: str = "digits") -> dict[str, float]:
    """FD of ``images`` against ``reference`` (the private training images of the attacked classes) in
    ``extractor`` features, and the floor: FD of ``floor_images`` (real held-out images of the same classes)
    against the same reference."""
    from trustgen.core.metrics import frechet_distance, get_extractor

    ext = get_extractor(extractor)
    ref = ext.features(reference)
    return {f"fd_{extractor}": frechet_distance(ext.features(images), ref),
            f"fd_{extractor}_floor": frechet_distance(ext.features(floor_images), ref)}


def evaluate_inversion(evaluator: Classifier, images: torch.Tensor, labels: list[int] | torch.Tensor,
                       train_images: torch.Tensor, train_labels: torch.Tensor, floor_images: torch.Tensor,
                       *, extractor: str | None = "digits") -> dict[str, Any]:
    """Attack accuracy, nearest-training distance and (with an ``extractor``) FD, as one dict."""
    out: dict[str, Any] = {**attack_accuracy(evaluator, images, labels),
                           **nearest_training_distance(evaluator, images, labels, train_images, train_labels)}
    if extractor is not None:
        attacked = torch.isin(train_labels, torch.as_tensor([int(v) for v in labels]).unique())
        out.update(reconstruction_fd(images, train_images[attacked], floor_images, extractor=extractor))
    return out


def per_class_accuracy(evaluator: Classifier, images: torch.Tensor, labels: list[int]) -> dict[int, float]:
    """Top-1 attack accuracy of each attacked label."""
    index = torch.tensor(evaluator.indices_of(labels))
    pred = predict_logits(evaluator, images).argmax(dim=1)
    lab = np.asarray(labels)
    return {int(c): float((pred[lab == c] == index[lab == c]).float().mean()) for c in sorted(set(labels))}
