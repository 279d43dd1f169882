"""``trustgen poison``: backdoor attacks on training data, and the diffusion-variation + distillation defence."""

from __future__ import annotations

from pathlib import Path

import typer

from trustgen.cli.common import JsonOption, OutOption, emit, out_dir, progress_enabled

app = typer.Typer(help="Poisoned training data: BadNets/Blended/warp triggers; defence by diffusion variations "
                       "and knowledge distillation (Struppek et al., 2023).", no_args_is_help=True)

OverridesArg = typer.Argument(None, metavar="[KEY=VALUE]...",
                              help="Setting overrides, e.g. attack.rate=0.05 variations.strength=0.6.")


def _check_attack(kind: str | None) -> None:
    from trustgen.core.errors import TrustgenError
    from trustgen.poisoning.config import ATTACKS

    if kind is not None and kind not in ATTACKS:
        raise TrustgenError(f"unknown attack {kind!r}: use {', '.join(ATTACKS)}")


@app.command()
def train(
    overrides: list[str] = OverridesArg,
    attack: str = typer.Option(None, "--attack", help="badnets, blended or warp."),
    defense: str = typer.Option(None, "--defense", help="none (the poisoned teacher), variations (a model on "
                                "diffusion variations) or kd (variations + distillation from a teacher)."),
    rate: float = typer.Option(None, "--rate", help="Share of the non-target training samples poisoned, [0, 1)."),
    target: int = typer.Option(None, "--target", help="Target class of the backdoor."),
    variation_model: str = typer.Option(None, "--variation-model", help="Diffusion model (zoo name or folder)."),
    strength: float = typer.Option(None, "--strength", help="Variation strength s in (0, 1]."),
    teacher: str = typer.Option(None, "--teacher", help="kd: a trained teacher (a --defense none run folder)."),
    config: Path = typer.Option(None, "--config", help="YAML file of settings."),
    seed: int = typer.Option(None, "--seed", help="Random seed."),
    out: Path = OutOption,
    as_json: bool = JsonOption,
) -> None:
    """Poison the training split and train one model; it goes to OUT/model with clean accuracy and ASR."""
    from trustgen.core.config import resolve_settings
    from trustgen.core.errors import TrustgenError
    from trustgen.poisoning.config import DEFENSES, PoisonTrainSettings
    from trustgen.poisoning.experiment import run_train

    _check_attack(attack)
    if defense is not None and defense not in DEFENSES:
        raise TrustgenError(f"unknown defence {defense!r}: use {', '.join(DEFENSES)}")
    attack_values = {k: v for k, v in {"kind": attack, "rate": rate, "target": target}.items() if v is not None}
    variation_values = {k: v for k, v in {"model": variation_model, "strength": strength}.items() if v is not None}
    settings = resolve_settings(PoisonTrainSettings, config_file=config, overrides=overrides,
                                attack=attack_values or None, variations=variation_values or None,
                                defense=defense, teacher=teacher, seed=seed)
    folder = out_dir(out, "poison-train")
    emit(run_train(settings, folder, progress=progress_enabled(as_json)), as_json, folder)


@app.command()
def evaluate(
    overrides: list[str] = OverridesArg,
    attack: list[str] = typer.Option(None, "--attack", help="Attack to compare (repeatable; default all three)."),
    rate: float = typer.Option(None, "--rate", help="Share of the non-target training samples poisoned, [0, 1)."),
    target: int = typer.Option(None, "--target", help="Target class of the backdoor."),
    variation_model: str = typer.Option(None, "--variation-model", help="Diffusion model (zoo name or folder)."),
    strength: float = typer.Option(None, "--strength", help="Variation strength s in (0, 1]."),
    config: Path = typer.Option(None, "--config", help="YAML file of settings."),
    seed: int = typer.Option(None, "--seed", help="Random seed (classifiers and variation noise)."),
    out: Path = OutOption,
    as_json: bool = JsonOption,
) -> None:
    """Clean model, poisoned teacher, student on variations, student with KD: clean accuracy and ASR per attack."""
    from trustgen.core.config import resolve_settings
    from trustgen.poisoning.config import PoisonEvaluateSettings
    from trustgen.poisoning.experiment import run_evaluate

    for kind in attack or []:
        _check_attack(kind)
    attack_values = {k: v for k, v in {"rate": rate, "target": target}.items() if v is not None}
    variation_values = {k: v for k, v in {"model": variation_model, "strength": strength}.items() if v is not None}
    settings = resolve_settings(PoisonEvaluateSettings, config_file=config, overrides=overrides,
                                attacks=list(attack) if attack else None, attack=attack_values or None,
                                variations=variation_values or None, seed=seed)
    folder = out_dir(out, "poison-evaluate")
    emit(run_evaluate(settings, folder, progress=progress_enabled(as_json)), as_json, folder)
