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
from trustgen.core.runs import RunDir
from trustgen.diffusion.config import (
    DiffusionTrainSettings,
    EvaluateModelSettings,
    EvaluateSamplesSettings,
    SampleSettings,
)
from trustgen.diffusion.report import evaluate_model_report, evaluate_samples_report, sample_report, train_report
from trustgen.diffusion.sample_files import read_samples, write_samples


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
        run.write_report(train_report(settings, metrics))
        run.write_metrics(metrics)
    return metrics


def _preview_samples(model: Any, dataset: Any, sample: Any, seed: int) -> Any:
    """20 quick DDIM samples for the report (prompts/labels cycle through the classes)."""
    kwargs: dict[str, Any] = {}
    if model.conditioning == "text":
        kwargs["prompts"] = [dataset.captions[i] for i in range(20)]
    return sample(model, 20, sampler="ddim", steps=min(50, model.num_train_timesteps), seed=seed, **kwargs)


def run_sample(settings: SampleSettings, out: Path, *, progress: bool = True) -> dict[str, Any]:
    """Sample ``settings.num`` images, write ``samples.npy`` and a grid, and score them against the model's data
    set."""
    from trustgen.core.seeding import seed_everything
    from trustgen.diffusion.bundle import load_model
    from trustgen.diffusion.sampling import sample

    seed_everything(settings.seed)
    model = load_model(settings.model, allow_pickle=settings.allow_pickle)
    images = sample(model, settings.num, prompts=[settings.prompt] if settings.prompt else None,
                    sampler=settings.sampler, steps=settings.steps, seed=settings.seed,
                    guidance_scale=settings.guidance_scale, progress=progress)
    with RunDir(out) as run:
        run.write_config(settings)
        run.log(f"sampled {settings.num} images from {settings.model} ({settings.sampler})")
        write_samples(images, run.file("samples.npy"))
        save_grid(images[:100], run.file("samples.png"), nrow=10)
        metrics: dict[str, Any] = {"model": settings.model, "sampler": settings.sampler, "num_samples": settings.num}
        dataset = model.meta.get("dataset")
        if settings.evaluate and dataset and model.vae is None:
            metrics.update(_score_if_possible(run, images, dataset, settings.seed))
        run.write_report(sample_report(settings, metrics))
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


def run_evaluate_samples(settings: EvaluateSamplesSettings, out: Path) -> dict[str, Any]:
    """Score the ``samples.npy`` of an earlier run (or any such file) against ``settings.dataset``."""
    from trustgen.core.metrics import evaluate_samples

    images = read_samples(settings.samples)
    metrics = evaluate_samples(images, settings.dataset, seed=settings.seed, extractor=settings.extractor)
    metrics["dataset"] = settings.dataset
    if float(images.min()) >= 0:
        metrics["warning"] = ("every sample value is >= 0: if these are 0..1 images, convert them with 2x - 1 "
                              "first (samples are scored as [-1, 1] images)")
    with RunDir(out) as run:
        run.write_config(settings)
        run.write_report(evaluate_samples_report(settings, metrics))
        run.write_metrics(metrics)
    return metrics


def run_evaluate_model(settings: EvaluateModelSettings, out: Path, *, progress: bool = True) -> dict[str, Any]:
    """Prompt-following score of a text-to-digit model (``prompted_accuracy``)."""
    from trustgen.diffusion.bundle import load_model
    from trustgen.diffusion.evaluation import prompted_accuracy

    model = load_model(settings.model)
    per_digit = settings.per_digit
    metrics, images = prompted_accuracy(model, per_digit=per_digit, seed=settings.seed, sampler=settings.sampler,
                                        steps=settings.steps, guidance_scale=settings.guidance_scale,
                                        progress=progress)
    metrics = {"model": settings.model, "sampler": settings.sampler, **metrics}
    with RunDir(out) as run:
        run.write_config(settings)
        order = np.arange(len(images)).reshape(10, per_digit)[:, : min(per_digit, 10)].flatten()
        save_grid(images[order], run.file("prompted.png"), nrow=min(per_digit, 10))
        run.write_report(evaluate_model_report(settings, metrics))
        run.write_metrics(metrics)
    return metrics
