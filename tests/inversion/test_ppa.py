"""Plug & Play attack: the Poincaré loss, the three steps, batching over classes, bad input."""

from __future__ import annotations

import math

import pytest
import torch

from trustgen.core.errors import TrustgenError
from trustgen.inversion.config import AttackSettings
from trustgen.inversion.ppa import PlugAndPlayAttack, poincare_loss


def _tiny(**kw) -> AttackSettings:
    base = {"candidates": {"search_space": 40, "per_class": 6, "hflip": False},
            "optimization": {"steps": 3, "batch_size": 7}, "final": {"per_class": 3, "iterations": 2},
            "device": "cpu"}
    base.update(kw)
    return AttackSettings(**base)


def test_poincare_loss_matches_the_formula():
    logits, targets = torch.tensor([[2.0, -1.0, 0.5], [0.1, 0.2, 3.0]]), torch.tensor([0, 2])
    xi = 1e-4
    for row, t in zip(logits, targets, strict=True):
        u = row / row.abs().sum()
        v = torch.zeros(3)
        v[t] = 1 - xi
        d = math.acosh(1 + 2 * float(((u - v) ** 2).sum()) / ((1 - float(u @ u)) * (1 - float(v @ v))))
        assert poincare_loss(row[None], t[None], xi).item() == pytest.approx(d, rel=1e-5)
    # confident in the right class → smaller loss
    assert poincare_loss(torch.tensor([[5.0, 0.1, 0.1]]), torch.tensor([0])) < poincare_loss(
        torch.tensor([[0.1, 5.0, 0.1]]), torch.tensor([0]))


def test_attack_runs_all_steps_and_keeps_the_best_per_class(tiny_target, tiny_generator):
    from trustgen.classifiers.bundle import load_classifier
    from trustgen.inversion.vae import load_generator

    target, gen = load_classifier(tiny_target), load_generator(tiny_generator)
    result = PlugAndPlayAttack(target, gen, _tiny()).infer([0, 2])
    assert result.classes == [0, 2] and len(result.optimized_latents) == 12 and len(result.latents) == 6
    assert result.images.shape == (6, 1, 16, 16) and result.images.abs().max() <= 1
    assert result.targets.tolist() == [0, 0, 0, 2, 2, 2]
    assert len(result.losses) == 3 and result.opt_steps == 2 * 3  # 12 latents in batches of 7
    assert not torch.equal(result.optimized_images, result.initial_images)  # optimisation moved them
    # the same seed gives the same result; the target's training state is left alone
    again = PlugAndPlayAttack(target, gen, _tiny()).infer([0, 2])
    assert torch.equal(result.latents, again.latents)
    assert all(p.requires_grad for p in target.parameters())


def test_initial_selection_keeps_the_most_confident(tiny_target, tiny_generator):
    from trustgen.classifiers.bundle import load_classifier
    from trustgen.inversion.vae import load_generator

    target, gen = load_classifier(tiny_target), load_generator(tiny_generator)
    attack = PlugAndPlayAttack(target, gen, _tiny())
    latents, targets = attack.initial_selection([1], torch.Generator().manual_seed(0))
    every = gen.sample_latents(40, generator=torch.Generator().manual_seed(0), truncation=0.5)
    with torch.no_grad():
        conf = target(gen(every)).softmax(1)[:, 1]
        chosen = target(gen(latents)).softmax(1)[:, 1]
    assert targets.tolist() == [1] * 6
    assert torch.allclose(chosen.sort().values, conf.topk(6).values.sort().values)


def test_bad_input(tiny_target, tiny_generator):
    from trustgen.classifiers.bundle import load_classifier
    from trustgen.inversion.vae import load_generator

    target, gen = load_classifier(tiny_target), load_generator(tiny_generator)
    with pytest.raises(TrustgenError, match="outside the target's classes"):
        PlugAndPlayAttack(target, gen, _tiny()).infer([0, 7])
    gen.image_shape = (1, 32, 32)
    with pytest.raises(TrustgenError, match="expects 1×16×16"):
        PlugAndPlayAttack(target, gen, _tiny())
    with pytest.raises(TrustgenError, match="not a generator"):
        PlugAndPlayAttack(target, object(), _tiny())  # type: ignore[arg-type]
