"""Lazy public names for package ``__init__`` modules (PEP 562).

A capability's ``__init__`` lists what users call; importing the package must stay cheap (the CLI imports
``trustgen.x.config`` for every ``--help``), so each name is imported from its module on first use.

>>> __getattr__, __dir__ = lazy_exports("pkg", {"name": "pkg.module"})   # doctest: +SKIP
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

__all__ = ["lazy_exports"]


def lazy_exports(package: str, exports: dict[str, str]) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """``(__getattr__, __dir__)`` for ``package`` whose public ``name`` lives in module ``exports[name]``."""

    def __getattr__(name: str) -> Any:
        if name not in exports:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        return getattr(importlib.import_module(exports[name]), name)

    def __dir__() -> list[str]:
        return sorted(exports)

    return __getattr__, __dir__
