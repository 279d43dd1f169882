"""Image classifiers: a layer capabilities stand on (model inversion, Caia, poisoning); see ``docs/classifiers.md``.

Small ResNet / plain-CNN networks for the registry's data sets, trained from :class:`ClassifierTrainSettings`
(cross-entropy, label smoothing with any α in (−1, 1) and the negative-α warm-up of Struppek et al., ICLR 2024,
optional PGD adversarial training), evaluated for accuracy and calibration (ECE), saved as safetensors +
``classifier.json`` + a zoo card, and resumable after a kill.
"""

from __future__ import annotations

from trustgen.classifiers.bundle import Classifier, load_classifier
from trustgen.classifiers.config import ArchitectureSettings, ClassifierTrainSettings, PGDSettings
from trustgen.classifiers.data import class_view, load_classes
from trustgen.classifiers.losses import alpha_at_epoch, smoothed_cross_entropy
from trustgen.classifiers.metrics import classification_metrics, expected_calibration_error, predict_logits
from trustgen.classifiers.training import TrainResult, train_classifier

__all__ = [
    "ArchitectureSettings",
    "Classifier",
    "ClassifierTrainSettings",
    "PGDSettings",
    "TrainResult",
    "alpha_at_epoch",
    "class_view",
    "classification_metrics",
    "expected_calibration_error",
    "load_classes",
    "load_classifier",
    "predict_logits",
    "smoothed_cross_entropy",
    "train_classifier",
]
