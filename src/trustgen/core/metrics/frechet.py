"""Fréchet distance between Gaussians fitted to two feature sets.

``FD = ||mu_a - mu_b||^2 + Tr(S_a + S_b - 2 (S_a S_b)^{1/2})``

This is the formula of FID (Heusel et al., 2017); which network produced the features
decides what the number means, so callers name it after the extractor (``fd_digits``).
"""

from __future__ import annotations

import numpy as np

from trustgen.core.errors import TrustgenError


def as_features(feats: np.ndarray, what: str) -> np.ndarray:
    """``feats`` as a float64 N×D array; :class:`TrustgenError` if it is not one."""
    arr = np.asarray(feats, dtype=np.float64)
    if arr.ndim != 2:
        raise TrustgenError(f"{what} features must be a 2-D array N×D, got shape {arr.shape}")
    if arr.shape[0] < 2:
        raise TrustgenError(f"{what} features need at least 2 rows to fit a covariance, got {arr.shape[0]}")
    if not np.all(np.isfinite(arr)):
        raise TrustgenError(f"{what} features contain NaN or inf")
    return arr


def gaussian_stats(feats: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean (D) and unbiased covariance (D×D) of an N×D feature array, in float64."""
    arr = as_features(feats, "input")
    return arr.mean(axis=0), np.atleast_2d(np.cov(arr, rowvar=False))


def _sqrt_psd(mat: np.ndarray) -> np.ndarray:
    """Symmetric square root of a symmetric positive semi-definite matrix (eigenvalues < 0 clipped)."""
    sym = (mat + mat.T) / 2
    vals, vecs = np.linalg.eigh(sym)
    return (vecs * np.sqrt(np.clip(vals, 0.0, None))) @ vecs.T


def trace_sqrt_product(cov_a: np.ndarray, cov_b: np.ndarray) -> float:
    """``Tr((S_a S_b)^{1/2})`` for covariance matrices, computed stably.

    ``S_a S_b`` is similar to the symmetric PSD matrix ``A = S_a^{1/2} S_b S_a^{1/2}``, so
    the trace of its square root is the sum of the square roots of ``A``'s eigenvalues.
    Unlike a general ``sqrtm`` this never yields an imaginary part; tiny negative
    eigenvalues from round-off are clipped to zero.
    """
    root_a = _sqrt_psd(cov_a)
    inner = root_a @ cov_b @ root_a
    vals = np.linalg.eigvalsh((inner + inner.T) / 2)
    return float(np.sqrt(np.clip(vals, 0.0, None)).sum())


def frechet_from_stats(mu_a: np.ndarray, cov_a: np.ndarray, mu_b: np.ndarray, cov_b: np.ndarray) -> float:
    """Fréchet distance of N(mu_a, cov_a) and N(mu_b, cov_b)."""
    mu_a, mu_b = np.asarray(mu_a, np.float64), np.asarray(mu_b, np.float64)
    cov_a, cov_b = np.atleast_2d(np.asarray(cov_a, np.float64)), np.atleast_2d(np.asarray(cov_b, np.float64))
    if mu_a.shape != mu_b.shape or cov_a.shape != cov_b.shape:
        raise TrustgenError(f"feature dimensions differ: {mu_a.shape[0]} vs {mu_b.shape[0]}")
    diff = mu_a - mu_b
    value = float(diff @ diff + np.trace(cov_a) + np.trace(cov_b) - 2 * trace_sqrt_product(cov_a, cov_b))
    return max(value, 0.0)  # round-off can push an exact 0 slightly negative


def frechet_distance(feats_a: np.ndarray, feats_b: np.ndarray) -> float:
    """Fréchet distance between Gaussians fitted to two N×D feature sets (float64)."""
    a = as_features(feats_a, "first")
    b = as_features(feats_b, "second")
    if a.shape[1] != b.shape[1]:
        raise TrustgenError(f"feature dimensions differ: {a.shape[1]} vs {b.shape[1]}")
    return frechet_from_stats(*gaussian_stats(a), *gaussian_stats(b))
