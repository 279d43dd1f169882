"""Tiny classifier settings (a couple of seconds per training run on CPU)."""

from __future__ import annotations

import pytest


@pytest.fixture
def tiny_classifier_settings():
    from trustgen.classifiers.config import ArchitectureSettings, ClassifierTrainSettings

    def make(**kw):
        base = {"classes": [0, 1, 2], "epochs": 2, "batch_size": 64, "device": "cpu",
                "architecture": ArchitectureSettings(widths=[4, 8], blocks=[1, 1])}
        base.update(kw)
        return ClassifierTrainSettings(**base)

    return make
