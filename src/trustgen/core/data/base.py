"""The dataset record every loader returns."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    import torch

Split = Literal["train", "test", "all"]


def seeded_split_indices(n: int, split: Split, *, seed: int = 0, test_fraction: float = 0.2) -> Any:
    """Sorted row indices of ``split`` among ``n`` rows: a seeded permutation, the first
    ``round(n·test_fraction)`` rows of which are the test split."""
    import numpy as np

    perm = np.random.default_rng(seed).permutation(n)
    n_test = round(n * test_fraction)
    if split == "train":
        return np.sort(perm[n_test:])
    if split == "test":
        return np.sort(perm[:n_test])
    return np.arange(n)


@dataclass
class DatasetInfo:
    """A registry entry: what ``trustgen data list`` shows."""

    name: str
    description: str
    channels: int
    size: int
    num_classes: int | None
    conditioning: tuple[str, ...]  # which conditionings it supports: none, class, text


@dataclass
class ImageDataset:
    """Images in [-1, 1] (float32, N×C×H×W) with optional labels, captions and attributes."""

    name: str
    split: str
    images: torch.Tensor
    labels: torch.Tensor | None = None  # int64, N
    class_names: list[str] | None = None
    captions: list[str] | None = None
    attributes: dict[str, Any] = field(default_factory=dict)  # name -> array of N values

    def __len__(self) -> int:
        return int(self.images.shape[0])

    @property
    def num_classes(self) -> int | None:
        return len(self.class_names) if self.class_names is not None else None

    @property
    def shape(self) -> tuple[int, int, int]:
        c, h, w = self.images.shape[1:]
        return int(c), int(h), int(w)

    def subset(self, index: Any) -> ImageDataset:
        """The rows ``index`` (an index array or mask) as a new dataset."""
        import numpy as np
        import torch

        idx = torch.as_tensor(np.asarray(index))
        if idx.dtype == torch.bool:
            idx = idx.nonzero().flatten()
        rows = idx.tolist()
        return ImageDataset(
            name=self.name,
            split=self.split,
            images=self.images[idx],
            labels=None if self.labels is None else self.labels[idx],
            class_names=self.class_names,
            captions=None if self.captions is None else [self.captions[i] for i in rows],
            attributes={k: np.asarray(v)[rows] for k, v in self.attributes.items()},
        )
