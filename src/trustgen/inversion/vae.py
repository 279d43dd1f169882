"""A small convolutional VAE (Kingma & Welling, 2014) whose decoder is the attack's image prior on digits.

PPA assumes a generator trained on *public* data that never saw the private classes (the paper: StyleGAN2 on
FFHQ against FaceScrub identities). Here the VAE is trained on the public digits (5–9) only and its decoder,
wrapped as :class:`DecoderGenerator`, is what the attack optimises latents of. Saved as ``decoder.safetensors`` +
``generator.json`` (the encoder is only needed for training and is not kept).
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from trustgen.classifiers.bundle import as_shape
from trustgen.core.errors import CorruptFileError, TrustgenError
from trustgen.core.runs import write_text_atomic
from trustgen.core.safe_io import load_state_dict, read_json, save_state_dict
from trustgen.inversion.config import GeneratorTrainSettings

GENERATOR_FILE = "generator.json"
DECODER_FILE = "decoder.safetensors"
KIND = "trustgen-generator"


class Decoder(nn.Module):
    """latent → fc → ``widths[-1]``×(H/4)×(W/4) → two stride-2 transposed convolutions → 3×3 conv → logits."""

    def __init__(self, latent_dim: int, image_shape: tuple[int, int, int], widths: list[int]) -> None:
        super().__init__()
        c, h, w = image_shape
        if h % 4 or w % 4:
            raise TrustgenError(f"the VAE needs image sides divisible by 4, got {h}×{w}")
        w1, w2 = widths
        self.side = (h // 4, w // 4)
        self.fc = nn.Linear(latent_dim, w2 * self.side[0] * self.side[1])
        self.up1 = nn.ConvTranspose2d(w2, w1, 4, stride=2, padding=1)
        self.up2 = nn.ConvTranspose2d(w1, w1 // 2, 4, stride=2, padding=1)
        self.out = nn.Conv2d(w1 // 2, c, 3, padding=1)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.fc(z)).view(len(z), -1, *self.side)
        x = F.relu(self.up2(F.relu(self.up1(x))))
        return self.out(x)  # logits of pixel intensities in [0, 1]


class Encoder(nn.Module):
    def __init__(self, latent_dim: int, image_shape: tuple[int, int, int], widths: list[int]) -> None:
        super().__init__()
        c, h, w = image_shape
        w1, w2 = widths
        self.conv1 = nn.Conv2d(c, w1, 4, stride=2, padding=1)
        self.conv2 = nn.Conv2d(w1, w2, 4, stride=2, padding=1)
        self.mu = nn.Linear(w2 * (h // 4) * (w // 4), latent_dim)
        self.logvar = nn.Linear(w2 * (h // 4) * (w // 4), latent_dim)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = F.relu(self.conv2(F.relu(self.conv1(x)))).flatten(1)
        return self.mu(x), self.logvar(x)


class DecoderGenerator(nn.Module):
    """A VAE decoder as a :class:`~trustgen.inversion.generator.Generator`: latents are N(0, I) vectors (scaled
    by ``truncation``), images are ``2·sigmoid(decoder(z)) − 1``."""

    def __init__(self, decoder: Decoder, latent_dim: int, image_shape: tuple[int, int, int],
                 meta: dict[str, Any] | None = None) -> None:
        super().__init__()
        self.decoder = decoder
        self.latent_dim = latent_dim
        self.image_shape = as_shape(image_shape)
        self.meta = dict(meta or {})

    def sample_latents(self, n: int, *, generator: torch.Generator, truncation: float = 1.0) -> torch.Tensor:
        device = next(self.decoder.parameters()).device
        return torch.randn(n, self.latent_dim, generator=generator, device=generator.device).to(device) * truncation

    def forward(self, latents: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.decoder(latents)) * 2 - 1

    def save(self, folder: str | Path, *, half: bool = False) -> Path:
        """Write ``decoder.safetensors`` (float16 with ``half``; loads back as float32) and ``generator.json``."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        state = {k: (v.half() if half else v) for k, v in self.decoder.state_dict().items()}
        save_state_dict(state, folder / DECODER_FILE)
        info = {"kind": KIND, "architecture": "vae-decoder", "latent_dim": self.latent_dim,
                "image_shape": list(self.image_shape), **self.meta}
        write_text_atomic(folder / GENERATOR_FILE, json.dumps(info, indent=2) + "\n")
        return folder


