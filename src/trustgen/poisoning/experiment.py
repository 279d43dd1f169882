"""Run-directory entry points of ``trustgen poison``: ``train`` (one attack, one defence) and ``evaluate`` (the
comparison of Struppek et al., 2023: clean model, poisoned teacher, student on variations, student with KD)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from trustgen.classifiers.bundle import Classifier
from trustgen.classifiers.config import ClassifierTrainSettings
from trustgen.classifiers.metrics import predict_logits
from trustgen.core.data import ImageDataset
from trustgen.core.errors import TrustgenError
from trustgen.core.runs import RunDir
from trustgen.poisoning.attacks import apply_trigger, check_attack, poison_dataset, triggered_test_set
from trustgen.poisoning.config import (
    AttackSettings,
    PoisonEvaluateSettings,
    PoisonTrainSettings,
    VariationSettings,
)
from trustgen.poisoning.report import evaluate_report, kd_description, train_report


def load_splits(dataset: str, train_limit: int | None, test_limit: int | None) -> tuple[ImageDataset, ImageDataset]:
    """The training and test splits, cut to their first ``*_limit`` rows when given."""
    from trustgen.core.data import load_dataset

    train, test = load_dataset(dataset, "train"), load_dataset(dataset, "test")
    if train.labels is None or train.class_names is None:
        raise TrustgenError(f"data set {dataset!r} has no class labels to poison")
    if train_limit is not None:
        train = train.subset(torch.arange(min(train_limit, len(train))))
    if test_limit is not None:
        test = test.subset(torch.arange(min(test_limit, len(test))))
    return train, test


def attack_metrics(model: torch.nn.Module, test: ImageDataset, attack: AttackSettings) -> dict[str, float]:
    """Clean test accuracy; attack success rate (triggered non-target test images classified as the target); the
    rate at which clean non-target test images are classified as the target (the floor an ASR is judged by)."""
    assert test.labels is not None
    clean_pred = predict_logits(model, test.images).argmax(1)
    triggered, _ = triggered_test_set(test, attack)
    trig_pred = predict_logits(model, triggered).argmax(1)
    nontarget = test.labels != attack.target
    return {"clean_accuracy": float((clean_pred == test.labels).float().mean()),
            "asr": float((trig_pred == attack.target).float().mean()),
            "clean_target_rate": float((clean_pred[nontarget] == attack.target).float().mean())}


def load_variation_model(settings: VariationSettings, image_shape: tuple[int, int, int], device: str = "cpu") -> Any:
    """The diffusion model of ``settings.model``, checked against the data's image shape."""
    from trustgen.diffusion.bundle import load_model
    from trustgen.poisoning.variations import check_variation_model

    model = load_model(settings.model, device=device)
    check_variation_model(model, image_shape)
    return model


def variation_dataset(model: Any, data: ImageDataset, settings: VariationSettings, seed: int,
                      progress: bool = False) -> ImageDataset:
    """``data`` with every image replaced by one variation; labels (and everything else) unchanged."""
    from trustgen.poisoning.variations import make_variations

    images = make_variations(model, data.images, strength=settings.strength, steps=settings.steps,
                             labels=data.labels, color=settings.color_transfer, seed=settings.seed + seed,
                             batch_size=settings.batch_size, progress=progress)
    out = data.subset(torch.arange(len(data)))
    out.images = images
    return out


def _recipe(settings: ClassifierTrainSettings, seed: int) -> ClassifierTrainSettings:
    return settings.model_copy(update={"seed": seed})


def _example_figure(rows: dict[str, torch.Tensor], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from trustgen.core.runs import atomic_path

    n = max(len(v) for v in rows.values())
    fig, axes = plt.subplots(len(rows), n, figsize=(1.1 * n, 1.2 * len(rows)), squeeze=False)
    for r, (name, images) in enumerate(rows.items()):
        for c in range(n):
            ax = axes[r][c]
            ax.axis("off")
            if c < len(images):
                ax.imshow(images[c, 0].numpy(), cmap="gray", vmin=-1, vmax=1)
        axes[r][0].set_title(name, fontsize=7, loc="left")
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=100)
    plt.close(fig)


