"""Caia end to end on in-memory models (no I/O): the writers' target and filter classifiers, candidate edits,
filtering, black-box queries in both modes, the vote and the chance baseline."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from trustgen.attribute_inference.attack import BlackBox, CaiaResult, accept_sets, infer, make_candidates, random_guess
from trustgen.attribute_inference.config import CaiaSettings, TargetSettings
from trustgen.attribute_inference.editing import require_text_editor, sdedit
from trustgen.attribute_inference.writers import Writers, filter_dataset
from trustgen.core.data import ImageDataset
from trustgen.core.errors import TrustgenError

DIGIT_WORDS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]


def train_target(writers: Writers, settings: TargetSettings, *, robust: bool = False, seed: int = 0) -> Any:
    """A writer classifier (never shown the attributes); the hidden attribute table rides in its metadata so a
    run can score the attack (the attack itself never reads it)."""
    from trustgen.classifiers.config import ClassifierTrainSettings
    from trustgen.classifiers.training import train_classifier

    recipe = ClassifierTrainSettings(
        dataset="writers", epochs=settings.epochs, batch_size=settings.batch_size, seed=seed,
        architecture={"name": "cnn", "widths": settings.widths, "hidden": settings.hidden},
        adversarial={"enabled": robust, "eps": settings.robust_eps, "step_size": settings.robust_eps / 4,
                     "steps": settings.robust_steps})
    model = train_classifier(recipe, writers.train).classifier
    model.meta["hidden_attributes"] = writers.attributes
    model.meta["writers_seed"] = writers.seed
    model.meta["robust"] = robust
    return model


def train_filter(attribute: str, *, epochs: int = 8, seed: int = 0) -> Any:
    """The attribute filter, trained on public digits carrying each value by the writers' transform."""
    from trustgen.classifiers.config import ClassifierTrainSettings
    from trustgen.classifiers.training import train_classifier

    data = filter_dataset(attribute, seed=seed)
    recipe = ClassifierTrainSettings(dataset=data.name, epochs=epochs, batch_size=64, seed=seed,
                                     architecture={"name": "cnn", "widths": [16, 32], "hidden": 64})
    return train_classifier(recipe, data).classifier


def precheck(target: Any, editor: Any) -> None:
    """:class:`TrustgenError` for an editor without text conditioning or a target of another input shape."""
    require_text_editor(editor)
    if tuple(target.image_shape) != tuple(editor.image_shape):
        raise TrustgenError(f"the target takes {tuple(target.image_shape)} images but the editor makes "
                            f"{tuple(editor.image_shape)} ones")


def check_inputs(target: Any, filt: Any, editor: Any, values: list[str]) -> None:
    """Bad input as one :class:`TrustgenError`: < 2 values, an editor without text, mismatched shapes."""
    if len(set(values)) < 2:
        raise TrustgenError(f"an attribute needs at least two distinct values to infer between, got {values}")
    precheck(target, editor)
    if filt.num_classes != len(values) or tuple(filt.image_shape) != tuple(editor.image_shape):
        raise TrustgenError(f"the filter must classify the {len(values)} values on {tuple(editor.image_shape)} "
                            f"images; it has {filt.num_classes} classes on {tuple(filt.image_shape)}")


@dataclass
class CaiaRun:
    """Everything one attack produced."""

    results: dict[str, CaiaResult]
    variants: torch.Tensor  # all candidate sets, N×A×C×H×W
    accepted: torch.Tensor  # mask N
    filter_probs: torch.Tensor  # N×A×A
    extra: dict[str, Any] = field(default_factory=dict)


def attack_images(public: ImageDataset, num: int, seed: int) -> tuple[torch.Tensor, list[int]]:
    """``num`` public images, stratified over digits, drawn with ``seed``."""
    assert public.labels is not None
    if num <= 0:
        raise TrustgenError("the attack set is empty: attack_images must be at least 1")
    rng = np.random.default_rng([seed, 11])
    order = rng.permutation(len(public))
    labels = public.labels.numpy()[order]
    rank = np.zeros(len(order), dtype=int)
    seen: dict[int, int] = {}
    for i, y in enumerate(labels):
        rank[i] = seen.get(int(y), 0)
        seen[int(y)] = rank[i] + 1
    pick = order[np.argsort(rank, kind="stable")][:num]
    return public.images[pick], [int(y) for y in public.labels[pick]]


def run_caia(target: Any, filt: Any, editor: Any, settings: CaiaSettings, public: ImageDataset,
             *, progress: bool = False) -> CaiaRun:
    """Edit ``settings.attack_images`` public images to every value, filter, query ``target`` in each mode."""
    from trustgen.classifiers.metrics import predict_logits

    values = settings.resolved_values()
    check_inputs(target, filt, editor, values)
    images, digits = attack_images(public, settings.attack_images, settings.seed)
    template = settings.resolved_prompt()
    prompts = [[template.format(value=v, word=DIGIT_WORDS[d], numeral=d) for d in digits] for v in values]

    def edit(x: torch.Tensor, p: list[str], noise: torch.Tensor) -> torch.Tensor:
        return sdedit(editor, x, p, strength=settings.strength, steps=settings.steps,
                      guidance_scale=settings.guidance_scale, noise=noise)

    variants = make_candidates(edit, images, prompts, seed=settings.seed)
    n, a = variants.shape[:2]
    probs = predict_logits(filt, variants.flatten(0, 1)).softmax(1).reshape(n, a, -1)
    keep = accept_sets(probs, settings.filter_threshold)
    results = {}
    for mode in settings.modes:
        box = BlackBox(target, mode)  # type: ignore[arg-type]
        results[mode] = infer(box, variants[keep], values, num_classes=target.num_classes,
                              attribute=settings.attribute, seed=settings.seed)
        results[mode].extra["sets_generated"] = n
    return CaiaRun(results, variants, keep, probs, {"sets_generated": n, "sets_accepted": int(keep.sum()),
                                                    "acceptance": float(keep.float().mean())})


def score(run: CaiaRun, truth: list[str], values: list[str], seed: int = 0) -> dict[str, Any]:
    """Attack accuracy per mode and the chance baseline against the hidden ``truth``."""
    guess = random_guess(len(truth), values, seed)
    out: dict[str, Any] = {"chance": 1 / len(values),
                           "random_guess_accuracy": float(np.mean([g == t for g, t in zip(guess, truth, strict=True)]))}
    for mode, result in run.results.items():
        out[f"accuracy_{mode}"] = result.accuracy(truth)
        out[f"guessed_classes_{mode}"] = sum(c.guessed for c in result.classes)
    return out
