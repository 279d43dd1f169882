"""``report.md`` of ``trustgen poison train`` and ``poison evaluate``, and the words that describe a defence."""

from __future__ import annotations

from typing import Any

from trustgen.poisoning.config import DistillSettings, PoisonEvaluateSettings, PoisonTrainSettings

__all__ = ["MODEL_ROWS", "ROW_NAMES", "evaluate_report", "kd_description", "train_report"]

MODEL_ROWS = ("clean", "teacher", "variations", "kd")
ROW_NAMES = {"clean": "clean model (no poison)", "teacher": "teacher (poisoned data)",
             "variations": "student on variations, no KD", "kd": "student on variations + KD"}


def kd_description(distill: DistillSettings) -> str:
    """The distillation's α, temperature and form of its cross-entropy term, in words."""
    form = ("textbook (CE on the student's plain logits)" if distill.ce == "textbook"
            else "the authors' (CE on logits / T)")
    return f"KD α = {distill.alpha:g}, T = {distill.temperature:g}, CE term: {form}"


def train_report(settings: PoisonTrainSettings, description: str, metrics: dict[str, Any]) -> str:
    """``report.md`` of one poisoned training: what was trained, clean accuracy, ASR and the clean floor."""
    return (f"# Poisoned training: {settings.attack.kind}, defence `{settings.defense}`\n\n{description}.\n\n"
            f"| clean accuracy | attack success rate | clean non-target → target |\n|---:|---:|---:|\n"
            f"| {metrics['clean_accuracy']:.3f} | {metrics['asr']:.3f} | {metrics['clean_target_rate']:.3f} |\n\n"
            "![poisoned training images and their variations](examples.png)\n")


def evaluate_report(settings: PoisonEvaluateSettings, results: dict[str, dict[str, dict[str, float]]]) -> str:
    """The markdown table per attack."""
    lines = [f"# Poisoned training: variations + distillation on `{settings.dataset}`\n",
             f"Rate {settings.attack.rate:g} of the non-target samples to class {settings.attack.target}; "
             f"variations from `{settings.variations.model}` (SDEdit, s = {settings.variations.strength:g}, "
             f"{settings.variations.steps} DDIM steps); {kd_description(settings.distill)}; seed {settings.seed}.\n"]
    for attack, rows in results.items():
        lines += [f"\n## {attack}\n", "| model | clean accuracy | ASR |", "|---|---:|---:|"]
        lines += [f"| {ROW_NAMES[m]} | {rows[m]['clean_accuracy']:.3f} | {rows[m]['asr']:.3f} |" for m in MODEL_ROWS]
        lines.append(f"\nThe clean model predicts class {settings.attack.target} for "
                     f"{rows['clean']['clean_target_rate']:.3f} of clean non-target test images.\n")
    lines.append("\n![test images, triggers and variations](examples.png)\n")
    return "\n".join(lines)
