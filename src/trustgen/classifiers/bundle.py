"""A trained classifier with what it was trained on, saved as ``model.safetensors`` + ``classifier.json``.

``classifier.json`` names the architecture, the data set, the data-set labels the outputs stand for (output ``i``
is label ``classes[i]``), the image shape, and the training recipe. :func:`load_classifier` takes a zoo name or a
folder (a model folder or a ``trustgen classify train`` run folder holding ``model/``); the shipped
``digits-classifier`` feature extractor loads too. Anything else is refused with a :class:`TrustgenError`, so a
command line can say in one line that its input is not a classifier.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from torch import nn

from trustgen.classifiers.config import ArchitectureSettings
from trustgen.classifiers.models import build_network
from trustgen.core.errors import CorruptFileError, TrustgenError
from trustgen.core.runs import write_text_atomic
from trustgen.core.safe_io import load_state_dict, read_json, save_state_dict

CLASSIFIER_FILE = "classifier.json"
WEIGHTS_FILE = "model.safetensors"
KIND = "trustgen-classifier"


class Classifier(nn.Module):
    """A network with its classes: ``forward`` gives logits, ``features`` the penultimate activations."""

    def __init__(self, network: nn.Module, *, classes: list[int], class_names: list[str], dataset: str,
                 image_shape: tuple[int, int, int], architecture: dict[str, Any],
                 meta: dict[str, Any] | None = None) -> None:
        super().__init__()
        self.network = network
        self.classes = list(classes)
        self.class_names = list(class_names)
        self.dataset = dataset
        self.image_shape = as_shape(image_shape)
        self.architecture = dict(architecture)
        self.meta = dict(meta or {})

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.network(x)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.network.features(x)  # type: ignore[operator]

    def indices_of(self, labels: list[int]) -> list[int]:
        """Output indices of data-set ``labels``; :class:`TrustgenError` naming a label the model lacks."""
        out = []
        for label in labels:
            if label not in self.classes:
                raise TrustgenError(f"class {label} is outside the target's classes ({_span(self.classes)})")
            out.append(self.classes.index(label))
        return out

    def describe(self) -> dict[str, Any]:
        """What ``classifier.json`` holds."""
        return {"kind": KIND, "architecture": self.architecture, "dataset": self.dataset, "classes": self.classes,
                "class_names": self.class_names, "image_shape": list(self.image_shape), **self.meta}

    def save(self, folder: str | Path, *, half: bool = False) -> Path:
        """Write ``model.safetensors`` (float16 with ``half``; loads back as float32) and ``classifier.json``."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        state = {k: (v.half() if half and v.is_floating_point() else v) for k, v in self.network.state_dict().items()}
        save_state_dict(state, folder / WEIGHTS_FILE)
        write_text_atomic(folder / CLASSIFIER_FILE, json.dumps(self.describe(), indent=2) + "\n")
        return folder


def as_shape(values: Any) -> tuple[int, int, int]:
    """``values`` (C, H, W) as a tuple of three ints; :class:`ValueError` otherwise."""
    c, h, w = (int(v) for v in values)
    return c, h, w


def _span(classes: list[int]) -> str:
    if classes == list(range(classes[0], classes[0] + len(classes))):
        return f"{classes[0]}–{classes[-1]}"
    return ", ".join(map(str, classes))


def classifier_folder(name: str | Path) -> Path:
    """The model folder of a zoo name, a model folder or a run folder; :class:`TrustgenError` if it holds no
    classifier."""
    from trustgen.core.zoo import is_zoo_name, model_dir

    text = str(name)
    if is_zoo_name(text):
        folder = model_dir(text)
        card = read_json(folder / "card.json")
        if card.get("kind") != "classifier":
            raise TrustgenError(f"{text!r} is not a classifier: the zoo model is a {card.get('kind')} model")
        return folder
    path = Path(text)
    if not path.exists():
        raise TrustgenError(f"no classifier {text!r}: neither a zoo model (trustgen zoo list) nor a folder")
    if path.is_dir() and not (path / CLASSIFIER_FILE).is_file() and (path / "model" / CLASSIFIER_FILE).is_file():
        path = path / "model"
    if not path.is_dir() or not ((path / CLASSIFIER_FILE).is_file() or _is_digits_extractor(path)):
        raise TrustgenError(f"{text} is not a classifier (no {CLASSIFIER_FILE}; train one with "
                            "`trustgen classify train`)")
    return path


def _is_digits_extractor(folder: Path) -> bool:
    config = folder / "config.json"
    if not config.is_file():
        return False
    try:
        return json.loads(config.read_text(encoding="utf-8")).get("architecture") == "DigitsClassifier"
    except (json.JSONDecodeError, UnicodeDecodeError, AttributeError):
        return False


def load_classifier(name: str | Path, *, device: str = "cpu") -> Classifier:
    """A :class:`Classifier` in eval mode, float32, on ``device``, from a zoo name or folder."""
    folder = classifier_folder(name)
    if not (folder / CLASSIFIER_FILE).is_file():
        return _digits_extractor(folder).to(device).eval()
    info = read_json(folder / CLASSIFIER_FILE)
    if info.get("kind") != KIND:
        raise TrustgenError(f"{folder / CLASSIFIER_FILE} does not describe a trustgen classifier")
    try:
        arch = ArchitectureSettings(**info["architecture"])
        shape = as_shape(info["image_shape"])
        network = build_network(arch, shape[0], len(info["classes"]))
        raw = load_state_dict(folder / WEIGHTS_FILE)
        state = {k: v.float() if v.is_floating_point() else v for k, v in raw.items()}
        network.load_state_dict(state)
        meta = {k: v for k, v in info.items()
                if k not in {"kind", "architecture", "dataset", "classes", "class_names", "image_shape"}}
        model = Classifier(network, classes=info["classes"], class_names=info["class_names"],
                           dataset=info["dataset"], image_shape=shape, architecture=arch.model_dump(), meta=meta)
    except (KeyError, TypeError, ValueError, RuntimeError) as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise CorruptFileError(f"bad classifier in {folder}: {first}") from None
    return model.to(device).eval()


def _digits_extractor(folder: Path) -> Classifier:
    """The shipped ``digits-classifier`` (10 digits, 16×16) as a :class:`Classifier`."""
    from trustgen.core.data.digits import DIGIT_NAMES
    from trustgen.core.metrics.digits_classifier import load_classifier_from

    net = load_classifier_from(folder)
    shape = (net.config.in_channels, net.config.image_size, net.config.image_size)
    return Classifier(net, classes=list(range(net.config.num_classes)), class_names=list(DIGIT_NAMES),
                      dataset="digits", image_shape=shape, architecture={"name": "DigitsClassifier"})
