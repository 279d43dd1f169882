"""Zip and tar archives and compressed streams: limits (bombs, depth), member names, and every member analysed.

A zip is refined by its members into ``pytorch-zip`` (``*/data.pkl``), ``torchscript`` (``code/`` and
``constants.pkl``), ``keras`` (``config.json`` + ``metadata.json``) or ``npz`` (only ``.npy``). Each
member is detected by its own bytes and analysed like a file, so a pickle anywhere in an archive, or
in an archive in an archive, is found. Only the storage members of a PyTorch zip (raw tensor bytes
that ``torch.load`` never unpickles) are skipped.
"""

from __future__ import annotations

import bz2
import lzma
import re
import stat
import tarfile
import zipfile
import zlib
from functools import partial
from pathlib import PurePosixPath
from typing import IO, Any

from trustgen.audit.formats import compression_of
from trustgen.audit.scope import Blob, Scope, TooLarge

_TORCH_STORAGE = re.compile(r"(^|/)data/\d+$")


def _is_storage(name: str, pickles: set[str]) -> bool:
    """A raw tensor storage of a torch zip: ``<p>/data/<key>``, or ``<p>/<x>/<key>`` beside a ``<p>/<x>.pkl``
    (TorchScript keeps ``constants.pkl``'s tensors in ``constants/``, ``traced_inputs.pkl``'s in ``traced_inputs/``)."""
    if _TORCH_STORAGE.search(name):
        return True
    folder, _, key = name.rpartition("/")
    return key.isdigit() and folder in pickles


def _unsafe_name(name: str) -> str | None:
    """Why a member name escapes the extraction folder, or None."""
    norm = name.replace("\\", "/")
    if norm.startswith("/") or re.match(r"^[A-Za-z]:", norm):
        return "is an absolute path"
    if ".." in PurePosixPath(norm).parts:
        return "climbs out with '..'"
    return None


def _depth_ok(scope: Scope, what: str) -> bool:
    if scope.depth > scope.settings.max_depth:
        scope.add("archive-depth", f"{what} nested {scope.depth} levels deep (limit {scope.settings.max_depth}); "
                  "its contents were not analysed")
        return False
    return True


def _bomb_checks(scope: Scope, sizes: list[tuple[str, int, int]], archive_size: int) -> bool:
    """``sizes``: (name, declared uncompressed size, compressed size). Returns False if the archive is a bomb."""
    s = scope.settings
    total = sum(n for _, n, _ in sizes)
    if len(sizes) > s.max_members:
        scope.add("archive-bomb", f"{len(sizes)} members (limit {s.max_members})")
        return False
    if total > s.max_total_bytes:
        scope.add("archive-bomb", f"declares {total} bytes uncompressed (limit {s.max_total_bytes}) in an archive "
                  f"of {archive_size} bytes")
        return False
    for name, size, packed in sizes:
        if size >= s.bomb_min_bytes and size > s.max_ratio * max(packed, 1):
            scope.add("archive-bomb", f"member {name!r} expands {size / max(packed, 1):.0f}x ({packed} -> {size} "
                      f"bytes; limit {s.max_ratio:g}x above {s.bomb_min_bytes} bytes)")
            return False
    return True


def _refine_zip(names: list[str]) -> str:
    if any(n.endswith("data.pkl") for n in names) and any(n.endswith(("/version", ".data/version", "byteorder"))
                                                          for n in names):
        return "torchscript" if any("/code/" in n or n.startswith("code/") for n in names) else "pytorch-zip"
    if any(n.endswith("constants.pkl") for n in names):
        return "torchscript"
    if "config.json" in names and "metadata.json" in names:
        return "keras"
    if names and all(n.endswith(".npy") for n in names):
        return "npz"
    return "zip"


def check_zip(blob: Blob, scope: Scope) -> str:
    """Analyse a zip archive and each of its members."""
    if not _depth_ok(scope, "a zip archive"):
        return "zip"
    try:
        f = blob.seekable(scope.settings.max_member_bytes)
    except TooLarge:
        scope.add("archive-unscanned", f"a nested zip of {blob.size} bytes is over the in-memory limit "
                  f"({scope.settings.max_member_bytes}); not analysed")
        return "zip"
    with f:
        try:
            zf = zipfile.ZipFile(f)
        except (zipfile.BadZipFile, OSError, ValueError, EOFError) as exc:
            scope.add("malformed-file", f"not a readable zip archive: {exc}")
            return "zip"
        with zf:
            return _check_zip_members(zf, blob, scope)


