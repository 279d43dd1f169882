"""The image prior of a Plug & Play attack: any differentiable generator ``G(w) → image``.

PPA (Struppek et al., ICML 2022) plugs a *pre-trained* generator into the attack instead of training one per
target; the paper uses StyleGAN2 (latents ``w`` from its mapping network, with truncation). Here a generator is
anything that satisfies :class:`Generator`: it draws latents and maps them (differentiably) to images in [-1, 1]
of shape ``image_shape``. A StyleGAN, a diffusers decoder or the small VAE decoder of
:mod:`trustgen.inversion.vae` all fit by a thin adapter.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import torch

from trustgen.core.errors import TrustgenError


@runtime_checkable
class Generator(Protocol):
    """What the attack needs from a generator."""

    image_shape: tuple[int, int, int]  # C, H, W of the images it makes

    def sample_latents(self, n: int, *, generator: torch.Generator, truncation: float = 1.0) -> torch.Tensor:
        """``n`` latents (first dimension ``n``) from the prior, pulled towards its centre by ``truncation``
        (StyleGAN's ψ: 1 is the full prior, smaller is more typical)."""
        ...

    def __call__(self, latents: torch.Tensor) -> torch.Tensor:
        """Images in [-1, 1], N×C×H×W, differentiable in ``latents``."""
        ...


def check_generator(generator: object, image_shape: tuple[int, int, int], *, device: str = "cpu") -> None:
    """:class:`TrustgenError` unless ``generator`` is a :class:`Generator` whose images (one is made to check)
    have ``image_shape``, the shape the target classifier expects."""
    if not isinstance(generator, Generator):
        raise TrustgenError(f"{type(generator).__name__} is not a generator: it needs image_shape, sample_latents "
                            "and __call__")
    want = tuple(int(v) for v in image_shape)
    with torch.no_grad():
        w = generator.sample_latents(1, generator=torch.Generator(device=device).manual_seed(0))
        out = generator(w)
    made = tuple(int(v) for v in out.shape[1:])
    if made != want or tuple(generator.image_shape) != want:
        shown = "×".join(map(str, made if made != want else generator.image_shape))
        raise TrustgenError(f"the generator makes {shown} images but the target classifier expects "
                            f"{'×'.join(map(str, want))}")
