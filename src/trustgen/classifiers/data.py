"""Class-subset views of the registry's data sets (e.g. the *private* digits 0–4 of model inversion)."""

from __future__ import annotations

import torch

from trustgen.core.data import ImageDataset, Split, load_dataset
from trustgen.core.errors import TrustgenError


def class_view(dataset: ImageDataset, classes: list[int] | None) -> ImageDataset:
    """The rows of ``dataset`` whose label is in ``classes``, relabelled ``0 … len(classes) − 1`` in the order of
    ``classes`` (None: the data set as it is). :class:`TrustgenError` if it has no labels or lacks a class."""
    if dataset.labels is None or dataset.class_names is None:
        raise TrustgenError(f"data set {dataset.name!r} has no class labels to train a classifier on")
    if classes is None:
        return dataset
    known = range(len(dataset.class_names))
    missing = [c for c in classes if c not in known]
    if missing:
        raise TrustgenError(f"data set {dataset.name!r} has classes 0–{len(dataset.class_names) - 1}, not {missing}")
    keep = torch.isin(dataset.labels, torch.tensor(classes))
    view = dataset.subset(keep)
    remap = torch.full((len(dataset.class_names),), -1, dtype=torch.int64)
    remap[torch.tensor(classes)] = torch.arange(len(classes))
    assert view.labels is not None
    view.labels = remap[view.labels]
    view.class_names = [dataset.class_names[c] for c in classes]
    return view


def load_classes(name: str, split: Split, classes: list[int] | None) -> ImageDataset:
    """``load_dataset(name, split)`` restricted to ``classes`` (see :func:`class_view`)."""
    return class_view(load_dataset(name, split), classes)
