"""Symbolic values on the analysis machine's stack: imports, calls and containers, never real objects."""

from __future__ import annotations

import reprlib
from dataclasses import dataclass, field
from typing import Any


@dataclass(eq=False)
class Global:
    module: str
    name: str
    offset: int

    @property
    def qualname(self) -> str:
        return f"{self.module}.{self.name}"


@dataclass(eq=False)
class Unresolved:
    offset: int


@dataclass(eq=False)
class Call:
    func: Any
    args: Any
    offset: int
    state: Any = None


@dataclass(eq=False)
class Dict:
    items: list[tuple[Any, Any]] = field(default_factory=list)

    def get(self, key: str) -> Any:
        return next((v for k, v in reversed(self.items) if k == key), None)


@dataclass(eq=False)
class Set:
    items: list[Any] = field(default_factory=list)


@dataclass(eq=False)
class Opaque:
    what: str


def describe(value: Any, limit: int = 60) -> str:
    """A short human description of a symbolic value, for messages."""
    if isinstance(value, Global):
        return value.qualname
    if isinstance(value, Call):
        inner = value.func
        while isinstance(inner, Call):  # a chain of calls, described by its innermost callable
            inner = inner.func
        return f"the result of {describe(inner)}(…)"
    if isinstance(value, Unresolved):
        return f"the computed import at byte {value.offset}"
    if isinstance(value, Opaque):
        return value.what
    text = reprlib.repr(value)  # bounded in depth and length, whatever the pickle built
    return text if len(text) <= limit else text[: limit - 1] + "…"
