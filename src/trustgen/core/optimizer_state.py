"""An optimizer's ``state_dict`` split for safetensors: tensors apart, the rest as JSON.

Every resumable trainer in trustgen (diffusion checkpoints, CollaFuse's Flower nodes and server, the classifier
recipes) stores its optimizer this way, so no checkpoint needs pickle.
"""

from __future__ import annotations

from typing import Any

__all__ = ["flatten_optimizer", "unflatten_optimizer"]


def flatten_optimizer(state: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """An optimizer ``state_dict`` as (tensors for safetensors, JSON-able structure: param groups, scalars)."""
    tensors: dict[str, Any] = {}
    scalars: dict[str, Any] = {}
    for idx, slots in state["state"].items():
        for key, value in slots.items():
            name = f"{idx}.{key}"
            if hasattr(value, "shape"):
                tensors[name] = value
            else:
                scalars[name] = value
    return tensors, {"param_groups": state["param_groups"], "scalars": scalars}


def unflatten_optimizer(tensors: dict[str, Any], structure: dict[str, Any]) -> dict[str, Any]:
    """The inverse of :func:`flatten_optimizer`."""
    state: dict[int, dict[str, Any]] = {}
    for name, value in [*tensors.items(), *structure["scalars"].items()]:
        idx, key = name.split(".", 1)
        state.setdefault(int(idx), {})[key] = value
    return {"state": state, "param_groups": structure["param_groups"]}
