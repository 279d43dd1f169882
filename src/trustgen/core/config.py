"""Settings: pydantic models filled from defaults, a YAML file and ``key=value`` overrides.

Precedence is defaults < ``--config FILE.yaml`` < ``key=value`` on the command line.
Every error (unknown key, wrong type, unreadable file) becomes a :class:`TrustgenError`
naming the offending key, so the command line can print one line and exit 2.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

from trustgen.core.errors import TrustgenError

M = TypeVar("M", bound=BaseModel)


class Settings(BaseModel):
    """Base of every capability's settings: unknown keys are errors, not silently ignored."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True, protected_namespaces=())


def parse_overrides(pairs: list[str] | None) -> dict[str, Any]:
    """Turn ``["lr=1e-3", "model.width=64"]`` into a nested dict; values are parsed as YAML."""
    result: dict[str, Any] = {}
    for pair in pairs or []:
        key, sep, raw = pair.partition("=")
        key = key.strip()
        if not sep or not key:
            raise TrustgenError(f"bad override {pair!r}: expected key=value")
        try:
            value = yaml.safe_load(raw) if raw.strip() else ""
        except yaml.YAMLError:
            value = raw
        if isinstance(value, str):
            value = _number_or_text(value)
        node = result
        parts = key.split(".")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise TrustgenError(f"bad override {pair!r}: {part!r} is not a section")
        node[parts[-1]] = value
    return result


def _number_or_text(text: str) -> Any:
    """YAML 1.1 reads ``1e-3`` as text; read it as the number a user meant."""
    try:
        return float(text) if any(c in text for c in ".eE") and not text.isalpha() else int(text)
    except ValueError:
        return text


def _merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def read_yaml(path: str | Path) -> dict[str, Any]:
    """Read a YAML mapping, raising :class:`TrustgenError` for a missing or malformed file."""
    p = Path(path)
    if not p.is_file():
        raise TrustgenError(f"config file not found: {p}")
    try:
        data = yaml.safe_load(p.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise TrustgenError(f"config file {p} is not valid YAML: {str(exc).splitlines()[0]}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise TrustgenError(f"config file {p} must hold a mapping of settings")
    return data


def resolve_settings(
    model: type[M],
    /,
    *,
    config_file: str | Path | None = None,
    overrides: list[str] | None = None,
    base: dict[str, Any] | None = None,
    **explicit: Any,
) -> M:
    """Build ``model`` from defaults, ``base`` (a preset), an optional YAML file, explicit values and overrides."""
    values: dict[str, Any] = dict(base or {})
    if config_file is not None:
        values = _merge(values, read_yaml(config_file))
    values = _merge(values, {k: v for k, v in explicit.items() if v is not None})
    values = _merge(values, parse_overrides(overrides))
    try:
        return model.model_validate(values)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"]) or "settings"
        if err["type"] == "extra_forbidden":
            allowed = ", ".join(sorted(model.model_fields))
            raise TrustgenError(f"unknown setting {where!r} (known: {allowed})") from None
        raise TrustgenError(f"bad value for {where!r}: {err['msg']}") from None


def settings_to_yaml(settings: BaseModel) -> str:
    """The resolved settings as YAML, as written to ``config.yaml``."""
    return yaml.safe_dump(settings.model_dump(mode="json"), sort_keys=False)
