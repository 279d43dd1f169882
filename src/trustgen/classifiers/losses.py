"""Label smoothing with any factor α, and the warm-up schedule of negative smoothing.

Struppek, Hintersdorf & Kersting, *Be Careful What You Smooth For: Label Smoothing Can Be a Privacy Shield but
Also a Catalyst for Model Inversion Attacks*, ICLR 2024 (arXiv 2310.06549). With smoothed labels
``y_LS = (1 − α)·y + α/C`` the cross-entropy is ``(1 − α)·(−log p_y) + α·mean_c(−log p_c)``: for α ≥ 0 exactly
``torch.nn.functional.cross_entropy(label_smoothing=α)``; for α < 0 (negative label smoothing, from
UCSC-REAL/negative-label-smoothing) the true class weighs more than 1 and the others negatively.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def smoothed_cross_entropy(logits: torch.Tensor, labels: torch.Tensor, alpha: float) -> torch.Tensor:
    """Batch mean of ``(1 − α)·(−log p_y) + α·mean_c(−log p_c)``."""
    logp = F.log_softmax(logits, dim=1)
    nll = -logp.gather(1, labels[:, None]).squeeze(1)
    if alpha == 0:
        return nll.mean()
    return ((1 - alpha) * nll - alpha * logp.mean(dim=1)).mean()


def alpha_at_epoch(alpha: float, epoch: int, epochs: int, *, warmup: str = "paper", start: float = 0.5,
                   end: float = 0.75) -> float:
    """The smoothing factor used in ``epoch`` (0-based) of ``epochs``.

    α ≥ 0, or ``warmup="none"``: α throughout. α < 0 with the paper's warm-up (``train_model.py``,
    ``ls_scheduler``): 0 before ``start·epochs``, ``α·(epoch + 1 − s)/(epochs − s)`` until ``end·epochs``, then α.
    The denominator is the authors': with 100 epochs the ramp reaches only α/2 at epoch 74 before jumping to α.
    """
    if alpha >= 0 or warmup == "none":
        return alpha
    s, e = round(start * epochs), round(end * epochs)
    if epoch < s:
        return 0.0
    if epoch < e:
        return alpha * (epoch + 1 - s) / max(epochs - s, 1)
    return alpha
