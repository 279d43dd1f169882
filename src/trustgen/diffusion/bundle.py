"""A trained diffusion model on disk and in memory, in diffusers' folder layout.

trustgen writes ``unet/`` and ``scheduler/`` with ``save_pretrained`` (safetensors), a
``model_index.json`` (an unconditional model *is* a diffusers ``DDPMPipeline`` folder), and
``trustgen.json`` with what diffusers does not record (conditioning, data set, class names,
text encoder). A diffusers pipeline folder made elsewhere — e.g. a Stable Diffusion
checkpoint a user has — loads through the same class: its VAE, tokenizer and text encoder
are picked up and sampling runs in its latent space.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from trustgen.core.errors import CorruptFileError, TrustgenError, UnsafeFileError
from trustgen.core.runs import write_text_atomic
from trustgen.core.safe_io import read_json
from trustgen.diffusion.text import TextEncoder, load_text_encoder

META_NAME = "trustgen.json"
_LOAD_ERRORS = (OSError, ValueError, RuntimeError, KeyError, json.JSONDecodeError)


@dataclass
class DiffusionModel:
    """A denoiser with its noise schedule and what it is conditioned on."""

    unet: Any
    scheduler_config: dict[str, Any]
    conditioning: str  # none | class | text
    image_shape: tuple[int, int, int]  # C, H, W of the space the UNet denoises
    class_names: list[str] | None = None
    text_encoder: TextEncoder | None = None
    vae: Any = None  # AutoencoderKL for latent (Stable Diffusion style) pipelines
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def num_train_timesteps(self) -> int:
        return int(self.scheduler_config["num_train_timesteps"])

    @property
    def device(self) -> str:
        return str(next(self.unet.parameters()).device)

    def to(self, device: str) -> DiffusionModel:
        self.unet.to(device)
        if self.text_encoder is not None:
            self.text_encoder.to(device)
        if self.vae is not None:
            self.vae.to(device)
        return self

    def save(self, folder: str | Path) -> Path:
        """Write the model in diffusers layout (+ ``trustgen.json``) to ``folder``."""
        from diffusers import DDPMScheduler

        out = Path(folder)
        out.mkdir(parents=True, exist_ok=True)
        self.unet.save_pretrained(out / "unet", safe_serialization=True)
        DDPMScheduler.from_config(self.scheduler_config).save_pretrained(out / "scheduler")
        if self.text_encoder is not None and self.text_encoder.kind == "clip":
            self.text_encoder.model.save_pretrained(out / "text_encoder", safe_serialization=True)
            self.text_encoder.tokenizer.save_pretrained(out / "tokenizer")
        if self.conditioning == "none":
            index = {"_class_name": "DDPMPipeline", "unet": ["diffusers", "UNet2DModel"],
                     "scheduler": ["diffusers", "DDPMScheduler"]}
            write_text_atomic(out / "model_index.json", json.dumps(index, indent=2) + "\n")
        meta = {
            **self.meta,
            "conditioning": self.conditioning,
            "image_shape": list(self.image_shape),
            "class_names": self.class_names,
            "text_encoder": None if self.text_encoder is None else self.text_encoder.kind,
        }
        write_text_atomic(out / META_NAME, json.dumps(meta, indent=2) + "\n")
        return out


def _check_weights_safe(folder: Path, allow_pickle: bool) -> None:
    """Refuse pickle-only weights (``*.bin``, ``*.ckpt``, ``*.pt``) unless allowed."""
    if not folder.is_dir():
        raise TrustgenError(f"model folder not found: {folder}")
    has_safe = any(folder.glob("*.safetensors"))
    pickles = [p for p in folder.iterdir() if p.suffix in {".bin", ".ckpt", ".pt", ".pth", ".pkl"}]
    if not has_safe and pickles and not allow_pickle:
        raise UnsafeFileError(
            f"refusing to load pickle-based weights {pickles[0]}: pickle can execute code; "
            "convert to safetensors or pass --allow-pickle if you trust the file"
        )
    if not has_safe and not pickles:
        raise CorruptFileError(f"no weights file in {folder}")
    if not has_safe:  # allowed: still refuse pickles that import anything a checkpoint does not need
        from trustgen.core.safe_io import check_pickle_file

        for p in pickles:
            check_pickle_file(p)


def _load_module(cls: Any, folder: Path, allow_pickle: bool) -> Any:
    _check_weights_safe(folder, allow_pickle)
    try:
        module = cls.from_pretrained(str(folder), use_safetensors=not allow_pickle or None)
    except _LOAD_ERRORS as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise CorruptFileError(f"cannot load {folder}: {first}") from None
    return module.eval()


def resolve_model_path(name_or_dir: str) -> Path:
    """A zoo model name (hash-verified) or a folder path."""
    from trustgen.core import zoo

    if zoo.is_zoo_name(name_or_dir):
        return zoo.model_dir(name_or_dir)
    path = Path(name_or_dir)
    if not path.exists():
        known = ", ".join(c.name for c in zoo.list_models() if c.kind == "diffusion")
        raise TrustgenError(f"model {name_or_dir!r} is neither a zoo model (known: {known}) nor a folder")
    if not path.is_dir():
        raise TrustgenError(f"model path {path} is not a folder (expected a diffusers model folder)")
    return path


def load_model(name_or_dir: str | Path, *, allow_pickle: bool = False, device: str = "cpu") -> DiffusionModel:
    """Load a trustgen model or a diffusers pipeline folder."""
    from diffusers import AutoencoderKL, UNet2DConditionModel, UNet2DModel

    folder = resolve_model_path(str(name_or_dir))
    if not (folder / "unet").is_dir() or not (folder / "scheduler").is_dir():
        raise TrustgenError(f"{folder} is not a diffusion model folder (needs unet/ and scheduler/)")
    scheduler_config = read_json(folder / "scheduler" / "scheduler_config.json")
    if (folder / META_NAME).is_file():
        meta = read_json(folder / META_NAME)
        conditioning = meta.get("conditioning", "none")
        cls = UNet2DConditionModel if conditioning == "text" else UNet2DModel
        unet = _load_module(cls, folder / "unet", allow_pickle)
        kind = meta.get("text_encoder")
        text = load_text_encoder(kind, folder) if conditioning == "text" and kind else None
        model = DiffusionModel(unet, dict(scheduler_config), conditioning, tuple(meta["image_shape"]),
                               meta.get("class_names"), text, meta=meta)
    else:
        model = _load_foreign_pipeline(folder, scheduler_config, allow_pickle,
                                       UNet2DConditionModel, UNet2DModel, AutoencoderKL)
    _check_shapes(model, folder)
    return model.to(device)


def _load_foreign_pipeline(folder: Path, scheduler_config: dict[str, Any], allow_pickle: bool,
                           cond_cls: Any, plain_cls: Any, vae_cls: Any) -> DiffusionModel:
    """A diffusers pipeline folder not written by trustgen (DDPM or Stable-Diffusion-like)."""
    unet_config = read_json(folder / "unet" / "config.json")
    is_text = "cross_attention_dim" in unet_config
    unet = _load_module(cond_cls if is_text else plain_cls, folder / "unet", allow_pickle)
    vae = _load_module(vae_cls, folder / "vae", allow_pickle) if (folder / "vae").is_dir() else None
    text = load_text_encoder("pipeline", folder) if is_text else None
    size = int(unet.config.sample_size)
    shape = (int(unet.config.in_channels), size, size)
    meta = {"source": "diffusers pipeline folder", "path": str(folder)}
    return DiffusionModel(unet, dict(scheduler_config), "text" if is_text else "none", shape,
                          None, text, vae, meta)


def _check_shapes(model: DiffusionModel, folder: Path) -> None:
    c = int(model.unet.config.in_channels)
    if c != model.image_shape[0]:
        raise CorruptFileError(f"{folder}: unet has {c} input channels but the model records {model.image_shape}")
    if model.text_encoder is not None and int(model.unet.config.cross_attention_dim) != model.text_encoder.dim:
        raise CorruptFileError(
            f"{folder}: unet cross-attention dim {model.unet.config.cross_attention_dim} does not match "
            f"the text encoder's {model.text_encoder.dim}"
        )
