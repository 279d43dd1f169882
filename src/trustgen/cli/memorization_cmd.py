"""``trustgen memorization``: NeMo — detect memorized prompts, localize their neurons, switch them off."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer

from trustgen.cli.common import JsonOption, OutOption, SeedOption, emit, out_dir, progress_enabled

if TYPE_CHECKING:
    from trustgen.memorization.config import MitigationSettings, NemoSettings

app = typer.Typer(help="Detect memorized prompts, localize their cross-attention value neurons (NeMo), prune them.",
                  no_args_is_help=True)

ModelOption = typer.Option(..., "--model", help="Zoo model name or a diffusers pipeline folder (e.g. SD 1.4).")
PromptsOption = typer.Option(..., "--prompts", help="Text file, one prompt per line.")
CalibrationOption = typer.Option(..., "--calibration", help="Folder written by `trustgen memorization calibrate`.")
OverridesArg = typer.Argument(None, metavar="[KEY=VALUE]...", help="NeMo setting overrides, e.g. seeds=10.")
IncludeUpOption = typer.Option(False, "--include-up", help="Also search the up blocks' value layers.")


def _settings(overrides: list[str] | None, include_up: bool, config: Path | None = None) -> NemoSettings:
    from trustgen.core.config import resolve_settings
    from trustgen.memorization.config import NemoSettings

    return resolve_settings(NemoSettings, config_file=config, overrides=overrides,
                            include_up=include_up or None)


@app.command()
def calibrate(overrides: list[str] = OverridesArg, model: str = ModelOption, prompts: Path = PromptsOption,
              include_up: bool = IncludeUpOption, out: Path = OutOption, as_json: bool = JsonOption) -> None:
    """Threshold (mean + 1 std of NeMo scores) and activation statistics from non-memorized prompts."""
    from trustgen.memorization.config import CalibrateSettings
    from trustgen.memorization.experiment import run_calibrate

    folder = out_dir(out, "memorization-calibrate")
    settings = CalibrateSettings(model=model, prompts=prompts, nemo=_settings(overrides, include_up))
    emit(run_calibrate(settings, folder, progress=progress_enabled(as_json)), as_json, folder)


@app.command()
def detect(overrides: list[str] = OverridesArg, model: str = ModelOption, prompts: Path = PromptsOption,
           calibration: Path = CalibrationOption, include_up: bool = IncludeUpOption, out: Path = OutOption,
           as_json: bool = JsonOption) -> None:
    """Score prompts (NeMo and Wen et al.) and flag the memorized ones."""
    from trustgen.memorization.config import DetectSettings
    from trustgen.memorization.experiment import run_detect

    folder = out_dir(out, "memorization-detect")
    settings = DetectSettings(model=model, prompts=prompts, calibration=calibration,
                              nemo=_settings(overrides, include_up))
    emit(run_detect(settings, folder, progress=progress_enabled(as_json)), as_json, folder)


@app.command()
def localize(overrides: list[str] = OverridesArg, model: str = ModelOption, prompts: Path = PromptsOption,
             calibration: Path = CalibrationOption, include_up: bool = IncludeUpOption, out: Path = OutOption,
             as_json: bool = JsonOption) -> None:
    """Find the value neurons that carry each memorized prompt; writes OUT/neurons.json."""
    from trustgen.memorization.config import LocalizeSettings
    from trustgen.memorization.experiment import run_localize

    folder = out_dir(out, "memorization-localize")
    settings = LocalizeSettings(model=model, prompts=prompts, calibration=calibration,
                                nemo=_settings(overrides, include_up))
    emit(run_localize(settings, folder, progress=progress_enabled(as_json)), as_json, folder)


@app.command()
def prune(model: str = ModelOption,
          neurons_file: Path = typer.Option(None, "--neurons-file", help="A localize run folder or its neurons.json."),
          neurons: str = typer.Option(None, "--neurons", help="LAYER:INDEX,… to switch off."),
          scale: float = typer.Option(0.0, "--scale", help="Multiplier of the chosen neurons (0 = off)."),
          out: Path = OutOption, as_json: bool = JsonOption) -> None:
    """Export the model with the neurons switched off in its weights to OUT/model, with a model card."""
    from trustgen.memorization.config import PruneSettings
    from trustgen.memorization.experiment import run_prune

    folder = out_dir(out, "memorization-prune")
    settings = PruneSettings(model=model, neurons_file=neurons_file, neurons=neurons, scale=scale)
    emit(run_prune(settings, folder), as_json, folder)


def _mitigation_settings(overrides: list[str] | None) -> MitigationSettings:
    from trustgen.core.config import resolve_settings
    from trustgen.memorization.config import MitigationSettings

    return resolve_settings(MitigationSettings, config_file=None, overrides=overrides)


def _methods(text: str) -> list[str]:
    from trustgen.core.errors import TrustgenError
    from trustgen.memorization.config import MITIGATION_METHODS

    methods = [m.strip() for m in text.split(",") if m.strip()]
    for m in methods:
        if m not in MITIGATION_METHODS:
            raise TrustgenError(f"unknown mitigation method {m!r}: use one of {', '.join(MITIGATION_METHODS)}")
    if not methods:
        raise TrustgenError(f"no mitigation method given: use one of {', '.join(MITIGATION_METHODS)}")
    return methods


@app.command()
def mitigate(overrides: list[str] = typer.Argument(None, metavar="[KEY=VALUE]...",
                                                   help="Mitigation setting overrides, e.g. ft_steps=300."),
             model: str = ModelOption, prompts: Path = PromptsOption,
             method: str = typer.Option(..., "--method", help="nemo, embedding, attention or finetune."),
             calibration: Path = typer.Option(None, "--calibration", help="Folder written by `trustgen memorization "
                                              "calibrate` (default: the model's own caption lists, if it has them)."),
             out: Path = OutOption, as_json: bool = JsonOption) -> None:
    """Flag the memorized prompts (NeMo's detector) and mitigate them: a patched model or inference settings + card."""
    from trustgen.memorization.config import MitigateSettings
    from trustgen.memorization.experiment import run_mitigate

    _methods(method)
    if len(_methods(method)) != 1:
        from trustgen.core.errors import TrustgenError

        raise TrustgenError("--method takes one method (evaluate --compare runs several)")
    settings = MitigateSettings(model=model, prompts=prompts, method=method, calibration=calibration,
                                mitigation=_mitigation_settings(overrides))
    folder = out_dir(out, "memorization-mitigate")
    metrics = run_mitigate(settings, folder, progress=progress_enabled(as_json))
    if metrics.get("nothing_to_do") and not as_json:
        typer.echo(f"no memorized caption among the {metrics['num_prompts']} prompts: nothing to do")
    emit(metrics, as_json, folder)


@app.command()
def evaluate(overrides: list[str] = OverridesArg, model: str = ModelOption, seed: int = SeedOption,
             per_digit: int = typer.Option(20, "--per-digit", help="Samples per digit for the accuracy check."),
             steps: int = typer.Option(25, "--steps", help="DDIM steps of the evaluation generations."),
             compare: bool = typer.Option(False, "--compare", help="Compare the mitigations (nemo, embedding, "
                                          "attention, finetune) on the same captions and seeds; KEY=VALUE then "
                                          "overrides mitigation settings."),
             methods: str = typer.Option("nemo,embedding,attention,finetune", "--methods",
                                         help="With --compare: the methods, comma-separated."),
             nemo_from: Path = typer.Option(None, "--nemo-from", help="With --compare: an evaluate run's "
                                            "metrics.json whose NeMo neurons to reuse instead of localizing again."),
             limit: int = typer.Option(None, "--limit", help="With --compare: only the first N memorized captions."),
             out: Path = OutOption, as_json: bool = JsonOption) -> None:
    """The whole NeMo validation on a model trained on digits-memorized (e.g. digits-t2i-memorized)."""
    from trustgen.core.errors import TrustgenError
    from trustgen.memorization.config import CompareSettings, EvaluateSettings
    from trustgen.memorization.experiment import run_compare, run_evaluate

    if per_digit < 1:
        raise TrustgenError(f"--per-digit must be at least 1 (samples per digit of the accuracy check), "
                            f"got {per_digit}")
    if steps < 1:
        raise TrustgenError(f"--steps must be at least 1, got {steps}")
    if limit is not None and limit < 1:
        raise TrustgenError(f"--limit must be at least 1, got {limit}")
    if compare:
        compare_settings = CompareSettings(model=model, seed=seed, per_digit=per_digit, gen_steps=steps,
                                           methods=_methods(methods), limit=limit, nemo_from=nemo_from,
                                           mitigation=_mitigation_settings(overrides))
        folder = out_dir(out, "memorization-compare")
        metrics = run_compare(compare_settings, folder, progress=progress_enabled(as_json))
        emit(metrics if as_json else {f"{n}.{k}": v for n, r in metrics["methods"].items() for k, v in r.items()
                                      if k in ("frac_mitigated", "retrigger_rate", "nonmem_accuracy_delta",
                                               "cost_per_image_ratio")}, as_json, folder)
        return
    folder = out_dir(out, "memorization-evaluate")
    settings = EvaluateSettings(model=model, seed=seed, per_digit=per_digit, gen_steps=steps,
                                nemo=_settings(overrides, False))
    metrics = run_evaluate(settings, folder, progress=progress_enabled(as_json))
    emit({k: v for k, v in metrics.items() if k != "per_caption"} if not as_json else metrics, as_json, folder)
