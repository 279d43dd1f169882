"""A small CNN digits classifier, shipped in the zoo as ``digits-classifier``.

It scores generated digits (confidence, class entropy) and its 128-d penultimate layer
is the ``digits`` feature extractor of FD/KID. Trained on the digits TRAIN split only,
with light random affine augmentation so it stays sensible on slightly off samples.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from trustgen.core.errors import CorruptFileError
from trustgen.core.runs import write_text_atomic
from trustgen.core.safe_io import load_state_dict, read_json, save_state_dict

ZOO_NAME = "digits-classifier"
WEIGHTS_FILE = "model.safetensors"
CONFIG_FILE = "config.json"


@dataclass
class ClassifierConfig:
    """Architecture hyperparameters, saved as ``config.json``."""

    in_channels: int = 1
    image_size: int = 16
    channels: tuple[int, int] = (32, 64)
    hidden: int = 128
    num_classes: int = 10


class DigitsClassifier(nn.Module):
    """conv 3×3 → pool → conv 3×3 → pool → fc ``hidden`` → fc ``num_classes``."""

    def __init__(self, config: ClassifierConfig | None = None) -> None:
        super().__init__()
        self.config = config or ClassifierConfig()
        c1, c2 = self.config.channels
        side = self.config.image_size // 4
        self.conv1 = nn.Conv2d(self.config.in_channels, c1, 3, padding=1)
        self.conv2 = nn.Conv2d(c1, c2, 3, padding=1)
        self.fc1 = nn.Linear(c2 * side * side, self.config.hidden)
        self.fc2 = nn.Linear(self.config.hidden, self.config.num_classes)
        self.dropout = nn.Dropout(0.3)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Penultimate activations (N × ``hidden``) of images in [-1, 1]."""
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        return F.relu(self.fc1(x.flatten(1)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Class logits (N × ``num_classes``)."""
        return self.fc2(self.dropout(self.features(x)))


def random_affine(
    x: torch.Tensor, gen: torch.Generator, max_deg: float = 10.0, max_shift: float = 1.5, scale: float = 0.1
) -> torch.Tensor:
    """Small random rotation (±``max_deg``), shift (±``max_shift`` px) and scale of a batch."""
    n, _, h, w = x.shape
    u = torch.rand(n, 4, generator=gen) * 2 - 1
    angle = u[:, 0] * math.radians(max_deg)
    s = 1 + u[:, 1] * scale
    tx, ty = u[:, 2] * max_shift * 2 / w, u[:, 3] * max_shift * 2 / h
    cos, sin = torch.cos(angle) / s, torch.sin(angle) / s
    theta = torch.stack([torch.stack([cos, -sin, tx], 1), torch.stack([sin, cos, ty], 1)], 1)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    # Pad with the background value -1 (white paper is -1 after scaling): shift, sample, shift back.
    return F.grid_sample(x + 1, grid, align_corners=False, padding_mode="zeros") - 1


@torch.no_grad()
def accuracy(model: DigitsClassifier, images: torch.Tensor, labels: torch.Tensor) -> float:
    """Fraction of ``images`` whose predicted class equals ``labels``."""
    model.eval()
    preds = torch.cat([model(images[i : i + 512]).argmax(1) for i in range(0, len(images), 512)])
    return float((preds == labels).float().mean())


def train_digits_classifier(
    seed: int = 0, epochs: int = 40, batch_size: int = 64, lr: float = 2e-3
) -> tuple[DigitsClassifier, dict[str, Any]]:
    """Train on the digits TRAIN split; return the model (eval mode) and its metrics.

    Metrics: ``steps`` (optimizer steps), ``train_accuracy`` and ``test_accuracy`` (the
    test split is only measured at the end, never used for choices).
    """
    from trustgen.core.data import load_dataset

    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    train, test = load_dataset("digits", "train"), load_dataset("digits", "test")
    assert train.labels is not None and test.labels is not None
    model = DigitsClassifier()
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-4)
    steps_per_epoch = math.ceil(len(train) / batch_size)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=epochs * steps_per_epoch)
    steps = 0
    for _ in range(epochs):
        model.train()
        order = torch.randperm(len(train), generator=gen)
        for i in range(0, len(train), batch_size):
            idx = order[i : i + batch_size]
            x = random_affine(train.images[idx], gen)
            loss = F.cross_entropy(model(x), train.labels[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            steps += 1
    model.eval()
    metrics = {
        "steps": steps,
        "train_accuracy": accuracy(model, train.images, train.labels),
        "test_accuracy": accuracy(model, test.images, test.labels),
    }
    return model, metrics


def save_digits_classifier(model: DigitsClassifier, folder: str | Path) -> None:
    """Write ``model.safetensors`` and ``config.json`` into ``folder``."""
    folder = Path(folder)
    save_state_dict(model.state_dict(), folder / WEIGHTS_FILE)
    config = asdict(model.config)
    config["channels"] = list(config["channels"])
    write_text_atomic(
        folder / CONFIG_FILE, json.dumps({"architecture": "DigitsClassifier", **config}, indent=2) + "\n"
    )


def load_classifier_from(folder: str | Path) -> DigitsClassifier:
    """Load a classifier saved by :func:`save_digits_classifier` (no hash check), in eval mode."""
    folder = Path(folder)
    raw = read_json(folder / CONFIG_FILE)
    raw.pop("architecture", None)
    try:
        config = ClassifierConfig(**{**raw, "channels": tuple(raw.get("channels", (32, 64)))})
        model = DigitsClassifier(config)
        model.load_state_dict(load_state_dict(folder / WEIGHTS_FILE))
    except (TypeError, RuntimeError, ValueError) as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise CorruptFileError(f"bad digits classifier in {folder}: {first}") from None
    return model.eval()


def build_digits_classifier_zoo(folder: str | Path, seed: int = 0) -> dict[str, Any]:
    """Train the classifier (on one thread, for reproducibility), save it and its card; return metrics."""
    from trustgen.core.zoo import ZooCard, write_card

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        model, metrics = train_digits_classifier(seed=seed)
    finally:
        torch.set_num_threads(threads)
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    save_digits_classifier(model, folder)
    write_card(
        folder,
        ZooCard(
            name=ZOO_NAME,
            kind="classifier",
            description="Small CNN (conv32-conv64-fc128-fc10) on 16×16 digits; its 128-d penultimate "
            "layer is the `digits` feature extractor of fd_digits / kid_digits.",
            command="make zoo",
            data="digits (train split)",
            seed=seed,
            steps=int(metrics["steps"]),
            metrics={k: round(float(v), 4) for k, v in metrics.items() if k != "steps"},
        ),
    )
    return metrics


@lru_cache(maxsize=1)
def load_digits_classifier() -> DigitsClassifier:
    """The shipped ``digits-classifier`` (hashes verified), in eval mode; cached."""
    from trustgen.core.zoo import model_dir

    model = load_classifier_from(model_dir(ZOO_NAME))
    for p in model.parameters():
        p.requires_grad_(False)
    return model
