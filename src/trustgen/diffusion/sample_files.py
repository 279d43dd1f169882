"""``samples.npy``: how generated images are stored in a run folder and read back for scoring.

float32 N×C×H×W in [-1, 1], saved without pickle; reading refuses anything else with what it is.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from trustgen.core.errors import TrustgenError
from trustgen.core.runs import atomic_path

__all__ = ["RANGE_SLACK", "SAMPLES_FORMAT", "read_samples", "write_samples"]


def write_samples(images: Any, path: Path) -> None:
    """``samples.npy``: float32 N×C×H×W in [-1, 1] (no pickle)."""
    arr = np.asarray(images.detach().cpu().numpy() if hasattr(images, "detach") else images, dtype=np.float32)
    with atomic_path(path) as tmp, tmp.open("wb") as f:
        np.save(f, arr, allow_pickle=False)


SAMPLES_FORMAT = "a .npy array of float N×C×H×W images in [-1, 1]"
RANGE_SLACK = 1e-3  # float rounding of images clamped to [-1, 1]


def read_samples(path: Path) -> Any:
    """Read ``samples.npy`` from a file or run folder: a numeric .npy array of images in [-1, 1].

    Anything else is refused with what it is: not a .npy file at all, a pickled object array, values of
    the wrong kind, not finite, or outside [-1, 1] (e.g. 0..255 or 0..1 images, which would be scored
    without a word and give meaningless distances)."""
    import torch

    file = path / "samples.npy" if path.is_dir() else path
    if not file.is_file():
        raise TrustgenError(f"no samples.npy at {path}")
    try:
        with file.open("rb") as f:
            magic = f.read(6)
        if magic != b"\x93NUMPY":
            raise TrustgenError(f"{file} is not a .npy array file (expected {SAMPLES_FORMAT}, "
                                "as `trustgen diffusion sample` writes)")
        arr = np.load(file, allow_pickle=False)
    except ValueError as exc:  # a real .npy header: an object array (numpy names allow_pickle), or damage
        if "allow_pickle" in str(exc):
            raise TrustgenError(f"{file} holds Python objects (pickled objects are refused); "
                                f"expected {SAMPLES_FORMAT}") from None
        raise TrustgenError(f"{file} is a damaged .npy file ({exc}); expected {SAMPLES_FORMAT}") from None
    except EOFError:
        raise TrustgenError(f"{file} is a truncated .npy file; expected {SAMPLES_FORMAT}") from None
    except OSError as exc:
        raise TrustgenError(f"cannot read {file}: {exc}") from None
    if arr.dtype.kind not in "fiu":
        raise TrustgenError(f"{file} holds {arr.dtype} values; expected {SAMPLES_FORMAT}")
    if arr.ndim != 4 or arr.shape[0] == 0:
        raise TrustgenError(f"{file} has shape {arr.shape}; expected {SAMPLES_FORMAT}")
    if not np.isfinite(arr).all():
        raise TrustgenError(f"{file} holds NaN or infinite values; expected {SAMPLES_FORMAT}")
    low, high = float(arr.min()), float(arr.max())
    if low < -1 - RANGE_SLACK or high > 1 + RANGE_SLACK:
        hint = " (0..255 images: x / 127.5 - 1)" if high > 2 else " (0..1 images: 2x - 1)" if low >= 0 else ""
        raise TrustgenError(f"{file} holds values in [{low:.4g}, {high:.4g}]; samples must be in [-1, 1]"
                            f"{hint}, or every distance computed from them is meaningless")
    return torch.from_numpy(arr.astype(np.float32))
