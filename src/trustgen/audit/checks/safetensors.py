"""safetensors: the header validated the way the format defines it, from the header alone.

Reads 8 bytes and the JSON header, never the tensor data, so the time does not grow with the file.
Checks: header length within the file and under 100 MB; UTF-8 JSON object without duplicate keys;
``__metadata__`` a map of strings; every tensor a known dtype, a shape of non-negative integers and
``data_offsets`` whose length matches dtype × shape; the tensors tile the data section exactly (no
overlap, no gap, no trailing bytes).
"""

from __future__ import annotations

import json
import struct
from typing import Any

from trustgen.audit.scope import Blob, Scope

MAX_HEADER = 100_000_000
DTYPE_BITS = {"BOOL": 8, "U8": 8, "I8": 8, "F8_E5M2": 8, "F8_E4M3": 8, "F8_E8M0": 8, "I16": 16, "U16": 16,
              "F16": 16, "BF16": 16, "I32": 32, "U32": 32, "F32": 32, "C64": 64, "F64": 64, "I64": 64, "U64": 64,
              "F4": 4, "F6_E2M3": 6, "F6_E3M2": 6}


class HeaderError(ValueError):
    """The safetensors header breaks the format."""


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    keys = [k for k, _ in pairs]
    if len(set(keys)) != len(keys):
        raise HeaderError(f"duplicate key {next(k for k in keys if keys.count(k) > 1)!r} in the header")
    return dict(pairs)


def _tensor_span(name: str, info: Any) -> tuple[int, int]:
    if not isinstance(info, dict):
        raise HeaderError(f"tensor {name!r}: entry is not an object")
    dtype, shape, offsets = info.get("dtype"), info.get("shape"), info.get("data_offsets")
    if dtype not in DTYPE_BITS:
        raise HeaderError(f"tensor {name!r}: unknown dtype {dtype!r}")
    if not isinstance(shape, list) or not all(type(n) is int and n >= 0 for n in shape):
        raise HeaderError(f"tensor {name!r}: shape {shape!r} is not a list of non-negative integers")
    if not (isinstance(offsets, list) and len(offsets) == 2 and all(type(n) is int and n >= 0 for n in offsets)
            and offsets[0] <= offsets[1]):
        raise HeaderError(f"tensor {name!r}: data_offsets {offsets!r} are not [begin, end] with begin <= end")
    numel = 1
    for n in shape:
        numel *= n
    bits = numel * DTYPE_BITS[dtype]
    if bits % 8:
        raise HeaderError(f"tensor {name!r}: {numel} elements of {dtype} do not fill whole bytes")
    if offsets[1] - offsets[0] != bits // 8:
        raise HeaderError(f"tensor {name!r}: data_offsets span {offsets[1] - offsets[0]} bytes, dtype and shape "
                          f"need {bits // 8}")
    return offsets[0], offsets[1]


def validate_header(head: bytes, file_size: int) -> tuple[dict[str, Any], int]:
    """Validate a safetensors header (``head`` = the first bytes of the file, at least 8 + header length).

    Returns (header dict, header length); raises :class:`HeaderError` with the first problem.
    """
    if file_size < 8 or len(head) < 8:
        raise HeaderError(f"{file_size} bytes: too short for the 8-byte header length")
    (n,) = struct.unpack("<Q", head[:8])
    if n > MAX_HEADER:
        raise HeaderError(f"header length {n} is over the format's limit of {MAX_HEADER} bytes")
    if 8 + n > file_size:
        raise HeaderError(f"header length {n} runs past the end of the {file_size}-byte file")
    raw = head[8:8 + n]
    if len(raw) < n:
        raise HeaderError("truncated header")
    if not raw.startswith(b"{"):
        raise HeaderError("header does not start with '{'")
    try:
        header = json.loads(raw.decode("utf-8"), object_pairs_hook=_no_duplicates)
    except UnicodeDecodeError as exc:
        raise HeaderError(f"header is not UTF-8: {exc}") from None
    except json.JSONDecodeError as exc:
        raise HeaderError(f"header is not valid JSON: {exc}") from None
    if not isinstance(header, dict):
        raise HeaderError("header is not a JSON object")
    meta = header.get("__metadata__")
    if meta is not None and not (isinstance(meta, dict) and all(isinstance(v, str) for v in meta.values())):
        raise HeaderError("__metadata__ is not a map of strings")
    spans = sorted((*_tensor_span(k, v), k) for k, v in header.items() if k != "__metadata__")
    data_len = file_size - 8 - n
    expected = 0
    for begin, end, name in spans:
        if begin < expected:
            raise HeaderError(f"tensor {name!r} overlaps the tensor before it (bytes {begin}-{end})")
        if begin > expected:
            raise HeaderError(f"gap of {begin - expected} bytes before tensor {name!r}")
        expected = end
    if expected > data_len:
        raise HeaderError(f"tensor data ends at byte {expected} of the data section, which has {data_len}")
    if expected < data_len:
        raise HeaderError(f"{data_len - expected} trailing bytes after the last tensor")
    return header, n


def check_safetensors(blob: Blob, scope: Scope) -> str:
    """Validate the header; the tensor bytes are never read."""
    with blob.open() as f:
        head = f.read(8)
        if len(head) == 8:
            (n,) = struct.unpack("<Q", head)
            if n <= MAX_HEADER and 8 + n <= blob.size:
                head += f.read(n)
    try:
        header, _ = validate_header(head, blob.size)
    except HeaderError as exc:
        scope.add("malformed-file", f"invalid safetensors header: {exc}")
        return "safetensors"
    meta = header.get("__metadata__") or {}
    big = [k for k, v in meta.items() if len(v) > 1 << 20]
    if big:
        scope.add("safetensors-metadata", f"metadata values over 1 MiB: {', '.join(map(repr, big[:3]))}")
    return "safetensors"
