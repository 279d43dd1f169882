"""The denoiser training loop: ε-prediction MSE (Ho et al., 2020), AdamW, EMA, checkpoints.

Every random draw (batch rows, timesteps, noise, conditioning dropout) comes from one seeded
``torch.Generator`` whose state is checkpointed, so a run that is killed and resumed ends
with exactly the weights of an uninterrupted run with the same seed.

``t_min``/``t_max`` restrict training to a band of timesteps; CollaFuse trains its client
and server denoisers on complementary bands with this.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from trustgen.core.data import ImageDataset
from trustgen.core.errors import CorruptFileError, TrustgenError
from trustgen.core.progress import track
from trustgen.diffusion.bundle import DiffusionModel
from trustgen.diffusion.checkpoint import load_checkpoint, save_checkpoint
from trustgen.diffusion.config import DiffusionTrainSettings
from trustgen.diffusion.models import build_unet, count_parameters, text_inputs
from trustgen.diffusion.text import TextFeatures, load_text_encoder
from trustgen.diffusion.trainer import DenoiserTrainer


def scheduler_config(settings: DiffusionTrainSettings) -> dict[str, Any]:
    """The DDPM noise schedule as a diffusers scheduler config."""
    return {
        "num_train_timesteps": settings.num_train_timesteps,
        "beta_schedule": settings.beta_schedule,
        "beta_start": 0.0001,
        "beta_end": 0.02,
        "prediction_type": "epsilon",
        "clip_sample": True,
        "clip_sample_range": 1.0,
    }


def new_model(settings: DiffusionTrainSettings, dataset: ImageDataset) -> DiffusionModel:
    """A freshly initialised model (seeded) for ``dataset`` under ``settings``."""
    import torch

    c, h, w = dataset.shape
    if h != w:
        raise TrustgenError(f"images must be square, got {h}×{w}")
    if settings.init_from:
        return _pretrained(settings, dataset)
    text = None
    if settings.conditioning == "class" and dataset.labels is None:
        raise TrustgenError(f"dataset {dataset.name!r} has no labels: use --conditioning none or text")
    if settings.conditioning == "text":
        if dataset.captions is None:
            raise TrustgenError(f"dataset {dataset.name!r} has no captions (try digits-captioned)")
        text = load_text_encoder(settings.text_encoder, seed=settings.seed)
    torch.manual_seed(settings.seed)
    unet = build_unet(settings.unet, channels=c, size=h, conditioning=settings.conditioning,
                      num_classes=dataset.num_classes, cross_attention_dim=text.dim if text else None)
    meta = {"dataset": dataset.name,
            "guidance_scale": 1.0 if settings.conditioning == "none" else settings.guidance_scale}
    return DiffusionModel(unet, scheduler_config(settings), settings.conditioning, (c, h, w),
                          dataset.class_names, text, meta=meta)


def _pretrained(settings: DiffusionTrainSettings, dataset: ImageDataset) -> DiffusionModel:
    """The model named by ``settings.init_from``, checked against ``settings`` and ``dataset``."""
    from trustgen.diffusion.bundle import load_model

    model = load_model(str(settings.init_from))
    text_kind = model.text_encoder.kind if model.text_encoder is not None else None
    if model.conditioning != settings.conditioning or model.image_shape != dataset.shape or (
            settings.conditioning == "text" and text_kind != settings.text_encoder):
        raise TrustgenError(
            f"init_from {settings.init_from!r} is a {model.conditioning} model on {model.image_shape} "
            f"(text encoder {text_kind}); this run wants {settings.conditioning} on {dataset.shape}")
    model.meta = {"dataset": dataset.name, "guidance_scale": settings.guidance_scale,
                  "init_from": settings.init_from}
    if not settings.unet.pooled_text:
        model.unet = without_pooled_text(model.unet)
    model.unet.train()
    return model


def without_pooled_text(unet: Any) -> Any:
    """A copy of a text UNet without the pooled-text path (its projection class embedding): text then reaches
    the UNet only through cross-attention, as in Stable Diffusion. Every other weight is kept; a UNet without
    the path is returned unchanged."""
    from diffusers import UNet2DConditionModel

    if getattr(unet.config, "class_embed_type", None) != "projection":
        return unet
    config = {k: v for k, v in unet.config.items() if not k.startswith("_")}
    config |= {"class_embed_type": None, "projection_class_embeddings_input_dim": None}
    new = UNet2DConditionModel.from_config(config).to(device=unet.device, dtype=unet.dtype)
    state = {k: v for k, v in unet.state_dict().items() if not k.startswith("class_embedding.")}
    new.load_state_dict(state, strict=True)
    return new


@dataclass
class TrainResult:
    """What a training run returns: the EMA model and the loss curve."""

    model: DiffusionModel
    steps: int
    losses: list[float] = field(default_factory=list)
    seconds: float = 0.0
    parameters: int = 0

    def to_dict(self) -> dict[str, Any]:
        tail = self.losses[-100:]
        return {"steps": self.steps, "final_loss": sum(tail) / max(len(tail), 1),
                "train_seconds": self.seconds, "parameters": self.parameters}


def learning_rate(settings: DiffusionTrainSettings, step: int) -> float:
    """Linear warm-up, then cosine decay to 10 % of ``lr`` at the last step."""
    if step < settings.warmup_steps:
        return settings.lr * (step + 1) / settings.warmup_steps
    span = max(settings.steps - settings.warmup_steps, 1)
    progress = min((step - settings.warmup_steps) / span, 1.0)
    return settings.lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress)))


class _Batches:
    """Draws (x0, condition) batches and the per-step randomness from one generator."""

    def __init__(self, model: DiffusionModel, dataset: ImageDataset, settings: DiffusionTrainSettings, device: str):

        self.settings = settings
        self.images = dataset.images.to(device)
        self.labels = dataset.labels.to(device) if dataset.labels is not None else None
        self.text: TextFeatures | None = None
        self.null_text: TextFeatures | None = None
        if model.conditioning == "text":
            assert model.text_encoder is not None and dataset.captions is not None
            self.text = TextFeatures.cat([model.text_encoder.encode(dataset.captions[i : i + 256])
                                          for i in range(0, len(dataset.captions), 256)]).to(device)
            self.null_text = model.text_encoder.encode([""]).to(device)
        self.unet = model.unet
        self.null_label = dataset.num_classes or 0
        self.t_max = settings.t_max or settings.num_train_timesteps

    def draw(self, g: Any) -> tuple[Any, Any, Any, dict[str, Any]]:
        import torch

        s = self.settings
        device = self.images.device
        rows = torch.randint(0, self.images.shape[0], (s.batch_size,), generator=g, device=device)
        x0 = self.images[rows]
        t = torch.randint(s.t_min, self.t_max, (s.batch_size,), generator=g, device=device)
        noise = torch.randn(x0.shape, generator=g, device=device)
        drop = torch.rand((s.batch_size,), generator=g, device=device) < s.cond_dropout
        kwargs: dict[str, Any] = {}
        if s.conditioning == "class":
            assert self.labels is not None
            kwargs["class_labels"] = torch.where(drop, torch.full_like(rows, self.null_label), self.labels[rows])
        elif s.conditioning == "text":
            assert self.text is not None and self.null_text is not None
            kwargs.update(text_inputs(self.unet, TextFeatures.where(drop, self.null_text, self.text[rows])))
        return x0, t, noise, kwargs


def train_diffusion(
    settings: DiffusionTrainSettings,
    dataset: ImageDataset,
    *,
    out_dir: Path | None = None,
    resume_from: Path | None = None,
    model: DiffusionModel | None = None,
    progress: bool = False,
    on_step: Callable[[int, float], None] | None = None,
) -> TrainResult:
    """Train a denoiser on ``dataset``; checkpoints go to ``out_dir/checkpoints`` if given.

    ``on_step(step, loss)`` is called after every optimizer step (tests use it to simulate a kill).
    """
    import torch

    from trustgen.core.device import resolve_device

    device = resolve_device(settings.device)
    model = (model or new_model(settings, dataset)).to(device)
    trainer = DenoiserTrainer(model, lr=settings.lr, weight_decay=settings.weight_decay, ema_decay=settings.ema_decay)
    g = torch.Generator(device=device).manual_seed(settings.seed)
    start = 0
    if resume_from is not None:
        start = _restore(resume_from, trainer, g)
    batches = _Batches(model, dataset, settings, device)
    losses: list[float] = []
    began = time.perf_counter()
    for step in track(range(start, settings.steps), description="training", enabled=progress,
                      total=settings.steps - start):
        x0, t, noise, kwargs = batches.draw(g)
        losses.append(trainer.step(x0, t, noise, kwargs, lr=learning_rate(settings, step), step=step))
        done = step + 1
        if out_dir is not None and (done % settings.checkpoint_every == 0 or done == settings.steps):
            save_checkpoint(out_dir / "checkpoints", done, model=trainer.unet, ema=trainer.ema,
                            optimizer=trainer.optimizer, generator=g,
                            extra={"settings": settings.model_dump(mode="json")})
        if on_step is not None:
            on_step(done, losses[-1])
    trainer.finish()
    return TrainResult(model, settings.steps, losses, time.perf_counter() - began, count_parameters(model.unet))


def _restore(path: Path, trainer: DenoiserTrainer, g: Any) -> int:
    import torch

    ckpt = load_checkpoint(path)
    try:
        trainer.unet.load_state_dict(ckpt["model"])
        for name, value in ckpt["ema"].items():
            trainer.ema[name].copy_(value)
        trainer.optimizer.load_state_dict(ckpt["optimizer"])
    except (RuntimeError, KeyError, ValueError) as exc:
        first = str(exc).strip().splitlines()[0]
        raise CorruptFileError(f"checkpoint {path} does not fit this model (wrong shape?): {first}") from None
    g.set_state(ckpt["generator"])
    torch.set_rng_state(ckpt["torch_rng"])
    return int(ckpt["state"]["step"])
