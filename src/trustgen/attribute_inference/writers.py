"""``writers``: a seeded, offline stand-in for the face identities of Caia (Struppek et al., 2023).

Caia infers a *class-level* attribute (hair colour, gender, …) of the identities a face recogniser was trained
on. Here the identities are 20 synthetic **writers** derived from sklearn's digits:

* writer ``w = 2·d + j`` writes the digit ``d`` (``j`` ∈ {0, 1}); its images are the ``digits`` *train*-split
  images of ``d``, shared out alternately between the digit's two writers (about 72 each);
* every writer has two fixed, hidden binary attributes, each balanced 10/10 over the writers and drawn with
  ``seed``: **thickness** (``thin``: grey-scale erosion, ``thick``: dilation, at 32×32 with a 3×3 window, so
  half a pixel at 16×16) and **slant** (``left-slanted`` / ``right-slanted``: a horizontal shear of ∓0.3).
  Within a digit the two writers always differ in thickness (a random one of them is the thick one);
* images of one writer vary by their handwriting and by a seeded augmentation (rotation ±6°, shift ±0.75 px).

The *public* side (the attacker's images and the filter's training data) is the ``digits`` *test* split, which
no writer uses. The target classifier learns the writer, never the attribute.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from trustgen.core.data import ImageDataset
from trustgen.core.errors import TrustgenError

NUM_WRITERS = 20
ATTRIBUTES: dict[str, tuple[str, str]] = {
    "thickness": ("thin", "thick"),
    "slant": ("left-slanted", "right-slanted"),
}
SHEAR = 0.3
MORPH_SIZE = 32


def morph(images: torch.Tensor, value: str) -> torch.Tensor:
    """Images (N×1×H×W in [-1, 1]) with thinner (``thin``: erosion) or thicker (``thick``: dilation) strokes."""
    if value not in ATTRIBUTES["thickness"]:
        raise TrustgenError(f"unknown thickness {value!r}: use thin or thick")
    h, w = images.shape[-2:]
    big = F.interpolate(images, size=(MORPH_SIZE, MORPH_SIZE), mode="bilinear", align_corners=False)
    sign = 1.0 if value == "thick" else -1.0  # dilation is a max filter, erosion a min filter
    big = sign * F.max_pool2d(sign * big, 3, stride=1, padding=1)
    return F.interpolate(big, size=(h, w), mode="bilinear", align_corners=False, antialias=True).clamp(-1, 1)


def affine(images: torch.Tensor, *, shear: Any = 0.0, angle: Any = 0.0, shift: Any = 0.0) -> torch.Tensor:
    """Per-image shear (x += shear·y, y pointing up), rotation (degrees) and shift (x, y in pixels)."""
    n = images.shape[0]
    shear_t = torch.as_tensor(shear, dtype=images.dtype).expand(n)
    a = torch.deg2rad(torch.as_tensor(angle, dtype=images.dtype).expand(n))
    s = torch.as_tensor(shift, dtype=images.dtype).reshape(-1, 2) if not isinstance(shift, float) else \
        torch.zeros(n, 2, dtype=images.dtype)
    s = s.expand(n, 2) * 2 / images.shape[-1]
    cos, sin = torch.cos(a), torch.sin(a)
    # the grid maps output coordinates to input ones; grid y points down, so a "/" shear is x_in = x + k·y_grid
    rot = torch.stack([torch.stack([cos, -sin], 1), torch.stack([sin, cos], 1)], 1)
    sh = torch.zeros(n, 2, 2, dtype=images.dtype)
    sh[:, 0, 0], sh[:, 1, 1], sh[:, 0, 1] = 1, 1, shear_t
    m = rot @ sh
    theta = torch.cat([m, -s.unsqueeze(-1)], 2)
    grid = F.affine_grid(theta, list(images.shape), align_corners=False)
    return F.grid_sample(images + 1, grid, mode="bilinear", padding_mode="zeros", align_corners=False) - 1


def slant(images: torch.Tensor, value: str) -> torch.Tensor:
    """Images sheared to lean left or right."""
    if value not in ATTRIBUTES["slant"]:
        raise TrustgenError(f"unknown slant {value!r}: use left-slanted or right-slanted")
    return affine(images, shear=SHEAR if value == "right-slanted" else -SHEAR)


def apply_attribute(images: torch.Tensor, attribute: str, value: str) -> torch.Tensor:
    """``images`` made to carry ``value`` of ``attribute`` (the writers' own transform)."""
    if attribute == "thickness":
        return morph(images, value)
    if attribute == "slant":
        return slant(images, value)
    raise TrustgenError(f"unknown attribute {attribute!r} (known: {', '.join(ATTRIBUTES)})")


@dataclass
class Writers:
    """The writers data set: train/test images per writer and the hidden attribute table."""

    train: ImageDataset
    test: ImageDataset
    attributes: dict[str, list[str]]  # attribute -> value of each writer
    digits: list[int]  # the digit each writer writes
    seed: int

    def card(self) -> dict[str, Any]:
        """What the data set is: its recipe, sizes and the attribute table (the ground truth of the attack)."""
        return {
            "name": "writers", "seed": self.seed, "writers": NUM_WRITERS, "train_images": len(self.train),
            "test_images": len(self.test), "digits": self.digits, "attributes": self.attributes,
            "recipe": "digits train split, writer 2d+j writes digit d; thickness by erosion/dilation, slant by "
                      f"shear ±{SHEAR}; rotation ±6°, shift ±0.75 px per image",
            "balance": {a: {v: vals.count(v) for v in ATTRIBUTES[a]} for a, vals in self.attributes.items()},
        }


def writer_attributes(seed: int) -> dict[str, list[str]]:
    """Each writer's hidden values: within a digit the thick writer is drawn; slant is a balanced permutation."""
    rng = np.random.default_rng([seed, 19])
    thick_j = rng.integers(0, 2, NUM_WRITERS // 2)
    thickness = ["thick" if (w % 2) == thick_j[w // 2] else "thin" for w in range(NUM_WRITERS)]
    slants = rng.permutation([0] * (NUM_WRITERS // 2) + [1] * (NUM_WRITERS // 2))
    return {"thickness": thickness, "slant": [ATTRIBUTES["slant"][int(s)] for s in slants]}


def _jitter(images: torch.Tensor, rng: np.random.Generator) -> torch.Tensor:
    n = images.shape[0]
    angle = torch.from_numpy(rng.uniform(-6, 6, n).astype(np.float32))
    shift = torch.from_numpy(rng.uniform(-0.75, 0.75, (n, 2)).astype(np.float32))
    return affine(images, angle=angle, shift=shift)


def build_writers(seed: int = 0, test_fraction: float = 0.2) -> Writers:
    """The writers data set for ``seed`` (attributes, augmentation and the per-writer train/test split)."""
    from trustgen.core.data import load_dataset

    base = load_dataset("digits", "train")
    assert base.labels is not None
    table = writer_attributes(seed)
    rng = np.random.default_rng([seed, 1919])
    images, labels = [], []
    for d in range(10):
        rows = torch.nonzero(base.labels == d).flatten()
        for j in range(2):
            w = 2 * d + j
            x = base.images[rows[j::2]]
            x = morph(x, table["thickness"][w])
            x = slant(x, table["slant"][w])
            images.append(_jitter(x, rng).clamp(-1, 1))
            labels.append(torch.full((len(x),), w, dtype=torch.int64))
    x_all, y_all = torch.cat(images), torch.cat(labels)
    test_mask = torch.from_numpy(rng.random(len(y_all)) < test_fraction)
    names = [f"writer-{w:02d}" for w in range(NUM_WRITERS)]

    def part(mask: torch.Tensor, split: str) -> ImageDataset:
        y = y_all[mask]
        return ImageDataset(name="writers", split=split, images=x_all[mask].contiguous(), labels=y,
                            class_names=names, attributes={a: np.asarray(v)[y.numpy()] for a, v in table.items()})

    return Writers(part(~test_mask, "train"), part(test_mask, "test"), table, [w // 2 for w in range(NUM_WRITERS)],
                   seed)


def public_digits() -> ImageDataset:
    """The attacker's images: the ``digits`` test split (no writer uses it)."""
    from trustgen.core.data import load_dataset

    return load_dataset("digits", "test")


def filter_dataset(attribute: str, seed: int = 0) -> ImageDataset:
    """Training data of the attribute filter from public digits: every image once per value, carrying it by the
    writers' transform, with the same augmentation; label = value index."""
    if attribute not in ATTRIBUTES:
        raise TrustgenError(f"unknown attribute {attribute!r} (known: {', '.join(ATTRIBUTES)})")
    pub = public_digits()
    rng = np.random.default_rng([seed, 7])
    xs, ys = [], []
    for i, value in enumerate(ATTRIBUTES[attribute]):
        x = apply_attribute(pub.images, attribute, value)
        other = "slant" if attribute == "thickness" else "thickness"
        # the other attribute varies at random so the filter cannot lean on it
        pick = torch.from_numpy(rng.random(len(x)) < 0.5)
        a, b = ATTRIBUTES[other]
        x = torch.where(pick[:, None, None, None], apply_attribute(x, other, a), apply_attribute(x, other, b))
        xs.append(_jitter(x, rng).clamp(-1, 1))
        ys.append(torch.full((len(x),), i, dtype=torch.int64))
    return ImageDataset(name=f"writers-filter-{attribute}", split="train", images=torch.cat(xs),
                        labels=torch.cat(ys), class_names=list(ATTRIBUTES[attribute]))


def angle_of(value: float) -> float:
    """Degrees of a shear factor (for reports)."""
    return math.degrees(math.atan(value))
