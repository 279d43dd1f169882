"""Shared test set-up: offline hub, quiet libraries, small thread count, tiny model settings."""

from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(__file__))  # tests/cli_support.py
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import pytest  # noqa: E402

TINY_UNET = {"block_out_channels": (8, 16), "norm_num_groups": 4, "attention_head_dim": 4, "attention_levels": 1}


@pytest.fixture
def tiny_settings():
    """A factory of very small diffusion training settings (seconds per run on CPU)."""
    from trustgen.diffusion.config import DiffusionTrainSettings, UNetSettings

    def make(**kw):
        base = {"steps": 6, "batch_size": 8, "checkpoint_every": 3, "warmup_steps": 2, "num_train_timesteps": 50,
                "unet": UNetSettings(**TINY_UNET)}
        base.update(kw)
        return DiffusionTrainSettings(**base)

    return make


@pytest.fixture(scope="session")
def digits_train():
    from trustgen.core.data import load_dataset

    return load_dataset("digits", "train")


# ---- CPU time per test (for sizing the suite on a busy machine) ---------------------------------------------
# `TRUSTGEN_CPU_TIMES=cpu.json pytest ...` writes each test's CPU seconds (this process and the subprocesses it
# waited for): unlike wall time it barely changes when other work shares the cores.
_CPU_TIMES: dict[str, float] = {}


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item, nextitem):
    if not os.environ.get("TRUSTGEN_CPU_TIMES"):
        yield
        return
    before = os.times()
    yield
    after = os.times()
    _CPU_TIMES[item.nodeid] = sum(getattr(after, k) - getattr(before, k)
                                  for k in ("user", "system", "children_user", "children_system"))


def pytest_sessionfinish(session, exitstatus):
    path = os.environ.get("TRUSTGEN_CPU_TIMES")
    if path and _CPU_TIMES:
        import json

        with open(path, "w", encoding="utf-8") as f:
            json.dump(dict(sorted(_CPU_TIMES.items(), key=lambda kv: -kv[1])), f, indent=1)
