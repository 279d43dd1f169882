"""Plug & Play Attacks (Struppek et al., *Plug & Play Attacks: Towards Robust and Flexible Model Inversion
Attacks*, ICML 2022; arXiv 2201.12179), as the authors implement it (LukasStruppek/Plug-and-Play-Attacks:
``attacks/initial_selection.py``, ``attacks/optimize.py``, ``attacks/final_selection.py``, ``losses/poincare.py``).

White-box: gradients of the target classifier are used; the generator is any pre-trained
:class:`~trustgen.inversion.generator.Generator`.

1. **Initial selection.** Sample ``search_space`` latents (truncated), make their images, average the target's
   softmax over the views (the image and, with ``hflip``, its mirror) and keep the ``per_class`` most confident
   latents of every attacked class.
2. **Optimisation.** Adam on the latents to minimise the Poincaré distance between the target's normalised
   logits of a randomly cropped image and the (clipped) one-hot target, batched over all classes.
3. **Final selection.** Score each optimised latent by the mean target-class confidence over ``iterations``
   random transforms and keep the best ``per_class`` of every class.

Random crops are drawn per image (torchvision's transforms, which the authors apply to whole batches, draw one
per batch); see :func:`trustgen.classifiers.augment.random_resized_crop`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from trustgen.classifiers.augment import center_crop_resize, random_resized_crop
from trustgen.classifiers.bundle import as_shape
from trustgen.core.errors import TrustgenError
from trustgen.inversion.config import AttackSettings
from trustgen.inversion.generator import Generator, check_generator


def poincare_loss(logits: torch.Tensor, targets: torch.Tensor, xi: float = 1e-4) -> torch.Tensor:
    """Per-sample Poincaré distance ``arccosh(1 + 2‖u − v‖² / ((1 − ‖u‖²)(1 − ‖v‖²)))`` between the L1-normalised
    logits ``u`` and ``v = clip(onehot − ξ, 0, 1)`` (the authors' ``losses/poincare.py``)."""
    u = logits / logits.abs().sum(dim=1, keepdim=True)
    v = (torch.nn.functional.one_hot(targets, logits.shape[1]).to(logits.dtype) - xi).clamp(0, 1)
    u2, v2 = (u * u).sum(dim=1), (v * v).sum(dim=1)
    delta = 2 * ((u - v) ** 2).sum(dim=1) / ((1 - u2) * (1 - v2))
    return torch.arccosh(1 + delta)


@dataclass
class InversionResult:
    """What an attack found. ``targets`` are output indices of the target; ``classes[i]`` is the data-set label
    attacked by index ``class_index[i]``. Images are on the CPU, in [-1, 1]."""

    classes: list[int]
    class_index: list[int]
    latents: torch.Tensor  # final selection, grouped by class in the order of ``classes``
    targets: torch.Tensor
    images: torch.Tensor
    scores: torch.Tensor  # mean target confidence over the final-selection transforms
    optimized_latents: torch.Tensor  # every optimised latent (before the final selection)
    optimized_targets: torch.Tensor
    optimized_images: torch.Tensor
    initial_images: torch.Tensor  # the selected candidates before optimisation
    losses: list[float] = field(default_factory=list)  # mean Poincaré loss per optimisation step
    timings: dict[str, float] = field(default_factory=dict)
    opt_steps: int = 0  # optimisation steps taken (batches × steps)

    def images_of(self, label: int) -> torch.Tensor:
        """The final images of data-set label ``label``."""
        return self.images[self.targets == self.class_index[self.classes.index(label)]]

    def to_dict(self) -> dict[str, Any]:
        return {"classes": self.classes, "num_final": int(len(self.latents)),
                "num_optimized": int(len(self.optimized_latents)),
                "final_score_mean": float(self.scores.mean()) if len(self.scores) else None,
                "loss_first": self.losses[0] if self.losses else None,
                "loss_last": self.losses[-1] if self.losses else None,
                "opt_steps": self.opt_steps, **{f"seconds_{k}": round(v, 3) for k, v in self.timings.items()}}


@contextmanager
def frozen(model: nn.Module) -> Iterator[nn.Module]:
    """``model`` in eval mode with its parameters' gradients off; both restored afterwards."""
    was_training = model.training
    needed = [p.requires_grad for p in model.parameters()]
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    try:
        yield model
    finally:
        for p, need in zip(model.parameters(), needed, strict=True):
            p.requires_grad_(need)
        model.train(was_training)


class PlugAndPlayAttack:
    """PPA against ``target`` (logits of images in [-1, 1]) with the image prior ``generator``.

    ``target`` is usually a :class:`~trustgen.classifiers.Classifier` (its ``classes`` map data-set labels to
    outputs, its ``image_shape`` is checked against the generator's); any ``nn.Module`` works, with classes given as
    output indices.
    """

    def __init__(self, target: nn.Module, generator: Generator, settings: AttackSettings | None = None) -> None:
        self.target = target
        self.generator = generator
        self.settings = settings or AttackSettings()
        s = self.settings
        if s.candidates.per_class > s.candidates.search_space:
            raise TrustgenError(f"candidates.per_class ({s.candidates.per_class}) exceeds candidates.search_space "
                                f"({s.candidates.search_space})")
        if not isinstance(target, nn.Module):
            raise TrustgenError(f"the target ({type(target).__name__}) is not a classifier (a torch module)")
        if not isinstance(generator, Generator):
            raise TrustgenError(f"{type(generator).__name__} is not a generator: it needs image_shape, "
                                "sample_latents and __call__")
        self.device = next(iter(target.parameters())).device
        self.image_shape = as_shape(getattr(target, "image_shape", generator.image_shape))
        gen_shape = tuple(generator.image_shape)
        if s.resize or s.center_crop is not None:
            if gen_shape[0] != self.image_shape[0]:
                raise TrustgenError(f"the generator makes {gen_shape[0]}-channel images but the target classifier "
                                    f"expects {self.image_shape[0]}")
        else:
            check_generator(generator, self.image_shape, device=str(self.device))

    # -- helpers -----------------------------------------------------------------------------------------------

    def _prepare(self, images: torch.Tensor) -> torch.Tensor:
        """Generated images as the target sees them: clipped (optionally), centre-cropped and resized."""
        s = self.settings
        size = (self.image_shape[1], self.image_shape[2]) if s.resize else None
        return center_crop_resize(images, s.center_crop, size)

    def _num_outputs(self) -> int:
        with torch.no_grad(), frozen(self.target):
            return int(self.target(torch.zeros(1, *self.image_shape, device=self.device)).shape[1])

    def resolve_classes(self, classes: list[int] | None) -> tuple[list[int], list[int]]:
        """(data-set labels, output indices) of the attacked classes; :class:`TrustgenError` if one is out of range."""
        known = getattr(self.target, "classes", None)
        if known is None:
            n = self._num_outputs()
            labels = list(range(n)) if classes is None else list(classes)
            bad = [c for c in labels if not 0 <= c < n]
            if bad:
                raise TrustgenError(f"class {bad[0]} is outside the target's classes (0–{n - 1})")
            return labels, labels
        labels = list(known) if classes is None else list(classes)
        return labels, self.target.indices_of(labels)  # type: ignore[operator]

    # -- the three steps ---------------------------------------------------------------------------------------

    @torch.no_grad()
    def initial_selection(self, index: list[int], rng: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """(latents, output indices): the ``per_class`` most confident of ``search_space`` samples per class."""
        c = self.settings.candidates
        latents = self.generator.sample_latents(c.search_space, generator=rng, truncation=c.truncation)
        conf = []
        with frozen(self.target):
            for i in range(0, len(latents), c.batch_size):
                x = self._prepare(self.generator(latents[i : i + c.batch_size]))
                views = [x, x.flip(-1)] if c.hflip else [x]
                conf.append(sum(self.target(v).softmax(dim=1) for v in views) / len(views))
        scores = torch.cat(conf)
        chosen = [scores[:, k].topk(c.per_class).indices for k in index]
        targets = torch.cat([torch.full((c.per_class,), k, dtype=torch.long, device=latents.device) for k in index])
        return latents[torch.cat(chosen)], targets

    def optimize(self, latents: torch.Tensor, targets: torch.Tensor, rng: torch.Generator, *,
                 on_step: Callable[[int, float], None] | None = None) -> tuple[torch.Tensor, list[float]]:
        """The optimised latents and the mean loss per step (averaged over the batches)."""
        o = self.settings.optimization
        out, curves, sizes = [], [], []
        with frozen(self.target):
            for i in range(0, len(latents), o.batch_size):
                w = latents[i : i + o.batch_size].detach().clone().requires_grad_(True)
                t = targets[i : i + o.batch_size].to(self.device)
                curves.append(self._optimize_batch(w, t, rng, on_step))
                sizes.append(len(w))
                out.append(w.detach())
        if not out:
            return latents, []
        mean = [sum(n * curve[j] for n, curve in zip(sizes, curves, strict=True)) / sum(sizes) for j in range(o.steps)]
        return torch.cat(out), mean

    def _optimize_batch(self, w: torch.Tensor, t: torch.Tensor, rng: torch.Generator,
                        on_step: Callable[[int, float], None] | None) -> list[float]:
        o = self.settings.optimization
        opt = torch.optim.Adam([w], lr=o.lr, betas=o.betas)
        losses = []
        for step in range(o.steps):
            for group in opt.param_groups:
                group["lr"] = o.lr * o.lr_gamma ** sum(step >= m for m in o.lr_milestones)
            images = self.generator(w)
            if o.clip:
                images = images.clamp(-1, 1)
            x = random_resized_crop(self._prepare(images), scale=o.crop_scale, ratio=o.crop_ratio, hflip=o.hflip,
                                    generator=rng)
            loss = poincare_loss(self.target(x), t, o.xi).mean()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            losses.append(float(loss.detach()))
            if on_step is not None:
                on_step(step, losses[-1])
        return losses

    @torch.no_grad()
    def scores(self, images: torch.Tensor, targets: torch.Tensor, rng: torch.Generator) -> torch.Tensor:
        """Mean target-class confidence of ``images`` over ``final.iterations`` random transforms."""
        f = self.settings.final
        total = torch.zeros(len(images), device=self.device)
        with frozen(self.target):
            for _ in range(f.iterations):
                for i in range(0, len(images), f.batch_size):
                    x = random_resized_crop(self._prepare(images[i : i + f.batch_size].to(self.device)),
                                            scale=f.crop_scale, ratio=f.crop_ratio, hflip=f.hflip, generator=rng)
                    p = self.target(x).softmax(dim=1)
                    t = targets[i : i + f.batch_size, None].to(self.device)
                    total[i : i + f.batch_size] += p.gather(1, t)[:, 0]
        return total / f.iterations

    def final_selection(self, images: torch.Tensor, targets: torch.Tensor, index: list[int], rng: torch.Generator
                        ) -> tuple[torch.Tensor, torch.Tensor]:
        """(row indices of the kept images grouped by class, their scores)."""
        scores = self.scores(images, targets, rng)
        keep = []
        for k in index:
            rows = (targets == k).nonzero().flatten()
            n = min(self.settings.final.per_class, len(rows))
            keep.append(rows[scores[rows].topk(n).indices])
        rows = torch.cat(keep)
        return rows, scores[rows]

    # -- everything --------------------------------------------------------------------------------------------

    def infer(self, classes: list[int] | None = None, *, progress: bool = False,
              on_step: Callable[[int, float], None] | None = None) -> InversionResult:
        """Run the attack on ``classes`` (data-set labels; None: ``settings.classes``, else all the target's)."""
        labels, index = self.resolve_classes(classes if classes is not None else self.settings.classes)
        rng = torch.Generator(device=self.device).manual_seed(self.settings.seed)
        timings: dict[str, float] = {}
        began = time.perf_counter()
        latents, targets = self.initial_selection(index, rng)
        timings["initial"] = time.perf_counter() - began
        with torch.no_grad():
            initial_images = torch.cat([self.generator(latents[i : i + 500]) for i in range(0, len(latents), 500)])
        began = time.perf_counter()
        step_cb = on_step
        if progress:
            step_cb = _progress_callback(len(latents), self.settings.optimization, on_step)
        optimized, losses = self.optimize(latents, targets, rng, on_step=step_cb)
        timings["optimize"] = time.perf_counter() - began
        with torch.no_grad():
            images = torch.cat([self.generator(optimized[i : i + 500]) for i in range(0, len(optimized), 500)])
            if self.settings.optimization.clip:
                images = images.clamp(-1, 1)
        began = time.perf_counter()
        rows, scores = self.final_selection(images, targets, index, rng)
        timings["final"] = time.perf_counter() - began
        o = self.settings.optimization
        batches = -(-len(latents) // o.batch_size)
        return InversionResult(
            classes=labels, class_index=index, latents=optimized[rows].cpu(), targets=targets[rows].cpu(),
            images=images[rows].cpu(), scores=scores.cpu(), optimized_latents=optimized.cpu(),
            optimized_targets=targets.cpu(), optimized_images=images.cpu(), initial_images=initial_images.cpu(),
            losses=losses, timings=timings, opt_steps=batches * o.steps)


def _progress_callback(n: int, o: Any, inner: Callable[[int, float], None] | None) -> Callable[[int, float], None]:
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    total = -(-n // o.batch_size) * o.steps
    bar = Progress(TextColumn("optimising latents"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                   console=Console(stderr=True), transient=True)
    task = bar.add_task("opt", total=total)
    bar.start()
    done = [0]

    def step(i: int, loss: float) -> None:
        done[0] += 1
        bar.update(task, advance=1)
        if done[0] >= total:
            bar.stop()
        if inner is not None:
            inner(i, loss)

    return step
