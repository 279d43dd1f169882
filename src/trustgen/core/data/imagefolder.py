"""``imagefolder:PATH``: a user's own images, read with Pillow.

Spec: ``imagefolder:PATH`` or ``imagefolder:PATH?size=64&channels=1`` (defaults: ``size=32``,
``channels=3``; channels 1 = gray "L", 3 = "RGB"). Layout:

* ``PATH/<class>/*.png`` — one subfolder per class: labels, with ``class_names`` the sorted folder names;
* ``PATH/*.png`` — a flat folder: no labels.

Files ending in .png, .jpg, .jpeg, .bmp or .webp (any case) are read; other files and hidden entries are
ignored. Each image is centre-cropped to a square, resized to ``size``×``size`` (Pillow bicubic) and
scaled to [-1, 1]. 16-bit gray images are scaled by 65535, 32-bit ("I"/"F") ones per image min..max.
Alpha is dropped. Split: a permutation of the sorted file list seeded with 0; its first
``round(0.2·N)`` rows are test, the rest train; ``all`` is everything. ``attributes["file"]`` is each
image's path relative to ``PATH``. A file Pillow cannot decode is an error that names it — nothing is
skipped silently.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from trustgen.core.data.base import DatasetInfo, ImageDataset, Split, seeded_split_indices
from trustgen.core.errors import CorruptFileError, TrustgenError

if TYPE_CHECKING:
    from PIL import Image

PREFIX = "imagefolder:"
EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".webp")
DEFAULT_SIZE = 32
DEFAULT_CHANNELS = 3
SPLIT_SEED = 0
TEST_FRACTION = 0.2


@dataclass(frozen=True)
class FolderSpec:
    """A parsed ``imagefolder:`` spec."""

    path: Path
    size: int = DEFAULT_SIZE
    channels: int = DEFAULT_CHANNELS


def parse_spec(spec: str) -> FolderSpec:
    """Parse ``imagefolder:PATH[?size=N&channels=1|3]``."""
    body = spec[len(PREFIX) :] if spec.startswith(PREFIX) else spec
    path, sep, query = body.rpartition("?")
    if not sep or "=" not in query:
        path, query = body, ""
    if not path:
        raise TrustgenError(f"bad dataset {spec!r}: expected imagefolder:PATH")
    opts: dict[str, int] = {"size": DEFAULT_SIZE, "channels": DEFAULT_CHANNELS}
    for item in filter(None, query.split("&")):
        key, _, value = item.partition("=")
        if key not in opts:
            raise TrustgenError(f"bad dataset {spec!r}: unknown option {key!r} (use size, channels)")
        try:
            opts[key] = int(value)
        except ValueError:
            raise TrustgenError(f"bad dataset {spec!r}: {key} must be an integer, got {value!r}") from None
    if not 4 <= opts["size"] <= 1024:
        raise TrustgenError(f"bad dataset {spec!r}: size must be 4..1024, got {opts['size']}")
    if opts["channels"] not in (1, 3):
        raise TrustgenError(f"bad dataset {spec!r}: channels must be 1 or 3, got {opts['channels']}")
    return FolderSpec(Path(path).expanduser(), opts["size"], opts["channels"])


def _is_image(p: Path) -> bool:
    return p.is_file() and not p.name.startswith(".") and p.suffix.lower() in EXTENSIONS


def scan(root: Path) -> tuple[list[Path], list[int] | None, list[str] | None]:
    """(sorted image files, labels or None, class names or None) of a folder; errors name the path."""
    if not root.exists():
        raise TrustgenError(f"image folder not found: {root}")
    if not root.is_dir():
        raise TrustgenError(f"not a directory: {root}")
    try:
        return _scan_dir(root)
    except PermissionError as exc:
        raise TrustgenError(f"cannot list {exc.filename or root}: permission denied") from None


def _scan_dir(root: Path) -> tuple[list[Path], list[int] | None, list[str] | None]:
    flat = sorted(p for p in root.iterdir() if _is_image(p))
    subdirs = [d for d in root.iterdir() if d.is_dir() and not d.name.startswith(".")]
    classes = sorted(d.name for d in subdirs if any(map(_is_image, d.iterdir())))
    if flat and classes:
        names = ", ".join(classes)
        raise TrustgenError(f"{root} mixes images and class subfolders ({names}); use one layout")
    if flat:
        return flat, None, None
    files: list[Path] = []
    labels: list[int] = []
    for c, name in enumerate(classes):
        found = sorted(p for p in (root / name).iterdir() if _is_image(p))
        files += found
        labels += [c] * len(found)
    if not files:
        raise TrustgenError(f"no images ({', '.join(EXTENSIONS)}) in {root} or its subfolders")
    return files, labels, classes


def _to_8bit(img: Image.Image) -> Image.Image:
    """16-bit gray → 8-bit by /65535; 32-bit int/float gray → 8-bit by the image's min..max."""
    from PIL import Image

    if img.mode.startswith("I;16"):
        gray = np.asarray(img, dtype=np.float64) / 65535.0
    elif img.mode in ("I", "F"):
        gray = np.asarray(img, dtype=np.float64)
        gray = (gray - gray.min()) / max(float(gray.max() - gray.min()), 1e-12)
    else:
        return img
    return Image.fromarray(np.round(gray * 255).astype(np.uint8))


