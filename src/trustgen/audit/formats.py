"""Format detection by content (magic bytes), and what a file name claims.

Peers choose a scanner by extension, so a pickle renamed ``model.safetensors`` is skipped
(civitai/model-scanner#6). Here the bytes decide; the name only tells what the file *claims*, and a
claim the bytes contradict is itself a finding.
"""

from __future__ import annotations

import json
import lzma
import re
import struct
import zlib

from trustgen.audit.checks.onnx import looks_like_onnx
from trustgen.audit.scope import Blob
from trustgen.core.pickle_scan import analyse_pickle

CODE_FORMATS = frozenset({"pickle", "pytorch-legacy", "joblib", "pytorch-zip", "torchscript"})
"""Formats whose ordinary loader can run code from the file."""

_PICKLE_FAMILY = CODE_FORMATS
EXTENSION_CLAIMS: dict[str, frozenset[str]] = {
    ".safetensors": frozenset({"safetensors"}),
    ".pt": _PICKLE_FAMILY, ".pth": _PICKLE_FAMILY, ".ckpt": _PICKLE_FAMILY, ".pkl": _PICKLE_FAMILY,
    ".pickle": _PICKLE_FAMILY, ".dill": _PICKLE_FAMILY,
    ".joblib": frozenset({"joblib", "pickle", "compressed"}),
    ".npy": frozenset({"numpy"}), ".npz": frozenset({"npz", "zip"}),
    ".zip": frozenset({"zip", "npz", "pytorch-zip", "torchscript", "keras"}),
    ".keras": frozenset({"keras"}),
    ".h5": frozenset({"hdf5", "keras-hdf5"}), ".hdf5": frozenset({"hdf5", "keras-hdf5"}),
    ".onnx": frozenset({"onnx"}), ".gguf": frozenset({"gguf"}), ".json": frozenset({"json"}),
    ".tar": frozenset({"tar"}), ".gz": frozenset({"compressed", "tar"}), ".tgz": frozenset({"compressed", "tar"}),
    ".xz": frozenset({"compressed", "tar"}), ".bz2": frozenset({"compressed", "tar"}),
    ".py": frozenset({"python", "text"}), ".txt": frozenset({"text"}), ".md": frozenset({"text"}),
    ".png": frozenset({"image"}), ".jpg": frozenset({"image"}), ".jpeg": frozenset({"image"}),
}
"""What a file extension claims. ``.bin`` and unknown extensions claim nothing."""

VALIDATED_CLAIMS = ("safetensors", "numpy", "gguf", "onnx", "hdf5", "keras", "json", "pickle", "zip", "npz")
"""Claims with a validator: a file whose bytes are unrecognised is checked as what its name claims."""

_IMAGES = (b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b"GIF87a", b"GIF89a")
_COMPRESSED = {b"\x1f\x8b": "gzip", b"BZh": "bz2", b"\xfd7zXZ\x00": "xz", b"\x04\x22\x4d\x18": "lz4",
               b"\x28\xb5\x2f\xfd": "zstd"}


def compression_of(head: bytes) -> str | None:
    """``gzip``/``bz2``/``xz``/``lzma``/``zlib``/``lz4``/``zstd`` if ``head`` starts a compressed stream."""
    for magic, name in _COMPRESSED.items():
        if head.startswith(magic):
            return name
    # zlib (joblib's default) and lzma-alone have 2- and 3-byte headers: make sure the stream really starts
    if len(head) >= 2 and head[0] == 0x78 and (head[0] << 8 | head[1]) % 31 == 0:
        try:
            zlib.decompressobj().decompress(head, 1)
            return "zlib"
        except zlib.error:
            return None
    if head.startswith(b"\x5d\x00\x00"):
        try:
            lzma.LZMADecompressor(format=lzma.FORMAT_ALONE).decompress(head, 1)
            return "lzma"
        except lzma.LZMAError:
            return None
    return None


