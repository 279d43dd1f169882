"""Four ways to stop a text-to-image model from reproducing a memorized caption's training image, one module each.

* ``nemo`` (:mod:`.nemo`) — switch off the value neurons NeMo localizes (Hintersdorf et al., NeurIPS 2024); a weight
  patch.
* ``embedding`` (:mod:`.embedding`) — Wen, Liu, Chen, Lyu, ICLR 2024: optimise the prompt's token features before
  sampling to lower the text-conditional noise norm; inference time.
* ``attention`` (:mod:`.attention`) — Ren et al., ECCV 2024: re-weight the cross-attention (beginning token × c1,
  summary tokens masked); inference time.
* ``finetune`` (:mod:`.finetune`) — a short fine-tune of the cross-attention weights (after Hintersdorf et al.,
  2025, *Finding Dori*).

Every mitigation generates through :meth:`Mitigation.generate` (:mod:`.base`: same initial latents as
:func:`trustgen.diffusion.sampling.sample` for the same seed) and exposes the mitigated forward pass for the
re-trigger search (:mod:`..retrigger`); the inference-time ones can be switched by NeMo's detector (:mod:`.gate`).
No I/O here.

>>> from trustgen.memorization.mitigation import make_mitigation
>>> mitigation = make_mitigation("attention")
>>> mitigation.prepare(model, memorized, utility)   # doctest: +SKIP
>>> images = mitigation.generate(model, memorized[0], n=4, seed=0, steps=25)   # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Callable

from trustgen.core.errors import TrustgenError
from trustgen.memorization.config import MITIGATION_METHODS, MitigationSettings
from trustgen.memorization.layers import Neurons
from trustgen.memorization.mitigation.attention import AttentionMitigation, summary_tokens
from trustgen.memorization.mitigation.base import Mitigation, initial_latents, sample_features
from trustgen.memorization.mitigation.embedding import EmbeddingMitigation, text_noise_norm
from trustgen.memorization.mitigation.finetune import FinetuneMitigation, finetune_unet
from trustgen.memorization.mitigation.gate import DetectorGate
from trustgen.memorization.mitigation.nemo import NemoMitigation

__all__ = [
    "AttentionMitigation",
    "DetectorGate",
    "EmbeddingMitigation",
    "FinetuneMitigation",
    "Localizer",
    "Mitigation",
    "NemoMitigation",
    "finetune_unet",
    "initial_latents",
    "make_mitigation",
    "sample_features",
    "summary_tokens",
    "text_noise_norm",
]

Localizer = Callable[[str], tuple[Neurons, int]]  # caption -> (its neurons, UNet evaluations spent)


def make_mitigation(method: str, s: MitigationSettings | None = None, *, steps: int = 25,
                    localize_fn: Localizer | None = None, neurons: dict[str, Neurons] | None = None) -> Mitigation:
    """A mitigation by name (``nemo``, ``embedding``, ``attention``, ``finetune``); call ``prepare`` next."""
    s = s or MitigationSettings()
    if method not in MITIGATION_METHODS:
        raise TrustgenError(f"unknown mitigation method {method!r}: use one of {', '.join(MITIGATION_METHODS)}")
    info = {"steps": steps}
    if method == "nemo":
        return NemoMitigation("nemo", s, info=info, neurons=dict(neurons or {}), localize_fn=localize_fn)
    if method == "embedding":
        return EmbeddingMitigation("embedding", s, info=info)
    if method == "attention":
        return AttentionMitigation("attention", s, info=info)
    return FinetuneMitigation("finetune", s, info=info)
