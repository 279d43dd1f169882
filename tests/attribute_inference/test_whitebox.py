"""The white-box stand-in: inversion raises the target's belief in the class it inverts."""

from __future__ import annotations

import torch

from trustgen.attribute_inference.whitebox import invert_class, total_variation


def test_inversion_moves_images_towards_the_class_and_stays_in_range():
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(16, 3)).eval()
    start = torch.rand(4, 1, 4, 4) * 2 - 1
    before = net(start).softmax(1)[:, 2].mean()
    after_images = invert_class(net, start, 2, steps=30, lr=0.1, tv=0.0)
    assert net(after_images).softmax(1)[:, 2].mean() > before
    assert after_images.min() >= -1 and after_images.max() <= 1
    assert all(p.requires_grad for p in net.parameters())


def test_total_variation_is_zero_on_flat_images():
    assert total_variation(torch.zeros(2, 1, 4, 4)).tolist() == [0.0, 0.0]
    assert total_variation(torch.eye(4).reshape(1, 1, 4, 4)).item() > 0
