"""What a check works on (a :class:`Blob`: a file or an archive member) and where it reports (a :class:`Scope`)."""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from trustgen.audit.config import AuditSettings
from trustgen.audit.findings import RULES, Finding


class TooLarge(Exception):
    """A blob is larger than the limit for reading it into memory."""


@dataclass
class Blob:
    """Bytes to analyse: a file on disk, an archive member, or a decompressed stream.

    ``name`` is the file or member name (its extension is what the name *claims*); ``open()`` returns
    a fresh binary stream positioned at the start.
    """

    name: str
    size: int
    open: Callable[[], IO[bytes]]
    path: Path | None = None

    @classmethod
    def from_path(cls, path: Path) -> Blob:
        return cls(path.name, path.stat().st_size, lambda: path.open("rb"), path)

    @classmethod
    def from_bytes(cls, name: str, data: bytes) -> Blob:
        return cls(name, len(data), lambda: io.BytesIO(data))

    def head(self, n: int = 64) -> bytes:
        with self.open() as f:
            return f.read(n)

    def read_all(self, limit: int) -> bytes:
        """All bytes, or :class:`TooLarge` if there are more than ``limit``."""
        if self.size > limit:
            raise TooLarge(f"{self.size} bytes")
        with self.open() as f:
            return f.read(limit + 1)

    def seekable(self, limit: int) -> IO[bytes]:
        """A seekable stream: the file itself, or the bytes read into memory (at most ``limit``)."""
        return self.path.open("rb") if self.path is not None else io.BytesIO(self.read_all(limit))

    def suffix(self) -> str:
        return Path(self.name).suffix.lower()


@dataclass
class Scope:
    """Where findings go: the file's list, labelled with the archive member chain being analysed."""

    settings: AuditSettings
    findings: list[Finding] = field(default_factory=list)
    member: str | None = None
    depth: int = 0
    in_model_folder: bool = False
    dispatch: Callable[[Blob, Scope], str] | None = None
    torchscript: bool = False  # a member of a TorchScript archive: its pickles may build __torch__ classes
    references: list[str] = field(default_factory=list)  # files a top-level ONNX model reads its tensors from

    def add(self, rule: str, detail: str, offset: int | None = None, severity: str | None = None) -> None:
        """Record a finding of ``rule`` (its default severity unless ``severity`` is given)."""
        self.findings.append(Finding(rule, severity or RULES[rule][0], detail, self.member, offset))

    def child(self, name: str, *, torchscript: bool = False) -> Scope:
        """The scope of an archive member ``name`` one level down (``torchscript``: of a TorchScript archive)."""
        member = f"{self.member}!/{name}" if self.member else name
        return Scope(self.settings, self.findings, member, self.depth + 1, self.in_model_folder, self.dispatch,
                     torchscript, self.references)

    def scan(self, blob: Blob) -> str:
        """Analyse a nested blob with the scanner's dispatcher; returns its format."""
        assert self.dispatch is not None
        return self.dispatch(blob, self)
