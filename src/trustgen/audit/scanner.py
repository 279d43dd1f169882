"""The scan: walk the paths, detect each file's format by its bytes, run that format's check, collect reports.

Folders are walked recursively (``.git`` skipped, symlinked folders not followed, symlinked files
followed, as in a Hugging Face cache snapshot). A folder that holds a ``config.json`` or
``model_index.json`` is a model folder: its Python files are code that remote-code loading would run.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from pathlib import Path

from trustgen.audit.checks.archives import check_compressed, check_tar, check_zip
from trustgen.audit.checks.gguf import check_gguf
from trustgen.audit.checks.hf import check_json, check_python
from trustgen.audit.checks.keras import check_hdf5
from trustgen.audit.checks.numpy_files import check_numpy
from trustgen.audit.checks.onnx import check_onnx
from trustgen.audit.checks.pickles import check_pickle
from trustgen.audit.checks.safetensors import check_safetensors
from trustgen.audit.config import AuditSettings
from trustgen.audit.findings import AuditReport, FileReport
from trustgen.audit.formats import VALIDATED_CLAIMS, claims, detect, mismatch
from trustgen.audit.scope import Blob, Scope
from trustgen.core.errors import TrustgenError

Check = Callable[[Blob, Scope], str]
CHECKS: dict[str, Check] = {
    "pickle": check_pickle, "zip": check_zip, "npz": check_zip, "tar": check_tar, "compressed": check_compressed,
    "numpy": check_numpy, "safetensors": check_safetensors, "hdf5": check_hdf5, "keras": check_zip,
    "gguf": check_gguf, "onnx": check_onnx, "json": check_json, "python": check_python,
}
"""Detected (or claimed) format -> check. Formats without a check (text, image) need none."""

_MODEL_MARKERS = ("config.json", "model_index.json")


def dispatch(blob: Blob, scope: Scope) -> str:
    """Detect ``blob``'s format, run its check, and flag a name that claims another format."""
    fmt = detect(blob)
    claimed = claims(blob.name)
    check = CHECKS.get(fmt)
    if fmt in ("unknown", "empty", "text") and claimed:
        target = next((c for c in VALIDATED_CLAIMS if c in claimed), None)
        if target is not None and not (fmt == "text" and target == "json"):
            if fmt == "unknown":  # let the claimed format's own check say what is wrong with the bytes
                before = len(scope.findings)
                refined = CHECKS[target](blob, scope)
                if not any(f.rule == "malformed-file" for f in scope.findings[before:]):
                    scope.add("malformed-file", f"named {blob.name!r} but the bytes are not {target}")
                return refined
            what = "empty" if fmt == "empty" else _describe_unknown(blob)
            scope.add("malformed-file", f"named {blob.name!r} but the bytes are {what}, not {target}")
            return fmt
    if fmt == "text" and claimed and "json" in claimed:
        check = check_json  # reports the JSON error
    before = len(scope.findings)
    refined = check(blob, scope) if check is not None else fmt
    broken = any(f.rule == "malformed-file" for f in scope.findings[before:])
    bad = None if broken else mismatch(blob.name, refined)  # a broken file's real format is unknown
    if bad is not None:
        severity, detail = bad
        scope.add("format-mismatch", detail, severity=severity)
    return refined


def _describe_unknown(blob: Blob) -> str:
    if blob.head(64).startswith(b"version https://git-lfs"):
        return "a Git LFS pointer (the real file was never downloaded)"
    return "text"


def scan_file(path: Path, settings: AuditSettings, *, label: str | None = None,
              in_model_folder: bool = False) -> FileReport:
    """Scan one file; raises OSError if it cannot be read."""
    from trustgen.core.safe_io import sha256_file

    report = FileReport(label or str(path))
    if not path.is_file():
        report.format = "special"
        return report
    blob = Blob.from_path(path)
    report.size = blob.size
    report.sha256 = sha256_file(path) if settings.hash_files else None
    scope = Scope(settings, report.findings, in_model_folder=in_model_folder, dispatch=dispatch)
    report.format = dispatch(blob, scope)
    return report


def _walk(root: Path) -> Iterable[tuple[Path, bool]]:
    """(file, inside a model folder) for every file under ``root``, in a stable order."""
    model_dirs: list[Path] = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d != ".git")
        here = Path(dirpath)
        if any(m in filenames for m in _MODEL_MARKERS):
            model_dirs.append(here)
        in_model = any(here == d or d in here.parents for d in model_dirs)
        for name in sorted(filenames):
            yield here / name, in_model


def collect(paths: Iterable[str | Path]) -> list[tuple[Path, bool]]:
    """The files to scan, with their model-folder flag; a path that does not exist is bad input."""
    out: list[tuple[Path, bool]] = []
    seen: set[Path] = set()
    for raw in paths:
        p = Path(raw)
        if not p.exists() and not p.is_symlink():
            raise TrustgenError(f"path not found: {p}")
        entries = _walk(p) if p.is_dir() else [(p, any((p.parent / m).is_file() for m in _MODEL_MARKERS))]
        for file, in_model in entries:
            key = file.resolve() if file.exists() else file
            if key not in seen:
                seen.add(key)
                out.append((file, in_model))
    return out


def scan(paths: Iterable[str | Path], settings: AuditSettings | None = None,
         progress: Callable[[Path], None] | None = None) -> AuditReport:
    """Scan files and folders; nothing from them is imported, executed or unpickled.

    Returns an :class:`~trustgen.audit.findings.AuditReport`; files that cannot be read go to its
    ``errors`` (exit code 2). A path that does not exist raises :class:`~trustgen.core.errors.TrustgenError`.
    """
    settings = settings or AuditSettings()
    report = AuditReport(strict=settings.strict)
    for file, in_model in collect(paths):
        if progress is not None:
            progress(file)
        try:
            report.files.append(scan_file(file, settings, in_model_folder=in_model))
        except OSError as exc:
            report.errors.append({"path": str(file), "error": exc.strerror or str(exc)})
        except Exception as exc:  # a bug or an unforeseen input must not end the scan of the other files
            report.errors.append({"path": str(file), "error": f"internal error while analysing: "
                                                              f"{type(exc).__name__}: {exc}"})
    return report
