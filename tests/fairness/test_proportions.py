"""Fair sampling's proportions on small simulated cases: direction draws, the open loop's miss when edits
fail, and the closed loop landing on the target anyway."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from trustgen.fairness.closed_loop import closed_loop, remaining_needs, steering_probabilities
from trustgen.fairness.sampling import directions, draw_choices, exact_counts, share


def test_exact_counts_round_by_largest_remainder():
    assert exact_counts([0.5, 0.5], 250).tolist() == [125, 125]  # the authors' 125/125 split
    assert exact_counts([0.3, 0.7], 25).tolist() == [8, 17]  # 7.5 / 17.5: a tie goes to the first value
    assert exact_counts([1 / 3] * 3, 10).sum() == 10


def test_stratified_draws_hit_exact_counts_probabilistic_ones_scatter():
    rng = np.random.default_rng(0)
    stratified = [share(draw_choices([0.3, 0.7], 200, rng, stratified=True), 2)[0] for _ in range(50)]
    bernoulli = [share(draw_choices([0.3, 0.7], 200, rng, stratified=False), 2)[0] for _ in range(50)]
    assert set(stratified) == {0.3}
    assert 0.01 < np.std(bernoulli) < 0.06  # ≈ sqrt(0.21 / 200) = 0.032
    assert abs(np.mean(bernoulli) - 0.3) < 0.02


def test_directions_add_the_chosen_value_and_remove_the_others():
    d = directions(np.array([0, 2, 1]), 3)
    assert d.tolist() == [[1, -1, -1], [-1, -1, 1], [-1, 1, -1]]


def test_steering_probabilities_invert_a_known_confusion():
    confusion = np.array([[0.8, 0.2], [0.4, 0.6]])  # steered to 0: 80 % show 0; steered to 1: 60 % show 1
    q = steering_probabilities(np.array([0.5, 0.5]), confusion)
    assert q @ confusion == pytest.approx([0.5, 0.5], abs=1e-3)
    assert q[0] == pytest.approx(0.25, abs=1e-3)
    # unreachable target: the closest point on the simplex (everything steered to value 1)
    assert steering_probabilities(np.array([0.0, 1.0]), confusion) == pytest.approx([0.0, 1.0], abs=1e-6)


def test_remaining_needs_ignore_overshoot():
    assert remaining_needs(np.array([100, 100]), np.array([30, 10])).tolist() == pytest.approx([70 / 160, 90 / 160])
    assert remaining_needs(np.array([100, 100]), np.array([120, 60])).tolist() == [0.0, 1.0]


class FlakyEdits:
    """A simulated generator whose edit towards value v succeeds with probability ``success[v]``
    (a failed edit shows the other value); images carry their outcome in pixel (0, 0, 0)."""

    def __init__(self, success: tuple[float, float], seed: int = 0) -> None:
        self.success = np.asarray(success)
        self.rng = np.random.default_rng(seed)

    def generate(self, rows: slice, chosen: np.ndarray) -> torch.Tensor:
        ok = self.rng.random(len(chosen)) < self.success[chosen]
        shown = np.where(ok, chosen, 1 - chosen)
        return torch.as_tensor(shown, dtype=torch.float32).reshape(-1, 1, 1, 1)

    @staticmethod
    def measure(images: torch.Tensor) -> np.ndarray:
        return images.flatten().numpy().astype(np.int64)


@pytest.mark.parametrize("target", [0.5, 0.3, 0.7])
def test_open_loop_misses_by_the_edit_failure_rate_closed_loop_lands(target):
    """Edits towards value 0 succeed 75 %, towards value 1 90 %: the open loop lands near
    0.75·t + 0.1·(1 − t) (0.425 for 50 %, 0.555 for 70 %); the closed loop within 2 points over 200 images."""
    sim = FlakyEdits((0.75, 0.9))
    rng = np.random.default_rng(1)
    open_share = share(sim.measure(sim.generate(slice(0, 200), draw_choices([target, 1 - target], 200, rng,
                                                                            stratified=True))), 2)[0]
    assert abs(open_share - (0.75 * target + 0.1 * (1 - target))) < 0.07
    result = closed_loop(sim.generate, sim.measure, [target, 1 - target], 200, round_size=25, rng=rng)
    assert abs(share(result.measured, 2)[0] - target) <= 0.02
    assert len(result.rounds) == 8 and result.rounds[-1]["images"] == 200
    # it learnt the edits' reliability from what it measured
    learnt = result.confusion / result.confusion.sum(axis=1, keepdims=True)
    assert learnt[0, 0] == pytest.approx(0.75, abs=0.15) and learnt[1, 1] == pytest.approx(0.9, abs=0.1)


def test_closed_loop_with_perfect_edits_is_exact_and_three_values_work():
    sim = FlakyEdits((1.0, 1.0))
    result = closed_loop(sim.generate, sim.measure, [0.3, 0.7], 100, round_size=10, rng=np.random.default_rng(0))
    assert share(result.measured, 2) == [0.3, 0.7]

    def three(rows: slice, chosen: np.ndarray) -> torch.Tensor:
        return torch.as_tensor(chosen, dtype=torch.float32).reshape(-1, 1, 1, 1)

    result = closed_loop(three, FlakyEdits.measure, [0.2, 0.3, 0.5], 60, round_size=7, rng=np.random.default_rng(0))
    assert share(result.measured, 3) == pytest.approx([0.2, 0.3, 0.5])


def test_closed_loop_cannot_beat_edits_that_fail_too_often():
    """A target beyond what the edits can reach (value 0 shows only 60 % of the time even when every image is
    steered to it) ends as close as it can: everything steered to value 0."""
    sim = FlakyEdits((0.6, 0.9))
    result = closed_loop(sim.generate, sim.measure, [0.8, 0.2], 200, round_size=25, rng=np.random.default_rng(2))
    assert share(result.choices, 2)[0] > 0.9
    assert 0.5 < share(result.measured, 2)[0] < 0.7
