"""The shipped diffusion models, checked on small samples (the full-size check is `make test-full`'s demo test).

Bars are the docs' bars with a margin for the small sample: 100 digits-ddpm samples are recognised
confidently and cover the ten digits; digits-t2i draws the prompted digit.
"""

from __future__ import annotations

import math

import numpy as np

from trustgen.core.metrics import class_entropy, classifier_confidence, get_extractor
from trustgen.diffusion import load_model, sample
from trustgen.diffusion.evaluation import prompted_accuracy


def test_digits_ddpm_samples_are_confident_and_cover_all_digits():
    images = sample(load_model("digits-ddpm"), 100, steps=25, seed=0)
    assert images.shape == (100, 1, 16, 16) and float(images.min()) >= -1 and float(images.max()) <= 1
    probs = get_extractor("digits").probabilities(images)
    assert classifier_confidence(probs) >= 0.9
    assert class_entropy(probs.argmax(axis=1), 10) >= 0.9 * math.log(10)
    assert len(np.unique(probs.argmax(axis=1))) == 10


def test_digits_t2i_draws_the_prompted_digit():
    metrics, images = prompted_accuracy(load_model("digits-t2i"), per_digit=3, steps=25, seed=0)
    assert images.shape == (30, 1, 16, 16)
    assert metrics["prompted_accuracy"] >= 0.8, metrics
