"""Feature extractors for FD / KID, by name.

``digits``    128-d penultimate layer of the shipped ``digits-classifier`` (offline).
``faces``     128-d dlib face descriptors (offline, needs the ``faces`` extra).
``pixels``    8×8 average-pooled gray pixels (64-d): generic, for data sets without a trained
              extractor (the MRI template); only comparable within one data set.
``inception`` torchmetrics' FID InceptionV3 (2048-d); needs torch-fidelity and its
              downloaded weights, so it is unavailable offline and raises a clear error.

Metric keys carry the extractor's name (``fd_digits``, ``kid_faces``): a Fréchet distance
in digits-classifier features is not FID and must not be compared with published FIDs.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from trustgen.core.errors import TrustgenError
from trustgen.core.metrics.feature_base import FeatureExtractor, check_images, to_gray

BATCH = 256
DIGITS_DATASETS = ("digits", "digits-captioned", "digits-memorized", "digits-memorized-rare",
                   "digits-biased")
_DATASET_EXTRACTOR = {name: "digits" for name in DIGITS_DATASETS} | {"faces-lfw": "faces"}
INCEPTION_WEIGHTS = "weights-inception-2015-12-05-6726825d.pth"
_NO_INCEPTION = (
    "the inception extractor needs torch-fidelity and its downloaded weights, "
    "which are not available offline; use --extractor digits|faces"
)


class DigitsExtractor(FeatureExtractor):
    """128-d penultimate features of the zoo digits classifier.

    Images of another size or channel count are converted to gray and resized to 16×16
    first, so the extractor runs on anything; outside digits data sets the features only
    reflect generic low-level statistics.
    """

    name = "digits"

    def __init__(self) -> None:
        from trustgen.core.metrics.digits_classifier import load_digits_classifier

        self.model = load_digits_classifier()
        self.dim = self.model.config.hidden
        self.size = self.model.config.image_size

    def prepare(self, images: torch.Tensor) -> torch.Tensor:
        """Gray, ``size``×``size`` version of ``images``."""
        x = to_gray(check_images(images))
        if tuple(x.shape[-2:]) != (self.size, self.size):
            x = F.interpolate(
                x, size=(self.size, self.size), mode="bilinear", antialias=True, align_corners=False
            )
        return x

    @torch.no_grad()
    def features(self, images: torch.Tensor) -> np.ndarray:
        x = self.prepare(images)
        parts = [self.model.features(x[i : i + BATCH]) for i in range(0, x.shape[0], BATCH)]
        return torch.cat(parts).numpy().astype(np.float32) if parts else np.zeros((0, self.dim), np.float32)

    @torch.no_grad()
    def probabilities(self, images: torch.Tensor) -> np.ndarray:
        """Softmax class probabilities (N×10) of the classifier."""
        x = self.prepare(images)
        parts = [self.model(x[i : i + BATCH]).softmax(1) for i in range(0, x.shape[0], BATCH)]
        return torch.cat(parts).numpy().astype(np.float64)


class PixelsExtractor(FeatureExtractor):
    """Gray images average-pooled to 8×8, flattened (64-d); a generic, training-free feature space."""

    name = "pixels"
    dim = 64

    @torch.no_grad()
    def features(self, images: torch.Tensor) -> np.ndarray:
        x = to_gray(check_images(images))
        return F.adaptive_avg_pool2d(x, 8).flatten(1).numpy().astype(np.float64)


class InceptionExtractor(FeatureExtractor):
    """torchmetrics' FID InceptionV3 pool features (2048-d), when torch-fidelity and weights exist."""

    name = "inception"
    dim = 2048

    def __init__(self) -> None:
        import importlib.util

        if importlib.util.find_spec("torch_fidelity") is None:
            raise TrustgenError(_NO_INCEPTION)
        if not (Path(torch.hub.get_dir()) / "checkpoints" / INCEPTION_WEIGHTS).is_file():
            raise TrustgenError(_NO_INCEPTION)  # never trigger a download
        try:
            from torchmetrics.image.fid import NoTrainInceptionV3

            self.net = NoTrainInceptionV3(name="inception-v3-compat", features_list=[str(self.dim)])
        except Exception as exc:  # any failure to build it means "not available"
            raise TrustgenError(f"{_NO_INCEPTION} ({type(exc).__name__})") from None
        self.net.eval()

    @torch.no_grad()
    def features(self, images: torch.Tensor) -> np.ndarray:
        x = check_images(images)
        if x.shape[1] == 1:
            x = x.repeat(1, 3, 1, 1)
        u8 = ((x.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)
        parts = [self.net(u8[i : i + 64]) for i in range(0, u8.shape[0], 64)]
        return torch.cat(parts).double().numpy()


def _faces() -> FeatureExtractor:
    from trustgen.core.metrics.faces import FaceExtractor

    return FaceExtractor()


_FACTORIES: dict[str, Callable[[], FeatureExtractor]] = {
    "digits": DigitsExtractor,
    "faces": _faces,
    "pixels": PixelsExtractor,
    "inception": InceptionExtractor,
}


def list_extractors() -> list[str]:
    """Names accepted by :func:`get_extractor`."""
    return list(_FACTORIES)


@cache
def get_extractor(name: str) -> FeatureExtractor:
    """The extractor ``name`` (built once, then cached)."""
    if name not in _FACTORIES:
        raise TrustgenError(f"unknown feature extractor {name!r} (known: {', '.join(_FACTORIES)})")
    return _FACTORIES[name]()


def extractor_for_dataset(dataset: str) -> str:
    """Default extractor of a data set: ``digits`` for the digits sets, ``faces`` for ``faces-lfw``.

    Other data sets (``mri``, ``imagefolder:PATH``) have no offline extractor trained for
    them, so this raises instead of silently reporting a misleading number; the caller
    can still pass an extractor explicitly (``digits`` runs on any image size).
    """
    if dataset in _DATASET_EXTRACTOR:
        return _DATASET_EXTRACTOR[dataset]
    raise TrustgenError(
        f"no offline feature extractor is trained for dataset {dataset!r}; pass --extractor digits|faces "
        "explicitly (on other images their features only measure generic low-level statistics)"
    )
