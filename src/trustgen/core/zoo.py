"""The model zoo: small models trained here by ``make zoo`` and shipped in ``src/trustgen/zoo/``.

Each model is a folder with its weights (safetensors, diffusers layout where it is a
diffusion model) and a ``card.json``: the command that made it, the data, seed, steps,
the metrics measured on it, and the SHA-256 of every file. Loading verifies the hashes,
so a corrupted or tampered file is refused with a clear message.

These are *small* models trained on CPU on small offline data sets; their numbers
describe them, not the large models of the papers.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from trustgen.core.errors import CorruptFileError, TrustgenError
from trustgen.core.runs import write_text_atomic
from trustgen.core.safe_io import read_json, sha256_file

ZOO_DIR = Path(__file__).resolve().parent.parent / "zoo"
CARD_NAME = "card.json"


@dataclass
class ZooCard:
    """What ``card.json`` says about a shipped model."""

    name: str
    kind: str
    description: str
    command: str
    data: str
    seed: int
    steps: int
    metrics: dict[str, Any] = field(default_factory=dict)
    files: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def list_models() -> list[ZooCard]:
    """Cards of every model shipped in the zoo, sorted by name."""
    if not ZOO_DIR.is_dir():
        return []
    cards = []
    for card_path in sorted(ZOO_DIR.glob(f"*/{CARD_NAME}")):
        cards.append(_read_card(card_path))
    return cards


def _read_card(card_path: Path) -> ZooCard:
    data = read_json(card_path)
    try:
        return ZooCard(**data)
    except TypeError as exc:
        raise CorruptFileError(f"bad zoo card {card_path}: {exc}") from None


def model_dir(name: str, *, verify: bool = True) -> Path:
    """Folder of zoo model ``name``; with ``verify`` the file hashes of its card are checked."""
    folder = ZOO_DIR / name
    card_path = folder / CARD_NAME
    if not card_path.is_file():
        known = ", ".join(c.name for c in list_models()) or "none (run `make zoo`)"
        raise TrustgenError(f"unknown zoo model {name!r} (known: {known})")
    if verify:
        verify_files(folder, _read_card(card_path).files)
    return folder


def verify_files(folder: Path, files: dict[str, str]) -> None:
    """Raise :class:`CorruptFileError` if a file is missing or its SHA-256 differs."""
    for rel, expected in files.items():
        path = folder / rel
        if not path.is_file():
            raise CorruptFileError(f"zoo model file missing: {path}")
        if sha256_file(path) != expected:
            raise CorruptFileError(f"zoo model file {path} does not match its card's sha256 (corrupt or modified)")


def is_zoo_name(name: str) -> bool:
    """True if ``name`` names a shipped zoo model (not a path)."""
    return "/" not in name and (ZOO_DIR / name / CARD_NAME).is_file()


def write_card(folder: str | Path, card: ZooCard) -> None:
    """Hash every file in ``folder`` (except the card) into ``card.files`` and write ``card.json``."""
    folder = Path(folder)
    card.files = {
        str(p.relative_to(folder)): sha256_file(p)
        for p in sorted(folder.rglob("*"))
        if p.is_file() and p.name != CARD_NAME
    }
    write_text_atomic(folder / CARD_NAME, json.dumps(card.to_dict(), indent=2) + "\n")
