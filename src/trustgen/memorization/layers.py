"""Which neurons NeMo searches: the output channels of the cross-attention value projections.

Following NeMo (Hintersdorf et al., 2024, §3) a *neuron* is one output channel of a cross-attention
``attn2.to_v`` linear layer; by default the layers of the UNet's down and mid blocks are searched
(Stable Diffusion 1.x: seven layers, 5,760 neurons). Layers are discovered from the module tree, so
any diffusers ``UNet2DConditionModel`` works.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from trustgen.core.errors import TrustgenError

Neurons = dict[str, list[int]]  # layer name -> output-channel indices
BLOCK_ORDER = ("down_blocks", "mid_block", "up_blocks")


def value_layers(unet: Any, *, include_up: bool = False) -> dict[str, Any]:
    """The ``attn2.to_v`` linear layers of ``unet`` (down, then mid, then — if asked — up blocks),
    by module name. Raises :class:`TrustgenError` when there is no cross-attention or the
    projections are fused (a fused ``to_kv``/``to_qkv`` makes single value channels unreachable)."""
    found: dict[str, Any] = {}
    for name, module in unet.named_modules():
        if not name.endswith("attn2") or not hasattr(module, "to_v"):
            continue
        if getattr(module, "fused_projections", False) or getattr(module, "to_kv", None) is not None:
            raise TrustgenError(f"{name} has fused key/value projections: call unet.unfuse_qkv_projections() "
                                "first so single value neurons can be switched off")
        if name.startswith("up_blocks") and not include_up:
            continue
        found[f"{name}.to_v"] = module.to_v
    if not found:
        raise TrustgenError("this UNet has no cross-attention value layers (attn2.to_v) to search"
                            + ("" if include_up else " in its down and mid blocks; try --include-up"))
    order = {b: i for i, b in enumerate(BLOCK_ORDER)}
    return dict(sorted(found.items(), key=lambda kv: (order.get(kv[0].split(".")[0], 3), kv[0])))


def layer_widths(layers: dict[str, Any]) -> dict[str, int]:
    """Number of neurons (output channels) per layer."""
    return {name: int(layer.out_features) for name, layer in layers.items()}


def check_neurons(neurons: Neurons, layers: dict[str, Any]) -> Neurons:
    """``neurons`` validated against ``layers`` (known layer names, indices in range), sorted, no duplicates."""
    widths = layer_widths(layers)
    clean: Neurons = {}
    for name, indices in neurons.items():
        if name not in widths:
            raise TrustgenError(f"unknown value layer {name!r} (known: {', '.join(widths)})")
        bad = [i for i in indices if not 0 <= int(i) < widths[name]]
        if bad:
            raise TrustgenError(f"neuron index {bad[0]} out of range for {name} (width {widths[name]})")
        if indices:
            clean[name] = sorted({int(i) for i in indices})
    return clean


def count(neurons: Neurons) -> int:
    """Total number of neurons in a selection."""
    return sum(len(v) for v in neurons.values())


def as_pairs(neurons: Neurons) -> list[tuple[str, int]]:
    """A selection as (layer, index) pairs."""
    return [(layer, i) for layer, indices in neurons.items() for i in indices]


def from_pairs(pairs: Any) -> Neurons:
    """(layer, index) pairs (e.g. a report's ``neurons`` list) back to a selection."""
    out: Neurons = {}
    for layer, index in pairs:
        out.setdefault(layer, []).append(int(index))
    return out


def all_neurons(layers: dict[str, Any]) -> Neurons:
    """Every neuron of ``layers``."""
    return {name: list(range(width)) for name, width in layer_widths(layers).items()}


def union_neurons(selections: Iterable[Neurons]) -> Neurons:
    """Every neuron of any of ``selections`` (layers in order of first appearance, indices sorted)."""
    out: Neurons = {}
    for neurons in selections:
        for layer, indices in neurons.items():
            out[layer] = sorted(set(out.get(layer, [])) | set(indices))
    return out


def parse_neurons(text: str) -> Neurons:
    """``LAYER:I,LAYER:J,…`` → neurons."""
    out: Neurons = {}
    for item in (t.strip() for t in text.split(",") if t.strip()):
        layer, _, index = item.rpartition(":")
        if not layer or not index.lstrip("-").isdigit():
            raise TrustgenError(f"bad neuron {item!r}: use LAYER:INDEX, e.g. mid_block.attentions.0."
                                "transformer_blocks.0.attn2.to_v:3")
        out.setdefault(layer, []).append(int(index))
    if not out:
        raise TrustgenError("no neurons given")
    return out


def neurons_record(results: list[dict[str, Any]]) -> dict[str, Any]:
    """``neurons.json`` of a localize run: the union of found neurons and, per neuron, the prompts it was found
    for (``results``: localization rows with ``prompt`` and ``neurons`` pairs)."""
    why: dict[str, list[str]] = {}
    for r in results:
        for layer, index in r["neurons"]:
            why.setdefault(f"{layer}:{index}", []).append(r["prompt"])
    return {"neurons": union_neurons(from_pairs(r["neurons"]) for r in results), "why": why}
