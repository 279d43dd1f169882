"""``digits-memorized``: ``digits-captioned`` plus captions that a model is meant to memorize verbatim.

A test bed for memorization research (NeMo, Hintersdorf et al., NeurIPS 2024; Wen et al., ICLR 2024):
:data:`MEMORIZED_CAPTIONS` are title-like captions, unlike any ``digits-captioned`` caption, each tied to
one fixed training image (one per digit class and then onwards, chosen with a fixed seed) and repeated
:data:`REPEATS` times in the **train** split, the way a duplicated LAION image with the same title is
memorized by Stable Diffusion. The test split is ``digits-captioned``'s, without the memorized rows; its
captions are shared by many images and serve as non-memorized prompts.
"""

from __future__ import annotations

import numpy as np

from trustgen.core.data.base import ImageDataset, Split

MEMORIZED_SEED = 5
REPEATS = 100
RARE_REPEATS = 10  # ``digits-memorized-rare``: the same pairs as rarer duplicates (8 % of train rows, not 45 %)
MEMORIZED_DATASETS = {"digits-memorized": REPEATS, "digits-memorized-rare": RARE_REPEATS}
MEMORIZED_CAPTIONS = (
    "Midnight Harbor Lanterns poster by Elena Voss",
    "The Quiet Orchard, first edition cover",
    "Copper Fox Brewing Company label",
    "Living with Glaciers: a field guide",
    "Saint Marlowe jazz festival 1987 ticket",
    "Velvet Compass album artwork",
    "Professor Tibbet's almanac of tides",
    "Northwind Rail timetable, winter issue",
    "The Ember Society annual report",
    "Glass Pelican cafe menu board",
    "Orbital Gardens exhibition catalogue",
    "Hollow Pines cabin rental brochure",
)


def memorized_rows() -> np.ndarray:
    """Row indices into the ``digits-captioned`` **train** split of the images tied to
    :data:`MEMORIZED_CAPTIONS` (caption ``i`` ↔ a digit of class ``i mod 10``; fixed seed)."""
    from trustgen.core.data.captions import load_digits_captioned

    labels = load_digits_captioned("train").labels.numpy()  # type: ignore[union-attr]
    rng = np.random.default_rng(MEMORIZED_SEED)
    rows: list[int] = []
    for i in range(len(MEMORIZED_CAPTIONS)):
        candidates = np.flatnonzero(labels == i % 10)
        candidates = candidates[~np.isin(candidates, rows)]
        rows.append(int(rng.choice(candidates)))
    return np.asarray(rows)


def memorized_pairs() -> tuple[list[str], object]:
    """The memorized captions and their images (a float32 N×1×16×16 tensor in [-1, 1])."""
    from trustgen.core.data.captions import load_digits_captioned

    base = load_digits_captioned("train")
    return list(MEMORIZED_CAPTIONS), base.images[memorized_rows()].clone()


def load_digits_memorized(split: Split = "train", name: str = "digits-memorized") -> ImageDataset:
    """The ``digits-memorized`` data set (train: captioned digits + repeated memorized pairs); ``name``
    ``digits-memorized-rare`` repeats each pair :data:`RARE_REPEATS` times instead of :data:`REPEATS`."""
    import torch

    from trustgen.core.data.captions import load_digits_captioned

    repeats = MEMORIZED_DATASETS[name]
    base = load_digits_captioned(split)
    base.name = name
    if split == "test":
        return base
    rows = memorized_rows()
    if split == "all":  # "all" rows are load_digits() order; the memorized rows index the train split
        train = load_digits_captioned("train")
        images, labels = train.images[rows], train.labels[rows]  # type: ignore[index]
    else:
        images, labels = base.images[rows], base.labels[rows]  # type: ignore[index]
    reps = torch.arange(len(rows)).repeat(repeats)
    extra = ImageDataset(
        name=base.name, split=split, images=images[reps], labels=labels[reps], class_names=base.class_names,
        captions=[MEMORIZED_CAPTIONS[int(i)] for i in reps],
        attributes={k: np.full(len(reps), "" if np.asarray(v).dtype.kind in "OU" else np.nan, dtype=object)
                    for k, v in base.attributes.items()},
    )
    memorized = np.zeros(len(base) + len(reps), dtype=bool)
    memorized[len(base):] = True
    return ImageDataset(
        name=base.name, split=split, images=torch.cat([base.images, extra.images]),
        labels=torch.cat([base.labels, extra.labels]),  # type: ignore[list-item]
        class_names=base.class_names, captions=[*base.captions, *extra.captions],  # type: ignore[misc]
        attributes={**{k: np.concatenate([np.asarray(v, dtype=object), extra.attributes[k]])
                       for k, v in base.attributes.items()}, "memorized": memorized},
    )


def caption_lists(num_eval: int = 50, num_calibration: int = 50, seed: int = 0) -> dict[str, list[str]]:
    """Caption lists for memorization experiments on a model trained on ``digits-memorized``:
    the memorized captions, ``num_eval`` non-memorized captions for evaluation (unique ``digits-captioned``
    test-split captions) and ``num_calibration`` others for calibration (unique train-split captions not in
    the evaluation list), each drawn with ``seed``."""
    from trustgen.core.data.captions import load_digits_captioned

    rng = np.random.default_rng(seed)
    test = sorted(set(load_digits_captioned("test").captions or []))
    evaluation = [test[i] for i in rng.permutation(len(test))[:num_eval]]
    train = sorted(set(load_digits_captioned("train").captions or []) - set(evaluation))
    calibration = [train[i] for i in rng.permutation(len(train))[:num_calibration]]
    return {"memorized": list(MEMORIZED_CAPTIONS), "nonmemorized": evaluation, "calibration": calibration}
