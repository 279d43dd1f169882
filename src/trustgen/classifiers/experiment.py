"""Run-directory entry points of ``trustgen classify``: ``train`` (resumable) and ``evaluate``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from trustgen.classifiers.bundle import load_classifier
from trustgen.classifiers.card import write_model_card
from trustgen.classifiers.config import ClassifierTrainSettings
from trustgen.classifiers.data import class_view
from trustgen.classifiers.metrics import classification_metrics, predict_logits, reliability
from trustgen.classifiers.report import evaluation_report, training_report
from trustgen.core.runs import RunDir


def run_train(settings: ClassifierTrainSettings, out: Path, *, resume: bool = False, progress: bool = False,
              command: str = "trustgen classify train") -> dict[str, Any]:
    """Train; write ``OUT/model`` (weights, ``classifier.json``, ``card.json``), test metrics and a report."""
    from trustgen.classifiers.checkpoint import require_checkpoint
    from trustgen.classifiers.training import train_classifier
    from trustgen.core.data import load_dataset

    resume_from = require_checkpoint(out) if resume else None
    train = load_dataset(settings.dataset, "train")
    test = class_view(load_dataset(settings.dataset, "test"), settings.classes)
    with RunDir(out) as run:
        if resume_from is None:
            run.start_over(settings)
        run.log(f"train a {settings.architecture.name} on {settings.dataset} classes {settings.classes or 'all'} "
                f"(α = {settings.label_smoothing}, {settings.epochs} epochs)"
                + (f", resuming from {resume_from}" if resume_from else ""))

        def log_epoch(epoch: int, loss: float, alpha: float) -> None:
            run.log(f"epoch {epoch + 1} loss {loss:.4f} alpha {alpha:g}")

        result = train_classifier(settings, train, out_dir=out, resume_from=resume_from, progress=progress,
                                  on_epoch=log_epoch)
        assert test.labels is not None
        metrics = {"dataset": settings.dataset, "classes": result.classifier.classes,
                   "label_smoothing": settings.label_smoothing, **result.to_dict(),
                   **{f"test_{k}": v for k, v in classification_metrics(
                       predict_logits(result.classifier, test.images), test.labels).items()}}
        result.classifier.save(out / "model")
        write_model_card(result.classifier, out / "model", name=out.name, command=command, seed=settings.seed,
                         steps=result.steps, metrics={k: v for k, v in metrics.items() if k.startswith("test_")})
        run.write_report(training_report(settings, metrics))
        run.write_metrics(metrics)
    return metrics


def run_evaluate(model: str, out: Path, *, dataset: str | None = None, split: str = "test",
                 pgd_eps: float | None = None, seed: int = 0) -> dict[str, Any]:
    """Accuracy, top-5 accuracy, ECE, NLL (and PGD robust accuracy with ``pgd_eps``) of a classifier on its data
    set's ``split``; a reliability diagram."""
    from trustgen.classifiers.adversarial import pgd
    from trustgen.core.data import load_dataset

    classifier = load_classifier(model)
    name = dataset or classifier.dataset
    data = class_view(load_dataset(name, split), classifier.classes)  # type: ignore[arg-type]
    assert data.labels is not None
    logits = predict_logits(classifier, data.images)
    metrics: dict[str, Any] = {"model": model, "dataset": name, "split": split,
                               **classification_metrics(logits, data.labels)}
    if pgd_eps is not None:
        gen = torch.Generator().manual_seed(seed)
        adv = torch.cat([pgd(classifier, data.images[i : i + 256], data.labels[i : i + 256], eps=pgd_eps,
                             step_size=pgd_eps / 4, steps=10, generator=gen) for i in range(0, len(data), 256)])
        metrics["pgd_eps"] = pgd_eps
        metrics["robust_accuracy"] = float((predict_logits(classifier, adv).argmax(1) == data.labels).float().mean())
    bins = reliability(logits.softmax(dim=1), data.labels)
    metrics["reliability"] = bins
    with RunDir(out) as run:
        run.log(f"evaluate {model} on {name} {split} ({len(data)} images)")
        _reliability_plot(bins, run.file("reliability.png"), metrics["ece"])
        run.write_report(evaluation_report(model, metrics))
        run.write_metrics(metrics)
    return metrics


def _reliability_plot(bins: list[dict[str, float]], path: Path, ece: float) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from trustgen.core.runs import atomic_path

    fig, ax = plt.subplots(figsize=(4, 4))
    mids = [(b["low"] + b["high"]) / 2 for b in bins]
    accs = [b["accuracy"] if b["count"] else 0.0 for b in bins]
    ax.bar(mids, accs, width=1 / len(bins), edgecolor="black", alpha=0.7, label="accuracy")
    ax.plot([0, 1], [0, 1], "k--", lw=1, label="perfect calibration")
    ax.set_xlabel("confidence")
    ax.set_ylabel("accuracy")
    ax.set_title(f"ECE {ece:.4f}")
    ax.legend(loc="upper left")
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=100)
    plt.close(fig)
