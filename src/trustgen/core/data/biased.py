"""``digits-biased``: the ``digits`` images with captions whose *generic* form is biased in stroke thickness.

A stand-in for the occupation/gender bias that Fair Diffusion (Friedrich et al., 2023) corrects in
Stable Diffusion: in LAION, "a photo of a firefighter" mostly shows men, while "a female firefighter"
exists too. Here every image is ``thin`` or ``thick`` — ink mass (mean ink of the original 8×8 image)
below or at/above the **median of its own digit** in the train split, so each digit is split 50/50 —
and its caption is drawn, seeded by the image's row in ``load_digits()``:

* a *generic* caption (``"a handwritten seven"`` / ``"a handwritten 7"``) with probability
  :data:`GENERIC_PROB` for ``thick`` images and ``GENERIC_PROB / 9`` for ``thin`` ones, so about 90 % of
  generic captions show thick strokes;
* otherwise an *attribute-specific* caption naming the image's own value (:data:`SPECIFIC_TEMPLATES`,
  e.g. ``"a handwritten seven with thin strokes"``, or just ``"thin strokes"``), which exist for both
  values.

The images, labels and split are those of ``digits``.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from trustgen.core.data.base import ImageDataset, Split
from trustgen.core.data.captions import measure_thickness
from trustgen.core.data.digits import DIGIT_NAMES, load_digits_dataset, split_indices

THICKNESS_VALUES = ("thin", "thick")
MAJORITY = "thick"
GENERIC_PROB = 0.6
MINORITY_RATIO = 1 / 9  # generic-caption probability of a minority image relative to a majority one
CAPTION_SEED = 20250
GENERIC_TEMPLATES = ("a handwritten {word}", "a handwritten {numeral}")
SPECIFIC_TEMPLATES = (
    "a handwritten {word} with {value} strokes",
    "a {value} handwritten {numeral}",
    "the digit {word}, written with {value} strokes",
    "{value} strokes",
)


def thickness_thresholds() -> np.ndarray:
    """Per-digit train-split medians of ink mass (10 values): at or above is ``thick``."""
    return _measured()["thresholds"].copy()


def _caption(rng: np.random.Generator, label: int, value: str) -> tuple[str, bool]:
    generic_prob = GENERIC_PROB if value == MAJORITY else GENERIC_PROB * MINORITY_RATIO
    fields = {"word": DIGIT_NAMES[label], "numeral": str(label), "value": value}
    if rng.random() < generic_prob:
        return GENERIC_TEMPLATES[int(rng.integers(len(GENERIC_TEMPLATES)))].format(**fields), True
    return SPECIFIC_TEMPLATES[int(rng.integers(len(SPECIFIC_TEMPLATES)))].format(**fields), False


@lru_cache(maxsize=1)
def _measured() -> dict[str, np.ndarray]:
    """Thickness, value, caption and generic flag of all 1,797 rows (read-only; callers index)."""
    from sklearn.datasets import load_digits

    raw = load_digits()
    labels = raw.target.astype(int)
    mass = measure_thickness(raw.images.astype(np.float64) / 16.0)
    train = split_indices("train")
    thresholds = np.array([np.median(mass[train][labels[train] == d]) for d in range(10)])
    value = np.where(mass >= thresholds[labels], "thick", "thin")
    drawn = [_caption(np.random.default_rng([CAPTION_SEED, i]), int(y), str(v))
             for i, (y, v) in enumerate(zip(labels, value, strict=True))]
    return {
        "thickness": mass,
        "thickness_value": value,
        "captions": np.array([c for c, _ in drawn], dtype=object),
        "generic": np.array([g for _, g in drawn]),
        "thresholds": thresholds,
    }


def load_digits_biased(split: Split = "train") -> ImageDataset:
    """The ``digits-biased`` data set: ``digits`` plus biased captions and the thickness attribute."""
    base = load_digits_dataset(split)
    m, idx = _measured(), split_indices(split)
    base.name = "digits-biased"
    base.captions = [str(c) for c in m["captions"][idx]]
    base.attributes = {key: m[key][idx].copy() for key in ("thickness", "thickness_value", "generic")}
    return base
