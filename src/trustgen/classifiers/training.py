"""Train a classifier from :class:`~trustgen.classifiers.config.ClassifierTrainSettings`, resumable after a kill.

One epoch: set the learning rate (step schedule) and the smoothing factor (warm-up for α < 0), shuffle, and per
batch augment (random resized crop), optionally replace the batch by PGD adversarial examples, and take an Adam
step on the smoothed cross-entropy. Every ``checkpoint_every`` epochs the network, optimizer and random states
are checkpointed; resuming from one gives the same weights as an uninterrupted run (on the same machine and
thread count).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from trustgen.classifiers.adversarial import pgd
from trustgen.classifiers.augment import random_resized_crop
from trustgen.classifiers.bundle import Classifier
from trustgen.classifiers.checkpoint import load_checkpoint, save_checkpoint
from trustgen.classifiers.config import ClassifierTrainSettings
from trustgen.classifiers.data import class_view
from trustgen.classifiers.losses import alpha_at_epoch, smoothed_cross_entropy
from trustgen.classifiers.models import build_network, count_parameters
from trustgen.core.data import ImageDataset
from trustgen.core.errors import TrustgenError

# settings that may differ between a run and its resumption (they do not change the numbers)
RESUME_FREE = {"checkpoint_every", "device"}


@dataclass
class TrainResult:
    """The trained classifier (eval mode) and how training went."""

    classifier: Classifier
    epochs: int
    steps: int
    losses: list[float] = field(default_factory=list)  # mean training loss per epoch
    alphas: list[float] = field(default_factory=list)  # smoothing factor used per epoch
    train_seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {"epochs": self.epochs, "steps": self.steps, "final_loss": self.losses[-1] if self.losses else None,
                "alpha_final": self.alphas[-1] if self.alphas else None, "train_seconds": self.train_seconds,
                "parameters": count_parameters(self.classifier.network)}


def lr_at_epoch(settings: ClassifierTrainSettings, epoch: int) -> float:
    """``lr`` times ``lr_gamma`` for every milestone (a fraction of the epochs) already reached."""
    passed = sum(epoch >= round(m * settings.epochs) for m in settings.lr_milestones)
    return settings.lr * settings.lr_gamma**passed


def _comparable(settings: ClassifierTrainSettings) -> dict[str, Any]:
    return settings.model_dump(mode="json", exclude=RESUME_FREE)


def augmented_batches(images: torch.Tensor, settings: ClassifierTrainSettings,
                      gen: torch.Generator) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """One epoch of (indices, augmented images): a seeded shuffle in batches of ``settings.batch_size``, each
    randomly resized-cropped (and flipped if set); a last batch of one image is skipped (BatchNorm cannot train
    on it)."""
    order = torch.randperm(len(images), generator=gen, device=images.device)
    for i in range(0, len(images), settings.batch_size):
        idx = order[i : i + settings.batch_size]
        if len(idx) < 2:
            continue
        yield idx, random_resized_crop(images[idx], scale=settings.crop_scale, ratio=settings.crop_ratio,
                                       hflip=settings.hflip, generator=gen)


def train_classifier(
    settings: ClassifierTrainSettings,
    train: ImageDataset,
    *,
    out_dir: Path | None = None,
    resume_from: Path | None = None,
    progress: bool = False,
    on_epoch: Callable[[int, float, float], None] | None = None,
) -> TrainResult:
    """Train on ``train`` (the full data set; ``settings.classes`` selects and relabels its classes).

    With ``out_dir`` a checkpoint is written every ``settings.checkpoint_every`` epochs; ``resume_from`` (a
    checkpoint folder) continues such a run. ``on_epoch(epoch, loss, alpha)`` is called after every epoch.
    """
    from trustgen.core.device import resolve_device
    from trustgen.core.progress import track
    from trustgen.core.seeding import seed_everything

    device = resolve_device(settings.device)
    data = class_view(train, settings.classes)
    assert data.labels is not None and data.class_names is not None
    classes = settings.classes if settings.classes is not None else list(range(len(data.class_names)))
    seed_everything(settings.seed)
    network = build_network(settings.architecture, data.shape[0], len(classes)).to(device)
    optimizer = torch.optim.Adam(network.parameters(), lr=settings.lr, betas=settings.betas,
                                 weight_decay=settings.weight_decay)
    gen = torch.Generator(device=device).manual_seed(settings.seed)
    images, labels = data.images.to(device), data.labels.to(device)
    losses: list[float] = []
    alphas: list[float] = []
    start, steps, seconds = 0, 0, 0.0
    if resume_from is not None:
        ckpt = load_checkpoint(resume_from)
        saved = ckpt["state"].get("settings")
        if saved != _comparable(settings):
            diff = sorted(k for k in _comparable(settings) if (saved or {}).get(k) != _comparable(settings)[k])
            raise TrustgenError(f"cannot resume from {resume_from}: it was trained with other settings "
                                f"({', '.join(diff) or 'unknown'} differ)")
        try:
            network.load_state_dict(ckpt["model"])
            optimizer.load_state_dict(ckpt["optimizer"])
        except (RuntimeError, ValueError, KeyError) as exc:
            raise TrustgenError(f"cannot resume from {resume_from}: {str(exc).splitlines()[0]}") from None
        gen.set_state(ckpt["generator"])
        torch.set_rng_state(ckpt["torch_rng"])
        start, steps = int(ckpt["state"]["epoch"]), int(ckpt["state"]["steps"])
        losses, alphas = list(ckpt["state"]["losses"]), list(ckpt["state"]["alphas"])
        seconds = float(ckpt["state"].get("train_seconds", 0.0))
    adv = settings.adversarial
    for epoch in track(range(start, settings.epochs), description="training classifier", enabled=progress,
                       total=settings.epochs - start):
        began = time.perf_counter()
        alpha = alpha_at_epoch(settings.label_smoothing, epoch, settings.epochs, warmup=settings.ls_warmup,
                               start=settings.ls_warmup_start, end=settings.ls_warmup_end)
        for group in optimizer.param_groups:
            group["lr"] = lr_at_epoch(settings, epoch)
        total, count = 0.0, 0
        network.train()
        for idx, x in augmented_batches(images, settings, gen):
            y = labels[idx]
            if adv.enabled:
                network.eval()
                x = pgd(network, x, y, eps=adv.eps, step_size=adv.step_size, steps=adv.steps,
                        random_start=adv.random_start, generator=gen)
                network.train()
            loss = smoothed_cross_entropy(network(x), y, alpha)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            steps += 1
            total += float(loss.detach()) * len(idx)
            count += len(idx)
        losses.append(total / max(count, 1))
        alphas.append(alpha)
        seconds += time.perf_counter() - began
        if on_epoch is not None:
            on_epoch(epoch, losses[-1], alpha)
        done = epoch + 1
        if out_dir is not None and (done % settings.checkpoint_every == 0 or done == settings.epochs):
            save_checkpoint(out_dir, done, network=network, optimizer=optimizer, generator=gen,
                            state={"steps": steps, "losses": losses, "alphas": alphas, "train_seconds": seconds,
                                   "settings": _comparable(settings)})
    network.eval()
    classifier = Classifier(network, classes=classes, class_names=data.class_names, dataset=train.name,
                            image_shape=data.shape, architecture=settings.architecture.model_dump(mode="json"),
                            meta={"training": settings.model_dump(mode="json", exclude=RESUME_FREE)})
    return TrainResult(classifier.eval(), epochs=settings.epochs, steps=steps, losses=losses, alphas=alphas,
                       train_seconds=round(seconds, 2))
