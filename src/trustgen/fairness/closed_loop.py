"""Closed-loop fair sampling (trustgen's addition to Fair Diffusion): measure while generating.

Open-loop Fair Diffusion steers each image towards a value with probability equal to the target share,
so the measured share misses the target by however often an edit fails (the paper's 50/50 instruction
left occupations between 26 % and 88 % female). Here images are generated in rounds; after each round an
attribute measure counts what came out, a confusion matrix ``M[steered, measured]`` of the edits is
updated (starting from a weak identity prior), and the next round's steering probabilities ``q`` solve

    min_q ‖q M − r‖²   subject to q ≥ 0, Σ q = 1,

where ``r`` is the share of each value the *remaining* images must show for the whole batch to land on
the target counts. Each round's choices are exact counts of ``q`` (largest remainder) in random order.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from trustgen.fairness.sampling import draw_choices, exact_counts

PRIOR = 1.0  # pseudo-images per steered value, all on the intended value


def steering_probabilities(needed: np.ndarray, confusion: np.ndarray) -> np.ndarray:
    """Probabilities ``q`` on the simplex whose expected outcome ``q @ confusion`` is closest to ``needed``."""
    from scipy.optimize import nnls

    k = len(needed)
    weight = 10.0  # enforces Σ q = 1 strongly in the augmented least squares
    a = np.vstack([confusion.T, weight * np.ones((1, k))])
    b = np.concatenate([needed, [weight]])
    q, _ = nnls(a, b)
    return q / q.sum() if q.sum() > 0 else np.full(k, 1.0 / k)


def remaining_needs(target_counts: np.ndarray, achieved: np.ndarray) -> np.ndarray:
    """Shares the rest of the batch must show to reach ``target_counts`` (overshoots count as 0)."""
    missing = np.clip(target_counts - achieved, 0, None).astype(np.float64)
    return missing / missing.sum() if missing.sum() > 0 else np.full(len(missing), 1.0 / len(missing))


@dataclass
class ClosedLoopResult:
    """Choices, measured values and images of a closed-loop batch, with each round's probabilities."""

    choices: np.ndarray
    measured: np.ndarray
    images: torch.Tensor
    rounds: list[dict[str, Any]] = field(default_factory=list)
    confusion: np.ndarray | None = None


def closed_loop(
    generate: Callable[[slice, np.ndarray], torch.Tensor],
    measure: Callable[[torch.Tensor], np.ndarray],
    targets: Sequence[float],
    num: int,
    *,
    round_size: int = 25,
    rng: np.random.Generator,
) -> ClosedLoopResult:
    """Generate ``num`` images in rounds, adapting the steering probabilities to land on ``targets``.

    ``generate(rows, choices)`` makes the images of batch rows ``rows`` steered to ``choices``;
    ``measure(images)`` returns the attribute value index each image shows.
    """
    k = len(targets)
    target_counts = exact_counts(targets, num)
    counts = PRIOR * np.eye(k)  # counts[steered, measured]
    achieved = np.zeros(k, dtype=np.int64)
    choices, measured, images, rounds = [], [], [], []
    done = 0
    while done < num:
        m = min(round_size, num - done)
        confusion = counts / counts.sum(axis=1, keepdims=True)
        needed = remaining_needs(target_counts, achieved)
        q = steering_probabilities(needed, confusion)
        chosen = draw_choices(q, m, rng, stratified=True)
        out = generate(slice(done, done + m), chosen)
        got = np.asarray(measure(out), dtype=np.int64)
        np.add.at(counts, (chosen, got), 1)
        achieved += np.bincount(got, minlength=k)
        choices.append(chosen)
        measured.append(got)
        images.append(out)
        done += m
        rounds.append({"images": done, "probabilities": [float(v) for v in q],
                       "share_so_far": [float(v) for v in achieved / done]})
    return ClosedLoopResult(np.concatenate(choices), np.concatenate(measured), torch.cat(images), rounds,
                            counts - PRIOR * np.eye(k))
