"""``trustgen caia``: class attribute inference from a black-box classifier with diffusion edits (Caia)."""

from __future__ import annotations

from pathlib import Path

import typer

from trustgen.cli.common import JsonOption, OutOption, emit, out_dir, progress_enabled

app = typer.Typer(help="Caia: infer hidden class attributes of a black-box classifier with diffusion edits.",
                  no_args_is_help=True)


@app.command()
def attack(
    overrides: list[str] = typer.Argument(None, metavar="[KEY=VALUE]...",
                                          help="Setting overrides, e.g. strength=0.5 attack_images=60."),
    target: str = typer.Option(..., "--target", help="Target classifier (a model or run folder)."),
    attribute: str = typer.Option(..., "--attribute", help="Attribute name: thickness or slant (or any name "
                                  "with --values and --filter)."),
    values: str = typer.Option(None, "--values", help="Comma-separated edit values (at least two)."),
    filter_model: str = typer.Option(None, "--filter", help="Attribute filter classifier (default: train one)."),
    editor: str = typer.Option(None, "--editor", help="Text-conditional diffusion model (default digits-t2i)."),
    config: Path = typer.Option(None, "--config", help="YAML file of settings."),
    seed: int = typer.Option(None, "--seed", help="Random seed."),
    out: Path = OutOption,
    as_json: bool = JsonOption,
) -> None:
    """Edit public images to every value, keep filter-confirmed sets, query the target, vote per class."""
    from trustgen.attribute_inference.config import CaiaSettings
    from trustgen.attribute_inference.experiment import run_attack
    from trustgen.core.config import resolve_settings

    parsed = None if values is None else [v.strip() for v in values.split(",") if v.strip()]
    settings = resolve_settings(CaiaSettings, config_file=config, overrides=overrides, attribute=attribute,
                                values=parsed, editor=editor, seed=seed)
    folder = out_dir(out, "caia-attack")
    metrics = run_attack(settings, target, folder, filter_path=filter_model, progress=progress_enabled(as_json))
    emit(metrics if as_json else {k: v for k, v in metrics.items() if k != "results"}, as_json, folder)


@app.command()
def evaluate(
    overrides: list[str] = typer.Argument(None, metavar="[KEY=VALUE]...",
                                          help="Setting overrides, e.g. robust=false target.epochs=5."),
    seed: int = typer.Option(None, "--seed", help="One seed (default 0)."),
    seeds: str = typer.Option(None, "--seeds", help="Comma-separated seeds for intervals, e.g. 0,1,2."),
    config: Path = typer.Option(None, "--config", help="YAML file of settings."),
    out: Path = OutOption,
    as_json: bool = JsonOption,
) -> None:
    """Writers data set, standard and PGD-robust targets, every attribute, both query modes, chance baseline."""
    from trustgen.attribute_inference.config import CaiaEvaluateSettings
    from trustgen.attribute_inference.experiment import run_evaluate
    from trustgen.core.config import resolve_settings
    from trustgen.core.errors import TrustgenError

    chosen = None
    if seeds is not None:
        try:
            chosen = [int(s) for s in seeds.split(",") if s.strip()]
        except ValueError:
            raise TrustgenError(f"--seeds must be comma-separated integers, got {seeds!r}") from None
    elif seed is not None:
        chosen = [seed]
    settings = resolve_settings(CaiaEvaluateSettings, config_file=config, overrides=overrides, seeds=chosen)
    folder = out_dir(out, "caia-evaluate")
    metrics = run_evaluate(settings, folder, progress=progress_enabled(as_json))
    emit(metrics if as_json else {k: v for k, v in metrics.items() if k not in ("runs", "summary")}, as_json, folder)
