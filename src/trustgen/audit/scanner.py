"""The scan: walk the paths, detect each file's format by its bytes, run that format's check, collect reports.

Folders are walked recursively (``.git`` skipped, symlinked folders not followed, symlinked files
followed, as in a Hugging Face cache snapshot). A folder that holds a ``config.json`` or
``model_index.json`` is a model folder: its Python files are code that remote-code loading would run.
"""

from __future__ import annotations

import glob
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
from trustgen.audit.findings import RULES, AuditReport, FileReport, Finding
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
    if refined == "unknown" and not broken:
        scope.add("unverified", f"{blob.name}: {_describe_unknown(blob, 'an unknown binary format')}; trustgen "
                  "cannot tell what loads it or what it would run")
    bad = None if broken else mismatch(blob.name, refined)  # a broken file's real format is unknown
    if bad is not None:
        severity, detail = bad
        scope.add("format-mismatch", detail, severity=severity)
    return refined


def _describe_unknown(blob: Blob, otherwise: str = "text") -> str:
    if blob.head(64).startswith(b"version https://git-lfs"):
        return "a Git LFS pointer (the real file was never downloaded)"
    return otherwise


def scan_file(path: Path, settings: AuditSettings, *, label: str | None = None,
              in_model_folder: bool = False) -> FileReport:
    """Scan one file; raises OSError if it cannot be read."""
    from trustgen.core.safe_io import sha256_file

    report = FileReport(label or str(path))
    if not path.is_file():
        report.format = "special"
        what = "a broken symbolic link (in a Hugging Face cache: a file never downloaded)" if (
            path.is_symlink() and not path.exists()) else "not a regular file (a FIFO, socket or device)"
        report.findings.append(Finding("unverified", RULES["unverified"][0], f"{what}; it was not read"))
        return report
    blob = Blob.from_path(path)
    report.size = blob.size
    report.sha256 = sha256_file(path) if settings.hash_files else None
    scope = Scope(settings, report.findings, in_model_folder=in_model_folder, dispatch=dispatch)
    report.format = dispatch(blob, scope)
    report.references = scope.references
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


def _expand(raw: str | Path) -> list[Path]:
    """``raw`` as paths: itself if it exists, else the matches of a glob pattern (quoted, or from a shell that
    passes unmatched patterns on). Bad input (nothing there, nothing matched) raises TrustgenError."""
    p = Path(raw).expanduser()
    if p.exists() or p.is_symlink():
        return [p]
    text = str(raw)
    if any(c in text for c in "*?["):
        matches = sorted(glob.glob(os.path.expanduser(text), recursive=True))
        if not matches:
            raise TrustgenError(f"nothing to audit: no file matches {text!r}")
        return [Path(m) for m in matches]
    raise TrustgenError(f"path not found: {p}")


def collect(paths: Iterable[str | Path]) -> list[tuple[Path, bool]]:
    """The files to scan, with their model-folder flag. A path that does not exist, an empty folder or a glob
    that matches nothing is bad input (TrustgenError).

    A file reached twice (a Hugging Face cache's ``snapshots/<rev>/config.json`` links to ``blobs/<sha>``) is
    scanned once, under its linked name and with the model-folder flag of either place: the name is what
    loaders and the remote-code rules go by."""
    found: dict[Path, tuple[Path, bool]] = {}
    given = 0
    for raw in paths:
        given += 1
        for p in _expand(raw):
            entries = list(_walk(p)) if p.is_dir() else [(p, any((p.parent / m).is_file() for m in _MODEL_MARKERS))]
            if not entries:
                raise TrustgenError(f"nothing to audit: {p} is an empty folder" if not any(p.iterdir())
                                    else f"nothing to audit: {p} holds no files (.git is skipped)")
            for file, in_model in entries:
                key = file.resolve() if file.exists() else file
                if key not in found:
                    found[key] = (file, in_model)
                    continue
                first, first_in_model = found[key]
                better = file.is_symlink() and not first.is_symlink()
                found[key] = (file if better else first, in_model or first_in_model)
    if not given:
        raise TrustgenError("nothing to audit: no paths given")
    return list(found.values())


def scan(paths: Iterable[str | Path], settings: AuditSettings | None = None,
         progress: Callable[[Path], None] | None = None) -> AuditReport:
    """Scan files and folders; nothing from them is imported, executed or unpickled.

    Returns an :class:`~trustgen.audit.findings.AuditReport`; files that cannot be read go to its
    ``errors`` (exit code 2). A path that does not exist raises :class:`~trustgen.core.errors.TrustgenError`.
    """
    settings = settings or AuditSettings()
    report = AuditReport(strict=settings.strict, allow_unknown=settings.allow_unknown)
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
    _resolve_external_data(report.files)
    return report


def _resolve_external_data(files: list[FileReport]) -> None:
    """Raw bytes that a scanned ONNX model names as its external tensor data are that data, not an unknown
    file: format ``onnx-external-data``, verified by the model's check (its path stays inside the folder)."""
    data: dict[Path, str] = {}
    for r in files:
        for location in r.references:
            target = Path(r.path).parent / location
            data[target.resolve() if target.exists() else target] = Path(r.path).name
    if not data:
        return
    for r in files:
        path = Path(r.path)
        model = data.get(path.resolve() if path.exists() else path)
        if model is not None and r.format == "unknown":
            r.format = "onnx-external-data"
            r.findings[:] = [f for f in r.findings if f.rule != "unverified"]