def detect(blob: Blob) -> str:
    """The format of ``blob`` from its bytes; ``unknown`` if none matches.

    Archives come back as ``zip``/``tar`` and pickles as ``pickle``; the checks refine them
    (``pytorch-zip``, ``npz``, ``keras``, ``pytorch-legacy``, ``joblib`` …).
    """
    if blob.size == 0:
        return "empty"
    head = blob.head(512)
    if head[:1] == b"\x80" and len(head) > 1 and head[1] <= 5:
        return "pickle"
    if head.startswith(b"\x93NUMPY"):
        return "numpy"
    if head.startswith((b"PK\x03\x04", b"PK\x05\x06")):
        return "zip"
    if head.startswith(b"\x89HDF\r\n\x1a\n"):
        return "hdf5"
    if head.startswith(b"GGUF"):
        return "gguf"
    if len(head) >= 9 and head[8:9] == b"{" and 0 < struct.unpack("<Q", head[:8])[0] < 100_000_000:
        return "safetensors"
    if len(head) > 262 and head[257:262] == b"ustar":
        return "tar"
    if compression_of(head):
        return "compressed"
    if head.startswith(_IMAGES) or (head[:4] == b"RIFF" and head[8:12] == b"WEBP"):
        return "image"
    if looks_like_onnx(blob):
        return "onnx"
    if looks_like_text_pickle(blob):
        return "pickle"
    return _text_kind(blob, head)


_TEXT_OPCODES = frozenset(b"(cI]}lSVdNKJ)iL")
_IDENTIFIER = re.compile(r"[A-Za-z_][\w.]*\Z")


def looks_like_text_pickle(blob: Blob) -> bool:
    """True for a protocol 0/1 pickle (no PROTO header): it parses to STOP, or imports a real module name
    before it breaks off (a truncated payload still runs everything before the break)."""
    head = blob.head(1)
    if not head or head[0] not in _TEXT_OPCODES:
        return False
    analysis = analyse_pickle(blob.open, blob.size)
    if analysis.streams:
        return True
    return any(_IDENTIFIER.match(q.rpartition(".")[0]) and _IDENTIFIER.match(q.rpartition(".")[2])
               for q in analysis.imports)


def _text_kind(blob: Blob, head: bytes) -> str:
    if b"\x00" in head:
        return "unknown"
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start < len(head) - 4:  # not just a character cut at the end of the head
            return "unknown"
    if head.lstrip()[:1] in (b"{", b"[") and blob.size <= 64 << 20:
        try:
            json.loads(blob.read_all(64 << 20))
            return "json"
        except (ValueError, UnicodeDecodeError):
            pass
    return "python" if blob.suffix() == ".py" else "text"


def claims(name: str) -> frozenset[str] | None:
    """The formats a file name claims, or None when its extension says nothing (``.bin``, no extension)."""
    lower = name.lower()
    suffix = lower[lower.rfind("."):] if "." in lower else ""
    return EXTENSION_CLAIMS.get(suffix)


def mismatch(name: str, fmt: str) -> tuple[str, str] | None:
    """``(severity, detail)`` when the name claims a format the bytes are not; None when they agree."""
    claimed = claims(name)
    inner, _, compression = fmt.partition("+")
    if claimed is None or fmt in claimed or fmt in ("empty", "unknown"):
        return None
    if compression and (inner in claimed or "compressed" in claimed):
        return None
    fmt = inner
    if (fmt == "text" and claimed & {"json", "python"}) or (fmt == "json" and "text" in claimed):
        return None
    dangerous = fmt in CODE_FORMATS and not (claimed & CODE_FORMATS)
    severity = "high" if dangerous else "low"
    wanted = "/".join(sorted(claimed))
    note = "; loaders and scanners that trust the extension miss what it really is" if dangerous else ""
    return severity, f"named {name!r} ({wanted}) but the bytes are {fmt}{note}"
