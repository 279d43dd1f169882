"""Keras models: ``.keras`` archives (``config.json``) and HDF5 files (the ``model_config`` attribute).

The model config is JSON; it is walked for ``Lambda`` layers (their function is marshalled Python
bytecode that runs on load when ``safe_mode`` is off) and for objects whose module is not Keras's own
(loading them imports that code). HDF5 is read with h5py, which parses the container and never runs
anything from it.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from typing import Any

from trustgen.audit.scope import Blob, Scope, TooLarge

_KERAS_MODULES = ("keras", "tf_keras", "tensorflow.keras", "tensorflow.python.keras")
_BUILTIN_MODULES = ("builtins",)


def _objects(node: Any, path: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    """Every dict with a ``class_name`` in a Keras config, with a readable path to it."""
    if isinstance(node, dict):
        if isinstance(node.get("class_name"), str):
            yield path, node
        for key, value in node.items():
            yield from _objects(value, f"{path}/{key}" if path else str(key))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _objects(value, f"{path}[{i}]")


def _layer_name(obj: dict[str, Any]) -> str:
    config = obj.get("config")
    name = config.get("name") if isinstance(config, dict) else None
    return f"{obj['class_name']} {name!r}" if name else obj["class_name"]


def check_keras_config(raw: bytes | str | None, scope: Scope) -> None:
    """Flag Lambda layers and non-Keras objects in a Keras model config (JSON text)."""
    if raw is None:
        scope.add("malformed-file", "Keras model config is missing or unreadable")
        return
    try:
        config = json.loads(raw)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        scope.add("malformed-file", f"Keras model config is not JSON: {exc}")
        return
    try:
        objects = list(_objects(config))
    except RecursionError:
        scope.add("malformed-file", "Keras model config is nested too deeply to analyse")
        return
    for path, obj in objects:
        cls, module, registered = obj["class_name"], obj.get("module"), obj.get("registered_name")
        if cls in ("Lambda", "TFOpLambda") or cls == "__lambda__":
            if cls != "__lambda__":
                scope.add("keras-lambda", f"{_layer_name(obj)} at {path or 'the top'}: its function runs when "
                          "the model loads (keras.saving.load_model refuses it only with safe_mode=True)")
            continue
        custom_module = isinstance(module, str) and not module.startswith(_KERAS_MODULES + _BUILTIN_MODULES)
        custom_name = isinstance(registered, str) and ">" in registered
        if custom_module or custom_name:
            scope.add("keras-custom-object", f"{_layer_name(obj)} at {path or 'the top'} comes from "
                      f"{module or registered!r}; loading it imports and runs that code")


def check_hdf5(blob: Blob, scope: Scope) -> str:
    """Open an HDF5 file with h5py; a Keras model in it has its ``model_config`` checked."""
    try:
        import h5py
    except ImportError:  # pragma: no cover - h5py is a dependency
        scope.add("archive-unscanned", "h5py is not installed; the HDF5 file was not analysed")
        return "hdf5"
    try:
        source = blob.path if blob.path is not None else io.BytesIO(blob.read_all(scope.settings.max_member_bytes))
        with h5py.File(source, "r") as h5:
            raw = h5.attrs.get("model_config")
    except TooLarge:
        scope.add("archive-unscanned", f"an HDF5 member of {blob.size} bytes is over the in-memory limit; not analysed")
        return "hdf5"
    except Exception as exc:  # h5py raises OSError, KeyError, ValueError … for corrupt files
        scope.add("malformed-file", f"not a readable HDF5 file: {str(exc).splitlines()[0] if str(exc) else exc}")
        return "hdf5"
    if raw is not None:
        check_keras_config(raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw), scope)
        return "keras-hdf5"
    return "hdf5"
