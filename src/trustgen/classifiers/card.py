"""The card of a saved classifier: the zoo's card format (``card.json``) with the SHA-256 of every file."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from trustgen.classifiers.bundle import Classifier

__all__ = ["write_model_card"]


def write_model_card(classifier: Classifier, folder: Path, *, name: str, command: str, seed: int, steps: int,
                     metrics: dict[str, Any], description: str | None = None) -> None:
    """``card.json`` (the zoo's card format) beside a saved classifier, with the SHA-256 of its files."""
    from trustgen.core.zoo import ZooCard, write_card

    classes = ", ".join(map(str, classifier.classes))
    arch = classifier.architecture.get("name", "?")
    write_card(folder, ZooCard(
        name=name, kind="classifier", command=command, data=f"{classifier.dataset} (train split, classes {classes})",
        description=description or f"{arch} classifier of {classifier.dataset} classes {classes}",
        seed=seed, steps=steps, metrics=metrics))
