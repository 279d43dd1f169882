"""``trustgen diffusion``: train, sample and evaluate diffusion models."""

from __future__ import annotations

from pathlib import Path

import typer

from trustgen.cli.common import JsonOption, OutOption, SeedOption, emit, out_dir, progress_enabled, resume_folder

app = typer.Typer(help="Train, sample and evaluate DDPM/DDIM models (diffusers).", no_args_is_help=True)


@app.command()
def train(
    overrides: list[str] = typer.Argument(None, metavar="[KEY=VALUE]...", help="Setting overrides, e.g. lr=1e-3."),
    dataset: str = typer.Option(None, "--dataset", help="Data set name (trustgen data list) or imagefolder:PATH."),
    conditioning: str = typer.Option(None, "--conditioning", help="none, class or text."),
    steps: int = typer.Option(None, "--steps", help="Optimizer steps."),
    config: Path = typer.Option(None, "--config", help="YAML file of settings."),
    resume: Path = typer.Option(None, "--resume", help="Continue the run in this folder from its last checkpoint."),
    seed: int = typer.Option(None, "--seed", help="Random seed."),
    out: Path = OutOption,
    as_json: bool = JsonOption,
) -> None:
    """Train a denoiser; writes the EMA model in diffusers layout to OUT/model."""
    from trustgen.core.config import resolve_settings
    from trustgen.core.data import dataset_info
    from trustgen.diffusion.checkpoint import require_checkpoint
    from trustgen.diffusion.config import DiffusionTrainSettings
    from trustgen.diffusion.experiment import run_train

    base, run_folder = resume_folder(resume, config, out, require_checkpoint)
    settings = resolve_settings(DiffusionTrainSettings, config_file=base, overrides=overrides,
                                dataset=dataset, conditioning=conditioning, steps=steps, seed=seed)
    dataset_info(settings.dataset)
    folder = out_dir(run_folder, "diffusion-train")
    metrics = run_train(settings, folder, resume=resume is not None, progress=progress_enabled(as_json))
    emit(metrics, as_json, folder)


@app.command()
def sample(
    model: str = typer.Option(..., "--model", help="Zoo model name (trustgen zoo list) or a model folder."),
    num: int = typer.Option(64, "--num", help="Number of images."),
    prompt: str = typer.Option(None, "--prompt", help="Prompt for text-conditional models."),
    sampler: str = typer.Option("ddim", "--sampler", help="ddim (50 steps) or ddpm (all T steps)."),
    steps: int = typer.Option(None, "--steps", help="Sampling steps (default: T for ddpm, 50 for ddim)."),
    guidance: float = typer.Option(None, "--guidance", help="Classifier-free guidance scale (default: the model's)."),
    allow_pickle: bool = typer.Option(False, "--allow-pickle", help="Allow pickle-based weights (unsafe)."),
    evaluate: bool = typer.Option(True, "--evaluate/--no-evaluate", help="Score samples against the model's data."),
    seed: int = SeedOption,
    out: Path = OutOption,
    as_json: bool = JsonOption,
) -> None:
    """Sample images; writes samples.npy (float32 N×C×H×W in [-1, 1]), samples.png and their scores."""
    from trustgen.core.config import resolve_settings
    from trustgen.diffusion.config import SampleSettings
    from trustgen.diffusion.experiment import run_sample

    _at_least_one(num=num, steps=steps)
    settings = resolve_settings(SampleSettings, model=model, num=num, prompt=prompt, sampler=sampler, steps=steps,
                                seed=seed, guidance_scale=guidance, allow_pickle=allow_pickle, evaluate=evaluate)
    folder = out_dir(out, "diffusion-sample")
    metrics = run_sample(settings, folder, progress=progress_enabled(as_json))
    emit(metrics, as_json, folder)


@app.command()
def evaluate(
    samples: Path = typer.Option(None, "--samples", help="A sample run folder or samples.npy to score."),
    dataset: str = typer.Option(None, "--dataset", help="Data set to score --samples against."),
    model: str = typer.Option(None, "--model", help="A text-to-digit model to score for prompt following."),
    per_digit: int = typer.Option(20, "--per-digit", help="Samples per prompted digit (with --model)."),
    sampler: str = typer.Option("ddim", "--sampler", help="ddim or ddpm (with --model)."),
    steps: int = typer.Option(None, "--steps", help="Sampling steps (with --model)."),
    guidance: float = typer.Option(None, "--guidance", help="Guidance scale (with --model)."),
    extractor: str = typer.Option(None, "--extractor", help="Feature extractor: digits, faces or inception."),
    seed: int = SeedOption,
    out: Path = OutOption,
    as_json: bool = JsonOption,
) -> None:
    """Score samples against a data set (FD, KID, floor, classifier scores), or a text model's prompt following."""
    from trustgen.core.config import resolve_settings
    from trustgen.core.errors import TrustgenError
    from trustgen.diffusion.config import EvaluateModelSettings, EvaluateSamplesSettings
    from trustgen.diffusion.experiment import run_evaluate_model, run_evaluate_samples

    _at_least_one(per_digit=per_digit, steps=steps)
    folder = out_dir(out, "diffusion-evaluate")
    if (samples is None) == (model is None):
        raise TrustgenError("give either --samples DIR --dataset NAME, or --model NAME")
    if samples is not None:
        if dataset is None:
            raise TrustgenError("--samples needs --dataset NAME to compare against")
        metrics = run_evaluate_samples(resolve_settings(EvaluateSamplesSettings, samples=samples, dataset=dataset,
                                                        seed=seed, extractor=extractor), folder)
    else:
        settings = resolve_settings(EvaluateModelSettings, model=model, per_digit=per_digit, seed=seed,
                                    sampler=sampler, steps=steps, guidance_scale=guidance)
        metrics = run_evaluate_model(settings, folder, progress=progress_enabled(as_json))
    emit(metrics, as_json, folder)


def _at_least_one(**values: int | None) -> None:
    """Counts given on the command line are checked before anything loads."""
    from trustgen.core.errors import TrustgenError

    for name, value in values.items():
        if value is not None and value < 1:
            raise TrustgenError(f"--{name.replace('_', '-')} must be at least 1, got {value}")
