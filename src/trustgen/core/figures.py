"""Figures: image grids as PNG (Pillow), written atomically."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from trustgen.core.runs import atomic_path


def to_uint8(images: Any) -> np.ndarray:
    """N×C×H×W in [-1, 1] (torch or numpy) → N×H×W×C uint8."""
    arr = images.detach().cpu().numpy() if hasattr(images, "detach") else np.asarray(images)
    arr = ((np.clip(arr, -1, 1) + 1) * 127.5).round().astype(np.uint8)
    return arr.transpose(0, 2, 3, 1)


def save_grid(images: Any, path: str | Path, *, nrow: int | None = None, scale: int = 4, pad: int = 2) -> Path:
    """Tile images into one PNG (``nrow`` per row), each upscaled ``scale``× with nearest neighbour."""
    from PIL import Image

    tiles = to_uint8(images)
    n, h, w, c = tiles.shape
    nrow = nrow or int(np.ceil(np.sqrt(n)))
    rows = int(np.ceil(n / nrow))
    canvas = np.full((rows * (h + pad) + pad, nrow * (w + pad) + pad, c), 255, dtype=np.uint8)
    for i in range(n):
        r, col = divmod(i, nrow)
        y, x = pad + r * (h + pad), pad + col * (w + pad)
        canvas[y : y + h, x : x + w] = tiles[i]
    img = Image.fromarray(canvas[..., 0] if c == 1 else canvas)
    img = img.resize((img.width * scale, img.height * scale), Image.Resampling.NEAREST)
    with atomic_path(path) as tmp:
        img.save(tmp, format="PNG")
    return Path(path)
