"""``trustgen fairness``: Fair Diffusion — steer attribute proportions with SEGA at inference."""

from __future__ import annotations

from pathlib import Path

import typer

from trustgen.cli.common import JsonOption, OutOption, emit, out_dir, progress_enabled

app = typer.Typer(help="Fair Diffusion: SEGA guidance that steers an attribute's proportions, no retraining.",
                  no_args_is_help=True)

OverridesArg = typer.Argument(None, metavar="[KEY=VALUE]...", help="Setting overrides, e.g. edit.scale=6.")


def _targets(text: str | None, attribute: str | None, default_attribute: str) -> list[float] | None:
    """``--target`` text → shares (one per value; a single number is the first value's share of two)."""
    from trustgen.core.errors import TrustgenError
    from trustgen.fairness.config import parse_attribute, parse_targets

    try:
        values = parse_attribute(attribute or default_attribute)
    except ValueError as exc:
        raise TrustgenError(f"bad --attribute: {exc}") from None
    if text is None:
        return None
    try:
        return parse_targets(text, len(values))
    except ValueError as exc:
        raise TrustgenError(f"bad --target {text!r}: {exc}") from None


@app.command()
def generate(
    overrides: list[str] = OverridesArg,
    model: str = typer.Option(None, "--model", help="Zoo model name or a text-to-image model folder."),
    prompt: str = typer.Option(None, "--prompt", help="The prompt, e.g. 'a handwritten seven'."),
    attribute: str = typer.Option(None, "--attribute", help="Values as edit prompts, 'a:b[:c…]'."),
    target: str = typer.Option(None, "--target", help="Target shares '0.5[,…]' (two values: the first's)."),
    num: int = typer.Option(None, "--num", help="Number of images."),
    closed_loop: bool = typer.Option(False, "--closed-loop", help="Measure while generating and adapt."),
    draw: str = typer.Option(None, "--draw", help="stratified (exact counts, default) or probabilistic."),
    measure: str = typer.Option(None, "--measure", help="Attribute measure (default: the model's data set's)."),
    edit_scale: float = typer.Option(None, "--edit-scale", help="SEGA edit guidance scale (>= 0)."),
    config: Path = typer.Option(None, "--config", help="YAML file of settings."),
    seed: int = typer.Option(None, "--seed", help="Random seed."),
    out: Path = OutOption,
    as_json: bool = JsonOption,
) -> None:
    """Plain vs fair images of one prompt: measured shares before and after, quality, grids."""
    from trustgen.core.config import resolve_settings
    from trustgen.fairness.config import FairGenerateSettings
    from trustgen.fairness.experiment import run_generate

    edit = {"scale": edit_scale} if edit_scale is not None else None
    settings = resolve_settings(
        FairGenerateSettings, config_file=config, overrides=overrides, model=model, prompt=prompt,
        attribute=attribute, targets=_targets(target, attribute, FairGenerateSettings().attribute), num=num,
        closed_loop=closed_loop or None, draw=draw, measure=measure, edit=edit, seed=seed)
    folder = out_dir(out, "fairness-generate")
    emit(run_generate(settings, folder, progress=progress_enabled(as_json)), as_json, folder)


@app.command()
def evaluate(
    overrides: list[str] = OverridesArg,
    model: str = typer.Option(None, "--model", help="A text-to-digit model (default digits-t2i-biased)."),
    attribute: str = typer.Option(None, "--attribute", help="Values as edit prompts, 'a:b[:c…]'."),
    config: Path = typer.Option(None, "--config", help="YAML file of settings."),
    seed: int = typer.Option(None, "--seed", help="Random seed."),
    out: Path = OutOption,
    as_json: bool = JsonOption,
) -> None:
    """Plain vs fair generation over all digits for targets 50/30/70 %, open and closed loop."""
    from trustgen.core.config import resolve_settings
    from trustgen.fairness.config import FairEvaluateSettings
    from trustgen.fairness.experiment import run_evaluate

    settings = resolve_settings(FairEvaluateSettings, config_file=config, overrides=overrides, model=model,
                                attribute=attribute, seed=seed)
    folder = out_dir(out, "fairness-evaluate")
    metrics = run_evaluate(settings, folder, progress=progress_enabled(as_json))
    summary = {k: v for k, v in metrics.items() if isinstance(v, int | float | str)}
    emit(metrics if as_json else summary, as_json, folder)
