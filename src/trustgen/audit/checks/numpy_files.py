"""NumPy ``.npy`` files: the header parsed as a literal (never evaluated), sizes checked, object arrays analysed.

An object array stores its elements as a pickle after the header, and ``np.load`` runs it when the
caller passes ``allow_pickle=True``; that pickle goes through the same analysis as any other.
(``.npz`` files are zips of ``.npy`` members and come here member by member.)
"""

from __future__ import annotations

import ast
import struct
from typing import Any

from trustgen.audit.checks.pickles import check_pickle
from trustgen.audit.scope import Blob, Scope

MAX_HEADER = 1 << 20


class NpyError(ValueError):
    """The ``.npy`` header breaks the format."""


def read_header(blob: Blob) -> tuple[dict[str, Any], int]:
    """The header dict and the offset where the data starts."""
    with blob.open() as f:
        prefix = f.read(10)
        if len(prefix) < 10 or not prefix.startswith(b"\x93NUMPY"):
            raise NpyError("too short for the .npy magic and version")
        major = prefix[6]
        if major == 1:
            (hlen,) = struct.unpack("<H", prefix[8:10])
            start = 10
        elif major in (2, 3):
            hlen = struct.unpack("<I", prefix[8:10] + f.read(2))[0]
            start = 12
        else:
            raise NpyError(f"unknown .npy version {major}.{prefix[7]}")
        if hlen > MAX_HEADER or start + hlen > blob.size:
            raise NpyError(f"header length {hlen} runs past the end of the file or the {MAX_HEADER}-byte limit")
        raw = f.read(hlen)
    try:
        header = ast.literal_eval(raw.decode("utf-8" if major == 3 else "latin-1"))
    except (ValueError, SyntaxError, MemoryError, RecursionError, UnicodeDecodeError) as exc:
        raise NpyError(f"header is not a Python literal: {exc}") from None
    if not (isinstance(header, dict) and {"descr", "fortran_order", "shape"} <= header.keys()):
        raise NpyError("header lacks descr/fortran_order/shape")
    shape = header["shape"]
    if not (isinstance(shape, tuple) and all(type(n) is int and n >= 0 for n in shape)):
        raise NpyError(f"shape {shape!r} is not a tuple of non-negative integers")
    return header, start + hlen


def check_numpy(blob: Blob, scope: Scope) -> str:
    """Validate a ``.npy`` file; analyse the pickle of an object array."""
    try:
        header, data_start = read_header(blob)
        from numpy.lib.format import descr_to_dtype

        dtype = descr_to_dtype(header["descr"])
    except NpyError as exc:
        scope.add("malformed-file", f"invalid .npy header: {exc}")
        return "numpy"
    except (TypeError, ValueError) as exc:
        scope.add("malformed-file", f"invalid .npy dtype {header['descr']!r}: {exc}")
        return "numpy"
    if dtype.hasobject:
        scope.add("numpy-object-array", f"object array of shape {header['shape']}: np.load needs "
                  "allow_pickle=True and then unpickles the data (analysed below)", data_start)
        check_pickle(blob, scope, start=data_start)
        return "numpy"
    count = 1
    for n in header["shape"]:
        count *= n
    expected, actual = count * dtype.itemsize, blob.size - data_start
    if actual < expected:
        scope.add("malformed-file", f"truncated .npy: shape {header['shape']} of {dtype} needs {expected} bytes, "
                  f"the file has {actual}", data_start)
    elif actual > expected:
        scope.add("malformed-file", f"{actual - expected} trailing bytes after the array data", data_start + expected)
    return "numpy"