def generator_folder(name: str | Path) -> Path:
    """The folder of a zoo generator, a generator folder or a run folder holding ``generator/``."""
    from trustgen.core.zoo import is_zoo_name, model_dir

    text = str(name)
    if is_zoo_name(text):
        folder = model_dir(text)
        if not (folder / GENERATOR_FILE).is_file():
            raise TrustgenError(f"zoo model {text!r} is not a generator (no {GENERATOR_FILE})")
        return folder
    path = Path(text)
    if path.is_dir() and not (path / GENERATOR_FILE).is_file() and (path / "generator" / GENERATOR_FILE).is_file():
        path = path / "generator"
    if not (path / GENERATOR_FILE).is_file():
        raise TrustgenError(f"no generator {text!r}: neither a zoo generator nor a folder with {GENERATOR_FILE}")
    return path


def load_generator(name: str | Path, *, device: str = "cpu") -> DecoderGenerator:
    """A saved :class:`DecoderGenerator` (eval mode, float32, gradients off for its weights)."""
    folder = generator_folder(name)
    info = read_json(folder / GENERATOR_FILE)
    if info.get("kind") != KIND or info.get("architecture") != "vae-decoder":
        raise TrustgenError(f"{folder / GENERATOR_FILE} does not describe a trustgen VAE-decoder generator")
    try:
        shape = as_shape(info["image_shape"])
        decoder = Decoder(int(info["latent_dim"]), shape, list(info["widths"]))
        decoder.load_state_dict({k: v.float() for k, v in load_state_dict(folder / DECODER_FILE).items()})
    except (KeyError, TypeError, ValueError, RuntimeError) as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise CorruptFileError(f"bad generator in {folder}: {first}") from None
    meta = {k: v for k, v in info.items() if k not in {"kind", "architecture", "latent_dim", "image_shape"}}
    gen = DecoderGenerator(decoder, int(info["latent_dim"]), shape, meta).to(device).eval()
    for p in gen.parameters():
        p.requires_grad_(False)
    return gen


@dataclass
class VAEResult:
    generator: DecoderGenerator
    steps: int
    final_loss: float
    train_seconds: float

    def to_dict(self) -> dict[str, Any]:
        return {"steps": self.steps, "final_loss": self.final_loss, "train_seconds": self.train_seconds,
                "parameters": sum(p.numel() for p in self.generator.parameters())}


def train_vae(settings: GeneratorTrainSettings, images: torch.Tensor, *, progress: bool = False) -> VAEResult:
    """Fit the VAE to ``images`` (N×C×H×W in [-1, 1]): Bernoulli likelihood of the pixel intensities plus the
    KL term (β = ``settings.beta``), Adam; return the decoder as a generator."""
    from trustgen.core.progress import track
    from trustgen.core.seeding import seed_everything

    seed_everything(settings.seed)
    gen = torch.Generator().manual_seed(settings.seed)
    shape = as_shape(images.shape[1:])
    enc = Encoder(settings.latent_dim, shape, settings.widths)
    dec = Decoder(settings.latent_dim, shape, settings.widths)
    opt = torch.optim.Adam([*enc.parameters(), *dec.parameters()], lr=settings.lr)
    target = (images + 1) / 2
    n, steps, began = len(images), 0, time.perf_counter()
    last = math.nan
    for _ in track(range(settings.epochs), description="training VAE", enabled=progress):
        order = torch.randperm(n, generator=gen)
        total = 0.0
        for i in range(0, n, settings.batch_size):
            x = target[order[i : i + settings.batch_size]]
            mu, logvar = enc(x * 2 - 1)
            z = mu + torch.randn(mu.shape, generator=gen) * torch.exp(0.5 * logvar)
            rec = F.binary_cross_entropy_with_logits(dec(z), x, reduction="sum") / len(x)
            kl = -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp()) / len(x)
            loss = rec + settings.beta * kl
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            steps += 1
            total += float(loss.detach()) * len(x)
        last = total / n
    meta = {"widths": list(settings.widths), "dataset": settings.dataset, "classes": settings.classes,
            "split": settings.split, "training": settings.model_dump(mode="json")}
    generator = DecoderGenerator(dec.eval(), settings.latent_dim, shape, meta).eval()
    for p in generator.parameters():
        p.requires_grad_(False)
    return VAEResult(generator, steps=steps, final_loss=round(last, 4),
                     train_seconds=round(time.perf_counter() - began, 2))
