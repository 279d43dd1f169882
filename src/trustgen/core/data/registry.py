"""Name → loader registry of the offline data sets (see ``docs/data.md``)."""

from __future__ import annotations

from collections.abc import Callable

from trustgen.core.data.base import DatasetInfo, ImageDataset, Split
from trustgen.core.errors import TrustgenError

IMAGEFOLDER_PREFIX = "imagefolder:"

_INFO: dict[str, DatasetInfo] = {
    "digits": DatasetInfo(
        "digits",
        "sklearn handwritten digits, 16×16 gray, 10 classes, 1,797 images",
        1,
        16,
        10,
        ("none", "class"),
    ),
    "digits-captioned": DatasetInfo(
        "digits-captioned",
        "digits plus a caption and measured thickness/slant per image (text-conditional), 1,797 images",
        1,
        16,
        10,
        ("none", "class", "text"),
    ),
    "digits-memorized": DatasetInfo(
        "digits-memorized",
        "digits-captioned plus 12 title-like captions, each tied to one image repeated 100× in train "
        "(a memorization test bed), 2,637 train images",
        1,
        16,
        10,
        ("text",),
    ),
    "digits-memorized-rare": DatasetInfo(
        "digits-memorized-rare",
        "digits-memorized with each memorized image repeated 10× instead of 100× (rarer duplicates), "
        "1,557 train images",
        1,
        16,
        10,
        ("text",),
    ),
    "digits-biased": DatasetInfo(
        "digits-biased",
        "digits with thin/thick stroke labels; ~90 % of generic captions show thick strokes (Fair Diffusion demo)",
        1,
        16,
        10,
        ("none", "class", "text"),
    ),
    "mri": DatasetInfo(
        "mri",
        "axial slices of nilearn's MNI152 T1 template, 32×32 gray, 113 slices, 3 slice-position classes",
        1,
        32,
        3,
        ("none", "class"),
    ),
    "faces-lfw": DatasetInfo(
        "faces-lfw", "scikit-image's 100 LFW face crops, 32×32 gray, unlabelled", 1, 32, None, ("none",)
    ),
}


def _loader(name: str) -> Callable[[Split], ImageDataset]:
    if name == "digits":
        from trustgen.core.data.digits import load_digits_dataset

        return load_digits_dataset
    if name == "digits-captioned":
        from trustgen.core.data.captions import load_digits_captioned

        return load_digits_captioned
    if name in ("digits-memorized", "digits-memorized-rare"):
        from functools import partial

        from trustgen.core.data.memorized import load_digits_memorized

        return partial(load_digits_memorized, name=name)
    if name == "digits-biased":
        from trustgen.core.data.biased import load_digits_biased

        return load_digits_biased
    if name == "mri":
        from trustgen.core.data.mri import load_mri_dataset

        return load_mri_dataset
    if name == "faces-lfw":
        from trustgen.core.data.faces import load_faces_dataset

        return load_faces_dataset
    raise KeyError(name)


def list_datasets() -> list[DatasetInfo]:
    """Every registered data set (``imagefolder:PATH`` is described separately)."""
    return list(_INFO.values())


def dataset_info(name: str) -> DatasetInfo:
    """Registry entry of ``name``; :class:`TrustgenError` if unknown. For ``imagefolder:PATH`` the
    folder is listed (not decoded) to count files and classes."""
    if name.startswith(IMAGEFOLDER_PREFIX):
        from trustgen.core.data.imagefolder import imagefolder_info

        return imagefolder_info(name)
    if name not in _INFO:
        known = ", ".join([*_INFO, "imagefolder:PATH"])
        raise TrustgenError(f"unknown dataset {name!r} (known: {known})")
    return _INFO[name]


def load_dataset(name: str, split: Split = "train") -> ImageDataset:
    """Load ``name``'s ``split`` (``train``, ``test`` or ``all``)."""
    if split not in ("train", "test", "all"):
        raise TrustgenError(f"unknown split {split!r}: use train, test or all")
    if name.startswith(IMAGEFOLDER_PREFIX):
        from trustgen.core.data.imagefolder import load_imagefolder

        return load_imagefolder(name, split)
    dataset_info(name)
    return _loader(name)(split)