def _check_zip_members(zf: zipfile.ZipFile, blob: Blob, scope: Scope) -> str:
    infos = zf.infolist()
    names = [i.filename for i in infos]
    kind = _refine_zip(names)
    for dup in sorted({n for n in names if names.count(n) > 1}):
        scope.add("archive-duplicate-name", f"{names.count(dup)} members are named {dup!r}")
    overlapping = _overlaps(infos, scope)
    for info in infos:
        mode = info.external_attr >> 16
        why = _unsafe_name(info.filename)
        if why:
            scope.add("archive-path-traversal", f"member {info.filename!r} {why}")
        if stat.S_ISLNK(mode):
            scope.add("archive-link", f"member {info.filename!r} is a symbolic link")
    if overlapping or not _bomb_checks(scope, [(i.filename, i.file_size, i.compress_size) for i in infos], blob.size):
        return kind
    if kind == "torchscript":
        scope.add("torchscript-code", "TorchScript archive: torch.jit.load compiles and runs the code in its "
                  "code/ folder (the __torch__ classes its pickles build); review it or load only the weights")
    if kind == "keras":
        from trustgen.audit.checks.keras import check_keras_config

        check_keras_config(_read_member(zf, "config.json", scope), scope.child("config.json"))
    pickles = {n[:-len(".pkl")] for n in names if n.endswith(".pkl")}
    for info in infos:
        if info.is_dir() or (kind in ("pytorch-zip", "torchscript") and _is_storage(info.filename, pickles)):
            continue
        child = scope.child(info.filename, torchscript=kind == "torchscript")
        if info.flag_bits & 0x1:
            child.add("archive-unscanned", "encrypted member; its contents could not be analysed")
            continue
        member = Blob(info.filename, info.file_size, partial(zf.open, info))
        try:
            child.scan(member)
        except (zipfile.BadZipFile, zlib.error, EOFError, OSError, NotImplementedError) as exc:
            child.add("malformed-file", f"member cannot be read: {exc}")
    return kind


def _overlaps(infos: list[zipfile.ZipInfo], scope: Scope) -> bool:
    """Members whose data overlap (one deflate stream shared by many entries) are a known zip-bomb construction."""
    spans = sorted((i.header_offset, i.header_offset + 30 + len(i.filename.encode()) + i.compress_size, i.filename)
                   for i in infos)
    for (_, a1, an), (b0, _, bn) in zip(spans, spans[1:], strict=False):
        if b0 < a1:
            scope.add("archive-bomb", f"members {an!r} and {bn!r} overlap in the file (a known zip-bomb construction)")
            return True
    return False


def _read_member(zf: zipfile.ZipFile, name: str, scope: Scope) -> bytes | None:
    info = zf.getinfo(name)
    if info.file_size > scope.settings.max_member_bytes:
        return None
    try:
        return zf.read(info)
    except (zipfile.BadZipFile, zlib.error, OSError):
        return None


def check_tar(blob: Blob, scope: Scope) -> str:
    """Analyse a tar archive (plain or compressed) and each regular member."""
    if not _depth_ok(scope, "a tar archive"):
        return "tar"
    try:
        f = blob.seekable(scope.settings.max_member_bytes)
    except TooLarge:
        scope.add("archive-unscanned", f"a nested tar of {blob.size} bytes is over the in-memory limit; not analysed")
        return "tar"
    with f:
        try:
            tf = tarfile.open(fileobj=f, mode="r:*")  # noqa: SIM115 - closed below, once its members are read
            members = tf.getmembers()
        except (tarfile.TarError, OSError, EOFError, zlib.error, lzma.LZMAError) as exc:
            scope.add("malformed-file", f"not a readable tar archive: {exc}")
            return "tar"
        with tf:
            _check_tar_members(tf, members, blob, scope)
    return "tar"


