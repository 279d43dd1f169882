"""Triggers and the poisoning protocol on real digits."""

from __future__ import annotations

import pytest
import torch
from pydantic import ValidationError

from trustgen.core.data import load_dataset
from trustgen.core.errors import TrustgenError
from trustgen.poisoning.attacks import (
    apply_trigger,
    blend_pattern,
    check_attack,
    checkerboard,
    choose_poisoned,
    poison_dataset,
    triggered_test_set,
    warp_grid,
)
from trustgen.poisoning.config import AttackSettings


@pytest.fixture(scope="module")
def digits():
    return load_dataset("digits", "test")


def test_checkerboard_alternates():
    board = checkerboard(3)
    assert board.tolist() == [[1, -1, 1], [-1, 1, -1], [1, -1, 1]]


def test_badnets_pastes_the_patch_in_the_corner_only(digits):
    x = digits.images[:5]
    out = apply_trigger(x, AttackSettings(kind="badnets", patch_size=3))
    assert torch.equal(out[:, 0, -3:, -3:], checkerboard(3).expand(5, 3, 3))
    assert torch.equal(out[:, :, :-3, :], x[:, :, :-3, :]) and torch.equal(out[:, :, :, :-3], x[:, :, :, :-3])
    top_left = apply_trigger(x, AttackSettings(kind="badnets", patch_size=4, position="top-left"))
    assert torch.equal(top_left[:, 0, :4, :4], checkerboard(4).expand(5, 4, 4))


def test_badnets_random_places_differ_and_stay_inside(digits):
    x = torch.full((20, 1, 16, 16), -1.0)
    out = apply_trigger(x, AttackSettings(kind="badnets", patch_size=3, position="random"),
                        generator=torch.Generator().manual_seed(0))
    changed = [tuple((out[i, 0] != -1).nonzero().min(0).values.tolist()) for i in range(20)]
    assert len(set(changed)) > 1
    assert ((out != -1).sum(dim=(1, 2, 3)) == 5).all()  # the five +1 squares of a 3×3 board, all inside


def test_blended_is_the_seeded_mix(digits):
    x = digits.images[:4]
    attack = AttackSettings(kind="blended", blend_ratio=0.2, pattern_seed=7)
    pattern = blend_pattern((1, 16, 16), 7)
    assert torch.allclose(apply_trigger(x, attack), 0.8 * x + 0.2 * pattern)
    assert not torch.equal(pattern, blend_pattern((1, 16, 16), 8))
    assert pattern.min() >= -1 and pattern.max() <= 1


def test_warp_displacement_is_bounded_smooth_and_fixed(digits):
    grid = warp_grid(16, 16, grid=4, strength=1.0, seed=42)
    identity = warp_grid(16, 16, grid=4, strength=1e-9, seed=42)
    shift_px = (grid - identity) * 16 / 2
    assert shift_px.abs().max() == pytest.approx(1.0, abs=1e-4)
    assert (shift_px[:, 1:] - shift_px[:, :-1]).abs().max() < 0.5  # smooth: neighbours move alike
    x = digits.images[:4]
    attack = AttackSettings(kind="warp")
    a, b = apply_trigger(x, attack), apply_trigger(x, attack)
    assert torch.equal(a, b) and (a - x).abs().mean() > 0.02


def test_a_fixed_share_of_non_target_samples_is_poisoned(digits):
    attack = AttackSettings(target=3, rate=0.1)
    mask = choose_poisoned(digits.labels, attack)
    nontarget = int((digits.labels != 3).sum())
    assert int(mask.sum()) == round(0.1 * nontarget)
    assert not (mask & (digits.labels == 3)).any()
    assert torch.equal(mask, choose_poisoned(digits.labels, attack))
    assert not torch.equal(mask, choose_poisoned(digits.labels, attack.model_copy(update={"poison_seed": 1})))
    assert int(choose_poisoned(digits.labels, AttackSettings(rate=0.0)).sum()) == 0


def test_poison_dataset_relabels_and_triggers_only_the_chosen_rows(digits):
    attack = AttackSettings(kind="badnets", target=0, rate=0.2)
    result = poison_dataset(digits, attack)
    mask = result.poisoned
    assert (result.dataset.labels[mask] == 0).all()
    assert torch.equal(result.dataset.labels[~mask], digits.labels[~mask])
    assert torch.equal(result.dataset.images[~mask], digits.images[~mask])
    assert torch.equal(result.dataset.images[mask], apply_trigger(digits.images[mask], attack))
    assert torch.equal(result.original_labels, digits.labels)
    assert torch.equal(digits.images, load_dataset("digits", "test").images)  # the input is not modified


def test_triggered_test_set_drops_the_target_class(digits):
    images, labels = triggered_test_set(digits, AttackSettings(target=2))
    assert (labels != 2).all() and len(labels) == int((digits.labels != 2).sum())
    assert images.shape[1:] == digits.images.shape[1:]


@pytest.mark.parametrize("rate", [1.0, -0.1, 1.5])
def test_rate_outside_zero_one_is_refused(rate):
    with pytest.raises(ValidationError, match=r"\[0, 1\)"):
        AttackSettings(rate=rate)


def test_bad_target_and_oversized_patch_are_refused():
    with pytest.raises(TrustgenError, match="outside the labels 0–9"):
        check_attack(AttackSettings(target=10), (1, 16, 16), 10)
    with pytest.raises(TrustgenError, match="larger than the 16×16"):
        check_attack(AttackSettings(patch_size=17), (1, 16, 16), 10)
    check_attack(AttackSettings(kind="blended", patch_size=17), (1, 16, 16), 10)  # no patch: no complaint
