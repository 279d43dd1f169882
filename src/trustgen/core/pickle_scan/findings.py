"""What the pickle analysis reports: severities, rules, issues, the analysis result, and its limits."""

from __future__ import annotations

from dataclasses import dataclass, field

CRITICAL, HIGH, MEDIUM, LOW = "critical", "high", "medium", "low"
MALFORMED = "malformed-file"

PICKLE_RULES: dict[str, tuple[str, str]] = {
    "pickle-dangerous-global": (CRITICAL, "The pickle imports a callable known to run code, touch files or the "
                                          "network, or load another pickle."),
    "pickle-unknown-global": (HIGH, "The pickle imports a callable outside the allowlist of checkpoint "
                                    "reconstructors; loading it would import and possibly call it."),
    "pickle-unresolved-global": (HIGH, "STACK_GLOBAL imports a name that is computed while loading, so it "
                                       "cannot be checked."),
    "pickle-indirect-call": (HIGH, "The pickle calls a value that is not an imported allowlisted callable "
                                   "(e.g. the result of another call)."),
    "pickle-extension-code": (HIGH, "EXT1/EXT2/EXT4 import whatever the loading process registered in "
                                    "copyreg's extension registry; it cannot be checked."),
    "pickle-build-attribute": (CRITICAL, "BUILD sets a dunder attribute (e.g. __setstate__) or changes an "
                                         "imported class or function: a known gadget to run code."),
    "pickle-unanalysed-data": (MEDIUM, "Part of the pickle (a huge constant that looks like a nested pickle) "
                                       "was not analysed."),
    "pickle-trailing-data": (LOW, "Bytes after the last pickle that no pickle loader reads as a pickle."),
}

TORCH_LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
"""The first pickle of a legacy (pre-zip) ``torch.save`` file holds this number."""

BIG_CONSTANT = 1 << 20
"""Bytes/str constants larger than this are skipped (not read) unless they start like a binary pickle."""

INLINE_LIMIT = 64 << 20
"""Constants larger than this are never read into memory."""

MAX_LINE = 64 << 20
MAX_NESTED_DEPTH = 4
MAX_STREAMS = 1000


@dataclass(frozen=True)
class PickleIssue:
    """One thing found in a pickle: a rule id, its severity, a sentence, and the byte offset."""

    rule: str
    severity: str
    detail: str
    offset: int | None = None
    callable: str | None = None


@dataclass
class PickleAnalysis:
    """What :func:`analyse_pickle` found in one stream of pickles."""

    kind: str = "pickle"  # "pickle", "pytorch-legacy" or "joblib"
    streams: int = 0
    imports: dict[str, bool] = field(default_factory=dict)  # module.name -> allowed
    issues: list[PickleIssue] = field(default_factory=list)
    end: int = 0  # bytes consumed

    @property
    def unsafe(self) -> list[PickleIssue]:
        """The issues that make the file unsafe to unpickle (severity medium and above, malformed excluded)."""
        return [i for i in self.issues if i.severity != LOW and i.rule != MALFORMED]


class PickleError(Exception):
    """The stream is not a well-formed pickle (truncated, unknown opcode, empty stack …)."""

    def __init__(self, message: str, offset: int):
        super().__init__(message)
        self.offset = offset
