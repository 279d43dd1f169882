"""Per-neuron activation statistics of the cross-attention value layers (NeMo, Hintersdorf et al., 2024, §3.2).

For a prompt and layer l, ``a_l`` is the mean over tokens (padding included, as in NeMo) of the absolute
value outputs ``|to_v_l(text tokens)|``. ``to_v`` reads only the text features, so no UNet evaluation is
needed. Reference mean and std of ``a_l`` over non-memorized prompts are saved as safetensors; a prompt's
z-scores ``|a − μ| / σ`` flag out-of-distribution neurons.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from trustgen.core.errors import CorruptFileError, TrustgenError
from trustgen.diffusion.bundle import DiffusionModel


def _attention_of(unet: Any, layer: str) -> Any:
    return unet.get_submodule(layer.rsplit(".", 1)[0])


def prompt_activations(model: DiffusionModel, prompts: list[str], layers: dict[str, Any],
                       batch_size: int = 256) -> dict[str, Any]:
    """``a_l`` for each prompt: layer name → P×width tensor (CPU, float32)."""
    import torch

    assert model.text_encoder is not None
    out: dict[str, list[Any]] = {name: [] for name in layers}
    for start in range(0, len(prompts), batch_size):
        tokens = model.text_encoder.encode(prompts[start:start + batch_size]).tokens
        with torch.no_grad():
            for name, linear in layers.items():
                attn = _attention_of(model.unet, name)
                hidden = attn.norm_encoder_hidden_states(tokens) if getattr(attn, "norm_cross", None) else tokens
                out[name].append(linear(hidden.to(linear.weight.dtype)).abs().mean(dim=1).float().cpu())
    return {name: torch.cat(parts) for name, parts in out.items()}


@dataclass
class ActivationStats:
    """Per-layer, per-neuron mean and std of ``a_l`` over reference (non-memorized) prompts."""

    mean: dict[str, Any]
    std: dict[str, Any]
    num_prompts: int

    @classmethod
    def fit(cls, model: DiffusionModel, prompts: list[str], layers: dict[str, Any]) -> ActivationStats:
        if len(prompts) < 2:
            raise TrustgenError("activation statistics need at least 2 prompts")
        acts = prompt_activations(model, prompts, layers)
        return cls({k: v.mean(0) for k, v in acts.items()}, {k: v.std(0) for k, v in acts.items()}, len(prompts))

    def z_scores(self, activations: dict[str, Any]) -> dict[str, Any]:
        """``|a − μ| / σ`` per layer for one prompt's activations (layer → width vector)."""
        return {k: (a - self.mean[k]).abs() / self.std[k].clamp(min=1e-8) for k, a in activations.items()}

    def save(self, path: str | Path) -> None:
        from trustgen.core.safe_io import save_state_dict

        tensors = {f"mean/{k}": v.contiguous() for k, v in self.mean.items()}
        tensors |= {f"std/{k}": v.contiguous() for k, v in self.std.items()}
        save_state_dict(tensors, path, metadata={"num_prompts": str(self.num_prompts)})

    @classmethod
    def load(cls, path: str | Path, layers: dict[str, Any]) -> ActivationStats:
        from safetensors import safe_open

        try:
            with safe_open(str(path), framework="pt") as f:
                tensors = {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118 (safe_open has no __iter__)
                n = int((f.metadata() or {}).get("num_prompts", 0))
        except (OSError, ValueError, RuntimeError) as exc:
            raise CorruptFileError(f"cannot read activation statistics {path}: {exc}") from None
        mean = {k[5:]: v for k, v in tensors.items() if k.startswith("mean/")}
        std = {k[4:]: v for k, v in tensors.items() if k.startswith("std/")}
        for name, linear in layers.items():
            if name not in mean or name not in std or mean[name].numel() != linear.out_features:
                raise TrustgenError(f"statistics {path} do not match this model's layer {name}")
        return cls({k: mean[k] for k in layers}, {k: std[k] for k in layers}, n)
