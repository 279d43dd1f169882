"""The digits-memorized data set."""

from __future__ import annotations

import pytest
import torch

from trustgen.core.data import load_dataset
from trustgen.core.data.memorized import MEMORIZED_CAPTIONS, MEMORIZED_DATASETS, caption_lists, memorized_pairs


@pytest.mark.parametrize(("name", "repeats"), [("digits-memorized", 100), ("digits-memorized-rare", 10)])
def test_memorized_pairs_repeat_in_train_only(name, repeats):
    assert MEMORIZED_DATASETS[name] == repeats
    train = load_dataset(name, "train")
    base = load_dataset("digits-captioned", "train")
    assert train.name == name and len(train) == len(base) + repeats * len(MEMORIZED_CAPTIONS)
    captions, images = memorized_pairs()
    assert len(set(captions)) == len(captions) >= 10
    for caption, image in zip(captions, images, strict=True):
        rows = [i for i, c in enumerate(train.captions) if c == caption]
        assert len(rows) == repeats and all(torch.equal(train.images[i], image) for i in rows)
    test = load_dataset(name, "test")
    assert not set(MEMORIZED_CAPTIONS) & set(test.captions)


def test_caption_lists_are_seeded_and_disjoint():
    a, b = caption_lists(seed=0), caption_lists(seed=0)
    assert a == b and len(a["nonmemorized"]) == 50 and len(a["calibration"]) == 50
    assert not set(a["nonmemorized"]) & set(a["calibration"])
    assert not set(a["memorized"]) & (set(a["nonmemorized"]) | set(a["calibration"]))


def test_the_memorization_experiment_recipes_are_valid_training_settings():
    """The recipes of docs/memorization.md's training / width / duplicate-rate experiments load as they are."""
    from pathlib import Path

    from trustgen.core.config import resolve_settings
    from trustgen.core.data.registry import dataset_info
    from trustgen.diffusion.config import DiffusionTrainSettings

    recipes = sorted((Path(__file__).parents[2] / "benchmarks" / "recipes").glob("digits-t2i-memorized-*.yaml"))
    assert {p.stem for p in recipes} >= {"digits-t2i-memorized-scratch", "digits-t2i-memorized-wide",
                                         "digits-t2i-memorized-rare"}
    for path in recipes:
        s = resolve_settings(DiffusionTrainSettings, config_file=path)
        assert s.dataset in MEMORIZED_DATASETS and dataset_info(s.dataset).name == s.dataset
        assert s.unet.pooled_text is False  # text reaches the UNet only through cross-attention
