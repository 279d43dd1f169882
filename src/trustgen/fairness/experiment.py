"""Run-directory entry points of ``trustgen fairness``: ``generate`` (one prompt) and ``evaluate``
(the digits validation of plain vs fair generation, open and closed loop)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np
import torch

from trustgen.core.errors import TrustgenError
from trustgen.core.figures import save_grid
from trustgen.core.runs import RunDir, metrics_table
from trustgen.diffusion.bundle import DiffusionModel
from trustgen.fairness.attributes import AttributeMeasure, match_values, measure_for_model
from trustgen.fairness.closed_loop import closed_loop
from trustgen.fairness.config import FairEvaluateSettings, FairGenerateSettings, GuidedSampling, parse_targets
from trustgen.fairness.sampling import FairGenerator, draw_choices, initial_noise, share


class ValueMeter:
    """An attribute measure re-indexed to the attribute's values (edit prompts)."""

    def __init__(self, measure: AttributeMeasure, values: list[str]) -> None:
        index = match_values(measure, values)
        if sorted(index) != list(range(len(measure.values))):
            raise TrustgenError(f"the attribute must name every {measure.name} value ({', '.join(measure.values)})")
        self.measure = measure
        self.to_value = np.argsort(index)  # measure index → attribute value index

    def __call__(self, images: torch.Tensor) -> np.ndarray:
        return self.to_value[self.measure(images)]


def _load(settings: GuidedSampling, progress: bool) -> tuple[DiffusionModel, FairGenerator, ValueMeter | None]:
    """The model, its fair generator and — when a measure can read the attribute — its value meter. A
    measure named with ``--measure`` must read it; the model's default measure is dropped if it cannot."""
    from trustgen.core.seeding import seed_everything
    from trustgen.diffusion.bundle import load_model

    seed_everything(settings.seed)
    model = load_model(settings.model)
    generator = FairGenerator(model, settings, progress=progress)
    measure = measure_for_model(model.meta, settings.measure)
    if measure is None:
        return model, generator, None
    try:
        return model, generator, ValueMeter(measure, settings.values)
    except TrustgenError:
        if settings.measure or getattr(settings, "closed_loop", False):
            raise
        return model, generator, None


def _quality(model: DiffusionModel, images: torch.Tensor, seed: int, prompted: np.ndarray | None = None,
             digit: int | None = None) -> dict[str, Any]:
    """fd_digits (and its floor) against the test split — or against its images of ``digit`` when all were
    prompted with that digit —, classifier confidence and, given prompted digits, accuracy; {} if the
    model's data set has no offline feature extractor."""
    from trustgen.core.metrics import classifier_confidence, evaluate_samples, get_extractor
    from trustgen.core.metrics.extractors import DIGITS_DATASETS

    dataset = model.meta.get("dataset")
    if dataset not in DIGITS_DATASETS or model.vae is not None:
        return {}
    probs = get_extractor("digits").probabilities(images)  # type: ignore[attr-defined]
    if digit is None:
        scores = evaluate_samples(images, dataset, seed=seed)
        out = {"fd_digits": scores["fd_digits"], "fd_digits_floor": scores["fd_digits_floor"]}
    else:
        out = _digit_fd(images, dataset, digit, seed)
        prompted = np.full(len(images), digit)
    out["confidence"] = classifier_confidence(probs)
    if prompted is not None:
        out["accuracy"] = float((probs.argmax(axis=1) == prompted).mean())
    return out


def _digit_fd(images: torch.Tensor, dataset: str, digit: int, seed: int) -> dict[str, float]:
    """fd_digits of images of one prompted digit against the test images of that digit, with its floor
    (as many of the digit's train images, at most all of them)."""
    from trustgen.core.data import load_dataset
    from trustgen.core.metrics import frechet_distance, get_extractor

    extractor = get_extractor("digits")
    test, train = load_dataset(dataset, "test"), load_dataset(dataset, "train")
    assert test.labels is not None and train.labels is not None
    real = extractor.features(test.images[test.labels == digit])
    pool = extractor.features(train.images[train.labels == digit])
    rows = np.random.default_rng(seed).choice(len(pool), min(len(images), len(pool)), replace=False)
    return {"fd_digits": frechet_distance(extractor.features(images), real),
            "fd_digits_floor": frechet_distance(pool[np.sort(rows)], real)}


def prompted_digit(prompt: str) -> int | None:
    """The digit a prompt names ("a handwritten seven", "a 7 with thin strokes"), if exactly one."""
    from trustgen.core.data.digits import DIGIT_NAMES

    words = re.findall(r"[a-z]+|[0-9]", prompt.lower())
    found = {DIGIT_NAMES.index(w) if w in DIGIT_NAMES else int(w) for w in words
             if w in DIGIT_NAMES or w.isdigit()}
    return found.pop() if len(found) == 1 else None


