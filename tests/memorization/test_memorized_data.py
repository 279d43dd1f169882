"""The digits-memorized data set."""

from __future__ import annotations

import torch

from trustgen.core.data import load_dataset
from trustgen.core.data.memorized import MEMORIZED_CAPTIONS, REPEATS, caption_lists, memorized_pairs


def test_memorized_pairs_repeat_in_train_only():
    train = load_dataset("digits-memorized", "train")
    base = load_dataset("digits-captioned", "train")
    assert len(train) == len(base) + REPEATS * len(MEMORIZED_CAPTIONS)
    captions, images = memorized_pairs()
    assert len(set(captions)) == len(captions) >= 10
    for caption, image in zip(captions, images, strict=True):
        rows = [i for i, c in enumerate(train.captions) if c == caption]
        assert len(rows) == REPEATS and all(torch.equal(train.images[i], image) for i in rows)
    test = load_dataset("digits-memorized", "test")
    assert not set(MEMORIZED_CAPTIONS) & set(test.captions)


def test_caption_lists_are_seeded_and_disjoint():
    a, b = caption_lists(seed=0), caption_lists(seed=0)
    assert a == b and len(a["nonmemorized"]) == 50 and len(a["calibration"]) == 50
    assert not set(a["nonmemorized"]) & set(a["calibration"])
    assert not set(a["memorized"]) & (set(a["nonmemorized"]) | set(a["calibration"]))
