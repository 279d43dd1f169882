"""sklearn's handwritten digits (1,797 images, 8×8) upsampled to 16×16 in [-1, 1].

The train/test split is fixed: stratified 80/20 with ``random_state=0``.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from trustgen.core.data.base import ImageDataset, Split

DIGIT_NAMES = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
IMAGE_SIZE = 16
SPLIT_SEED = 0
TEST_FRACTION = 0.2


@lru_cache(maxsize=1)
def _split_indices() -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    y = load_digits().target
    idx = np.arange(len(y))
    train, test = train_test_split(idx, test_size=TEST_FRACTION, stratify=y, random_state=SPLIT_SEED)
    return np.sort(train), np.sort(test)


def split_indices(split: Split) -> np.ndarray:
    """Row indices (into ``load_digits()``) of ``split``."""
    train, test = _split_indices()
    if split == "train":
        return train
    if split == "test":
        return test
    return np.arange(len(train) + len(test))


def upsample(images8: np.ndarray, size: int = IMAGE_SIZE) -> np.ndarray:
    """8×8 images with values 0..16 → float32 N×1×size×size in [-1, 1] (bilinear)."""
    import torch
    import torch.nn.functional as F

    x = torch.from_numpy(images8.astype(np.float32) / 16.0).reshape(-1, 1, 8, 8)
    x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False)
    return (x.clamp(0, 1) * 2 - 1).numpy()


def load_digits_dataset(split: Split = "train") -> ImageDataset:
    """The ``digits`` data set."""
    import torch
    from sklearn.datasets import load_digits

    raw = load_digits()
    idx = split_indices(split)
    images = torch.from_numpy(upsample(raw.images[idx]))
    labels = torch.from_numpy(raw.target[idx].astype(np.int64))
    return ImageDataset(name="digits", split=split, images=images, labels=labels, class_names=list(DIGIT_NAMES))
