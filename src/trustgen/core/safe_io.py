"""Safe loading and saving of weights.

Weights are read from safetensors. Pickle-based files (``torch.save`` archives,
``.pkl``/``.pt``/``.bin``/``.ckpt``) can run arbitrary code when loaded, so they are
refused unless the caller passes ``allow_pickle=True``; even then ``torch.load`` runs
with ``weights_only=True``. Writes are atomic: a crash never leaves a half-written file
under the final name.
"""

from __future__ import annotations

import hashlib
import json
import struct
from pathlib import Path
from typing import Any

from trustgen.core.errors import CorruptFileError, TrustgenError, UnsafeFileError
from trustgen.core.runs import atomic_path

PICKLE_SUFFIXES = {".pkl", ".pickle", ".pt", ".pth", ".bin", ".ckpt", ".joblib"}


def sha256_file(path: str | Path) -> str:
    """Hex SHA-256 of a file's bytes."""
    h = hashlib.sha256()
    with Path(path).open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def sniff_format(path: str | Path) -> str:
    """``"safetensors"``, ``"zip-pickle"`` (torch.save), ``"pickle"`` or ``"unknown"``, from the bytes."""
    p = Path(path)
    with p.open("rb") as f:
        head = f.read(16)
    if len(head) >= 8:
        (n,) = struct.unpack("<Q", head[:8])
        if 0 < n < 100_000_000 and head[8:9] == b"{":
            return "safetensors"
    if head.startswith(b"PK\x03\x04"):
        return "zip-pickle"
    if head[:1] == b"\x80" and len(head) > 1 and head[1] <= 5:
        return "pickle"
    if p.suffix.lower() in PICKLE_SUFFIXES:
        return "pickle"
    return "unknown"


def check_pickle_file(path: str | Path) -> None:
    """Refuse a pickle-based file whose pickles import anything outside the checkpoint allowlist.

    The same static analysis as ``trustgen audit`` (:mod:`trustgen.core.pickle_scan`); nothing is
    unpickled. Raises :class:`UnsafeFileError` naming the first finding, :class:`CorruptFileError`
    if the pickle is broken.
    """
    from trustgen.core.pickle_scan import MALFORMED, analyse_file

    analysis = analyse_file(path)
    unsafe = analysis.unsafe
    if unsafe:
        more = f" (+{len(unsafe) - 1} more)" if len(unsafe) > 1 else ""
        raise UnsafeFileError(f"refusing to load {path}: {unsafe[0].detail}{more}; run `trustgen audit {path}` "
                              "for the full report")
    broken = [i for i in analysis.issues if i.rule == MALFORMED]
    if broken:
        raise CorruptFileError(f"corrupt pickle file {path}: {broken[0].detail}")


def load_state_dict(path: str | Path, *, allow_pickle: bool = False) -> dict[str, Any]:
    """Load a tensor dict from ``path``.

    safetensors files load directly. Pickle-based files raise :class:`UnsafeFileError`
    unless ``allow_pickle`` is true; then their pickles are analysed first
    (:func:`check_pickle_file`, the analysis of ``trustgen audit``) and load with
    ``torch.load(weights_only=True)``.
    """
    p = Path(path)
    if not p.is_file():
        raise TrustgenError(f"weights file not found: {p}")
    fmt = sniff_format(p)
    if fmt == "safetensors":
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        try:
            return dict(load_file(str(p)))
        except (SafetensorError, OSError, ValueError) as exc:
            raise CorruptFileError(f"corrupt safetensors file {p}: {exc}") from None
    if fmt in {"pickle", "zip-pickle"}:
        if not allow_pickle:
            raise UnsafeFileError(
                f"refusing to load pickle-based file {p}: pickle can execute code; "
                "convert it to safetensors or pass --allow-pickle if you trust it"
            )
        import pickle

        import torch

        check_pickle_file(p)
        try:
            obj = torch.load(str(p), map_location="cpu", weights_only=True)
        except (pickle.UnpicklingError, RuntimeError, EOFError, OSError) as exc:
            first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise CorruptFileError(f"cannot load {p} with weights_only=True: {first}") from None
        if not isinstance(obj, dict):
            raise CorruptFileError(f"{p} does not hold a dict of tensors")
        return obj
    raise CorruptFileError(f"{p} is corrupt or not a safetensors file (unrecognised bytes)")


def save_state_dict(tensors: dict[str, Any], path: str | Path, metadata: dict[str, str] | None = None) -> None:
    """Save tensors to a safetensors file atomically."""
    from safetensors.torch import save_file

    contiguous = {k: v.detach().contiguous().cpu() for k, v in tensors.items()}
    with atomic_path(path) as tmp:
        save_file(contiguous, str(tmp), metadata=metadata)


def read_json(path: str | Path) -> dict[str, Any]:
    """Read a JSON object, raising :class:`CorruptFileError` on malformed content."""
    p = Path(path)
    if not p.is_file():
        raise TrustgenError(f"file not found: {p}")
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise CorruptFileError(f"corrupt JSON file {p}: {exc}") from None
    if not isinstance(data, dict):
        raise CorruptFileError(f"{p} must hold a JSON object")
    return data
