"""Kernel distance (KID): unbiased MMD² with a cubic polynomial kernel, over random subsets.

``k(x, y) = (x·y / d + 1)^3``; for subsets X, Y of size m,
``MMD² = sum_{i≠j} k(x_i, x_j) / (m(m-1)) + sum_{i≠j} k(y_i, y_j) / (m(m-1)) - 2 sum_{i,j} k(x_i, y_j) / m²``
(Bińkowski et al., 2018). The estimator is unbiased, so it can be slightly negative when
both sets come from the same distribution.
"""

from __future__ import annotations

import numpy as np

from trustgen.core.errors import TrustgenError
from trustgen.core.metrics.frechet import as_features


def polynomial_kernel(x: np.ndarray, y: np.ndarray, degree: int = 3) -> np.ndarray:
    """``(x·y / d + 1)^degree`` for every pair of rows of ``x`` and ``y``."""
    return (x @ y.T / x.shape[1] + 1.0) ** degree


def mmd2_unbiased(x: np.ndarray, y: np.ndarray) -> float:
    """Unbiased MMD² of two equal-size samples under the cubic polynomial kernel."""
    m = x.shape[0]
    k_xx, k_yy, k_xy = polynomial_kernel(x, x), polynomial_kernel(y, y), polynomial_kernel(x, y)
    within = (k_xx.sum() - np.trace(k_xx) + k_yy.sum() - np.trace(k_yy)) / (m * (m - 1))
    return float(within - 2 * k_xy.sum() / (m * m))


def kernel_distance(
    feats_a: np.ndarray,
    feats_b: np.ndarray,
    *,
    subset_size: int = 100,
    num_subsets: int = 50,
    seed: int = 0,
) -> tuple[float, float]:
    """KID mean and standard deviation over ``num_subsets`` random subsets.

    Each subset draws ``subset_size`` rows without replacement from each set;
    ``subset_size`` is clipped to ``min(n_a, n_b)``. The same ``seed`` gives the same result.
    """
    a = as_features(feats_a, "first")
    b = as_features(feats_b, "second")
    if a.shape[1] != b.shape[1]:
        raise TrustgenError(f"feature dimensions differ: {a.shape[1]} vs {b.shape[1]}")
    if num_subsets < 1 or subset_size < 2:
        raise TrustgenError(
            f"KID needs num_subsets >= 1 and subset_size >= 2, got {num_subsets}, {subset_size}"
        )
    m = min(subset_size, a.shape[0], b.shape[0])
    rng = np.random.default_rng(seed)
    values = np.empty(num_subsets)
    for i in range(num_subsets):
        xa = a[rng.choice(a.shape[0], m, replace=False)]
        xb = b[rng.choice(b.shape[0], m, replace=False)]
        values[i] = mmd2_unbiased(xa, xb)
    return float(values.mean()), float(values.std())
