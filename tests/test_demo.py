"""`trustgen demo` end to end on the shipped models, with the quality bars the docs promise.

This is also the check of the shipped zoo models: the digits DDPM's samples score within 2× the
real-vs-real floor, are recognised confidently, cover all ten digits evenly, and the text model
draws the digit it is prompted for.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys

import pytest


@pytest.mark.slow
def test_demo_meets_the_quality_bars(tmp_path):
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    result = subprocess.run([sys.executable, "-m", "trustgen.cli.app", "demo", "--out", str(tmp_path), "--json"],
                            capture_output=True, text=True, env=env, timeout=1200)
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["fd_digits"] <= 2 * summary["fd_digits_floor"]
    assert summary["confidence"] >= 0.9
    assert summary["class_entropy"] >= 0.95 * math.log(10)
    assert summary["prompted_accuracy"] >= 0.8

    full = json.loads((tmp_path / "metrics.json").read_text())
    assert full["digits_ddpm"]["num_samples"] == 500
    assert len(full["digits_t2i"]["prompted_accuracy_per_digit"]) == 10
    report = (tmp_path / "report.md").read_text()
    assert "digits-ddpm/samples.png" in report and (tmp_path / "digits-ddpm" / "samples.png").is_file()
    assert (tmp_path / "digits-t2i" / "prompted.png").is_file()

    # CollaFuse section: a short federation trained in the demo
    assert summary["collab_t_c"] == 400 and summary["collab_client_evals_full_sampler"] == 400
    assert summary["collab_fd_digits"] <= 4 * summary["collab_fd_digits_floor"]
    assert summary["collab_confidence"] >= 0.7
    assert summary["collab_reid_rate"] > 10 * summary["collab_reid_chance"]  # c = 0.4 leaks, and the demo says so
    assert (tmp_path / "collafuse" / "samples_client0.png").is_file() and "CollaFuse" in report
