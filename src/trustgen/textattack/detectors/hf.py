"""``hf:PATH``: any Hugging Face sequence classifier in a local folder (``AutoModelForSequenceClassification``).

The folder needs ``config.json``, a tokenizer and **safetensors** weights: pickle checkpoints
(``pytorch_model.bin``) are refused, and remote code is never run. Which output is "offensive":

* ``hf:PATH#LABEL`` names it — a label name of ``config.id2label`` or an index;
* otherwise the first label whose name contains ``hate``, ``offens`` or ``toxic`` (any case);
* otherwise index 1 (the positive class of a binary classifier).

The score is that label's softmax probability; for a multi-label model
(``problem_type="multi_label_classification"``) or a one-output model, its sigmoid. Texts longer than
the model's context are truncated (the first tokens are kept). ``max_chars`` is the context in tokens
less the special tokens — exact for WordPiece tokenizers (one piece per character at most, save
decomposed scripts such as Hangul) — and a quarter of that for other (byte-level or SentencePiece)
tokenizers, where a character can take up to four tokens.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from trustgen.core.errors import TrustgenError

PREFIX = "hf:"
KEYWORDS = ("hate", "offens", "toxic")
BATCH = 32


def parse_name(name: str) -> tuple[Path, str | None]:
    """``hf:PATH[#LABEL]`` → (folder, label or None). A folder whose own name contains ``#`` wins."""
    spec = name[len(PREFIX):]
    if not spec:
        raise TrustgenError("hf: needs a folder, e.g. hf:/models/my-hate-classifier")
    if "#" in spec and not Path(spec).is_dir():
        path, label = spec.rsplit("#", 1)
        return Path(path).expanduser(), label or None
    return Path(spec).expanduser(), None


def choose_label(id2label: dict[int, str], label: str | None) -> int:
    """Index of the offensive label (see the module docstring)."""
    n = len(id2label)
    if label is not None:
        for i, name in id2label.items():
            if name == label or name.lower() == label.lower():
                return int(i)
        if label.isdigit() and int(label) < n:
            return int(label)
        raise TrustgenError(f"label {label!r} is not one of the model's labels: "
                            + ", ".join(f"{i}={v}" for i, v in sorted(id2label.items())))
    for i, name in sorted(id2label.items()):
        if any(k in str(name).lower() for k in KEYWORDS):
            return int(i)
    return 1 if n > 1 else 0


class HFSequenceClassifier:
    max_chars: int | None

    def __init__(self, path: str | Path, label: str | None = None):
        folder = Path(path)
        self.name = f"{PREFIX}{path}" + (f"#{label}" if label is not None else "")
        if not (folder / "config.json").is_file():
            raise TrustgenError(f"{folder} is not a Hugging Face model folder (no config.json)")
        if not any(folder.glob("*.safetensors")):
            found = [p.name for p in folder.iterdir() if p.suffix in {".bin", ".pt", ".pth", ".ckpt", ".pkl"}]
            extra = f" (found {', '.join(found)}: pickle checkpoints are refused)" if found else ""
            raise TrustgenError(f"{folder} has no safetensors weights{extra}")
        from transformers import AutoModelForSequenceClassification, AutoTokenizer
        from transformers.utils import logging

        logging.disable_progress_bar()
        logging.set_verbosity_error()
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(str(folder))
            model = AutoModelForSequenceClassification.from_pretrained(str(folder), use_safetensors=True,
                                                                       trust_remote_code=False)
        except (OSError, ValueError, KeyError, TypeError, json.JSONDecodeError) as exc:
            raise TrustgenError(f"cannot load a sequence classifier from {folder}: "
                                f"{str(exc).splitlines()[0] if str(exc) else type(exc).__name__}") from None
        self.model: Any = model.eval().requires_grad_(False)
        config = self.model.config
        id2label = {int(k): str(v) for k, v in (config.id2label or {}).items()} or {
            i: f"LABEL_{i}" for i in range(config.num_labels)}
        self.label_index = choose_label(id2label, label)
        self.label_name = id2label.get(self.label_index, str(self.label_index))
        self.sigmoid = config.problem_type == "multi_label_classification" or config.num_labels == 1
        self.max_length = self._context(config)
        specials = int(self.tokenizer.num_special_tokens_to_add())
        per_char = 1 if self._wordpiece() else 4
        self.max_chars = max(1, (self.max_length - specials) // per_char)

    def _context(self, config: Any) -> int:
        limit = int(getattr(self.tokenizer, "model_max_length", 0) or 0)
        positions = int(getattr(config, "max_position_embeddings", 0) or 0)
        if getattr(config, "model_type", "") in {"roberta", "xlm-roberta", "camembert"}:
            positions -= 2  # RoBERTa's position ids start at padding_idx + 1
        candidates = [v for v in (limit, positions) if 0 < v < 1_000_000]
        return min(candidates) if candidates else 512

    def _wordpiece(self) -> bool:
        backend = getattr(self.tokenizer, "backend_tokenizer", None)
        return backend is not None and type(backend.model).__name__ == "WordPiece"

    def scores(self, texts: Sequence[str]) -> np.ndarray:
        import torch

        texts = list(texts)
        out = np.zeros(len(texts), dtype=np.float64)
        order = np.argsort([len(t) for t in texts], kind="stable")
        with torch.inference_mode():
            for start in range(0, len(order), BATCH):
                rows = order[start : start + BATCH]
                batch = self.tokenizer([texts[i] for i in rows], padding=True, truncation=True,
                                       max_length=self.max_length, return_tensors="pt")
                logits = self.model(**batch).logits.double()
                if self.sigmoid:
                    p = torch.sigmoid(logits[:, self.label_index])
                else:
                    p = torch.softmax(logits, dim=-1)[:, self.label_index]
                out[rows] = p.numpy()
        return np.clip(out, 0.0, 1.0)
