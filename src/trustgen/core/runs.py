"""The run contract: every long-running command writes one run directory.

``DIR/config.yaml`` (resolved settings), ``DIR/metrics.json``, ``DIR/report.md``,
PNG figures, ``DIR/log.txt`` and weights as ``*.safetensors``. Files are written
atomically (temporary name, then rename), so an interrupted run never leaves a file
that looks complete. ``metrics.json`` is written last, only by a run that succeeded.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from trustgen.core.config import settings_to_yaml
from trustgen.core.errors import TrustgenError


def default_out_dir(command: str) -> Path:
    """``runs/<command>-<YYYYmmdd-HHMMSS>`` under the current directory."""
    return Path("runs") / f"{command}-{time.strftime('%Y%m%d-%H%M%S')}"


def check_out_dir(path: str | Path, option: str = "--out") -> Path:
    """Refuse, before any work is done, a run folder that cannot become one: an existing file, a path
    below a file, or a place this user cannot write. Creates nothing."""
    path = Path(path)
    if path.exists():
        if not path.is_dir():
            raise TrustgenError(f"{option} {path} is an existing file, not a folder; choose a folder")
        if not os.access(path, os.W_OK | os.X_OK):
            raise TrustgenError(f"{option} {path}: no permission to write in this folder")
        return path
    for parent in path.absolute().parents:
        if not parent.exists():
            continue
        if not parent.is_dir():
            raise TrustgenError(f"{option} {path}: {parent} is a file, not a folder")
        if not os.access(parent, os.W_OK | os.X_OK):
            raise TrustgenError(f"{option} {path}: no permission to create a folder in {parent}")
        break
    return path


def _umask() -> int:
    current = os.umask(0)
    os.umask(current)
    return current


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it onto ``path`` only if the block succeeds."""
    final = Path(path)
    final.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{final.name}.", suffix=".partial", dir=final.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; give the usual file mode
        os.replace(tmp, final)
    finally:
        if tmp.exists():
            tmp.unlink()


def write_text_atomic(path: str | Path, text: str) -> None:
    """Write ``text`` to ``path`` atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def json_safe(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    if hasattr(value, "item") and callable(value.item):  # numpy / torch scalars
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


class RunDir:
    """A run directory following the run contract."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.mkdir(parents=True, exist_ok=True)
        self._log = (self.path / "log.txt").open("a", encoding="utf-8")

    def file(self, name: str) -> Path:
        """Path of ``name`` inside the run directory."""
        return self.path / name

    def log(self, message: str) -> None:
        """Append a timestamped line to ``log.txt``."""
        self._log.write(f"{time.strftime('%Y-%m-%d %H:%M:%S')} {message}\n")
        self._log.flush()

    def write_config(self, settings: BaseModel) -> None:
        write_text_atomic(self.file("config.yaml"), settings_to_yaml(settings))

    def start_over(self, settings: BaseModel) -> None:
        """A new run replaces whatever finished here before: its ``metrics.json`` goes first, so the folder
        never looks finished with this run's settings before this run writes its own."""
        self.file("metrics.json").unlink(missing_ok=True)
        self.write_config(settings)

    def write_metrics(self, metrics: dict[str, Any]) -> Path:
        """Write ``metrics.json`` (non-finite floats become ``null``)."""
        path = self.file("metrics.json")
        write_text_atomic(path, json.dumps(json_safe(metrics), indent=2, sort_keys=False) + "\n")
        return path

    def write_report(self, markdown: str) -> None:
        write_text_atomic(self.file("report.md"), markdown)

    def close(self) -> None:
        self._log.close()

    def __enter__(self) -> RunDir:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def metrics_table(metrics: dict[str, Any], keys: list[str] | None = None) -> str:
    """A two-column markdown table of scalar metrics."""
    rows = ["| metric | value |", "|---|---|"]
    for key in keys or list(metrics):
        value = metrics.get(key)
        if isinstance(value, float):
            rows.append(f"| `{key}` | {value:.4g} |")
        elif isinstance(value, int | str | bool):
            rows.append(f"| `{key}` | {value} |")
    return "\n".join(rows)
