"""Knowledge distillation (Hinton, Vinyals & Dean, 2015): train a student from scratch on a teacher's soft labels.

``L = α·T²·KL(softmax(t/T) ‖ softmax(s/T)) + (1 − α)·CE``. The textbook CE term is on the student's plain logits;
``ce="authors"`` computes it on ``s/T`` as Struppek et al. (2023, ``losses/kl_loss.py``) do — ``log_softmax`` is
applied to already temperature-scaled log-probabilities, so it is cross-entropy at temperature T, not at 1.
The training loop is the classifier recipe of :mod:`trustgen.classifiers.training` (Adam, step schedule, random
resized crops) with the teacher evaluated on each augmented batch; no PGD, no checkpoints.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Literal

import torch
import torch.nn.functional as F

from trustgen.classifiers.bundle import Classifier
from trustgen.classifiers.config import ClassifierTrainSettings
from trustgen.classifiers.data import class_view
from trustgen.classifiers.models import build_network
from trustgen.classifiers.training import RESUME_FREE, TrainResult, augmented_batches, lr_at_epoch
from trustgen.core.data import ImageDataset
from trustgen.core.errors import TrustgenError

CEMode = Literal["textbook", "authors"]


def distillation_loss(student: torch.Tensor, teacher: torch.Tensor, labels: torch.Tensor, *, alpha: float = 0.5,
                      temperature: float = 10.0, ce: CEMode = "textbook") -> torch.Tensor:
    """Batch mean of ``α·T²·KL(p_t^T ‖ p_s^T) + (1 − α)·CE``; see the module docstring for ``ce``."""
    T = temperature
    log_s = F.log_softmax(student / T, dim=1)
    log_t = F.log_softmax(teacher / T, dim=1)
    kl = F.kl_div(log_s, log_t, reduction="batchmean", log_target=True)
    hard = F.cross_entropy(student / T if ce == "authors" else student, labels)
    return alpha * T * T * kl + (1 - alpha) * hard


def train_distilled(settings: ClassifierTrainSettings, train: ImageDataset, teacher: torch.nn.Module, *,
                    alpha: float = 0.5, temperature: float = 10.0, ce: CEMode = "textbook", progress: bool = False,
                    on_epoch: Callable[[int, float, float], None] | None = None) -> TrainResult:
    """A student of architecture ``settings.architecture`` trained from scratch on ``train`` with
    :func:`distillation_loss` against ``teacher`` (eval mode, same outputs as ``train``'s classes)."""
    from trustgen.core.device import resolve_device
    from trustgen.core.progress import track
    from trustgen.core.seeding import seed_everything

    if settings.adversarial.enabled:
        raise TrustgenError("distillation does not combine with PGD adversarial training here")
    device = resolve_device(settings.device)
    data = class_view(train, settings.classes)
    assert data.labels is not None and data.class_names is not None
    classes = settings.classes if settings.classes is not None else list(range(len(data.class_names)))
    seed_everything(settings.seed)
    network = build_network(settings.architecture, data.shape[0], len(classes)).to(device)
    teacher = teacher.to(device).eval()
    optimizer = torch.optim.Adam(network.parameters(), lr=settings.lr, betas=settings.betas,
                                 weight_decay=settings.weight_decay)
    gen = torch.Generator(device=device).manual_seed(settings.seed)
    images, labels = data.images.to(device), data.labels.to(device)
    losses: list[float] = []
    steps, seconds = 0, 0.0
    for epoch in track(range(settings.epochs), description="distilling student", enabled=progress,
                       total=settings.epochs):
        began = time.perf_counter()
        for group in optimizer.param_groups:
            group["lr"] = lr_at_epoch(settings, epoch)
        total, count = 0.0, 0
        network.train()
        for idx, x in augmented_batches(images, settings, gen):
            with torch.no_grad():
                soft = teacher(x)
            if soft.shape[1] != len(classes):
                raise TrustgenError(f"the teacher has {soft.shape[1]} outputs, the student {len(classes)}")
            loss = distillation_loss(network(x), soft, labels[idx], alpha=alpha, temperature=temperature, ce=ce)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            steps += 1
            total += float(loss.detach()) * len(idx)
            count += len(idx)
        losses.append(total / max(count, 1))
        seconds += time.perf_counter() - began
        if on_epoch is not None:
            on_epoch(epoch, losses[-1], 0.0)
    network.eval()
    meta = {"training": settings.model_dump(mode="json", exclude=RESUME_FREE),
            "distillation": {"alpha": alpha, "temperature": temperature, "ce": ce}}
    classifier = Classifier(network, classes=classes, class_names=data.class_names, dataset=train.name,
                            image_shape=data.shape, architecture=settings.architecture.model_dump(mode="json"),
                            meta=meta)
    return TrainResult(classifier.eval(), epochs=settings.epochs, steps=steps, losses=losses,
                       alphas=[0.0] * len(losses), train_seconds=round(seconds, 2))
