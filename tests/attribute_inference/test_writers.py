"""The writers data set: balanced hidden attributes, the transforms, and a filter that can measure them."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from trustgen.attribute_inference.writers import ATTRIBUTES, NUM_WRITERS, morph, public_digits, slant, writer_attributes


def test_attributes_are_balanced_seeded_and_split_each_digit_by_thickness():
    table = writer_attributes(0)
    for attribute, values in ATTRIBUTES.items():
        assert sorted(table[attribute]).count(values[0]) == NUM_WRITERS // 2
    assert all(table["thickness"][2 * d] != table["thickness"][2 * d + 1] for d in range(10))
    assert writer_attributes(0) == table
    assert writer_attributes(1) != table


def test_transforms_change_ink_and_lean():
    x = public_digits().images[:50]
    ink = lambda im: ((im + 1) / 2).mean().item()  # noqa: E731
    assert ink(morph(x, "thin")) < ink(x) < ink(morph(x, "thick"))
    bar = -torch.ones(1, 1, 16, 16)
    bar[..., 2:14, 7:9] = 1  # a vertical stroke
    right = slant(bar, "right-slanted")[0, 0]
    cols = torch.arange(16.0)
    centre = lambda row: float(((right[row] + 1) * cols).sum() / (right[row] + 1).sum())  # noqa: E731
    assert centre(3) > centre(12)  # the top leans right ("/")


def test_writers_dataset_is_labelled_by_writer_only(writers0):
    w = writers0
    assert w.train.class_names is not None and len(w.train.class_names) == NUM_WRITERS
    assert set(w.train.labels.tolist()) == set(range(NUM_WRITERS))
    assert len(w.train) + len(w.test) == 1437
    card = w.card()
    assert card["balance"]["thickness"] == {"thin": 10, "thick": 10}
    assert np.array_equal(w.train.attributes["slant"], np.asarray(w.attributes["slant"])[w.train.labels.numpy()])


@pytest.mark.parametrize("attribute", ["thickness", "slant"])
def test_filter_measures_the_writers_attribute(attribute, writers0, thickness_filter):
    from trustgen.attribute_inference.pipeline import train_filter
    from trustgen.classifiers.metrics import predict_logits

    torch.set_num_threads(1)
    w = writers0
    filt = thickness_filter if attribute == "thickness" else train_filter(attribute, epochs=3, seed=0)
    predicted = np.asarray(filt.class_names)[predict_logits(filt, w.test.images).argmax(1).numpy()]
    assert (predicted == w.test.attributes[attribute]).mean() >= 0.9
