"""Metrics for generated images: FD / KID in offline feature spaces, classifier scores, SSIM.

See ``docs/metrics.md``. FD computed on ``digits`` or ``faces`` features is reported as
``fd_digits`` / ``fd_faces``, never as FID: the features come from small offline models.
"""

from __future__ import annotations

from trustgen.core.metrics.digits_classifier import (
    DigitsClassifier,
    build_digits_classifier_zoo,
    load_digits_classifier,
    train_digits_classifier,
)
from trustgen.core.metrics.evaluate import evaluate_samples
from trustgen.core.metrics.extractors import (
    FeatureExtractor,
    extractor_for_dataset,
    get_extractor,
    list_extractors,
)
from trustgen.core.metrics.frechet import frechet_distance, gaussian_stats
from trustgen.core.metrics.kid import kernel_distance
from trustgen.core.metrics.quality import class_entropy, class_histogram, classifier_confidence, ms_ssim, ssim

__all__ = [
    "DigitsClassifier",
    "FeatureExtractor",
    "build_digits_classifier_zoo",
    "class_entropy",
    "class_histogram",
    "classifier_confidence",
    "evaluate_samples",
    "extractor_for_dataset",
    "frechet_distance",
    "gaussian_stats",
    "get_extractor",
    "kernel_distance",
    "list_extractors",
    "load_digits_classifier",
    "ms_ssim",
    "ssim",
    "train_digits_classifier",
]
