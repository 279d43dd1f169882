"""``trustgen classify``: train and evaluate image classifiers (cross-entropy, ±label smoothing, PGD)."""

from __future__ import annotations

from pathlib import Path

import typer

from trustgen.cli.common import JsonOption, OutOption, SeedOption, emit, out_dir, progress_enabled, resume_folder

app = typer.Typer(help="Image classifiers: train (CE, label smoothing ±α, PGD) and evaluate (accuracy, ECE).",
                  no_args_is_help=True)


@app.command()
def train(
    overrides: list[str] = typer.Argument(None, metavar="[KEY=VALUE]...",
                                          help="Setting overrides, e.g. label_smoothing=-0.05 epochs=50."),
    dataset: str = typer.Option(None, "--dataset", help="Data set name (trustgen data list)."),
    classes: str = typer.Option(None, "--classes", help="Comma-separated labels to train on, e.g. 0,1,2,3,4."),
    alpha: float = typer.Option(None, "--alpha", help="Label smoothing factor in (-1, 1); < 0 is negative LS."),
    epochs: int = typer.Option(None, "--epochs", help="Training epochs."),
    config: Path = typer.Option(None, "--config", help="YAML file of settings."),
    resume: Path = typer.Option(None, "--resume", help="Continue the run in this folder from its last checkpoint."),
    seed: int = typer.Option(None, "--seed", help="Random seed."),
    out: Path = OutOption,
    as_json: bool = JsonOption,
) -> None:
    """Train a classifier; the model (safetensors + classifier.json + card.json) goes to OUT/model."""
    from trustgen.classifiers.checkpoint import require_checkpoint
    from trustgen.classifiers.config import ClassifierTrainSettings
    from trustgen.classifiers.experiment import run_train
    from trustgen.core.config import resolve_settings
    from trustgen.core.data import dataset_info

    base, run_folder = resume_folder(resume, config, out, require_checkpoint)
    settings = resolve_settings(ClassifierTrainSettings, config_file=base, overrides=overrides, dataset=dataset,
                                classes=parse_classes(classes), label_smoothing=alpha, epochs=epochs, seed=seed)
    dataset_info(settings.dataset)
    folder = out_dir(run_folder, "classify-train")
    emit(run_train(settings, folder, resume=resume is not None, progress=progress_enabled(as_json)), as_json, folder)


@app.command()
def evaluate(
    model: str = typer.Option(..., "--model", help="Zoo classifier name or a model/run folder."),
    dataset: str = typer.Option(None, "--dataset", help="Data set (default: the model's)."),
    split: str = typer.Option("test", "--split", help="train, test or all."),
    pgd_eps: float = typer.Option(None, "--pgd-eps", help="Also measure accuracy under a 10-step PGD of this L∞ "
                                  "radius (images in [-1, 1])."),
    seed: int = SeedOption,
    out: Path = OutOption,
    as_json: bool = JsonOption,
) -> None:
    """Accuracy, top-5 accuracy, expected calibration error, NLL; a reliability diagram."""
    from trustgen.classifiers.experiment import run_evaluate
    from trustgen.core.errors import TrustgenError

    if split not in ("train", "test", "all"):
        raise TrustgenError(f"unknown split {split!r}: use train, test or all")
    if pgd_eps is not None and pgd_eps <= 0:
        raise TrustgenError(f"--pgd-eps must be > 0, got {pgd_eps}")
    folder = out_dir(out, "classify-evaluate")
    metrics = run_evaluate(model, folder, dataset=dataset, split=split, pgd_eps=pgd_eps, seed=seed)
    emit(metrics if as_json else {k: v for k, v in metrics.items() if k != "reliability"}, as_json, folder)


def parse_classes(text: str | None) -> list[int] | None:
    """``"0,1,2"`` or ``"0-4"`` → ``[0, 1, 2]`` / ``[0, 1, 2, 3, 4]``; None stays None."""
    from trustgen.core.errors import TrustgenError

    if text is None or text.strip().lower() in ("", "all"):
        return None
    out: list[int] = []
    try:
        for part in text.split(","):
            lo, sep, hi = part.strip().partition("-")
            out.extend(range(int(lo), int(hi) + 1) if sep else [int(lo)])
    except ValueError:
        raise TrustgenError(f"bad --classes {text!r}: give labels like 0,1,2 or a range 0-4") from None
    return out
