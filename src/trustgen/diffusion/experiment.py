"""Run-directory level entry points of ``trustgen diffusion``: data in, run folder out.

Each function follows the run contract (``config.yaml``, ``metrics.json``, ``report.md``,
PNG grids, ``log.txt``, ``*.safetensors``) and returns the metrics it wrote.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from trustgen.core.errors import TrustgenError
from trustgen.core.figures import save_grid
from trustgen.core.runs import RunDir, metrics_table
from trustgen.diffusion.config import DiffusionTrainSettings
from trustgen.diffusion.sample_files import read_samples, write_samples

SCORE_KEYS_ORDER = ("confidence", "class_entropy", "class_entropy_max", "num_samples")


def _scores_table(metrics: dict[str, Any]) -> str:
    keys = [k for k in metrics if k.startswith(("fd_", "kid_"))] + [k for k in SCORE_KEYS_ORDER if k in metrics]
    return metrics_table(metrics, keys)


def run_train(
    settings: DiffusionTrainSettings, out: Path, *, resume: bool = False, progress: bool = True
) -> dict[str, Any]:
    """Train a model on ``settings.dataset``; the EMA model goes to ``out/model`` (diffusers layout)."""
    from trustgen.core.data import load_dataset
    from trustgen.diffusion.checkpoint import require_checkpoint
    from trustgen.diffusion.sampling import sample
    from trustgen.diffusion.training import train_diffusion

    resume_from = require_checkpoint(out) if resume else None
    dataset = load_dataset(settings.dataset, "train")
    with RunDir(out) as run:
        run.write_config(settings)
        run.log(f"train {settings.conditioning} model on {settings.dataset} ({len(dataset)} images), "
                f"{settings.steps} steps" + (f", resuming from {resume_from}" if resume_from else ""))
        every = max(settings.steps // 40, 1)

        def log_loss(step: int, loss: float) -> None:
            if step % every == 0:
                run.log(f"step {step} loss {loss:.4f}")

        result = train_diffusion(settings, dataset, out_dir=out, resume_from=resume_from, progress=progress,
                                 on_step=log_loss)
        result.model.save(out / "model")
        run.log(f"saved EMA model to {out / 'model'}")
        preview = _preview_samples(result.model, dataset, sample, settings.seed)
        save_grid(preview, run.file("samples.png"), nrow=10)
        metrics = {"dataset": settings.dataset, "conditioning": settings.conditioning, **result.to_dict()}
        run.write_report(
            f"# Diffusion training on `{settings.dataset}`\n\n"
            f"{settings.conditioning}-conditional UNet, {result.parameters:,} parameters, {result.steps} steps "
            f"(batch {settings.batch_size}, AdamW lr {settings.lr}, EMA {settings.ema_decay}).\n\n"
            f"{metrics_table(metrics)}\n\n![samples (EMA, DDIM 50 steps)](samples.png)\n"
        )
        run.write_metrics(metrics)
    return metrics


def _preview_samples(model: Any, dataset: Any, sample: Any, seed: int) -> Any:
    """20 quick DDIM samples for the report (prompts/labels cycle through the classes)."""
    kwargs: dict[str, Any] = {}
    if model.conditioning == "text":
        kwargs["prompts"] = [dataset.captions[i] for i in range(20)]
    return sample(model, 20, sampler="ddim", steps=min(50, model.num_train_timesteps), seed=seed, **kwargs)


def run_sample(
    model_name: str,
    out: Path,
    *,
    num: int,
    prompt: str | None = None,
    sampler: str = "ddim",
    steps: int | None = None,
    seed: int = 0,
    guidance_scale: float | None = None,
    allow_pickle: bool = False,
    evaluate: bool = True,
    progress: bool = True,
) -> dict[str, Any]:
    """Sample ``num`` images, write ``samples.npy`` and a grid, and score them against the model's data set."""
    from trustgen.core.seeding import seed_everything
    from trustgen.diffusion.bundle import load_model
    from trustgen.diffusion.sampling import sample

    seed_everything(seed)
    model = load_model(model_name, allow_pickle=allow_pickle)
    images = sample(model, num, prompts=[prompt] if prompt else None, sampler=sampler, steps=steps, seed=seed,
                    guidance_scale=guidance_scale, progress=progress)
    with RunDir(out) as run:
        config = {"model": model_name, "num": num, "prompt": prompt, "sampler": sampler, "steps": steps,
                  "seed": seed, "guidance_scale": guidance_scale}
        _write_yaml(run, config)
        run.log(f"sampled {num} images from {model_name} ({sampler})")
        write_samples(images, run.file("samples.npy"))
        save_grid(images[:100], run.file("samples.png"), nrow=10)
        metrics: dict[str, Any] = {"model": model_name, "sampler": sampler, "num_samples": num}
        dataset = model.meta.get("dataset")
        if evaluate and dataset and model.vae is None:
            metrics.update(_score_if_possible(run, images, dataset, seed))
        run.write_report(f"# Samples from `{model_name}`\n\n{num} images, {sampler} sampler, seed {seed}"
                         + (f", prompt “{prompt}”" if prompt else "") + ".\n\n"
                         f"{_scores_table(metrics)}\n\n![samples](samples.png)\n")
        run.write_metrics(metrics)
    return metrics


