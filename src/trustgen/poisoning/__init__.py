"""Robust training on poisoned data with diffusion image variations and knowledge distillation.

Struppek, Hentschel, Poth, Hintersdorf & Kersting, *Leveraging Diffusion-Based Image Variations for Robust
Training on Poisoned Data* (NeurIPS 2023 Workshop on Backdoors in Deep Learning, arXiv 2310.06372): train a
teacher on the possibly poisoned data, replace every training image by a diffusion variation (which keeps the
class but not a small trigger), and train a student from scratch on the variations with knowledge distillation.

>>> from trustgen.poisoning import AttackSettings, poison_dataset   # doctest: +SKIP
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from trustgen.core.lazy import lazy_exports

if TYPE_CHECKING:
    from trustgen.poisoning.attacks import (
        PoisonedData,
        apply_trigger,
        check_attack,
        choose_poisoned,
        poison_dataset,
        triggered_test_set,
    )
    from trustgen.poisoning.config import (
        AttackSettings,
        DistillSettings,
        PoisonEvaluateSettings,
        PoisonTrainSettings,
        VariationSettings,
    )
    from trustgen.poisoning.experiment import attack_metrics, run_evaluate, run_train
    from trustgen.poisoning.variations import check_variation_model, color_transfer, make_variations

_EXPORTS = {
    "AttackSettings": "trustgen.poisoning.config",
    "DistillSettings": "trustgen.poisoning.config",
    "PoisonEvaluateSettings": "trustgen.poisoning.config",
    "PoisonTrainSettings": "trustgen.poisoning.config",
    "VariationSettings": "trustgen.poisoning.config",
    "PoisonedData": "trustgen.poisoning.attacks",
    "apply_trigger": "trustgen.poisoning.attacks",
    "check_attack": "trustgen.poisoning.attacks",
    "choose_poisoned": "trustgen.poisoning.attacks",
    "poison_dataset": "trustgen.poisoning.attacks",
    "triggered_test_set": "trustgen.poisoning.attacks",
    "attack_metrics": "trustgen.poisoning.experiment",
    "run_evaluate": "trustgen.poisoning.experiment",
    "run_train": "trustgen.poisoning.experiment",
    "check_variation_model": "trustgen.poisoning.variations",
    "color_transfer": "trustgen.poisoning.variations",
    "make_variations": "trustgen.poisoning.variations",
}
__all__ = [
    "AttackSettings",
    "DistillSettings",
    "PoisonEvaluateSettings",
    "PoisonTrainSettings",
    "PoisonedData",
    "VariationSettings",
    "apply_trigger",
    "attack_metrics",
    "check_attack",
    "check_variation_model",
    "choose_poisoned",
    "color_transfer",
    "make_variations",
    "poison_dataset",
    "run_evaluate",
    "run_train",
    "triggered_test_set",
]
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