def run_train(settings: PoisonTrainSettings, out: Path, *, progress: bool = False,
              command: str = "trustgen poison train") -> dict[str, Any]:
    """Poison the training split; train with ``settings.defense``; write ``OUT/model`` and the metrics."""
    from trustgen.classifiers.bundle import load_classifier
    from trustgen.classifiers.card import write_model_card
    from trustgen.classifiers.distillation import train_distilled
    from trustgen.classifiers.training import train_classifier

    train, test = load_splits(settings.dataset, settings.train_limit, settings.test_limit)
    assert train.class_names is not None
    check_attack(settings.attack, train.shape, len(train.class_names))
    recipe = _recipe(settings.classifier, settings.seed)
    var_model = None
    if settings.defense != "none":
        var_model = load_variation_model(settings.variations, train.shape)
    teacher: Classifier | None = None
    if settings.defense == "kd" and settings.teacher is not None:
        teacher = load_classifier(settings.teacher)
        if teacher.num_classes != len(train.class_names) or teacher.image_shape != train.shape:
            raise TrustgenError(f"teacher {settings.teacher} does not fit {settings.dataset}: "
                                f"{teacher.num_classes} classes of {teacher.image_shape} images")
    with RunDir(out) as run:
        run.start_over(settings)
        poisoned = poison_dataset(train, settings.attack)
        run.log(f"{settings.attack.kind}: {int(poisoned.poisoned.sum())} of {len(train)} training images poisoned "
                f"to class {settings.attack.target}; defence {settings.defense}")
        data = poisoned.dataset
        description = f"trained on {settings.dataset} poisoned with {settings.attack.kind}"
        examples: dict[str, torch.Tensor] = {"poisoned": data.images[poisoned.poisoned][:8]}
        if var_model is not None:
            data = variation_dataset(var_model, data, settings.variations, settings.seed, progress)
            examples["variation"] = data.images[poisoned.poisoned][:8]
            description += (f", from scratch on SDEdit variations (s = {settings.variations.strength:g}, "
                            f"{settings.variations.model})")
        if settings.defense == "kd":
            if teacher is None:
                run.log("train the teacher on the poisoned data")
                teacher = train_classifier(recipe, poisoned.dataset, progress=progress).classifier
            run.log(f"distil: {kd_description(settings.distill)}")
            result = train_distilled(recipe, data, teacher, alpha=settings.distill.alpha,
                                     temperature=settings.distill.temperature, ce=settings.distill.ce,
                                     progress=progress)
            description += f"; {kd_description(settings.distill)}"
        else:
            result = train_classifier(recipe, data, progress=progress)
        metrics: dict[str, Any] = {
            "dataset": settings.dataset, "attack": settings.attack.kind, "defense": settings.defense,
            "target": settings.attack.target, "rate": settings.attack.rate,
            "poisoned_samples": int(poisoned.poisoned.sum()), "train_images": len(train),
            **attack_metrics(result.classifier, test, settings.attack), **result.to_dict()}
        result.classifier.meta["poisoning"] = {"attack": settings.attack.model_dump(mode="json"),
                                               "defense": settings.defense}
        result.classifier.save(out / "model")
        write_model_card(result.classifier, out / "model", name=out.name, command=command, seed=settings.seed,
                         steps=result.steps, description=description,
                         metrics={k: metrics[k] for k in ("clean_accuracy", "asr", "clean_target_rate")})
        _example_figure(examples, run.file("examples.png"))
        run.write_report(train_report(settings, description, metrics))
        run.write_metrics(metrics)
    return metrics


def run_evaluate(settings: PoisonEvaluateSettings, out: Path, *, progress: bool = False) -> dict[str, Any]:
    """For each attack: clean model, teacher, student on variations (no KD), student with KD; clean accuracy and
    ASR of each. The clean model is trained once and measured against every trigger."""
    from trustgen.classifiers.distillation import train_distilled
    from trustgen.classifiers.training import train_classifier

    train, test = load_splits(settings.dataset, settings.train_limit, settings.test_limit)
    assert train.class_names is not None
    attacks = [settings.attack.model_copy(update={"kind": kind}) for kind in settings.attacks]
    for attack in attacks:
        check_attack(attack, train.shape, len(train.class_names))
    var_model = load_variation_model(settings.variations, train.shape)
    recipe = _recipe(settings.classifier, settings.seed)
    results: dict[str, dict[str, dict[str, float]]] = {}
    examples: dict[str, torch.Tensor] = {}
    with RunDir(out) as run:
        run.start_over(settings)
        run.log(f"clean model on {len(train)} {settings.dataset} images (seed {settings.seed})")
        clean = train_classifier(recipe, train, progress=progress).classifier
        originals = test.images[test.labels != settings.attack.target][:8]
        examples["clean test"] = originals
        examples["its variation"] = variation_dataset(var_model, test.subset(torch.arange(len(originals))),
                                                      settings.variations, settings.seed).images
        for attack in attacks:
            poisoned = poison_dataset(train, attack)
            run.log(f"{attack.kind}: {int(poisoned.poisoned.sum())} poisoned; teacher")
            teacher = train_classifier(recipe, poisoned.dataset, progress=progress).classifier
            run.log(f"{attack.kind}: variations (s = {settings.variations.strength:g})")
            varied = variation_dataset(var_model, poisoned.dataset, settings.variations, settings.seed, progress)
            run.log(f"{attack.kind}: student on variations")
            student = train_classifier(recipe, varied, progress=progress).classifier
            run.log(f"{attack.kind}: KD student ({kd_description(settings.distill)})")
            kd = train_distilled(recipe, varied, teacher, alpha=settings.distill.alpha,
                                 temperature=settings.distill.temperature, ce=settings.distill.ce,
                                 progress=progress).classifier
            results[attack.kind] = {name: attack_metrics(model, test, attack) for name, model in
                                    (("clean", clean), ("teacher", teacher), ("variations", student), ("kd", kd))}
            examples[f"{attack.kind}: triggered"] = apply_trigger(originals, attack)
            examples[f"{attack.kind}: variations of poisoned training images"] = varied.images[poisoned.poisoned][:8]
            run.log(f"{attack.kind}: " + ", ".join(f"{k} acc {v['clean_accuracy']:.3f} asr {v['asr']:.3f}"
                                                   for k, v in results[attack.kind].items()))
        metrics: dict[str, Any] = {
            "dataset": settings.dataset, "seed": settings.seed, "rate": settings.attack.rate,
            "target": settings.attack.target, "strength": settings.variations.strength,
            "variation_model": settings.variations.model, "kd_ce": settings.distill.ce,
            "train_images": len(train), "test_images": len(test),
            **{f"{a}_{m}_{k}": v for a, rows in results.items() for m, row in rows.items() for k, v in row.items()
               if k != "clean_target_rate" or m == "clean"},
            "results": results}
        _example_figure(examples, run.file("examples.png"))
        run.write_report(evaluate_report(settings, results))
        run.write_metrics(metrics)
    return metrics