def _steer(generator: FairGenerator, meter: ValueMeter | None, noise: torch.Tensor, prompts: list[str],
           targets: list[float], settings: GuidedSampling, closed: bool, seed: int
           ) -> tuple[torch.Tensor, np.ndarray]:
    """Fair images (open or closed loop) and the value each was steered to."""
    rng = np.random.default_rng(seed)
    if closed:
        if meter is None:
            raise TrustgenError("the closed loop needs an attribute measure: pass --measure NAME")

        def make(rows: slice, chosen: np.ndarray) -> torch.Tensor:
            return generator.generate(noise[rows], prompts[rows], chosen, start=rows.start)

        result = closed_loop(make, meter, targets, len(noise), round_size=settings.round_size, rng=rng)
        return result.images, result.choices
    choices = draw_choices(targets, len(noise), rng, stratified=settings.draw == "stratified")
    return generator.generate(noise, prompts, choices), choices


def run_generate(settings: FairGenerateSettings, out: Path, *, progress: bool = False) -> dict[str, Any]:
    """Plain and fair images for one prompt, the measured shares before and after, quality, grids."""
    from trustgen.diffusion.sample_files import write_samples

    model, generator, meter = _load(settings, progress)
    values, n = settings.values, settings.num
    targets = parse_targets(settings.targets, len(values))
    if settings.closed_loop and meter is None:
        raise TrustgenError("the closed loop needs an attribute measure for this model: pass --measure NAME")
    noise = initial_noise(model, n, settings.seed)
    prompts = [settings.prompt] * n
    plain = generator.generate(noise, prompts)
    fair, choices = _steer(generator, meter, noise, prompts, targets, settings, settings.closed_loop, settings.seed)
    metrics: dict[str, Any] = {"model": settings.model, "prompt": settings.prompt, "values": values,
                               "targets": targets, "closed_loop": settings.closed_loop, "num": n,
                               "steered_share": share(choices, len(values))}
    if meter is not None:
        metrics.update(measure=meter.measure.name, plain_share=share(meter(plain), len(values)),
                       fair_share=share(meter(fair), len(values)))
        metrics["max_target_error"] = max(abs(a - t) for a, t in zip(metrics["fair_share"], targets, strict=True))
    digit = prompted_digit(settings.prompt)
    metrics.update({f"{k}_plain": v for k, v in _quality(model, plain, settings.seed, digit=digit).items()})
    metrics.update({f"{k}_fair": v for k, v in _quality(model, fair, settings.seed, digit=digit).items()})
    with RunDir(out) as run:
        run.write_config(settings)
        run.log(f"{n} plain and {n} fair images of {settings.prompt!r} from {settings.model}")
        write_samples(fair, run.file("samples.npy"))
        save_grid(plain[:100], run.file("plain.png"), nrow=10)
        order = np.argsort(choices[:100], kind="stable")
        save_grid(fair[:100][order], run.file("fair.png"), nrow=10)
        run.write_report(_generate_report(metrics))
        run.write_metrics(metrics)
    return metrics


def _generate_report(m: dict[str, Any]) -> str:
    rows = ["| value | target | steered | plain share | fair share |", "|---|---|---|---|---|"]
    for i, v in enumerate(m["values"]):
        plain = f"{m['plain_share'][i]:.3f}" if "plain_share" in m else "–"
        fair = f"{m['fair_share'][i]:.3f}" if "fair_share" in m else "–"
        rows.append(f"| {v} | {m['targets'][i]:.3f} | {m['steered_share'][i]:.3f} | {plain} | {fair} |")
    quality = [k for k in m if k.startswith(("fd_digits", "confidence", "accuracy"))]
    loop = "closed loop (measured while generating)" if m["closed_loop"] else "open loop"
    return (f"# Fair generation: “{m['prompt']}”\n\n{m['num']} images from `{m['model']}`, SEGA fair guidance "
            f"({loop}). Plain and fair images start from the same noise.\n\n" + "\n".join(rows) + "\n\n"
            + metrics_table(m, quality) + "\n\n![plain](plain.png)\n\n![fair (sorted by steered value)](fair.png)\n")


