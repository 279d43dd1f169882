"""dlib face embeddings (128-d) as the ``faces`` feature extractor.

The models come from the ``face_recognition_models`` package (the ``faces`` extra).
Our face images are small crops that already show one face, so no detector is run:
each image is upscaled to 150×150 RGB, the whole image is taken as the face rectangle,
dlib's 5-point landmark model aligns it and the ResNet returns a 128-d descriptor.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from trustgen.core.errors import TrustgenError
from trustgen.core.metrics.feature_base import FeatureExtractor, check_images, to_gray

CHIP_SIZE = 150
SHAPE_MODEL = "shape_predictor_5_face_landmarks.dat"
EMBED_MODEL = "dlib_face_recognition_resnet_model_v1.dat"
_MISSING = "the faces extractor needs dlib and face_recognition_models (pip install 'trustgen[faces]')"


def _models_dir() -> Path:
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        raise TrustgenError(_MISSING)
    folder = Path(list(spec.submodule_search_locations)[0]) / "models"
    for name in (SHAPE_MODEL, EMBED_MODEL):
        if not (folder / name).is_file():
            raise TrustgenError(f"dlib model file missing: {folder / name}")
    return folder


def _import_dlib() -> Any:
    try:
        import dlib
    except ImportError:
        raise TrustgenError(_MISSING) from None
    return dlib


def to_face_chips(images: torch.Tensor, size: int = CHIP_SIZE) -> np.ndarray:
    """Images in [-1, 1] (N×C×H×W) → uint8 N×size×size×3 gray-as-RGB arrays."""
    gray = F.interpolate(to_gray(images), size=(size, size), mode="bicubic", align_corners=False)
    u8 = ((gray.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)[:, 0].numpy()
    return np.ascontiguousarray(np.repeat(u8[..., None], 3, axis=-1))


class FaceExtractor(FeatureExtractor):
    """128-d dlib ResNet face descriptors of whole-image faces."""

    name = "faces"
    dim = 128

    def __init__(self) -> None:
        dlib = _import_dlib()
        folder = _models_dir()
        self._dlib = dlib
        self._shape = dlib.shape_predictor(str(folder / SHAPE_MODEL))
        self._embed = dlib.face_recognition_model_v1(str(folder / EMBED_MODEL))

    def features(self, images: torch.Tensor) -> np.ndarray:
        """One 128-d descriptor per image (float32, N×128)."""
        images = check_images(images)
        out = np.empty((images.shape[0], self.dim), dtype=np.float32)
        for start in range(0, images.shape[0], 64):
            chips = to_face_chips(images[start : start + 64])
            for j, chip in enumerate(chips):
                rect = self._dlib.rectangle(0, 0, chip.shape[1] - 1, chip.shape[0] - 1)
                shape = self._shape(chip, rect)
                out[start + j] = np.asarray(
                    self._embed.compute_face_descriptor(chip, shape), dtype=np.float32
                )
        return out
