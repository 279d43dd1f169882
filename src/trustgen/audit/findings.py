"""Findings, per-file reports and the scan report, with the rule catalogue and the exit-code rule.

A file's verdict: ``unsafe`` if any finding (other than malformation or ``unverified``) is of severity
medium or higher, else ``malformed`` if it cannot be read as what it is, ``unverified`` if trustgen cannot
tell what it is (an unknown binary, Python code outside a model folder, a file that is not a regular file),
else ``clean`` (possibly with low-severity advice). ``trustgen audit`` exits 1 when any file is unsafe,
malformed or unverified (``--allow-unknown`` lets unverified files pass; ``--strict`` also fails on low
findings), 2 when a path could not be read or holds nothing to audit.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from trustgen.core.pickle_scan import CRITICAL, HIGH, LOW, MALFORMED, MEDIUM, PICKLE_RULES

SEVERITIES = (LOW, MEDIUM, HIGH, CRITICAL)
RANK = {s: i for i, s in enumerate(SEVERITIES)}
UNVERIFIED = "unverified"
VERDICTS = ("clean", "unsafe", "malformed", UNVERIFIED)

RULES: dict[str, tuple[str, str]] = {
    **PICKLE_RULES,
    MALFORMED: (MEDIUM, "The file cannot be read as the format its bytes or its name claim (truncated, lying "
                        "header, corrupt)."),
    UNVERIFIED: (MEDIUM, "trustgen cannot tell what the file is (an unknown binary, Python code outside a model "
                         "folder, not a regular file), so it cannot vouch for what loading it runs."),
    "format-mismatch": (HIGH, "The file name claims one format and the bytes are another; tools that trust the "
                              "extension skip or mis-load it."),
    "polyglot": (HIGH, "The bytes are valid as two formats at once; different loaders see different contents."),
    "numpy-object-array": (LOW, "A NumPy object array: loading it needs allow_pickle=True (its pickle is analysed)."),
    "safetensors-metadata": (LOW, "The safetensors header carries unusual metadata."),
    "archive-path-traversal": (HIGH, "An archive member name escapes the extraction folder (absolute or '..')."),
    "archive-link": (HIGH, "An archive member is a symbolic/hard link or a device: extracting it can overwrite "
                           "files outside the folder."),
    "archive-bomb": (HIGH, "The archive declares more data than the limits allow (compression bomb)."),
    "archive-depth": (HIGH, "Archives are nested deeper than the limit; the inner ones were not analysed."),
    "archive-duplicate-name": (MEDIUM, "Two members share a name; loaders disagree on which one they read."),
    "archive-unscanned": (MEDIUM, "An archive member could not be analysed (encrypted, or larger than the limit)."),
    "keras-lambda": (HIGH, "A Keras Lambda layer: its Python function (marshalled bytecode) runs when the model "
                           "loads with safe_mode off."),
    "keras-custom-object": (MEDIUM, "A Keras object from outside Keras: loading it imports and runs that code."),
    "hf-remote-code": (HIGH, "A Hugging Face config asks for remote code (auto_map, custom pipeline, "
                             "trust_remote_code): loading it runs Python files from the repository."),
    "python-code": (MEDIUM, "A Python file inside a model folder: trust_remote_code=True or custom pipelines "
                            "import it."),
    "torchscript-code": (LOW, "A TorchScript archive: torch.jit.load compiles and runs the code/ files it holds."),
    "onnx-external-data": (HIGH, "An ONNX tensor reads its data from a path outside the model folder."),
    "onnx-custom-operator": (LOW, "An ONNX node uses an operator domain that needs a custom operator library."),
    "gguf-chat-template": (HIGH, "A GGUF chat template (Jinja) reaches Python internals: a known template "
                                 "injection that runs code in llama.cpp bindings."),
}
"""Rule id -> (default severity, description). Severities of single findings may differ (format-mismatch)."""


@dataclass(frozen=True)
class Finding:
    """One thing found in a file: which rule, how bad, a sentence, and where (archive member, byte offset)."""

    rule: str
    severity: str
    detail: str
    member: str | None = None
    offset: int | None = None

    def location_text(self) -> str:
        """``member @ byte N`` as far as known, or an empty string."""
        parts = [self.member] if self.member else []
        if self.offset is not None:
            parts.append(f"byte {self.offset}")
        return " @ ".join(parts)

    def to_dict(self) -> dict[str, Any]:
        return {"rule": self.rule, "severity": self.severity, "detail": self.detail,
                "location": {"member": self.member, "offset": self.offset}}


@dataclass
class FileReport:
    """What the scan found in one file."""

    path: str
    format: str = "unknown"
    size: int = 0
    sha256: str | None = None
    findings: list[Finding] = field(default_factory=list)
    references: list[str] = field(default_factory=list, repr=False)  # an ONNX model's external data files

    @property
    def verdict(self) -> str:
        if any(f.rule not in (MALFORMED, UNVERIFIED) and RANK[f.severity] >= RANK[MEDIUM] for f in self.findings):
            return "unsafe"
        if any(f.rule == MALFORMED for f in self.findings):
            return "malformed"
        if any(f.rule == UNVERIFIED for f in self.findings):
            return UNVERIFIED
        return "clean"

    @property
    def max_severity(self) -> str | None:
        return max((f.severity for f in self.findings), key=RANK.__getitem__, default=None)

    def fails(self, strict: bool, allow_unknown: bool = False) -> bool:
        """True if this file makes the scan exit 1 (an unverified file passes only with ``allow_unknown``)."""
        verdict = self.verdict
        if verdict in ("unsafe", "malformed"):
            return True
        if verdict == UNVERIFIED:
            return not allow_unknown
        return strict and bool(self.findings)

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "format": self.format, "size": self.size, "sha256": self.sha256,
                "verdict": self.verdict, "findings": [f.to_dict() for f in self.findings]}


@dataclass
class AuditReport:
    """The result of :func:`trustgen.audit.scan`: one :class:`FileReport` per file, and read errors."""

    files: list[FileReport] = field(default_factory=list)
    errors: list[dict[str, str]] = field(default_factory=list)
    strict: bool = False
    allow_unknown: bool = False

    @property
    def findings(self) -> list[Finding]:
        return [f for r in self.files for f in r.findings]

    @property
    def max_severity(self) -> str | None:
        return max((f.severity for f in self.findings), key=RANK.__getitem__, default=None)

    @property
    def exit_code(self) -> int:
        """0 nothing found, 1 findings (unsafe, malformed or unverified files), 2 a path could not be read."""
        if self.errors:
            return 2
        return 1 if any(self.fails(r) for r in self.files) else 0

    def fails(self, report: FileReport) -> bool:
        """True if ``report``'s file makes this scan exit 1 (under its strict / allow-unknown settings)."""
        return report.fails(self.strict, self.allow_unknown)

    def summary(self) -> dict[str, Any]:
        verdicts = {v: sum(r.verdict == v for r in self.files) for v in VERDICTS}
        return {"files": len(self.files), "findings": len(self.findings), "max_severity": self.max_severity,
                "verdicts": verdicts, "strict": self.strict, "allow_unknown": self.allow_unknown,
                "exit_code": self.exit_code}

    def to_dict(self) -> dict[str, Any]:
        from trustgen import __version__

        return {"tool": {"name": "trustgen audit", "version": __version__}, "summary": self.summary(),
                "files": [r.to_dict() for r in self.files], "errors": list(self.errors)}