def read_image(path: Path, size: int, channels: int) -> np.ndarray:
    """One file → float32 channels×size×size in [-1, 1]; :class:`CorruptFileError` naming it if unreadable."""
    from PIL import Image

    try:
        with Image.open(path) as opened:
            opened.load()
            img = _to_8bit(opened).convert("L" if channels == 1 else "RGB")
            w, h = img.size
            side = min(w, h)
            box = ((w - side) // 2, (h - side) // 2, (w - side) // 2 + side, (h - side) // 2 + side)
            img = img.resize((size, size), Image.Resampling.BICUBIC, box=box)
            arr = np.asarray(img, dtype=np.float32) / 127.5 - 1.0
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:
        reason = (str(exc).splitlines() or [type(exc).__name__])[0]
        raise CorruptFileError(f"cannot read image {path}: {reason}") from None
    return arr[None] if arr.ndim == 2 else arr.transpose(2, 0, 1)


def folder_split_indices(n: int, split: Split) -> np.ndarray:
    """Sorted indices of ``split`` among ``n`` sorted files."""
    return seeded_split_indices(n, split, seed=SPLIT_SEED, test_fraction=TEST_FRACTION)


def imagefolder_info(spec: str) -> DatasetInfo:
    """Registry entry of an ``imagefolder:`` spec (lists the folder; decodes nothing)."""
    fs = parse_spec(spec)
    files, _, classes = scan(fs.path)
    desc = f"your images in {fs.path}: {len(files)} files" + (f", {len(classes)} classes" if classes else "")
    cond = ("none", "class") if classes else ("none",)
    return DatasetInfo(spec, desc, fs.channels, fs.size, len(classes) if classes else None, cond)


def load_imagefolder(spec: str, split: Split = "train") -> ImageDataset:
    """Load the ``split`` of an ``imagefolder:`` spec."""
    import torch

    fs = parse_spec(spec)
    files, labels, classes = scan(fs.path)
    idx = folder_split_indices(len(files), split)
    images = np.zeros((len(idx), fs.channels, fs.size, fs.size), dtype=np.float32)
    for row, i in enumerate(idx):
        images[row] = read_image(files[i], fs.size, fs.channels)
    return ImageDataset(
        name=spec,
        split=split,
        images=torch.from_numpy(images),
        labels=None if labels is None else torch.tensor(np.asarray(labels, dtype=np.int64)[idx]),
        class_names=classes,
        attributes={"file": np.array([files[i].relative_to(fs.path).as_posix() for i in idx])},
    )
