"""``trustgen names``: remove names from a text encoder with backdoors, and evaluate the defence."""

from __future__ import annotations

from pathlib import Path

import typer

from trustgen.cli.common import JsonOption, OutOption, emit, out_dir, progress_enabled

app = typer.Typer(help="Name removal: backdoors that make a text encoder forget names (name → 'a person').",
                  no_args_is_help=True)

OverridesArg = typer.Argument(None, metavar="[KEY=VALUE]...", help="Setting overrides, e.g. steps=200 lambda_w=0.003.")


@app.command()
def remove(
    overrides: list[str] = OverridesArg,
    encoder: str = typer.Option(None, "--encoder", help="minilm, clip, a zoo model, or a model folder "
                                                        "(sentence-transformers, transformers, pipeline, bundle)."),
    names: Path = typer.Option(..., "--names", help="Text file: one name a line, or 'NAME => TARGET'."),
    target: str = typer.Option(None, "--target", help="What names are mapped to (default 'a person')."),
    captions: Path = typer.Option(None, "--captions", help="Captions file, one a line (default: generated corpus)."),
    steps: int = typer.Option(None, "--steps", help="Fine-tuning steps (paper: 400)."),
    config: Path = typer.Option(None, "--config", help="YAML file of settings."),
    seed: int = typer.Option(None, "--seed", help="Random seed."),
    out: Path = OutOption,
    as_json: bool = JsonOption,
) -> None:
    """Fine-tune a student of ENCODER that forgets the names; write it in the input's layout with a card."""
    from trustgen.core.config import resolve_settings
    from trustgen.name_removal.config import RemovalSettings
    from trustgen.name_removal.experiment import read_names, run_remove

    name_list, targets = read_names(names)
    settings = resolve_settings(RemovalSettings, config_file=config, overrides=overrides, encoder=encoder,
                                names=name_list, targets=targets or None, target=target,
                                captions=str(captions) if captions is not None else None, steps=steps, seed=seed)
    folder = out_dir(out, "names-remove")
    metrics = run_remove(settings, folder, progress=progress_enabled(as_json),
                         warn=lambda message: typer.echo(f"warning: {message}", err=True))
    summary = {k: v for k, v in metrics.items() if isinstance(v, int | float | str) and not k.startswith("final_")}
    emit(metrics if as_json else summary, as_json, folder)


@app.command()
def evaluate(
    overrides: list[str] = OverridesArg,
    encoder: str = typer.Option(None, "--encoder", help="Encoder to evaluate on (default minilm)."),
    num_names: str = typer.Option(None, "--num-names", help="Comma-separated name counts, e.g. 1,8,32,64."),
    steps: int = typer.Option(None, "--steps", help="Fine-tuning steps per removal run."),
    config: Path = typer.Option(None, "--config", help="YAML file of settings."),
    seed: int = typer.Option(None, "--seed", help="Random seed."),
    out: Path = OutOption,
    as_json: bool = JsonOption,
) -> None:
    """Remove names of well-known people: text IDIA before/after (removed, kept), utility, paraphrase check."""
    from trustgen.core.config import resolve_settings
    from trustgen.core.errors import TrustgenError
    from trustgen.name_removal.config import EvaluateSettings
    from trustgen.name_removal.experiment import run_evaluate

    counts = None
    if num_names is not None:
        try:
            counts = [int(v) for v in num_names.split(",")]
        except ValueError:
            raise TrustgenError(f"bad --num-names {num_names!r}: expected counts like 1,8,32,64") from None
    settings = resolve_settings(EvaluateSettings, config_file=config, overrides=overrides, encoder=encoder,
                                num_names=counts, steps=steps, seed=seed)
    folder = out_dir(out, "names-evaluate")
    metrics = run_evaluate(settings, folder, progress=progress_enabled(as_json))
    summary = {k: v for k, v in metrics.items() if isinstance(v, int | float | str)}
    emit(metrics if as_json else summary, as_json, folder)
