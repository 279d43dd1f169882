"""Settings: defaults < YAML < key=value, with errors that name the key."""

from __future__ import annotations

import pytest

from trustgen.core.config import parse_overrides, resolve_settings
from trustgen.core.errors import TrustgenError
from trustgen.diffusion.config import DiffusionTrainSettings


def test_overrides_parse_as_yaml_values_and_nest():
    assert parse_overrides(["lr=1e-3", "unet.block_out_channels=[8,16]", "dataset=digits", "x=true"]) == {
        "lr": 1e-3, "unet": {"block_out_channels": [8, 16]}, "dataset": "digits", "x": True}


def test_precedence_defaults_file_explicit_override(tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("steps: 10\nlr: 0.01\nunet:\n  layers_per_block: 2\n")
    s = resolve_settings(DiffusionTrainSettings, config_file=cfg, overrides=["lr=0.5"], steps=20, dataset=None)
    assert (s.steps, s.lr, s.unet.layers_per_block, s.dataset) == (20, 0.5, 2, "digits")


@pytest.mark.parametrize(
    ("overrides", "message"),
    [(["novel=1"], "unknown setting 'novel'"), (["steps=-3"], "bad value for 'steps'"),
     (["unet.block_out_channels=wide"], "unet.block_out_channels"), (["t_min=900", "t_max=100"], "t_min < t_max"),
     (["=3"], "bad override")],
)
def test_bad_settings_name_the_key(overrides, message):
    with pytest.raises(TrustgenError, match=message):
        resolve_settings(DiffusionTrainSettings, overrides=overrides)


def test_bad_yaml_file(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("steps: [1, 2\n")
    with pytest.raises(TrustgenError, match="not valid YAML"):
        resolve_settings(DiffusionTrainSettings, config_file=bad)
    (tmp_path / "list.yaml").write_text("- 1\n")
    with pytest.raises(TrustgenError, match="mapping"):
        resolve_settings(DiffusionTrainSettings, config_file=tmp_path / "list.yaml")
