"""Attribute measures: which value of an attribute a generated image shows.

Fair Diffusion (Friedrich et al., 2023) counts genders with FairFace on detected faces. For the digits
demo the attribute is stroke thickness, measured without a learned model:

* ink mass of the 16×16 image (mean of ``(x + 1) / 2``; the bilinear 8×8 → 16×16 upsampling keeps the
  mean, so on real images it equals the 8×8 ink mass that labels ``digits-biased``);
* ``thick`` if at or above the train-split median ink mass of **its digit**, else ``thin`` — per digit,
  because ink mass across digits also reflects shape (an 8 has more ink than a 7); the digit is the
  shipped digits classifier's prediction, so the measure needs the image only.

:func:`reliability` checks the measure on real test images: agreement with the data set's labels when
the digit comes from the classifier, stability under pixel noise, and validity against an independent
stroke-width estimate (twice the mean distance-transform value on the skeleton).
"""

from __future__ import annotations

import re
from typing import Any, Protocol

import numpy as np
import torch

from trustgen.core.errors import TrustgenError

NOISE_SIGMA = 0.05


class AttributeMeasure(Protocol):
    """Maps images (N×C×H×W in [-1, 1]) to the index of the attribute value each shows."""

    name: str
    values: tuple[str, ...]

    def __call__(self, images: torch.Tensor) -> np.ndarray: ...


def ink_mass(images: torch.Tensor) -> np.ndarray:
    """Mean ink ``(x + 1) / 2`` (clipped to [0, 1]) per image."""
    ink = ((torch.as_tensor(images).float() + 1) / 2).clamp(0, 1)
    return ink.flatten(1).mean(1).cpu().numpy().astype(np.float64)


class StrokeThickness:
    """``thin`` / ``thick`` stroke of a 1×16×16 digit: ink mass against its digit's median."""

    name: str = "stroke-thickness"
    values: tuple[str, ...] = ("thin", "thick")

    def __init__(self) -> None:
        from trustgen.core.data.biased import thickness_thresholds

        self.thresholds = thickness_thresholds()

    def digits(self, images: torch.Tensor) -> np.ndarray:
        """The shipped digits classifier's predicted digit per image."""
        from trustgen.core.metrics import get_extractor

        return get_extractor("digits").probabilities(images).argmax(axis=1)  # type: ignore[attr-defined]

    def margin(self, images: torch.Tensor, digits: np.ndarray | None = None) -> np.ndarray:
        """Ink mass minus the digit's threshold (> 0: thick)."""
        images = torch.as_tensor(images)
        if tuple(images.shape[1:]) != (1, 16, 16):
            raise TrustgenError(f"stroke-thickness measures 1×16×16 digits, got {tuple(images.shape[1:])}")
        d = self.digits(images) if digits is None else np.asarray(digits)
        return ink_mass(images) - self.thresholds[d]

    def __call__(self, images: torch.Tensor, digits: np.ndarray | None = None) -> np.ndarray:
        return (self.margin(images, digits) >= 0).astype(np.int64)


MEASURES = {"stroke-thickness": StrokeThickness}
MEASURE_FOR_DATASET = {"digits-biased": "stroke-thickness", "digits-captioned": "stroke-thickness"}


def get_measure(name: str) -> AttributeMeasure:
    """An attribute measure by name."""
    if name not in MEASURES:
        raise TrustgenError(f"unknown attribute measure {name!r} (known: {', '.join(MEASURES)})")
    return MEASURES[name]()


def measure_for_model(meta: dict[str, Any], name: str | None) -> AttributeMeasure | None:
    """``name``'s measure, else the one registered for the model's data set, else None."""
    if name:
        return get_measure(name)
    default = MEASURE_FOR_DATASET.get(str(meta.get("dataset")))
    return get_measure(default) if default else None


def match_values(measure: AttributeMeasure, prompts: list[str]) -> list[int]:
    """For each attribute value (an edit prompt such as ``"thin strokes"``) the measure's value it names."""
    found = []
    for prompt in prompts:
        words = set(re.findall(r"[a-z]+", prompt.lower()))
        hits = [i for i, v in enumerate(measure.values) if v in words]
        if len(hits) != 1:
            raise TrustgenError(f"cannot tell which {measure.name} value ({', '.join(measure.values)}) the "
                                f"attribute value {prompt!r} means: name exactly one of them")
        found.append(hits[0])
    if len(set(found)) != len(found):
        raise TrustgenError(f"two attribute values name the same {measure.name} value")
    return found


def stroke_width(images: torch.Tensor, size: int = 32) -> np.ndarray:
    """An independent stroke-width estimate: 2 × mean Euclidean distance transform on the skeleton of the
    ink (> 0.5) at ``size``×``size``, in 16-pixel units."""
    import torch.nn.functional as F
    from scipy.ndimage import distance_transform_edt
    from skimage.morphology import skeletonize

    ink = ((F.interpolate(torch.as_tensor(images).float(), size=(size, size), mode="bilinear",
                          align_corners=False) + 1) / 2)[:, 0].numpy()
    widths = []
    for im in ink:
        mask = im > 0.5
        skeleton = skeletonize(mask)
        widths.append(2 * distance_transform_edt(mask)[skeleton].mean() * 16 / size if skeleton.any() else 0.0)
    return np.array(widths)


def reliability(seed: int = 0) -> dict[str, Any]:
    """How far the stroke-thickness measure can be trusted, on the real ``digits-biased`` test split."""
    from scipy.stats import spearmanr

    from trustgen.core.data import load_dataset

    test = load_dataset("digits-biased", "test")
    measure = StrokeThickness()
    labels = (np.asarray(test.attributes["thickness_value"]) == "thick").astype(np.int64)
    digits = test.labels.numpy() if test.labels is not None else None
    predicted = measure(test.images)
    g = torch.Generator().manual_seed(seed)
    noisy = (test.images + NOISE_SIGMA * 2 * torch.randn(test.images.shape, generator=g)).clamp(-1, 1)
    mass, width = ink_mass(test.images), stroke_width(test.images)
    assert digits is not None
    rho = [spearmanr(mass[digits == d], width[digits == d])[0] for d in range(10)]
    return {
        "measure_agreement": float((predicted == labels).mean()),
        "measure_noise_agreement": float((measure(noisy) == labels).mean()),
        "measure_noise_sigma": NOISE_SIGMA,
        "measure_width_spearman": float(np.mean(rho)),
        "measure_near_threshold": float((np.abs(measure.margin(test.images, digits)) < 0.01).mean()),
        "measure_test_images": len(test),
    }
