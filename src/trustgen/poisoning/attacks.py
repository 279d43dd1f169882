"""Backdoor triggers as data transforms: BadNets, Blended and a smooth warp; poisoning a fixed subset.

- **BadNets** (Gu, Dolan-Gavitt & Garg, 2017): a two-colour checkerboard patch pasted at a corner (or a random
  place per image), as in the authors' ``backdoor_attacks/badnets.py`` (``checkerboard`` colour, bottom-right).
- **Blended** (Chen et al., 2017): ``(1 − r)·x + r·pattern`` with a fixed seeded uniform-noise pattern.
- **Warp** (after WaNet, Nguyen & Tran, ICLR 2021): every image resampled through one fixed smooth displacement
  field — random offsets on a coarse control grid, upsampled bicubically — of at most ``warp_strength`` pixels.
  It has no local pattern for a diffusion model to wash out, which makes it the hard case for variations.

The poisoning protocol is the authors' (``datasets/backdoor_dataset.py``): a fixed share of the *non-target*
training samples (chosen with ``poison_seed``) gets the trigger and the target label, before augmentation.
All images are float tensors N×C×H×W in [-1, 1]. No I/O here.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from trustgen.core.data import ImageDataset
from trustgen.core.errors import TrustgenError
from trustgen.poisoning.config import AttackSettings


def checkerboard(size: int) -> torch.Tensor:
    """A size×size checkerboard of +1 and −1 (top-left +1)."""
    ii, jj = torch.meshgrid(torch.arange(size), torch.arange(size), indexing="ij")
    return torch.where((ii + jj) % 2 == 0, 1.0, -1.0)


def blend_pattern(shape: tuple[int, int, int], seed: int) -> torch.Tensor:
    """The Blended trigger: C×H×W uniform noise in [-1, 1] from ``seed``."""
    gen = torch.Generator().manual_seed(seed)
    return torch.rand(shape, generator=gen) * 2 - 1


def warp_grid(height: int, width: int, *, grid: int, strength: float, seed: int) -> torch.Tensor:
    """A 1×H×W×2 sampling grid (``grid_sample`` convention): the identity plus a smooth random displacement whose
    largest component is ``strength`` pixels."""
    gen = torch.Generator().manual_seed(seed)
    offsets = torch.rand(1, 2, grid, grid, generator=gen) * 2 - 1
    offsets = offsets / offsets.abs().amax()
    field = F.interpolate(offsets, size=(height, width), mode="bicubic", align_corners=True)
    field = field / field.abs().amax()  # bicubic overshoot: keep the maximum at exactly `strength` pixels
    scale = torch.tensor([2 * strength / width, 2 * strength / height]).view(1, 2, 1, 1)
    ys = (torch.arange(height, dtype=torch.float32) + 0.5) / height * 2 - 1
    xs = (torch.arange(width, dtype=torch.float32) + 0.5) / width * 2 - 1
    gy, gx = torch.meshgrid(ys, xs, indexing="ij")
    identity = torch.stack([gx, gy], dim=-1)[None]
    return identity + (field * scale).permute(0, 2, 3, 1)


def check_attack(attack: AttackSettings, image_shape: tuple[int, int, int], num_classes: int) -> None:
    """:class:`TrustgenError` for a target outside the labels or a patch larger than the image."""
    if not 0 <= attack.target < num_classes:
        raise TrustgenError(f"target class {attack.target} is outside the labels 0–{num_classes - 1}")
    _, h, w = image_shape
    if attack.kind == "badnets" and attack.patch_size > min(h, w):
        raise TrustgenError(f"the BadNets patch ({attack.patch_size}×{attack.patch_size}) is larger than the "
                            f"{h}×{w} images")


def apply_trigger(images: torch.Tensor, attack: AttackSettings, *, generator: torch.Generator | None = None
                  ) -> torch.Tensor:
    """``images`` with the trigger of ``attack`` (a new tensor; ``generator`` draws random patch places)."""
    out = images.clone()
    n, c, h, w = images.shape
    if attack.kind == "badnets":
        size = attack.patch_size
        if size > min(h, w):
            raise TrustgenError(f"the BadNets patch ({size}×{size}) is larger than the {h}×{w} images")
        patch = checkerboard(size).to(images)
        if attack.position == "random":
            tops = torch.randint(0, h - size + 1, (n,), generator=generator).tolist()
            lefts = torch.randint(0, w - size + 1, (n,), generator=generator).tolist()
        else:
            top = 0 if attack.position.startswith("top") else h - size
            left = 0 if attack.position.endswith("left") else w - size
            tops, lefts = [top] * n, [left] * n
        for i, (top, left) in enumerate(zip(tops, lefts, strict=True)):
            out[i, :, top : top + size, left : left + size] = patch
        return out
    if attack.kind == "blended":
        pattern = blend_pattern((c, h, w), attack.pattern_seed).to(images)
        return (1 - attack.blend_ratio) * images + attack.blend_ratio * pattern
    grid = warp_grid(h, w, grid=attack.warp_grid, strength=attack.warp_strength, seed=attack.pattern_seed)
    warped = F.grid_sample(images, grid.to(images).expand(n, -1, -1, -1), mode="bilinear",
                           padding_mode="border", align_corners=False)
    return warped.clamp(-1, 1)


def choose_poisoned(labels: torch.Tensor, attack: AttackSettings) -> torch.Tensor:
    """A boolean mask of the samples to poison: ``round(rate · #non-target)`` non-target rows, fixed by
    ``poison_seed``."""
    candidates = (labels != attack.target).nonzero().flatten()
    count = round(attack.rate * len(candidates))
    gen = torch.Generator().manual_seed(attack.poison_seed)
    chosen = candidates[torch.randperm(len(candidates), generator=gen)[:count]]
    mask = torch.zeros(len(labels), dtype=torch.bool)
    mask[chosen] = True
    return mask


@dataclass
class PoisonedData:
    """The poisoned training set and which rows carry the trigger (their labels are the target)."""

    dataset: ImageDataset
    poisoned: torch.Tensor  # bool, N
    original_labels: torch.Tensor


def poison_dataset(dataset: ImageDataset, attack: AttackSettings) -> PoisonedData:
    """Apply ``attack`` to a fixed share of ``dataset``'s non-target rows and relabel them to the target."""
    if dataset.labels is None or dataset.class_names is None:
        raise TrustgenError(f"data set {dataset.name!r} has no class labels to poison")
    check_attack(attack, dataset.shape, len(dataset.class_names))
    mask = choose_poisoned(dataset.labels, attack)
    images, labels = dataset.images.clone(), dataset.labels.clone()
    if mask.any():
        gen = torch.Generator().manual_seed(attack.pattern_seed)
        images[mask] = apply_trigger(images[mask], attack, generator=gen)
        labels[mask] = attack.target
    poisoned = dataset.subset(torch.arange(len(dataset)))
    poisoned.images, poisoned.labels = images, labels
    return PoisonedData(poisoned, mask, dataset.labels.clone())


def triggered_test_set(test: ImageDataset, attack: AttackSettings) -> tuple[torch.Tensor, torch.Tensor]:
    """The attack-success-rate set: the test images of every class but the target, with the trigger, and their
    true labels (the authors remove target-class images before measuring)."""
    if test.labels is None:
        raise TrustgenError(f"data set {test.name!r} has no class labels")
    keep = test.labels != attack.target
    gen = torch.Generator().manual_seed(attack.pattern_seed + 1)
    return apply_trigger(test.images[keep], attack, generator=gen), test.labels[keep]
