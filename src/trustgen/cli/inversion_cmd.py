"""``trustgen inversion``: Plug & Play model inversion and the label-smoothing defence."""

from __future__ import annotations

from pathlib import Path

import typer

from trustgen.cli.classify_cmd import parse_classes
from trustgen.cli.common import JsonOption, OutOption, emit, out_dir, progress_enabled

app = typer.Typer(help="Model inversion: Plug & Play Attacks on a classifier, and (negative) label smoothing.",
                  no_args_is_help=True)

OverridesArg = typer.Argument(None, metavar="[KEY=VALUE]...", help="Setting overrides, e.g. optimization.steps=70.")


@app.command("train-generator")
def train_generator(
    overrides: list[str] = OverridesArg,
    config: Path = typer.Option(None, "--config", help="YAML file of settings."),
    classes: str = typer.Option(None, "--classes", help="Public classes to train on (default 5-9)."),
    seed: int = typer.Option(None, "--seed", help="Random seed."),
    out: Path = OutOption,
    as_json: bool = JsonOption,
) -> None:
    """Train the attack's image prior (a VAE decoder) on public classes only; it goes to OUT/generator."""
    from trustgen.core.config import resolve_settings
    from trustgen.core.data import dataset_info
    from trustgen.inversion.config import GeneratorTrainSettings
    from trustgen.inversion.experiment import run_train_generator

    settings = resolve_settings(GeneratorTrainSettings, config_file=config, overrides=overrides,
                                classes=parse_classes(classes), seed=seed)
    dataset_info(settings.dataset)
    folder = out_dir(out, "inversion-train-generator")
    emit(run_train_generator(settings, folder, progress=progress_enabled(as_json)), as_json, folder)


@app.command()
def attack(
    overrides: list[str] = OverridesArg,
    target: str = typer.Option(..., "--target", help="Classifier to invert: zoo name or model/run folder."),
    generator: str = typer.Option("mi-digits-generator", "--generator", help="Generator: zoo name or folder."),
    classes: str = typer.Option(None, "--classes", help="Target classes, e.g. 0,1,2 or 0-4 (default: all)."),
    evaluation: str = typer.Option(None, "--evaluation", help="Independent classifier that judges the result."),
    config: Path = typer.Option(None, "--config", help="YAML file of attack settings."),
    seed: int = typer.Option(None, "--seed", help="Random seed."),
    out: Path = OutOption,
    as_json: bool = JsonOption,
) -> None:
    """Plug & Play Attack: reconstructions per class (grids, safetensors), optionally judged."""
    from trustgen.core.config import resolve_settings
    from trustgen.inversion.config import AttackSettings
    from trustgen.inversion.experiment import run_attack

    settings = resolve_settings(AttackSettings, config_file=config, overrides=overrides,
                                classes=parse_classes(classes), seed=seed)
    folder = out_dir(out, "inversion-attack")
    metrics = run_attack(target, generator, settings, folder, evaluation=evaluation,
                         progress=progress_enabled(as_json))
    emit(metrics, as_json, folder)


@app.command()
def evaluate(
    overrides: list[str] = OverridesArg,
    models: str = typer.Option(None, "--models", help="auto (shipped models when they match), zoo or train."),
    config: Path = typer.Option(None, "--config", help="YAML file of settings."),
    seed: int = typer.Option(None, "--seed", help="Random seed (0 uses the shipped models)."),
    out: Path = OutOption,
    as_json: bool = JsonOption,
) -> None:
    """Targets with α = 0, +0.1, −0.05 on private digits 0–4, PPA with a generator of public digits 5–9:
    test accuracy, ECE, attack acc@1/@5, nearest-training distance and fd_digits for each α."""
    from trustgen.core.config import resolve_settings
    from trustgen.inversion.config import InversionEvaluateSettings
    from trustgen.inversion.experiment import run_evaluate

    settings = resolve_settings(InversionEvaluateSettings, config_file=config, overrides=overrides, models=models,
                                seed=seed)
    folder = out_dir(out, "inversion-evaluate")
    metrics = run_evaluate(settings, folder, progress=progress_enabled(as_json))
    if as_json:
        emit(metrics, True, folder)
        return
    summary: dict[str, object] = {}
    for row in metrics["results"]:
        for key in ("test_accuracy", "test_ece", "attack_acc_top1", "attack_acc_top5", "knn_dist", "fd_digits"):
            if key in row:
                summary[f"α={row['alpha']:g} {key}"] = row[key]
    summary["paper trend holds"] = metrics["trend"].get("holds")
    emit(summary, False, folder)
