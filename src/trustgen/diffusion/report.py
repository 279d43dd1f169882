"""``report.md`` of the ``trustgen diffusion`` commands, rendered from their settings and metrics."""

from __future__ import annotations

from typing import Any

from trustgen.core.runs import metrics_table
from trustgen.diffusion.config import (
    DiffusionTrainSettings,
    EvaluateModelSettings,
    EvaluateSamplesSettings,
    SampleSettings,
)

__all__ = ["evaluate_model_report", "evaluate_samples_report", "sample_report", "scores_table", "train_report"]

SCORE_KEYS_ORDER = ("confidence", "class_entropy", "class_entropy_max", "num_samples")


def scores_table(metrics: dict[str, Any]) -> str:
    """Fréchet distances and KIDs (with their floors) first, then the classifier scores."""
    keys = [k for k in metrics if k.startswith(("fd_", "kid_"))] + [k for k in SCORE_KEYS_ORDER if k in metrics]
    return metrics_table(metrics, keys)


def train_report(settings: DiffusionTrainSettings, metrics: dict[str, Any]) -> str:
    return (
        f"# Diffusion training on `{settings.dataset}`\n\n"
        f"{settings.conditioning}-conditional UNet, {metrics['parameters']:,} parameters, {metrics['steps']} steps "
        f"(batch {settings.batch_size}, AdamW lr {settings.lr}, EMA {settings.ema_decay}).\n\n"
        f"{metrics_table(metrics)}\n\n![samples (EMA, DDIM 50 steps)](samples.png)\n"
    )


def sample_report(settings: SampleSettings, metrics: dict[str, Any]) -> str:
    prompt = f", prompt “{settings.prompt}”" if settings.prompt else ""
    return (f"# Samples from `{settings.model}`\n\n{settings.num} images, {settings.sampler} sampler, seed "
            f"{settings.seed}{prompt}.\n\n{scores_table(metrics)}\n\n![samples](samples.png)\n")


def evaluate_samples_report(settings: EvaluateSamplesSettings, metrics: dict[str, Any]) -> str:
    warning = f"**Warning:** {metrics['warning']}\n\n" if "warning" in metrics else ""
    return (f"# Evaluation of `{settings.samples}` against `{settings.dataset}`\n\n{warning}"
            f"{scores_table(metrics)}\n")


def evaluate_model_report(settings: EvaluateModelSettings, metrics: dict[str, Any]) -> str:
    per = " | ".join(f"{a:.2f}" for a in metrics["prompted_accuracy_per_digit"])
    return (
        f"# Prompt following of `{settings.model}`\n\nPrompt “a handwritten N” for N = 0..9, {settings.per_digit} "
        f"samples each; the shipped digits classifier judges.\n\n"
        f"{metrics_table(metrics, ['prompted_accuracy', 'confidence'])}\n\n"
        f"| digit | {' | '.join(map(str, range(10)))} |\n|{'---|' * 11}\n| accuracy | {per} |\n\n"
        f"![one row per prompted digit](prompted.png)\n"
    )
