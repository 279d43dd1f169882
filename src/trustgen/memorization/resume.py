"""Resume for ``trustgen memorization evaluate``: each memorized caption's localization is kept as it finishes.

NeMo's localization (Hintersdorf et al., NeurIPS 2024, Alg. 1–4) is most of the validation's time (a minute or more
per caption on a CPU). :class:`LocalizationCache` writes each caption's result to ``localizations.partial.json`` in
the output folder; a run killed half-way and started again with the same model, seed and settings reads the
finished captions back instead of searching again. The key is a hash of the settings, the seed, the calibrated
threshold and the activation statistics — all of which depend on the model's weights — so a changed model or
setting starts over. The file is deleted when the run completes; its name says it is not a result.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from trustgen.core.errors import TrustgenError
from trustgen.core.runs import write_text_atomic
from trustgen.core.safe_io import read_json
from trustgen.memorization.config import NemoSettings
from trustgen.memorization.statistics import ActivationStats

PARTIAL_FILE = "localizations.partial.json"


def cache_key(s: NemoSettings, seed: int, threshold: float, stats: ActivationStats) -> str:
    """A hash of everything a caption's localization depends on besides the caption itself."""
    digest = hashlib.sha256()
    digest.update(json.dumps({"settings": s.model_dump(mode="json"), "seed": seed, "threshold": repr(threshold)},
                             sort_keys=True).encode())
    for name in sorted(stats.mean):
        digest.update(name.encode())
        digest.update(stats.mean[name].float().numpy().tobytes())
        digest.update(stats.std[name].float().numpy().tobytes())
    return digest.hexdigest()


class LocalizationCache:
    """Finished per-caption localization records of one evaluation, kept in ``folder``/``localizations.partial.json``.

    ``resumed`` counts the records read back from an earlier, interrupted run with the same key."""

    def __init__(self, folder: str | Path, key: str):
        self.path = Path(folder) / PARTIAL_FILE
        self.key = key
        self.records: dict[str, dict[str, Any]] = {}
        if self.path.is_file():
            try:
                saved = read_json(self.path)
            except TrustgenError:  # our own file, cut short by a kill: start over rather than fail
                saved = {}
            records = saved.get("records")
            if saved.get("key") == key and isinstance(records, dict) and all(
                    isinstance(r, dict) and isinstance(r.get("neurons"), list) for r in records.values()):
                self.records = records
        self.resumed = len(self.records)

    def get(self, caption: str) -> dict[str, Any] | None:
        return self.records.get(caption)

    def put(self, caption: str, record: dict[str, Any]) -> None:
        """Keep ``record`` for ``caption`` and rewrite the file atomically (a kill never leaves half a file)."""
        self.records[caption] = record
        self.path.parent.mkdir(parents=True, exist_ok=True)
        write_text_atomic(self.path, json.dumps({"key": self.key, "records": self.records}) + "\n")