def _extract(tf: tarfile.TarFile, member: tarfile.TarInfo) -> IO[bytes]:
    f = tf.extractfile(member)
    if f is None:  # pragma: no cover - only regular members are passed
        raise OSError(f"cannot read {member.name}")
    return f


def _check_tar_members(tf: tarfile.TarFile, members: list[tarfile.TarInfo], blob: Blob, scope: Scope) -> None:
    for m in members:
        why = _unsafe_name(m.name)
        if why:
            scope.add("archive-path-traversal", f"member {m.name!r} {why}")
        if m.issym() or m.islnk():
            scope.add("archive-link", f"member {m.name!r} links to {m.linkname!r}")
        elif m.isdev() or m.isfifo():
            scope.add("archive-link", f"member {m.name!r} is a device or FIFO")
    files = [m for m in members if m.isfile()]
    if not _bomb_checks(scope, [(m.name, m.size, m.size) for m in files], blob.size):
        return
    for m in files:
        member = Blob(m.name, m.size, partial(_extract, tf, m))
        child = scope.child(m.name)
        try:
            child.scan(member)
        except (tarfile.TarError, OSError, EOFError) as exc:
            child.add("malformed-file", f"member cannot be read: {exc}")


_DECOMPRESSORS = {"gzip": lambda: zlib.decompressobj(16 + zlib.MAX_WBITS), "zlib": zlib.decompressobj,
                  "bz2": bz2.BZ2Decompressor, "xz": lzma.LZMADecompressor,
                  "lzma": lambda: lzma.LZMADecompressor(format=lzma.FORMAT_ALONE)}


def _inflate(blob: Blob, kind: str, cap: int) -> tuple[bytes, bool]:
    """Decompress at most ``cap + 1`` bytes; returns (data, reached the end of the stream)."""
    dec: Any = _DECOMPRESSORS[kind]()
    out = bytearray()
    with blob.open() as f:
        while len(out) <= cap and not dec.eof:
            if not isinstance(dec, type(zlib.decompressobj())):
                data = f.read(1 << 20) if dec.needs_input else b""
                if not data and dec.needs_input:
                    break
            else:
                data = dec.unconsumed_tail or f.read(1 << 20)
                if not data:
                    break
            out += dec.decompress(data, cap + 1 - len(out))
    return bytes(out), dec.eof


def check_compressed(blob: Blob, scope: Scope) -> str:
    """Decompress a gzip/bz2/xz/lzma/zlib stream (joblib's compressed files, ``.gz``) within limits and analyse it.

    Returns ``<inner format>+<compression>`` (e.g. ``joblib+zlib``), or ``compressed`` if it was not opened.
    """
    kind = compression_of(blob.head(16)) or "unknown"
    if kind not in _DECOMPRESSORS:
        scope.add("archive-unscanned", f"{kind}-compressed data; trustgen cannot decompress it, so it was not "
                  "analysed")
        return "compressed"
    if not _depth_ok(scope, f"a {kind} stream"):
        return "compressed"
    s = scope.settings
    bomb_at = max(s.bomb_min_bytes, int(s.max_ratio * blob.size))
    cap = min(bomb_at, s.max_member_bytes)
    try:
        data, complete = _inflate(blob, kind, cap)
    except (zlib.error, OSError, EOFError, lzma.LZMAError, ValueError) as exc:
        scope.add("malformed-file", f"corrupt {kind} stream: {exc}")
        return "compressed"
    if len(data) > cap:
        if cap == bomb_at:
            scope.add("archive-bomb", f"{kind} stream of {blob.size} bytes expands past {bomb_at} bytes "
                      f"(over {bomb_at / max(blob.size, 1):.0f}x; limit {s.max_ratio:g}x)")
        else:
            scope.add("archive-unscanned", f"{kind} stream expands past the in-memory limit ({cap} bytes); "
                      "not analysed")
        return "compressed"
    if not complete:
        scope.add("malformed-file", f"truncated {kind} stream (it ends before its end marker)")
    inner = blob.name.rsplit(".", 1)[0] if blob.name.lower().endswith((".gz", ".xz", ".bz2", ".z")) else blob.name
    return f"{scope.child(f'({kind})').scan(Blob.from_bytes(inner, data))}+{kind}"
