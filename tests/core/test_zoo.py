"""The zoo: cards list, names resolve with hash checks, unknown names are clear errors."""

from __future__ import annotations

import shutil

import pytest

from trustgen.core import zoo
from trustgen.core.errors import CorruptFileError, TrustgenError


def test_every_shipped_model_has_a_complete_verified_card():
    cards = {c.name: c for c in zoo.list_models()}
    assert {"digits-classifier", "digits-ddpm", "digits-t2i", "digits-t2i-biased"} <= set(cards)
    for card in cards.values():
        assert card.command and card.data and card.steps > 0 and card.files
        zoo.model_dir(card.name)  # verifies every sha256


def test_zoo_fits_its_budget():
    total = sum(p.stat().st_size for p in zoo.ZOO_DIR.rglob("*") if p.is_file())
    assert total <= 30 * 1024 * 1024


def test_unknown_name_lists_the_known_ones():
    with pytest.raises(TrustgenError, match="digits-ddpm"):
        zoo.model_dir("no-such-model")


def test_modified_weights_are_refused(tmp_path, monkeypatch):
    shutil.copytree(zoo.ZOO_DIR / "digits-ddpm", tmp_path / "digits-ddpm")
    monkeypatch.setattr(zoo, "ZOO_DIR", tmp_path)
    weights = tmp_path / "digits-ddpm" / "unet" / "diffusion_pytorch_model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-1] ^= 0xFF
    weights.write_bytes(bytes(data))
    with pytest.raises(CorruptFileError, match="sha256"):
        zoo.model_dir("digits-ddpm")
