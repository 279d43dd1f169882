"""The command line as a user meets it: real subprocesses, exit codes, run folders."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from cli_support import assert_bad_input, trustgen

TINY = ["unet.block_out_channels=[8,16]", "unet.norm_num_groups=4", "unet.attention_head_dim=4",
        "batch_size=8", "num_train_timesteps=20", "warmup_steps=1"]


def test_version_and_lists():
    assert trustgen("--version").stdout.strip() == "trustgen 0.1.0"
    names = {d["name"] for d in json.loads(trustgen("data", "list", "--json").stdout)}
    assert {"digits", "digits-captioned", "digits-biased", "mri", "faces-lfw"} <= names
    zoo = {c["name"]: c for c in json.loads(trustgen("zoo", "list", "--json").stdout)}
    assert "digits-classifier" in zoo and zoo["digits-classifier"]["metrics"]["test_accuracy"] >= 0.97


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["diffusion", "train", "--dataset", "nope"], ["unknown dataset", "nope"]),
        (["diffusion", "train", "lr"], ["bad override", "key=value"]),
        (["diffusion", "train", "lr=fast"], ["bad value", "lr"]),
        (["diffusion", "train", "wings=2"], ["unknown setting", "wings"]),
        (["diffusion", "train", "--config", "missing.yaml"], ["config file not found"]),
        (["diffusion", "sample", "--model", "no-such-model", "--num", "2"], ["no-such-model"]),
        (["diffusion", "evaluate", "--samples", "nowhere", "--dataset", "digits"], ["no samples.npy"]),
    ],
)
def test_bad_input_exits_2_with_one_line(tmp_path, args, words):
    result = trustgen(*args, "--out", tmp_path / "run")
    assert_bad_input(result, *words)
    assert not (tmp_path / "run" / "metrics.json").exists()


def test_empty_image_folder_and_missing_resume(tmp_path):
    (tmp_path / "empty").mkdir()
    assert_bad_input(trustgen("diffusion", "train", "--dataset", f"imagefolder:{tmp_path / 'empty'}",
                              "--out", tmp_path / "a"), str(tmp_path / "empty"))
    assert_bad_input(trustgen("diffusion", "train", "--resume", tmp_path / "gone"), "run folder not found")
    assert not (tmp_path / "a" / "metrics.json").exists()


def test_pickled_samples_file_is_refused(tmp_path):
    np.save(tmp_path / "samples.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    assert_bad_input(trustgen("diffusion", "evaluate", "--samples", tmp_path, "--dataset", "digits",
                              "--out", tmp_path / "run"), "pickled objects are refused")
    assert not (tmp_path / "run" / "metrics.json").exists()


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("train") / "run"
    result = trustgen("diffusion", "train", "--dataset", "digits", "--steps", "4", "checkpoint_every=2", *TINY,
                      "--out", out, "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["steps"] == 4
    return out


def test_train_writes_the_run_contract(trained):
    for name in ["config.yaml", "metrics.json", "report.md", "samples.png", "log.txt",
                 "model/unet/diffusion_pytorch_model.safetensors", "model/model_index.json",
                 "checkpoints/step-0000004/state.json"]:
        assert (trained / name).is_file(), name
    assert "batch_size: 8" in (trained / "config.yaml").read_text()


def test_resume_continues_and_wrong_shape_or_corrupt_is_refused(trained, tmp_path):
    import shutil

    run = tmp_path / "run"
    shutil.copytree(trained, run)
    result = trustgen("diffusion", "train", "--resume", run, "--steps", "6", "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["steps"] == 6 and (run / "checkpoints" / "step-0000006").is_dir()

    assert_bad_input(trustgen("diffusion", "train", "--resume", run, "--steps", "8",
                              "unet.block_out_channels=[16,16]"), "does not fit")
    (run / "checkpoints" / "step-0000006" / "ema.safetensors").write_bytes(b"\x00" * 100)
    (run / "metrics.json").unlink()
    assert_bad_input(trustgen("diffusion", "train", "--resume", run, "--steps", "8"), "corrupt")
    assert not (run / "metrics.json").exists()


def test_sample_then_evaluate(trained, tmp_path):
    out = tmp_path / "samples"
    result = trustgen("diffusion", "sample", "--model", trained / "model", "--num", "20", "--sampler", "ddim",
                      "--steps", "5", "--seed", "1", "--out", out, "--json")
    assert result.returncode == 0, result.stderr
    metrics = json.loads(result.stdout)
    for key in ["fd_digits", "fd_digits_floor", "kid_digits", "confidence", "class_entropy"]:
        assert isinstance(metrics[key], float), key
    samples = np.load(out / "samples.npy")
    assert samples.dtype == np.float32 and samples.shape == (20, 1, 16, 16)
    assert samples.min() >= -1 and samples.max() <= 1
    assert (out / "samples.png").is_file() and (out / "report.md").is_file()

    again = trustgen("diffusion", "evaluate", "--samples", out, "--dataset", "digits", "--seed", "1",
                     "--out", tmp_path / "eval", "--json")
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["fd_digits"] == pytest.approx(metrics["fd_digits"])


def test_pickle_model_needs_allow_pickle(trained, tmp_path):
    import shutil

    import torch
    from safetensors.torch import load_file

    model = tmp_path / "model"
    shutil.copytree(trained / "model", model)
    weights = model / "unet" / "diffusion_pytorch_model.safetensors"
    torch.save(load_file(str(weights)), weights.with_suffix(".bin"))
    weights.unlink()
    assert_bad_input(trustgen("diffusion", "sample", "--model", model, "--num", "2", "--out", tmp_path / "s"),
                     "--allow-pickle")
    assert not (tmp_path / "s" / "metrics.json").exists()
    ok = trustgen("diffusion", "sample", "--model", model, "--num", "2", "--sampler", "ddim", "--steps", "2",
                  "--allow-pickle", "--no-evaluate", "--out", tmp_path / "s")
    assert ok.returncode == 0, ok.stderr


@pytest.mark.slow
def test_a_killed_training_leaves_only_complete_checkpoints(tmp_path):
    """SIGKILL a real training process mid-run: every checkpoint left is complete and --resume finishes."""
    out = tmp_path / "run"
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "trustgen.cli.app", "diffusion", "train", "--dataset", "digits",
                             "--steps", "400", "checkpoint_every=1", *TINY, "--out", str(out)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and len(list((out / "checkpoints").glob("step-*"))) < 3:
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not (out / "metrics.json").exists()
    done = sorted((out / "checkpoints").glob("step-*"))
    assert len(done) >= 3
    for ckpt in done:
        assert {p.name for p in ckpt.iterdir()} >= {"state.json", "model.safetensors", "ema.safetensors",
                                                     "optimizer.safetensors", "rng.safetensors"}
    result = trustgen("diffusion", "train", "--resume", out, "--steps", str(int(done[-1].name[5:]) + 3), "--json")
    assert result.returncode == 0, result.stderr
    assert (out / "metrics.json").is_file()
