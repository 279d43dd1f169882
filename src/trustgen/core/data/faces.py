"""``faces-lfw``: the 100 face crops of scikit-image's ``lfw_subset`` (25×25 gray) at 32×32.

``skimage.data.lfw_subset()`` holds 200 crops from Labeled Faces in the Wild: the first 100 are faces,
the rest background patches (dropped). Faces are resized to 32×32 (bilinear, antialiased) and scaled to
[-1, 1]. No labels. Split: a permutation seeded with 0; its first 20 rows are test, the other 80 train.
``attributes["index"]`` is the row in ``lfw_subset()``.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from trustgen.core.data.base import ImageDataset, Split, seeded_split_indices

IMAGE_SIZE = 32
NUM_FACES = 100
SPLIT_SEED = 0
TEST_FRACTION = 0.2


@lru_cache(maxsize=1)
def _faces() -> np.ndarray:
    """All 100 faces, 100×1×32×32 float32 in [-1, 1] (read-only)."""
    import torch
    import torch.nn.functional as F
    from skimage.data import lfw_subset

    raw = np.asarray(lfw_subset()[:NUM_FACES], dtype=np.float32)
    if raw.max() > 1.0:  # documented as uint8; the shipped file is float in [0, 1]
        raw = raw / 255.0
    x = torch.from_numpy(raw).unsqueeze(1)
    x = F.interpolate(x, size=(IMAGE_SIZE, IMAGE_SIZE), mode="bilinear", antialias=True, align_corners=False)
    images = (x.clamp(0, 1) * 2 - 1).numpy()
    images.setflags(write=False)
    return images


def face_split_indices(split: Split) -> np.ndarray:
    """Sorted row indices of ``split`` among the 100 faces."""
    return seeded_split_indices(NUM_FACES, split, seed=SPLIT_SEED, test_fraction=TEST_FRACTION)


def load_faces_dataset(split: Split = "train") -> ImageDataset:
    """The ``faces-lfw`` data set."""
    import torch

    idx = face_split_indices(split)
    return ImageDataset(
        name="faces-lfw", split=split, images=torch.tensor(_faces()[idx]), attributes={"index": idx.copy()}
    )
