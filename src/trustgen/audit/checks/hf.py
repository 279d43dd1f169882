"""Hugging Face model folders: configs that ask for remote code, and the Python files such code would run.

transformers imports a repository's own ``*.py`` files when a config has an ``auto_map`` and the caller
passes ``trust_remote_code=True``; diffusers does the same for a ``custom_pipeline`` or for a
``model_index.json`` component whose library is a file of the repository.
"""

from __future__ import annotations

import json
from typing import Any

from trustgen.audit.scope import Blob, Scope, TooLarge

_LIBRARIES = frozenset({"diffusers", "transformers", "onnxruntime", "flax", "torch", "peft", "sentence_transformers",
                        "k_diffusion", "scheduling_utils"})
MAX_JSON = 64 << 20


def _remote_code(config: dict[str, Any]) -> list[str]:
    """Sentences naming each request for remote code in a config dict."""
    found = []
    auto_map = config.get("auto_map")
    if isinstance(auto_map, dict) and auto_map:
        refs = sorted({r for v in auto_map.values() for r in (v if isinstance(v, list) else [v]) if isinstance(r, str)})
        foreign = [r for r in refs if "--" in r]
        found.append(f"auto_map loads classes from the repository's own Python files: {', '.join(refs[:6])}"
                     + (f" (from another repository: {', '.join(foreign[:3])})" if foreign else ""))
    for key in ("custom_pipeline", "trust_remote_code"):
        if config.get(key):
            found.append(f"{key} = {config[key]!r}")
    if "_class_name" in config and "_diffusers_version" in config:  # diffusers model_index.json
        for name, value in config.items():
            if (isinstance(value, list) and len(value) == 2 and isinstance(value[0], str)
                    and value[0] not in _LIBRARIES):
                found.append(f"component {name!r} comes from {value[0]!r}.{value[1]}, a file of the repository")
    return found


def check_json(blob: Blob, scope: Scope) -> str:
    """Parse a JSON file; a config asking for remote code is a finding."""
    try:
        config = json.loads(blob.read_all(MAX_JSON))
    except TooLarge:
        return "json"
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        scope.add("malformed-file", f"invalid JSON: {exc}")
        return "json"
    if isinstance(config, dict):
        for sentence in _remote_code(config):
            scope.add("hf-remote-code", sentence)
    return "json"


def check_python(blob: Blob, scope: Scope) -> str:
    """A Python file is code; inside a model folder, remote-code loading imports it."""
    if scope.in_model_folder:
        scope.add("python-code", f"{blob.name}: Python code shipped with the model; trust_remote_code=True or a "
                  "custom pipeline would import it — review it before loading")
    return "python"
