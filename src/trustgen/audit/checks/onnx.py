"""ONNX models, read with a small protobuf walker (no onnx import, nothing executed).

ONNX has no magic bytes; a file is ONNX when its top-level protobuf fields are those of ``ModelProto``
with ``ir_version`` (1) and ``graph`` (7). The graph, its subgraphs and functions are walked for
tensors whose external data lives outside the model folder (absolute paths or ``..``: the path
traversal of CVE-2024-27318) and for operator domains that need a custom operator library.
"""

from __future__ import annotations

import mmap
from collections.abc import Iterator
from pathlib import PurePosixPath

from trustgen.audit.scope import Blob, Scope, TooLarge

# ModelProto field number -> wire type (0 varint, 2 length-delimited)
_MODEL_FIELDS = {1: 0, 2: 2, 3: 2, 4: 2, 5: 0, 6: 2, 7: 2, 8: 2, 14: 2, 20: 2, 25: 2, 26: 2}
_STANDARD_DOMAINS = frozenset({"", "ai.onnx", "ai.onnx.ml", "ai.onnx.training", "ai.onnx.preview.training",
                               "com.microsoft", "com.microsoft.nchwc", "com.microsoft.experimental"})
_MAX_NESTING = 32


class ProtoError(ValueError):
    """The bytes are not a well-formed protobuf message."""


def _varint(buf: bytes | memoryview | mmap.mmap, i: int, end: int) -> tuple[int, int]:
    shift = value = 0
    while True:
        if i >= end or shift > 63:
            raise ProtoError(f"bad varint at byte {i}")
        b = buf[i]
        i += 1
        value |= (b & 0x7F) << shift
        if b < 0x80:
            return value, i
        shift += 7


def fields(buf: bytes | memoryview | mmap.mmap, start: int, end: int) -> Iterator[tuple[int, int, int, int]]:
    """(field number, wire type, value or payload start, payload end) for each field of a message."""
    i = start
    while i < end:
        key, i = _varint(buf, i, end)
        number, wire = key >> 3, key & 7
        if number == 0:
            raise ProtoError(f"field number 0 at byte {i}")
        if wire == 0:
            value, i = _varint(buf, i, end)
            yield number, wire, value, i
            continue
        if wire == 2:
            n, i = _varint(buf, i, end)
            s, i = i, i + n
        elif wire in (1, 5):
            s, i = i, i + (8 if wire == 1 else 4)
        else:
            raise ProtoError(f"unsupported wire type {wire} at byte {i}")
        if i > end:
            raise ProtoError(f"field {number} runs past the end of its message (byte {end})")
        yield number, wire, s, i


def _is_model(buf: bytes | memoryview | mmap.mmap, size: int) -> bool:
    seen = set()
    try:
        for number, wire, _, _ in fields(buf, 0, size):
            if _MODEL_FIELDS.get(number) != wire:
                return False
            seen.add(number)
    except ProtoError:
        return False
    return {1, 7} <= seen


def looks_like_onnx(blob: Blob, limit: int = 512 << 20) -> bool:
    """True if the bytes are a protobuf ``ModelProto`` (checked field by field over the whole file)."""
    if blob.head(1) != b"\x08":  # ir_version is field 1, varint, and writers put it first
        return False
    try:
        buf = _buffer(blob, limit)
    except (TooLarge, OSError, ValueError):
        return False
    try:
        return _is_model(buf, blob.size)
    finally:
        if isinstance(buf, mmap.mmap):
            buf.close()


def _buffer(blob: Blob, limit: int) -> bytes | mmap.mmap:
    if blob.path is not None:
        with blob.path.open("rb") as f:
            return mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
    return blob.read_all(limit)


def _text(buf: bytes | memoryview | mmap.mmap, s: int, e: int) -> str:
    return bytes(buf[s:e]).decode("utf-8", "replace")


class _Walker:
    def __init__(self, buf: bytes | memoryview | mmap.mmap, scope: Scope):
        self.buf, self.scope = buf, scope
        self.domains: set[str] = set()

    def graph(self, s: int, e: int, depth: int = 0) -> None:
        if depth > _MAX_NESTING:
            raise ProtoError("graphs nested too deep")
        for number, wire, vs, ve in fields(self.buf, s, e):
            if wire != 2:
                continue
            if number == 1:
                self.node(vs, ve, depth)
            elif number == 5:
                self.tensor(vs, ve)
            elif number == 15:
                self.sparse(vs, ve)

    def node(self, s: int, e: int, depth: int) -> None:
        op = domain = ""
        for number, wire, vs, ve in fields(self.buf, s, e):
            if wire != 2:
                continue
            if number == 4:
                op = _text(self.buf, vs, ve)
            elif number == 7:
                domain = _text(self.buf, vs, ve)
            elif number == 5:
                self.attribute(vs, ve, depth)
        if domain not in _STANDARD_DOMAINS and domain not in self.domains:
            self.domains.add(domain)
            self.scope.add("onnx-custom-operator", f"operator {op!r} from domain {domain!r} needs a custom operator "
                           "library; loading that library runs its native code")

    def attribute(self, s: int, e: int, depth: int) -> None:
        for number, wire, vs, ve in fields(self.buf, s, e):
            if wire != 2:
                continue
            if number in (5, 10):
                self.tensor(vs, ve)
            elif number in (6, 11):
                self.graph(vs, ve, depth + 1)
            elif number in (22, 23):
                self.sparse(vs, ve)

    def sparse(self, s: int, e: int) -> None:
        for number, wire, vs, ve in fields(self.buf, s, e):
            if wire == 2 and number in (1, 2):
                self.tensor(vs, ve)

    def tensor(self, s: int, e: int) -> None:
        name = location = ""
        for number, wire, vs, ve in fields(self.buf, s, e):
            if wire == 2 and number == 8:
                name = _text(self.buf, vs, ve)
            elif wire == 2 and number == 13:
                entry = {n: _text(self.buf, a, b) for n, w, a, b in fields(self.buf, vs, ve) if w == 2}
                if entry.get(1) == "location":
                    location = entry.get(2, "")
        norm = location.replace("\\", "/")
        if location and (norm.startswith("/") or norm[1:3] == ":/" or ".." in PurePosixPath(norm).parts):
            self.scope.add("onnx-external-data", f"tensor {name!r} reads its data from {location!r}, outside the "
                           "model folder")
        elif location and self.scope.member is None and location not in self.scope.references:
            self.scope.references.append(location)  # raw tensor bytes beside the model: not a file to verify


def check_onnx(blob: Blob, scope: Scope) -> str:
    """Validate the protobuf structure and walk graphs, subgraphs and functions."""
    try:
        buf = _buffer(blob, scope.settings.max_member_bytes)
    except TooLarge:
        scope.add("archive-unscanned", f"an ONNX member of {blob.size} bytes is over the in-memory limit")
        return "onnx"
    walker = _Walker(buf, scope)
    try:
        if not _is_model(buf, blob.size):
            raise ProtoError("the top-level fields are not those of an ONNX ModelProto with a graph")
        for number, _, vs, ve in fields(buf, 0, blob.size):
            if number == 7:
                walker.graph(vs, ve)
            elif number == 25:  # FunctionProto: its nodes are field 7
                for fn, wire, fs, fe in fields(buf, vs, ve):
                    if fn == 7 and wire == 2:
                        walker.node(fs, fe, 0)
    except ProtoError as exc:
        scope.add("malformed-file", f"invalid ONNX protobuf: {exc}")
    finally:
        if isinstance(buf, mmap.mmap):
            buf.close()
    return "onnx"
