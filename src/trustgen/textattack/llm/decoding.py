"""The pieces of a local LM's decoding that are plain tensor functions: the next-token rule (transformers'
semantics: repetition penalty, then temperature, then top-p), the vocabulary masks of tokens that end an answer
or start a word, and per-text perplexity."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch

__all__ = ["next_token", "perplexities", "stop_token_mask", "word_token_masks"]


def next_token(logits: torch.Tensor, seen: torch.Tensor, *, penalty: float, temperature: float, top_p: float,
               generator: torch.Generator) -> torch.Tensor:
    """One sampled token per row of ``logits``: the repetition ``penalty`` on the tokens ``seen`` marks, then
    ``temperature``, then nucleus (``top_p``) filtering; drawn from ``generator``."""
    import torch

    logits = logits.float().clone()
    if penalty != 1.0:
        penalized = torch.where(logits > 0, logits / penalty, logits * penalty)
        logits = torch.where(seen, penalized, logits)
    logits = logits / temperature
    if top_p < 1.0:
        ordered, order = torch.sort(logits, descending=False)
        cumulative = ordered.softmax(dim=-1).cumsum(dim=-1)
        drop_sorted = cumulative <= (1 - top_p)
        drop_sorted[:, -1] = False  # always keep the most likely token
        drop = drop_sorted.scatter(1, order, drop_sorted)
        logits = logits.masked_fill(drop, float("-inf"))
    probs = logits.softmax(dim=-1)
    return torch.multinomial(probs, 1, generator=generator).flatten()


def stop_token_mask(tokenizer: Any, vocab_size: int) -> torch.Tensor:
    """A vocabulary mask of tokens that end an answer: end-of-sequence tokens and any token with ``|``."""
    import torch

    vocab = len(tokenizer)
    mask = torch.zeros(max(vocab, vocab_size), dtype=torch.bool)
    pieces = tokenizer.batch_decode([[i] for i in range(vocab)])
    for i, piece in enumerate(pieces):
        mask[i] = "|" in piece
    for name in ("eos_token_id", "pad_token_id"):
        tid = getattr(tokenizer, name, None)
        if isinstance(tid, int):
            mask[tid] = True
    end = tokenizer.convert_tokens_to_ids("<|im_end|>")
    if isinstance(end, int) and end >= 0 and end != tokenizer.unk_token_id:
        mask[end] = True
    return mask


def word_token_masks(tokenizer: Any, vocab_size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Vocabulary masks: tokens that start a word after a space (`` lady``) and bare letter runs (``lady``,
    also the continuation of a word: ``itch`` in `` b|itch``)."""
    import re

    import torch

    vocab = len(tokenizer)
    size = max(vocab, vocab_size)
    spaced, bare = torch.zeros(size, dtype=torch.bool), torch.zeros(size, dtype=torch.bool)
    word = re.compile(r"[A-Za-z][A-Za-z']*")
    # byte-level BPE pieces: "Ġ" is the space, ASCII letters are themselves (as decoding each id, faster)
    for i, piece in enumerate(tokenizer.convert_ids_to_tokens(list(range(vocab)))):
        piece = str(piece).replace("Ġ", " ").replace("▁", " ")
        if piece.startswith(" ") and word.fullmatch(piece[1:]):
            spaced[i] = True
        elif word.fullmatch(piece):
            bare[i] = True
    return spaced, bare


def perplexities(model: Any, tokenizer: Any, texts: list[str]) -> list[float]:
    """Per-text perplexity (exp of the mean next-token loss) under a causal LM; ``nan`` for one-token texts."""
    import math

    import torch

    out: list[float] = []
    with torch.inference_mode():
        for text in texts:
            ids = tokenizer(text, return_tensors="pt", add_special_tokens=False)["input_ids"]
            if ids.shape[1] < 2:
                out.append(float("nan"))
                continue
            loss = model(input_ids=ids, labels=ids).loss
            out.append(float(math.exp(float(loss))))
    return out
