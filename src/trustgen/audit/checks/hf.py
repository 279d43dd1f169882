"""Hugging Face model folders: configs that ask for remote code, and the Python files such code would run.

transformers imports a repository's own ``*.py`` files when a config has an ``auto_map`` and the caller
passes ``trust_remote_code=True``; diffusers does the same for a ``custom_pipeline`` or for a
``model_index.json`` component whose library is a file of the repository.
"""

from __future__ import annotations

import functools
import importlib.util
import json
from pathlib import Path, PurePosixPath
from typing import Any

from trustgen.audit.scope import Blob, Scope, TooLarge

_LIBRARIES = frozenset({"diffusers", "transformers", "onnxruntime", "onnxruntime.training", "flax", "torch", "peft",
                        "sentence_transformers", "k_diffusion", "scheduling_utils"})
"""Libraries a ``model_index.json`` component may come from (diffusers imports them, not a repository file)."""
_PIPELINE_MODULES = frozenset({
    "audioldm2", "controlnet", "ddim", "ddpm", "deepfloyd_if", "deprecated", "flux", "kandinsky", "kandinsky2_2",
    "kandinsky3", "latent_diffusion", "pag", "pixart_alpha", "stable_cascade", "stable_diffusion",
    "stable_diffusion_3", "stable_diffusion_xl", "stable_video_diffusion", "wuerstchen",
})
"""diffusers pipeline subpackages that components name as their library (``["stable_diffusion",
"StableDiffusionSafetyChecker"]``); those of the installed diffusers are added at run time."""
MODEL_INDEX = "model_index.json"
MAX_JSON = 64 << 20


@functools.cache
def known_libraries() -> frozenset[str]:
    """:data:`_LIBRARIES`, :data:`_PIPELINE_MODULES` and the pipeline subpackages of the installed diffusers
    (found on disk: nothing is imported)."""
    names = set(_LIBRARIES | _PIPELINE_MODULES)
    try:
        spec = importlib.util.find_spec("diffusers")
    except (ImportError, ValueError):  # pragma: no cover - a broken install
        spec = None
    if spec is not None and spec.submodule_search_locations:
        for root in spec.submodule_search_locations:
            pipelines = Path(root) / "pipelines"
            if pipelines.is_dir():
                names.update(p.name for p in pipelines.iterdir() if p.is_dir() and not p.name.startswith("_"))
    return frozenset(names)


def _remote_code(config: dict[str, Any], model_index: bool) -> list[str]:
    """Sentences naming each request for remote code in a config dict.

    Remote code is an ``auto_map`` (transformers), ``custom_pipeline``/``trust_remote_code``, or, in a
    diffusers ``model_index.json`` only, a ``[module, class]`` component whose module is not a known library
    (diffusers then imports ``<component>/<module>.py`` from the repository). Other two-string lists, such as
    a UNet config's ``"down_block_types": ["DownBlock2D", "AttnDownBlock2D"]``, are plain settings.
    """
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
    if model_index:
        known = known_libraries()
        for name, value in config.items():
            if name.startswith("_") and name != "_class_name":
                continue
            if (isinstance(value, list) and len(value) == 2 and all(isinstance(v, str) for v in value)
                    and value[0] not in known):
                found.append(f"component {name!r} comes from {value[0]!r}.{value[1]}: {value[0]!r} is not a "
                             f"library diffusers knows, so it loads {name}/{value[0]}.py from the repository")
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
        model_index = PurePosixPath(blob.name.replace("\\", "/")).name == MODEL_INDEX
        for sentence in _remote_code(config, model_index):
            scope.add("hf-remote-code", sentence)
    return "json"


def check_python(blob: Blob, scope: Scope) -> str:
    """A Python file is code; inside a model folder, remote-code loading imports it. TorchScript's ``code/``
    is covered by its archive's ``torchscript-code`` advice; elsewhere the file is ``unverified``."""
    if scope.torchscript:
        return "python"
    if scope.in_model_folder:
        scope.add("python-code", f"{blob.name}: Python code shipped with the model; trust_remote_code=True or a "
                  "custom pipeline would import it — review it before loading")
    else:
        scope.add("unverified", f"{blob.name}: Python code; trustgen does not analyse code, so it cannot vouch "
                  "for it (it is remote code only inside a folder with a config.json or model_index.json)")
    return "python"
