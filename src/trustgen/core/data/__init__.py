"""Data registry: named image data sets that work offline, plus client partitioning.

``load_dataset(name, split)`` returns an :class:`ImageDataset` whose images are float32
tensors N×C×H×W scaled to [-1, 1]. Names: ``digits``, ``digits-captioned``, ``digits-biased``, ``mri``,
``faces-lfw`` and ``imagefolder:PATH``. See ``docs/data.md``.
"""

from __future__ import annotations

from trustgen.core.data.base import DatasetInfo, ImageDataset, Split
from trustgen.core.data.partition import parse_partition, partition_dirichlet, partition_iid
from trustgen.core.data.registry import dataset_info, list_datasets, load_dataset

__all__ = [
    "DatasetInfo",
    "ImageDataset",
    "Split",
    "dataset_info",
    "list_datasets",
    "load_dataset",
    "parse_partition",
    "partition_dirichlet",
    "partition_iid",
]
