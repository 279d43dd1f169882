"""``mri``: axial slices of the MNI152 (ICBM152 2009a) T1 template shipped with nilearn.

The 1 mm template (197×233×189 voxels, skull-stripped) is cut into axial (z) slices; slices where more
than 15 % of voxels lie inside nilearn's MNI152 brain mask are kept (113 slices, z = 26..138). The
2 mm template gives only 56 such slices, too few to train on, hence 1 mm. Each slice is rotated so the
front of the head is up, zero-padded to a square, resized to 32×32 (bilinear, antialiased) and scaled
from the template's [0, 1] to [-1, 1].

Labels are the slice's position bin along z — ``inferior``, ``middle``, ``superior``, three equal runs
of consecutive kept slices — so clients ("hospitals") can be given different slice ranges.
``attributes["z"]`` is the voxel index along z. Every 5th kept slice (positions 0, 5, 10, …) is test.
Neighbouring 1 mm slices are nearly identical, so train and test are not independent samples.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from trustgen.core.data.base import ImageDataset, Split
from trustgen.core.errors import TrustgenError

MRI_CLASSES = ["inferior", "middle", "superior"]
IMAGE_SIZE = 32
RESOLUTION_MM = 1
MIN_BRAIN_FRACTION = 0.15
TEST_EVERY = 5


@lru_cache(maxsize=1)
def _slices() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(images K×1×32×32 float32 in [-1, 1], labels K int64, z K int64) for all kept slices."""
    import torch
    import torch.nn.functional as F

    try:
        from nilearn.datasets import load_mni152_brain_mask, load_mni152_template
    except ImportError:
        raise TrustgenError("the mri data set needs nilearn: pip install 'trustgen[medical]'") from None

    volume = np.asarray(load_mni152_template(resolution=RESOLUTION_MM).get_fdata(), dtype=np.float32)
    mask = np.asarray(load_mni152_brain_mask(resolution=RESOLUTION_MM).get_fdata()) > 0
    z = np.flatnonzero(mask.mean(axis=(0, 1)) > MIN_BRAIN_FRACTION).astype(np.int64)
    vmax = float(volume.max())
    # volume[x, y, z] in RAS: rot90 puts y (anterior) at the top and x (right) across.
    planes = np.stack([np.rot90(volume[:, :, k]) for k in z]) / vmax
    h, w = planes.shape[1:]
    side = max(h, w)
    top, left = (side - h) // 2, (side - w) // 2
    square = np.zeros((len(z), side, side), dtype=np.float32)
    square[:, top : top + h, left : left + w] = planes
    x = torch.from_numpy(square).unsqueeze(1)
    x = F.interpolate(x, size=(IMAGE_SIZE, IMAGE_SIZE), mode="bilinear", antialias=True, align_corners=False)
    images = (x.clamp(0, 1) * 2 - 1).numpy()
    labels = np.concatenate(
        [np.full(len(part), c, dtype=np.int64) for c, part in enumerate(np.array_split(z, len(MRI_CLASSES)))]
    )
    for arr in (images, labels, z):
        arr.setflags(write=False)
    return images, labels, z


def slice_count() -> int:
    """How many axial slices the data set has over all splits."""
    return len(_slices()[2])


def load_mri_dataset(split: Split = "train") -> ImageDataset:
    """The ``mri`` data set."""
    import torch

    images, labels, z = _slices()
    pos = np.arange(len(z))
    idx = {"train": pos[pos % TEST_EVERY != 0], "test": pos[pos % TEST_EVERY == 0]}.get(split, pos)
    return ImageDataset(
        name="mri",
        split=split,
        images=torch.tensor(images[idx]),
        labels=torch.tensor(labels[idx]),
        class_names=list(MRI_CLASSES),
        attributes={"z": z[idx].copy()},
    )
