"""What ``trustgen collab``'s in-process and Flower commands share: how their settings are resolved."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from trustgen.collab.config import CollabSettings

__all__ = ["collab_settings", "parse_cut"]


def collab_settings(overrides: list[str] | None, config: Path | None, preset_name: str | None = None,
                    **explicit: object) -> CollabSettings:
    """The run's settings: the preset, then the YAML file, then ``key=value`` overrides, then explicit options."""
    from trustgen.collab.config import CollabSettings, preset
    from trustgen.core.config import resolve_settings

    return resolve_settings(CollabSettings, config_file=config, overrides=overrides, base=preset(preset_name),
                            **explicit)


def parse_cut(text: str | None) -> float | list[float] | None:
    """``--cut 0.2`` (every client) or ``--cut 0.2,0.4,0.4`` (one per client)."""
    from trustgen.core.errors import TrustgenError

    if text is None:
        return None
    try:
        values = [float(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise TrustgenError(f"bad --cut {text!r}: expected a number in [0, 1] or one per client") from None
    if not values:
        raise TrustgenError("--cut is empty")
    return values[0] if len(values) == 1 else values
