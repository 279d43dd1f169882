"""``report.md`` of ``trustgen classify train`` and ``classify evaluate``."""

from __future__ import annotations

from typing import Any

from trustgen.classifiers.config import ClassifierTrainSettings
from trustgen.core.runs import metrics_table

__all__ = ["evaluation_report", "training_report"]


def training_report(settings: ClassifierTrainSettings, metrics: dict[str, Any]) -> str:
    """What was trained (architecture, epochs, label smoothing and its warm-up, adversarial training) and the
    metrics."""
    warmup = f" (warm-up: {settings.ls_warmup})" if settings.label_smoothing < 0 else ""
    adversarial = ", PGD adversarial training" if settings.adversarial.enabled else ""
    return (f"# Classifier training on `{settings.dataset}`\n\n{settings.architecture.name}, "
            f"{metrics['parameters']:,} parameters, {settings.epochs} epochs, label smoothing "
            f"α = {settings.label_smoothing}{warmup}{adversarial}.\n\n{metrics_table(metrics)}\n")


def evaluation_report(model: str, metrics: dict[str, Any]) -> str:
    """The metrics of ``model`` on its data set's split, and the reliability diagram."""
    return (f"# Classifier evaluation: `{model}` on `{metrics['dataset']}` ({metrics['split']})\n\n"
            f"{metrics_table(metrics)}\n\n![reliability diagram](reliability.png)\n")