def run_evaluate(settings: FairEvaluateSettings, out: Path, *, progress: bool = False) -> dict[str, Any]:
    """The validation of ``docs/fairness.md`` on a text-to-digit model: see :func:`evaluate_fairness`."""
    from trustgen.fairness.attributes import reliability
    from trustgen.fairness.report import evaluation_report

    model, generator, meter = _load(settings, progress)
    if model.image_shape != (1, 16, 16):
        raise TrustgenError(f"fairness evaluate scores 1×16×16 digits, this model makes {model.image_shape}")
    if meter is None:
        raise TrustgenError("fairness evaluate needs an attribute measure that reads the attribute's values "
                            "(pass --measure NAME)")
    metrics, grids = evaluate_fairness(model, generator, meter, settings)
    metrics["grids"] = list(grids)
    metrics.update(reliability(settings.seed))
    with RunDir(out) as run:
        run.write_config(settings)
        for name, images in grids.items():
            save_grid(images, run.file(f"{name}.png"), nrow=settings.per_digit if settings.per_digit <= 20 else 10)
        run.write_report(evaluation_report(metrics))
        run.write_metrics(metrics)
    return metrics


def evaluate_fairness(model: DiffusionModel, generator: FairGenerator, meter: ValueMeter,
                      settings: FairEvaluateSettings) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
    """Prompt "a handwritten N" ``per_digit`` times per digit; measure the first value's share and the
    prompted-digit accuracy of plain generation and of fair generation for every target (open and closed
    loop, all from the same noise)."""
    from trustgen.core.data.captions import prompt_for_digit

    k, per, seed = len(settings.values), settings.per_digit, settings.seed
    digits = np.repeat(np.arange(10), per)
    prompts = [prompt_for_digit(int(d)) for d in digits]
    noise = initial_noise(model, len(prompts), seed)
    plain = generator.generate(noise, prompts)
    measured = meter(plain)
    shares = share(measured, k)
    majority = int(np.argmax(shares))
    q = _quality(model, plain, seed, digits)
    metrics: dict[str, Any] = {
        "model": settings.model, "values": settings.values, "num": len(prompts), "measure": meter.measure.name,
        "plain_share": shares[majority], "plain_majority": settings.values[majority], "plain_shares": shares,
        "plain_distance_from_half_per_digit": _distance_per_digit(measured, digits),
    }
    # calibration on generated images: prompted with a value ("a handwritten N with thin strokes"), how often
    # does the measure read that value?
    metrics["attribute_prompt_share"] = [
        share(meter(generator.generate(noise, [f"{p} with {v}" for p in prompts])), k)[j]
        for j, v in enumerate(settings.values)]
    grids = {"plain": plain}
    rows, guided, hits = [], [], []
    for i, t in enumerate(settings.targets):
        targets = [t] + [(1 - t) / (k - 1)] * (k - 1)
        row: dict[str, Any] = {"target": t}
        for loop in ("open", "closed") if settings.closed_loop else ("open",):
            images, _ = _steer(generator, meter, noise, prompts, targets, settings, loop == "closed", seed + 1 + i)
            got = meter(images)
            qi = _quality(model, images, seed, digits)
            row.update({f"{loop}_loop_share": share(got, k)[0], f"{loop}_loop_accuracy": qi["accuracy"],
                        f"{loop}_loop_fd_digits": qi["fd_digits"]})
            if t == 0.5:
                row[f"{loop}_loop_distance_from_half_per_digit"] = _distance_per_digit(got, digits)
            guided.append(images)
            hits.append(qi["accuracy"])
            grids[f"{loop}-{round(t * 100)}"] = images
        rows.append(row)
    metrics.update({
        "targets": rows,
        "accuracy_plain": q["accuracy"],
        "accuracy_guided": float(np.mean(hits)),
        "accuracy_guided_worst": float(np.min(hits)),
        "fd_plain": q["fd_digits"],
        "fd_guided": rows[0]["open_loop_fd_digits"],
        "fd_floor": q["fd_digits_floor"],
        "open_loop_max_error": max(abs(r["open_loop_share"] - r["target"]) for r in rows),
        "closed_loop_max_error": (max(abs(r["closed_loop_share"] - r["target"]) for r in rows)
                                  if settings.closed_loop else None),
        "settings": {"edit": generator.edit.model_dump(), "draw": settings.draw, "round_size": settings.round_size,
                     "sampler": settings.sampler, "steps": settings.steps, "seed": seed},
    })
    return metrics, grids


def _distance_per_digit(measured: np.ndarray, digits: np.ndarray) -> float:
    """Mean over prompted digits of |share of the first value − 0.5| (the paper's per-occupation metric)."""
    return float(np.mean([abs(np.mean(measured[digits == d] == 0) - 0.5) for d in np.unique(digits)]))
