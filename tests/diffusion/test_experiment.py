"""Run folders of ``trustgen diffusion``: the settings, inputs included, land in config.yaml."""

from __future__ import annotations

import numpy as np
import yaml

from trustgen.diffusion.config import EvaluateSamplesSettings
from trustgen.diffusion.experiment import run_evaluate_samples


def test_evaluate_samples_records_its_inputs_and_warns_on_0_1_images(tmp_path):
    samples = tmp_path / "samples.npy"
    rng = np.random.default_rng(0)
    np.save(samples, rng.random((40, 1, 16, 16), dtype=np.float32))  # 0..1 images: scored, with a warning
    settings = EvaluateSamplesSettings(samples=samples, dataset="digits", seed=1)
    metrics = run_evaluate_samples(settings, tmp_path / "run")
    assert metrics["dataset"] == "digits" and "warning" in metrics
    config = yaml.safe_load((tmp_path / "run" / "config.yaml").read_text())
    assert config == {"samples": str(samples), "dataset": "digits", "seed": 1, "extractor": None}
    assert EvaluateSamplesSettings(**config) == settings
    assert "**Warning:**" in (tmp_path / "run" / "report.md").read_text()
