"""GGUF (llama.cpp) files: the header, metadata and tensor table validated, chat templates checked.

The metadata and tensor table are read, the tensor data is not: every tensor must lie inside the
data section. A Jinja chat template that reaches Python internals (``__class__``, ``__globals__`` …)
is the template-injection pattern of CVE-2024-34359 (llama-cpp-python ran such templates unsandboxed).
"""

from __future__ import annotations

import re
import struct
from typing import IO

from trustgen.audit.scope import Blob, Scope

_SCALAR = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?", 10: "<Q", 11: "<q", 12: "<d"}
_STRING, _ARRAY = 8, 9
_SSTI = re.compile(r"__(class|globals|subclasses|builtins|import|mro|base|bases|init|code|getattribute)__"
                   r"|\b(popen|subprocess|os\.system|eval|exec)\s*\(|\bimport\s+os\b", re.I)
MAX_STRING = 64 << 20


class GGUFError(ValueError):
    """The GGUF structure breaks the format."""


class _Cursor:
    """Reads little-endian fields, refusing lengths that run past the end of the file."""

    def __init__(self, f: IO[bytes], size: int, version: int):
        self.f, self.size, self.pos, self.version = f, size, 0, version

    def take(self, n: int) -> bytes:
        if n < 0 or self.pos + n > self.size:
            raise GGUFError(f"a field of {n} bytes at byte {self.pos} runs past the end of the file")
        data = self.f.read(n)
        if len(data) < n:
            raise GGUFError(f"truncated at byte {self.pos}")
        self.pos += n
        return data

    def skip(self, n: int) -> None:
        if n < 0 or self.pos + n > self.size:
            raise GGUFError(f"{n} bytes at byte {self.pos} run past the end of the file")
        self.f.seek(n, 1)
        self.pos += n

    def unpack(self, fmt: str) -> int | float | bool:
        return struct.unpack(fmt, self.take(struct.calcsize(fmt)))[0]

    def count(self) -> int:
        return int(self.unpack("<I" if self.version == 1 else "<Q"))

    def string(self, keep: bool = True) -> str:
        n = self.count()
        if n > MAX_STRING:
            raise GGUFError(f"string of {n} bytes at byte {self.pos}")
        if not keep:
            self.skip(n)
            return ""
        return self.take(n).decode("utf-8", "replace")

    def value(self, vtype: int, keep: bool) -> object:
        if vtype in _SCALAR:
            return self.unpack(_SCALAR[vtype])
        if vtype == _STRING:
            return self.string(keep)
        if vtype == _ARRAY:
            item, n = int(self.unpack("<I")), self.count()
            if item in _SCALAR:
                self.skip(n * struct.calcsize(_SCALAR[item]))
                return None
            if n > self.size:
                raise GGUFError(f"array of {n} items at byte {self.pos}")
            for _ in range(n):
                self.value(item, keep=False)
            return None
        raise GGUFError(f"unknown value type {vtype} at byte {self.pos}")


def _tensor_bytes(ggml_type: int, dims: list[int]) -> int | None:
    try:
        from gguf.constants import GGML_QUANT_SIZES, GGMLQuantizationType

        block, size = GGML_QUANT_SIZES[GGMLQuantizationType(ggml_type)]
    except (ImportError, ValueError, KeyError):
        return None
    numel = 1
    for d in dims:
        numel *= d
    return numel // block * size


def check_gguf(blob: Blob, scope: Scope) -> str:
    """Validate the GGUF header, metadata and tensor table; flag chat templates that reach Python internals."""
    try:
        with blob.open() as f:
            _walk(f, blob.size, scope)
    except GGUFError as exc:
        scope.add("malformed-file", f"invalid GGUF: {exc}")
    return "gguf"


def _walk(f: IO[bytes], size: int, scope: Scope) -> None:
    c = _Cursor(f, size, 3)
    if c.take(4) != b"GGUF":
        raise GGUFError("bad magic")
    c.version = int(c.unpack("<I"))
    if c.version not in (1, 2, 3):
        raise GGUFError(f"unknown version {c.version}")
    n_tensors, n_kv = c.count(), c.count()
    if n_tensors > size // 8 or n_kv > size // 8:
        raise GGUFError(f"{n_tensors} tensors and {n_kv} metadata entries cannot fit in {size} bytes")
    alignment = 32
    for _ in range(n_kv):
        key = c.string()
        vtype = int(c.unpack("<I"))
        template = key.startswith("tokenizer.chat_template")
        value = c.value(vtype, keep=template or key == "general.alignment")
        if key == "general.alignment" and isinstance(value, int) and value > 0:
            alignment = value
        if template and isinstance(value, str) and (m := _SSTI.search(value)):
            scope.add("gguf-chat-template", f"{key} contains {m.group(0)!r}: a Jinja template that reaches Python "
                      "internals can run code in loaders that render it unsandboxed")
    tensors = []
    for _ in range(n_tensors):
        name = c.string()
        n_dims = int(c.unpack("<I"))
        if n_dims > 8:
            raise GGUFError(f"tensor {name!r} has {n_dims} dimensions")
        dims = [int(c.unpack("<Q")) for _ in range(n_dims)]
        tensors.append((name, int(c.unpack("<I")), dims, int(c.unpack("<Q"))))
    data_start = -(-c.pos // alignment) * alignment
    data_len = size - data_start
    for name, ggml_type, dims, offset in tensors:
        nbytes = _tensor_bytes(ggml_type, dims)
        if offset % alignment:
            raise GGUFError(f"tensor {name!r} offset {offset} is not aligned to {alignment}")
        if nbytes is not None and offset + nbytes > data_len:
            raise GGUFError(f"tensor {name!r} (bytes {offset}-{offset + nbytes} of the data section) runs past "
                            f"the end of the file ({data_len} bytes of data)")
