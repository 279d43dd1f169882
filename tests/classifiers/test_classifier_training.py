"""Classifier layer: class views, augmentations, PGD, training, bit-exact resume, save/load."""

from __future__ import annotations

import pytest
import torch

from trustgen.classifiers.adversarial import pgd
from trustgen.classifiers.augment import random_resized_crop
from trustgen.classifiers.bundle import load_classifier
from trustgen.classifiers.checkpoint import latest_checkpoint
from trustgen.classifiers.data import class_view
from trustgen.classifiers.training import train_classifier
from trustgen.core.errors import TrustgenError


def test_class_view_relabels_in_the_given_order(digits_train):
    view = class_view(digits_train, [3, 1])
    assert set(view.labels.tolist()) == {0, 1} and view.class_names == ["three", "one"]
    assert len(view) == int(((digits_train.labels == 3) | (digits_train.labels == 1)).sum())
    assert torch.equal(view.images[view.labels == 0], digits_train.images[digits_train.labels == 3])
    with pytest.raises(TrustgenError, match="not \\[12\\]"):
        class_view(digits_train, [0, 12])


def test_crops_are_per_image_seeded_and_differentiable():
    x = torch.randn(6, 1, 16, 16, requires_grad=True)
    a = random_resized_crop(x, scale=(0.5, 0.9), ratio=(0.8, 1.2), generator=torch.Generator().manual_seed(0))
    b = random_resized_crop(x, scale=(0.5, 0.9), ratio=(0.8, 1.2), generator=torch.Generator().manual_seed(0))
    assert torch.equal(a, b) and a.shape == x.shape
    copies = x[:1].expand(6, -1, -1, -1)
    same = random_resized_crop(copies, scale=(0.5, 0.9), generator=torch.Generator().manual_seed(0))
    assert not torch.allclose(same[0], same[1])  # one image, six copies: each copy gets its own window
    a.sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    assert random_resized_crop(x, scale=(1.0, 1.0), ratio=(1.0, 1.0)) is x


def test_pgd_stays_in_the_ball_and_raises_the_loss():
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(16, 3))
    x, y = torch.rand(8, 1, 4, 4) * 2 - 1, torch.randint(0, 3, (8,))
    adv = pgd(model, x, y, eps=0.1, step_size=0.05, steps=5, generator=torch.Generator().manual_seed(0))
    assert (adv - x).abs().max() <= 0.1 + 1e-6 and adv.min() >= -1 and adv.max() <= 1
    ce = torch.nn.functional.cross_entropy
    assert ce(model(adv), y) > ce(model(x), y)
    assert all(p.requires_grad for p in model.parameters())


def test_killed_and_resumed_training_matches_uninterrupted(tmp_path, digits_train, tiny_classifier_settings):
    settings = tiny_classifier_settings(epochs=3, label_smoothing=-0.05, ls_warmup_start=0.3, ls_warmup_end=0.6)
    full = train_classifier(settings, digits_train)

    def kill_after_2(epoch, loss, alpha):
        if epoch == 1:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train_classifier(settings, digits_train, out_dir=tmp_path, on_epoch=kill_after_2)
    ckpt = latest_checkpoint(tmp_path)
    assert ckpt is not None and ckpt.name == "epoch-0001"
    resumed = train_classifier(settings, digits_train, out_dir=tmp_path, resume_from=ckpt)
    a, b = full.classifier.network.state_dict(), resumed.classifier.network.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert full.losses == resumed.losses and full.alphas == resumed.alphas
    assert full.alphas[0] == 0.0 and full.alphas[-1] == -0.05
    other = tiny_classifier_settings(epochs=3, label_smoothing=0.1)
    with pytest.raises(TrustgenError, match="label_smoothing"):
        train_classifier(other, digits_train, resume_from=latest_checkpoint(tmp_path))


def test_saved_classifier_loads_back_in_half_and_full_precision(tmp_path, digits_train, tiny_classifier_settings):
    settings = tiny_classifier_settings(epochs=1, adversarial={"enabled": True, "steps": 1})
    model = train_classifier(settings, digits_train).classifier
    x = digits_train.images[:8]
    for half in (False, True):
        folder = model.save(tmp_path / f"m{half}", half=half)
        back = load_classifier(folder)
        assert back.classes == [0, 1, 2] and back.image_shape == (1, 16, 16)
        assert back.meta["training"]["label_smoothing"] == 0.0
        tol = 0 if not half else 5e-2
        assert torch.allclose(back(x), model(x), atol=tol)
    assert load_classifier("digits-classifier").num_classes == 10  # the shipped feature extractor loads too
    with pytest.raises(TrustgenError, match="not a classifier"):
        load_classifier("digits-ddpm")
    with pytest.raises(TrustgenError, match="not a classifier"):
        load_classifier(tmp_path)
