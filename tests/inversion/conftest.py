"""Tiny targets and generators for the inversion tests (seconds to train)."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def tiny_target(tmp_path_factory):
    """A tiny ResNet on digits 0–2, saved as a model folder."""
    from trustgen.classifiers.config import ArchitectureSettings, ClassifierTrainSettings
    from trustgen.classifiers.training import train_classifier
    from trustgen.core.data import load_dataset

    settings = ClassifierTrainSettings(classes=[0, 1, 2], epochs=2, batch_size=64, device="cpu",
                                       architecture=ArchitectureSettings(widths=[4, 8], blocks=[1, 1]))
    model = train_classifier(settings, load_dataset("digits", "train")).classifier
    return model.save(tmp_path_factory.mktemp("target") / "model")


@pytest.fixture(scope="session")
def tiny_evaluator(tmp_path_factory):
    """A tiny plain CNN on digits 0–2 (another architecture, another seed)."""
    from trustgen.classifiers.config import ArchitectureSettings, ClassifierTrainSettings
    from trustgen.classifiers.training import train_classifier
    from trustgen.core.data import load_dataset

    settings = ClassifierTrainSettings(classes=[0, 1, 2], epochs=2, batch_size=64, device="cpu", seed=1,
                                       architecture=ArchitectureSettings(name="cnn", widths=[4, 8], hidden=16))
    model = train_classifier(settings, load_dataset("digits", "train")).classifier
    return model.save(tmp_path_factory.mktemp("evaluator") / "model")


@pytest.fixture(scope="session")
def tiny_generator(tmp_path_factory):
    """A one-epoch VAE decoder on the public digits 5–9."""
    from trustgen.inversion.config import GeneratorTrainSettings
    from trustgen.inversion.experiment import train_generator

    generator, _ = train_generator(GeneratorTrainSettings(epochs=1, widths=[8, 16], latent_dim=4))
    return generator.save(tmp_path_factory.mktemp("generator") / "generator")

