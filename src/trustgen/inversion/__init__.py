"""Model inversion: Plug & Play Attacks (Struppek et al., ICML 2022) over any :class:`Generator`, judged as the
authors do, and the label-smoothing study of *Be Careful What You Smooth For* (ICLR 2024); see
``docs/inversion.md``."""

from __future__ import annotations

from trustgen.inversion.config import AttackSettings, GeneratorTrainSettings, InversionEvaluateSettings
from trustgen.inversion.evaluation import attack_accuracy, evaluate_inversion, nearest_training_distance
from trustgen.inversion.generator import Generator, check_generator
from trustgen.inversion.ppa import InversionResult, PlugAndPlayAttack, poincare_loss
from trustgen.inversion.vae import DecoderGenerator, load_generator, train_vae

__all__ = [
    "AttackSettings",
    "DecoderGenerator",
    "Generator",
    "GeneratorTrainSettings",
    "InversionEvaluateSettings",
    "InversionResult",
    "PlugAndPlayAttack",
    "attack_accuracy",
    "check_generator",
    "evaluate_inversion",
    "load_generator",
    "nearest_training_distance",
    "poincare_loss",
    "train_vae",
]