def _score_if_possible(run: RunDir, images: Any, dataset: str, seed: int) -> dict[str, Any]:
    """Scores against ``dataset``, or a note saying why there are none (e.g. no offline extractor for it)."""
    from trustgen.core.metrics import evaluate_samples, extractor_for_dataset

    try:
        extractor_for_dataset(dataset)
    except TrustgenError as exc:
        run.log(f"no scores: {exc}")
        return {"scores": f"skipped: {exc}"}
    return {**evaluate_samples(images, dataset, seed=seed), "dataset": dataset}


def run_evaluate_samples(samples_dir: Path, dataset: str, out: Path, *, seed: int = 0,
                         extractor: str | None = None) -> dict[str, Any]:
    """Score the ``samples.npy`` of an earlier run (or any such file) against ``dataset``."""
    from trustgen.core.metrics import evaluate_samples

    images = read_samples(samples_dir)
    metrics = evaluate_samples(images, dataset, seed=seed, extractor=extractor)
    metrics["dataset"] = dataset
    if float(images.min()) >= 0:
        metrics["warning"] = ("every sample value is >= 0: if these are 0..1 images, convert them with 2x - 1 "
                              "first (samples are scored as [-1, 1] images)")
    with RunDir(out) as run:
        _write_yaml(run, {"samples": str(samples_dir), "dataset": dataset, "seed": seed, "extractor": extractor})
        warning = f"**Warning:** {metrics['warning']}\n\n" if "warning" in metrics else ""
        run.write_report(f"# Evaluation of `{samples_dir}` against `{dataset}`\n\n{warning}"
                         f"{_scores_table(metrics)}\n")
        run.write_metrics(metrics)
    return metrics


def run_evaluate_model(model_name: str, out: Path, *, per_digit: int = 20, seed: int = 0, sampler: str = "ddim",
                       steps: int | None = None, guidance_scale: float | None = None,
                       progress: bool = True) -> dict[str, Any]:
    """Prompt-following score of a text-to-digit model (``prompted_accuracy``)."""
    from trustgen.diffusion.bundle import load_model
    from trustgen.diffusion.evaluation import prompted_accuracy

    model = load_model(model_name)
    metrics, images = prompted_accuracy(model, per_digit=per_digit, seed=seed, sampler=sampler, steps=steps,
                                        guidance_scale=guidance_scale, progress=progress)
    metrics = {"model": model_name, "sampler": sampler, **metrics}
    with RunDir(out) as run:
        _write_yaml(run, {"model": model_name, "per_digit": per_digit, "seed": seed, "sampler": sampler,
                          "steps": steps, "guidance_scale": guidance_scale})
        order = np.arange(len(images)).reshape(10, per_digit)[:, : min(per_digit, 10)].flatten()
        save_grid(images[order], run.file("prompted.png"), nrow=min(per_digit, 10))
        per = " | ".join(f"{a:.2f}" for a in metrics["prompted_accuracy_per_digit"])
        run.write_report(
            f"# Prompt following of `{model_name}`\n\nPrompt “a handwritten N” for N = 0..9, {per_digit} samples "
            f"each; the shipped digits classifier judges.\n\n"
            f"{metrics_table(metrics, ['prompted_accuracy', 'confidence'])}\n\n"
            f"| digit | {' | '.join(map(str, range(10)))} |\n|{'---|' * 11}\n| accuracy | {per} |\n\n"
            f"![one row per prompted digit](prompted.png)\n"
        )
        run.write_metrics(metrics)
    return metrics


def _write_yaml(run: RunDir, config: dict[str, Any]) -> None:
    import yaml

    from trustgen.core.runs import write_text_atomic

    write_text_atomic(run.file("config.yaml"), yaml.safe_dump(config, sort_keys=False))


