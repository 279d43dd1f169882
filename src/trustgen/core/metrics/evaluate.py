"""``evaluate_samples``: FD / KID against a data set's test split, with a real-vs-real floor.

Keys are named after the feature extractor (``fd_digits``, ``kid_faces``):

* ``fd_X``: Fréchet distance, samples vs the test split.
* ``fd_X_floor``: the same between a seeded random TRAIN subset of the samples' size
  (all of TRAIN if there are more samples) and the test split: what real data scores.
* ``kid_X``, ``kid_X_std``, ``kid_X_floor``: kernel distance, likewise.
* ``num_samples``.
* For the digits data sets scored with the ``digits`` extractor: ``confidence``,
  ``class_entropy``, ``class_entropy_max`` (ln 10) and ``class_histogram``.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import numpy as np
import torch

from trustgen.core.errors import TrustgenError
from trustgen.core.metrics.extractors import (
    DIGITS_DATASETS,
    DigitsExtractor,
    extractor_for_dataset,
    get_extractor,
)
from trustgen.core.metrics.frechet import frechet_distance
from trustgen.core.metrics.kid import kernel_distance
from trustgen.core.metrics.quality import (
    class_entropy,
    class_histogram,
    classifier_confidence,
    max_class_entropy,
)


def check_samples(samples: Any, shape: tuple[int, int, int]) -> torch.Tensor:
    """``samples`` as a float32 CPU tensor N×C×H×W matching ``shape``; :class:`TrustgenError` otherwise."""
    x = torch.as_tensor(samples).detach().cpu().float()
    if x.ndim != 4:
        raise TrustgenError(f"samples must be N×C×H×W, got shape {tuple(x.shape)}")
    if tuple(x.shape[1:]) != tuple(shape):
        got, want = ("×".join(map(str, s)) for s in (x.shape[1:], shape))
        raise TrustgenError(f"samples have C×H×W {got} but the data set has {want}")
    if x.shape[0] < 2:
        raise TrustgenError(f"need at least 2 samples to compare distributions, got {x.shape[0]}")
    if not torch.isfinite(x).all():
        raise TrustgenError("samples contain NaN or inf values")
    return x


@lru_cache(maxsize=8)
def _real_features(dataset: str, split: str, extractor: str) -> np.ndarray:
    """Features of a whole real split (cached; read-only)."""
    from trustgen.core.data import load_dataset

    feats = get_extractor(extractor).features(load_dataset(dataset, split).images)  # type: ignore[arg-type]
    feats.setflags(write=False)
    return feats


def evaluate_samples(
    samples: torch.Tensor,
    dataset: str,
    *,
    extractor: str | None = None,
    seed: int = 0,
    kid_subset: int = 100,
) -> dict[str, Any]:
    """Score generated ``samples`` (in [-1, 1]) against ``dataset``; see the module docstring for keys."""
    from trustgen.core.data import load_dataset

    test = load_dataset(dataset, "test")
    x = check_samples(samples, test.shape)
    ext = get_extractor(extractor or extractor_for_dataset(dataset))
    name = ext.name

    feats = ext.features(x)
    test_feats = _real_features(dataset, "test", name)
    train_feats = _real_features(dataset, "train", name)
    n = min(x.shape[0], train_feats.shape[0])
    floor_idx = np.sort(np.random.default_rng(seed).choice(train_feats.shape[0], n, replace=False))
    floor_feats = train_feats[floor_idx]

    kid, kid_std = kernel_distance(feats, test_feats, subset_size=kid_subset, seed=seed)
    kid_floor, _ = kernel_distance(floor_feats, test_feats, subset_size=kid_subset, seed=seed)
    result: dict[str, Any] = {
        f"fd_{name}": frechet_distance(feats, test_feats),
        f"fd_{name}_floor": frechet_distance(floor_feats, test_feats),
        f"kid_{name}": kid,
        f"kid_{name}_std": kid_std,
        f"kid_{name}_floor": kid_floor,
        "num_samples": int(x.shape[0]),
    }
    if isinstance(ext, DigitsExtractor) and dataset in DIGITS_DATASETS and test.labels is not None:
        result.update(digits_class_scores(ext.probabilities(x)))
    return result


def digits_class_scores(probs: np.ndarray) -> dict[str, Any]:
    """Confidence, class entropy (and its maximum ln K) and class histogram from N×K probabilities."""
    k = probs.shape[1]
    preds = probs.argmax(axis=1)
    return {
        "confidence": classifier_confidence(probs),
        "class_entropy": class_entropy(preds, k),
        "class_entropy_max": max_class_entropy(k),
        "class_histogram": [float(v) for v in class_histogram(preds, k)],
    }
