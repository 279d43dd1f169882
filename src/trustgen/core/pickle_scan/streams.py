"""Whole streams and files: several pickles in a row, legacy torch files, joblib, zip checkpoints."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import IO

from trustgen.core.pickle_scan.findings import (
    LOW,
    MALFORMED,
    MAX_STREAMS,
    MEDIUM,
    TORCH_LEGACY_MAGIC,
    PickleAnalysis,
    PickleError,
    PickleIssue,
)
from trustgen.core.pickle_scan.machine import Machine
from trustgen.core.pickle_scan.reader import Reader


def _run(opener: Callable[[], IO[bytes]], size: int | None, analysis: PickleAnalysis, *, extra: frozenset[str],
         follow_joblib: bool, start: int, roots: frozenset[str] = frozenset()) -> Machine:
    """Analyse every pickle in the stream the way its loader would read it."""
    f = opener()
    try:
        reader = Reader(f, size, start)
        m = Machine(reader, analysis, extra=extra, depth=0, follow_joblib=follow_joblib, roots=roots)
        try:
            first = m.run_stream()
        except PickleError as exc:
            analysis.issues.append(PickleIssue(MALFORMED, MEDIUM, f"not a well-formed pickle: {exc} at byte "
                                               f"{exc.offset}", exc.offset))
            return m
        analysis.streams = 1
        if type(first) is int and first == TORCH_LEGACY_MAGIC:
            analysis.kind = "pytorch-legacy"
            for what in ("protocol version", "system info", "object", "storage keys"):
                try:
                    m.run_stream()
                except PickleError as exc:
                    analysis.issues.append(PickleIssue(MALFORMED, MEDIUM, f"legacy torch.save file: the {what} "
                                                       f"pickle is broken: {exc} at byte {exc.offset}", exc.offset))
                    return m
                analysis.streams += 1
            analysis.end = reader.pos
            return m
        while size is not None and not reader.at_end() and analysis.streams < MAX_STREAMS:
            at = reader.pos
            try:
                m.run_stream()
            except PickleError:
                analysis.issues.append(PickleIssue("pickle-trailing-data", LOW, f"{size - at} bytes after the "
                                                   f"pickle at byte {at} are not a pickle", at))
                break
            analysis.streams += 1
        analysis.end = reader.pos
        return m
    finally:
        f.close()


def analyse_pickle(opener: Callable[[], IO[bytes]], size: int | None = None, *,
                   extra_allowed: frozenset[str] = frozenset(), start: int = 0,
                   allowed_roots: frozenset[str] = frozenset()) -> PickleAnalysis:
    """Analyse the pickle stream(s) that ``opener()`` returns, without unpickling anything.

    ``size`` (the offset where the stream ends, when known) lets lying length fields be caught before
    a read. ``start`` is the offset of the stream's first byte, for a pickle embedded in a larger file
    (``opener`` must return the stream positioned there); reported offsets count from the file's start.
    ``extra_allowed`` adds ``module.name`` strings to the allowlist, ``allowed_roots`` whole module trees
    (``{"__torch__"}`` for the pickles of a TorchScript archive). Issues come back in
    :attr:`PickleAnalysis.issues`; a stream that is not a pickle gives one ``malformed-file`` issue.
    """
    analysis = PickleAnalysis()
    m = _run(opener, size, analysis, extra=extra_allowed, follow_joblib=True, start=start, roots=allowed_roots)
    if m.saw_joblib:
        analysis.kind = "joblib"
        plain = PickleAnalysis()
        _run(opener, size, plain, extra=extra_allowed, follow_joblib=False, start=start, roots=allowed_roots)
        seen = {(i.rule, i.offset) for i in analysis.issues}
        analysis.issues.extend(i for i in plain.unsafe if (i.rule, i.offset) not in seen)
    return analysis


def analyse_pickle_bytes(data: bytes, *, extra_allowed: frozenset[str] = frozenset()) -> PickleAnalysis:
    """:func:`analyse_pickle` for bytes in memory."""
    return analyse_pickle(lambda: io.BytesIO(data), len(data), extra_allowed=extra_allowed)


def analyse_file(path: str | Path, *, extra_allowed: frozenset[str] = frozenset()) -> PickleAnalysis:
    """Analyse what ``torch.load``/``pickle.load`` would unpickle from ``path``: every ``*.pkl`` member of a
    zip checkpoint, or the pickle stream(s) of any other file. Issues of members name the member."""
    p = Path(path)
    with p.open("rb") as f:
        is_zip = f.read(4) == b"PK\x03\x04"
    if not is_zip:
        return analyse_pickle(lambda: p.open("rb"), p.stat().st_size, extra_allowed=extra_allowed)
    total = PickleAnalysis(kind="pytorch-zip")
    try:
        with zipfile.ZipFile(p) as zf:
            for info in zf.infolist():
                if not info.filename.endswith(".pkl"):
                    continue
                sub = analyse_pickle(partial(zf.open, info), info.file_size, extra_allowed=extra_allowed)
                total.streams += sub.streams
                total.imports.update(sub.imports)
                total.issues += [PickleIssue(i.rule, i.severity, f"{info.filename}: {i.detail}", i.offset, i.callable)
                                 for i in sub.issues]
    except (zipfile.BadZipFile, OSError) as exc:
        total.issues.append(PickleIssue(MALFORMED, MEDIUM, f"not a readable zip archive: {exc}"))
    return total

