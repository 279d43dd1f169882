"""``digits-captioned``: the ``digits`` images with measured stroke attributes and a caption each.

Two attributes are measured on the *original* 8×8 sklearn image, with ink ``v/16`` in [0, 1]:

* ``thickness`` — ink mass, the mean ink over the 64 pixels (in [0, 1]);
* ``slant`` — the shear ``mu11 / mu02`` of the ink distribution, with x pointing right and y pointing
  *up*: the horizontal drift per unit of height. A "/" stroke has slant > 0 (``right-slanted``).

Each is cut into three categories at the tertiles of the **train** split (fixed thresholds, so the test
split and generated images are judged by the same rule). Captions are drawn per image from
:data:`TEMPLATES` with a generator seeded by the image's row index in ``load_digits()``, so a given image
always gets the same caption whatever split it is loaded in. Templates 0 and 1 are the plain evaluation
prompt (:func:`prompt_for_digit`) and its numeral form; together they cover about a third of captions.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from trustgen.core.data.base import ImageDataset, Split
from trustgen.core.data.digits import DIGIT_NAMES, load_digits_dataset, split_indices
from trustgen.core.errors import TrustgenError

THICKNESS_CATEGORIES = ("thin", "regular", "thick")
SLANT_CATEGORIES = ("left-slanted", "upright", "right-slanted")
CAPTION_SEED = 20240
TEMPLATES = (
    "a handwritten {word}",
    "a handwritten {numeral}",
    "a {thickness} {slant} {word}",
    "a {thickness} {slant} {numeral}",
    "the digit {word}, written with {thickness} strokes",
    "{a_slant} handwritten {numeral} with {thickness} strokes",
)


def prompt_for_digit(d: int) -> str:
    """The plain evaluation prompt, e.g. ``"a handwritten seven"``."""
    if not 0 <= int(d) <= 9:
        raise TrustgenError(f"digit must be 0..9, got {d}")
    return f"a handwritten {DIGIT_NAMES[int(d)]}"


def caption_for(label: int, thickness: str, slant: str, template: int) -> str:
    """Fill template ``template`` of :data:`TEMPLATES` for a digit and its attribute categories."""
    if not 0 <= int(label) <= 9:
        raise TrustgenError(f"digit must be 0..9, got {label}")
    if thickness not in THICKNESS_CATEGORIES:
        raise TrustgenError(f"unknown thickness {thickness!r}: use one of {', '.join(THICKNESS_CATEGORIES)}")
    if slant not in SLANT_CATEGORIES:
        raise TrustgenError(f"unknown slant {slant!r}: use one of {', '.join(SLANT_CATEGORIES)}")
    if not 0 <= int(template) < len(TEMPLATES):
        raise TrustgenError(f"caption template must be 0..{len(TEMPLATES) - 1}, got {template}")
    a_slant = ("an " if slant[0] in "aeiou" else "a ") + slant
    word, numeral = DIGIT_NAMES[int(label)], str(int(label))
    fields = {"word": word, "numeral": numeral, "thickness": thickness, "slant": slant, "a_slant": a_slant}
    return TEMPLATES[int(template)].format(**fields)


def measure_thickness(ink: np.ndarray) -> np.ndarray:
    """Ink mass of N×H×W images with ink in [0, 1]: the mean ink per image, in [0, 1]."""
    ink = np.asarray(ink, dtype=np.float64)
    return ink.reshape(len(ink), -1).mean(axis=1)


def measure_slant(ink: np.ndarray) -> np.ndarray:
    """Shear ``mu11 / mu02`` of N×H×W ink images (x right, y up, in units of image width/height).

    Positive means the stroke leans right as it rises ("/"), negative means "\\". Blank images get 0.
    """
    ink = np.asarray(ink, dtype=np.float64)
    _, h, w = ink.shape
    y, x = np.meshgrid(-np.arange(h) / h, np.arange(w) / w, indexing="ij")  # row 0 is the top: y up
    mass = ink.sum(axis=(1, 2))
    safe = np.where(mass > 0, mass, 1.0)
    mx = (ink * x).sum(axis=(1, 2)) / safe
    my = (ink * y).sum(axis=(1, 2)) / safe
    dx, dy = x[None] - mx[:, None, None], y[None] - my[:, None, None]
    mu11 = (ink * dx * dy).sum(axis=(1, 2)) / safe
    mu02 = (ink * dy * dy).sum(axis=(1, 2)) / safe
    return np.where(mu02 > 1e-12, mu11 / np.where(mu02 > 1e-12, mu02, 1.0), 0.0)


def categorize(values: np.ndarray, thresholds: tuple[float, float], names: tuple[str, ...]) -> np.ndarray:
    """Map values to ``names[0]`` (< t1), ``names[1]`` (t1..t2) or ``names[2]`` (>= t2)."""
    return np.asarray(names, dtype=object)[np.searchsorted(thresholds, values, side="right")].astype(str)


@lru_cache(maxsize=1)
def _measured() -> dict[str, np.ndarray]:
    """Attributes, thresholds and caption templates for all 1,797 rows (read-only; callers index)."""
    from sklearn.datasets import load_digits

    raw = load_digits()
    ink = raw.images.astype(np.float64) / 16.0
    thick, slant = measure_thickness(ink), measure_slant(ink)
    train = split_indices("train")
    t_thr = np.quantile(thick[train], [1 / 3, 2 / 3])
    s_thr = np.quantile(slant[train], [1 / 3, 2 / 3])
    t_cat = categorize(thick, (float(t_thr[0]), float(t_thr[1])), THICKNESS_CATEGORIES)
    s_cat = categorize(slant, (float(s_thr[0]), float(s_thr[1])), SLANT_CATEGORIES)
    template = np.array(
        [np.random.default_rng([CAPTION_SEED, i]).integers(len(TEMPLATES)) for i in range(len(ink))]
    )
    captions = np.array(
        [
            caption_for(int(y), t, s, int(k))
            for y, t, s, k in zip(raw.target, t_cat, s_cat, template, strict=True)
        ],
        dtype=object,
    )
    return {
        "thickness": thick,
        "slant": slant,
        "thickness_category": t_cat,
        "slant_category": s_cat,
        "template": template,
        "captions": captions,
        "thickness_thresholds": t_thr,
        "slant_thresholds": s_thr,
    }


def attribute_thresholds() -> dict[str, tuple[float, float]]:
    """The fixed train-split tertile cut points of ``thickness`` and ``slant``."""
    m = _measured()
    return {
        "thickness": (float(m["thickness_thresholds"][0]), float(m["thickness_thresholds"][1])),
        "slant": (float(m["slant_thresholds"][0]), float(m["slant_thresholds"][1])),
    }


def load_digits_captioned(split: Split = "train") -> ImageDataset:
    """The ``digits-captioned`` data set: ``digits`` plus captions and attributes."""
    base = load_digits_dataset(split)
    m, idx = _measured(), split_indices(split)
    base.name = "digits-captioned"
    base.captions = [str(c) for c in m["captions"][idx]]
    keys = ("thickness", "slant", "thickness_category", "slant_category", "template")
    base.attributes = {key: m[key][idx].copy() for key in keys}
    return base
