"""Shared, session-scoped pieces of the Caia tests (built once: each costs seconds of CPU)."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def writers0():
    from trustgen.attribute_inference.writers import build_writers

    return build_writers(0)


@pytest.fixture(scope="session")
def thickness_filter():
    import torch

    from trustgen.attribute_inference.pipeline import train_filter

    torch.set_num_threads(1)
    return train_filter("thickness", epochs=3, seed=0)
