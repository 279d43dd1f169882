"""A white-box reference for Caia: invert every class of the target by gradient ascent, then ask the filter.

The paper's white-box baseline is Plug & Play model inversion (PPA, StyleGAN2 prior) followed by the attribute
classifier on 25 reconstructions per class, the class's value being the mode of the predictions. trustgen's PPA
lives in ``trustgen.inversion``, a capability Caia may not import, so this is a **simpler stand-in**, labelled so
in every report: pixel-space inversion without a generator prior. Starting points are public digits (the
attacker's images), optimised with Adam on the target's cross-entropy of class ``c`` plus a total-variation
penalty, kept in [-1, 1]; the filter then votes on the results (mode of its predictions).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F


def total_variation(x: torch.Tensor) -> torch.Tensor:
    """Mean absolute difference of neighbouring pixels, per image."""
    return (x[..., 1:, :] - x[..., :-1, :]).abs().flatten(1).mean(1) + \
        (x[..., :, 1:] - x[..., :, :-1]).abs().flatten(1).mean(1)


def invert_class(target: torch.nn.Module, start: torch.Tensor, cls: int, *, steps: int = 60, lr: float = 0.05,
                 tv: float = 0.3) -> torch.Tensor:
    """``start`` images moved to raise the target's belief in class ``cls`` (white-box gradients)."""
    x = start.clone().requires_grad_(True)
    opt = torch.optim.Adam([x], lr=lr)
    labels = torch.full((len(x),), cls, dtype=torch.long)
    needed = [p.requires_grad for p in target.parameters()]
    for p in target.parameters():
        p.requires_grad_(False)
    try:
        for _ in range(steps):
            loss = F.cross_entropy(target(x), labels) + tv * total_variation(x).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
            with torch.no_grad():
                x.clamp_(-1, 1)
    finally:
        for p, need in zip(target.parameters(), needed, strict=True):
            p.requires_grad_(need)
    return x.detach()


def whitebox_infer(target: Any, filt: Any, public: torch.Tensor, values: list[str], *, per_class: int = 25,
                   steps: int = 60, seed: int = 0) -> dict[str, Any]:
    """Per class: invert ``per_class`` public starting images, classify them with the filter, take the mode."""
    target.eval()
    rng = np.random.default_rng([seed, 505])
    inferred, confidence = [], []
    for c in range(target.num_classes):
        start = public[torch.from_numpy(rng.choice(len(public), per_class, replace=False))]
        rec = invert_class(target, start, c, steps=steps)
        with torch.no_grad():
            pred = filt(rec).argmax(1).numpy()
            hit = (target(rec).argmax(1) == c).float().mean().item()
        counts = np.bincount(pred, minlength=len(values))
        inferred.append(values[int(counts.argmax())])
        confidence.append(hit)
    return {"inferred": inferred, "inversion_success": float(np.mean(confidence)),
            "method": f"pixel-space gradient inversion ({per_class} images/class, {steps} Adam steps, TV), not PPA"}
