"""Tests of trustgen.core.metrics: FD, KID, the digits classifier, extractors, quality scores."""

from __future__ import annotations

import math
import shutil

import numpy as np
import pytest
import scipy.linalg
import torch
from torch import nn

from trustgen.core.data import load_dataset
from trustgen.core.errors import CorruptFileError, TrustgenError
from trustgen.core.metrics import (
    class_entropy,
    class_histogram,
    classifier_confidence,
    evaluate_samples,
    extractor_for_dataset,
    frechet_distance,
    gaussian_stats,
    get_extractor,
    kernel_distance,
    load_digits_classifier,
    ms_ssim,
    ssim,
)
from trustgen.core.metrics.digits_classifier import load_classifier_from
from trustgen.core.metrics.frechet import frechet_from_stats
from trustgen.core.safe_io import read_json
from trustgen.core.zoo import model_dir, verify_files

torch.set_num_threads(1)


class FeaturesAsIs(nn.Module):
    """A 'feature extractor' for torchmetrics that returns its input: the features are the images."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.num_features = dim

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x


def _scipy_fd(a: np.ndarray, b: np.ndarray) -> float:
    """Textbook FD with scipy's general sqrtm (an independent path from the eigen method)."""
    mu_a, mu_b = a.mean(0), b.mean(0)
    s_a, s_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    covmean = scipy.linalg.sqrtm(s_a @ s_b)
    return float(((mu_a - mu_b) ** 2).sum() + np.trace(s_a + s_b - 2 * np.real(covmean)))


# --- Fréchet distance -------------------------------------------------------------------------

MU_A, MU_B = np.array([0.0, 0.0, 0.0, 0.0]), np.array([1.0, 0.5, 0.0, -1.0])
VAR_A, VAR_B = np.array([1.0, 2.0, 0.5, 1.0]), np.array([2.0, 1.0, 0.5, 4.0])
ANALYTIC_FD = float(((MU_A - MU_B) ** 2).sum() + (VAR_A + VAR_B - 2 * np.sqrt(VAR_A * VAR_B)).sum())


def test_fd_closed_form_exact_stats() -> None:
    assert frechet_from_stats(MU_A, np.diag(VAR_A), MU_B, np.diag(VAR_B)) == pytest.approx(
        ANALYTIC_FD, rel=1e-12
    )


def test_fd_sampled_gaussians_close_to_analytic() -> None:
    rng = np.random.default_rng(0)
    a = MU_A + rng.standard_normal((40_000, 4)) * np.sqrt(VAR_A)
    b = MU_B + rng.standard_normal((40_000, 4)) * np.sqrt(VAR_B)
    assert frechet_distance(a, b) == pytest.approx(ANALYTIC_FD, abs=0.05)
    assert frechet_distance(a, a) == pytest.approx(0.0, abs=1e-9)


def test_fd_matches_scipy_and_torchmetrics() -> None:
    from torchmetrics.image.fid import FrechetInceptionDistance

    rng = np.random.default_rng(1)
    mix = rng.standard_normal((8, 8))
    a = rng.standard_normal((600, 8)) @ mix
    b = rng.standard_normal((500, 8)) @ mix * 1.3 + 0.4
    ours = frechet_distance(a, b)
    assert ours == pytest.approx(_scipy_fd(a, b), rel=1e-6)

    fid = FrechetInceptionDistance(feature=FeaturesAsIs(8))
    fid.update(torch.from_numpy(a), real=True)
    fid.update(torch.from_numpy(b), real=False)
    assert ours == pytest.approx(float(fid.compute()), rel=1e-3)


def test_fd_rank_deficient_features() -> None:
    """Fewer samples than dimensions (singular covariances) still gives a finite, scipy-consistent value."""
    rng = np.random.default_rng(2)
    a = np.maximum(rng.standard_normal((20, 40)), 0)  # ReLU-like, rank <= 19
    b = np.maximum(rng.standard_normal((20, 40)) + 0.3, 0)
    ours = frechet_distance(a, b)
    assert math.isfinite(ours) and ours > 0
    assert ours == pytest.approx(_scipy_fd(a, b), rel=1e-3)


def test_gaussian_stats_and_bad_features() -> None:
    mu, cov = gaussian_stats(np.array([[0.0, 1.0], [2.0, 3.0]]))
    np.testing.assert_allclose(mu, [1.0, 2.0])
    np.testing.assert_allclose(cov, [[2.0, 2.0], [2.0, 2.0]])
    with pytest.raises(TrustgenError):
        frechet_distance(np.zeros((5, 3)), np.zeros((5, 4)))
    with pytest.raises(TrustgenError):
        frechet_distance(np.full((5, 3), np.nan), np.zeros((5, 3)))


# --- KID ----------------------------------------------------------------------------------------


def _torchmetrics_kid(a: np.ndarray, b: np.ndarray, subsets: int, subset_size: int) -> tuple[float, float]:
    from torchmetrics.image.kid import KernelInceptionDistance

    kid = KernelInceptionDistance(feature=FeaturesAsIs(a.shape[1]), subsets=subsets, subset_size=subset_size)
    kid.update(torch.from_numpy(a), real=True)
    kid.update(torch.from_numpy(b), real=False)
    mean, std = kid.compute()
    return float(mean), float(std)


@pytest.mark.filterwarnings("ignore:Metric `Kernel Inception Distance` will save")
def test_kid_matches_torchmetrics() -> None:
    rng = np.random.default_rng(3)
    a = rng.standard_normal((200, 16))
    b = rng.standard_normal((200, 16)) * 1.2 + 0.3
    # Subsets as large as the sets are the full sets in another order: both must agree exactly.
    ours_full, std_full = kernel_distance(a, b, subset_size=200, num_subsets=3)
    theirs_full, _ = _torchmetrics_kid(a, b, subsets=3, subset_size=200)
    assert ours_full == pytest.approx(theirs_full, rel=1e-6)
    assert std_full == pytest.approx(0.0, abs=1e-9)
    # Random subsets: the means agree within their sampling error.
    torch.manual_seed(0)
    ours, ours_std = kernel_distance(a, b, subset_size=50, num_subsets=200, seed=0)
    theirs, theirs_std = _torchmetrics_kid(a, b, subsets=200, subset_size=50)
    assert abs(ours - theirs) < 4 * max(ours_std, theirs_std) / math.sqrt(200)


def test_kid_same_vs_shifted() -> None:
    rng = np.random.default_rng(4)
    a, b = rng.standard_normal((300, 16)), rng.standard_normal((300, 16))
    shifted = rng.standard_normal((300, 16)) + 1.0
    same, same_std = kernel_distance(a, b)
    diff, _ = kernel_distance(a, shifted)
    assert abs(same) < 3 * same_std
    assert diff > 0 and diff > 20 * abs(same)
    assert kernel_distance(a, shifted, seed=7) == kernel_distance(a, shifted, seed=7)


def test_kid_clips_subset_size() -> None:
    rng = np.random.default_rng(5)
    mean, std = kernel_distance(rng.standard_normal((10, 4)), rng.standard_normal((30, 4)), subset_size=100)
    assert math.isfinite(mean) and math.isfinite(std)


# --- Digits classifier and zoo -------------------------------------------------------------------


def test_digits_classifier_accuracy_from_zoo() -> None:
    model = load_digits_classifier()
    assert not model.training
    test = load_dataset("digits", "test")
    with torch.no_grad():
        preds = model(test.images).argmax(1)
    acc = float((preds == test.labels).float().mean())
    assert acc >= 0.97
    assert model.features(test.images[:4]).shape == (4, 128)


def test_zoo_hash_rejects_tampered_copy(tmp_path) -> None:
    folder = tmp_path / "digits-classifier"
    shutil.copytree(model_dir("digits-classifier"), folder)
    files = read_json(folder / "card.json")["files"]
    verify_files(folder, files)  # the untouched copy passes
    assert load_classifier_from(folder).config.num_classes == 10
    weights = folder / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[len(data) // 2] ^= 0xFF
    weights.write_bytes(bytes(data))
    with pytest.raises(CorruptFileError, match="sha256"):
        verify_files(folder, files)


# --- evaluate_samples -----------------------------------------------------------------------------


def test_evaluate_real_and_noise() -> None:
    test = load_dataset("digits", "test")
    real = evaluate_samples(test.images, "digits")
    assert real["num_samples"] == len(test)
    assert real["fd_digits"] <= real["fd_digits_floor"]
    assert real["confidence"] >= 0.9
    assert real["class_entropy"] >= 0.95 * math.log(10)
    assert real["class_entropy_max"] == pytest.approx(math.log(10))
    assert sum(real["class_histogram"]) == pytest.approx(1.0)

    # Other real images (a different random draw from TRAIN) land near the floor.
    train = load_dataset("digits", "train")
    idx = np.random.default_rng(123).choice(len(train), len(test), replace=False)
    other = evaluate_samples(train.images[idx], "digits")
    assert other["fd_digits"] < 2 * other["fd_digits_floor"]

    noise = torch.randn(len(test), 1, 16, 16, generator=torch.Generator().manual_seed(0)).clamp(-1, 1)
    bad = evaluate_samples(noise, "digits")
    assert bad["fd_digits"] > 10 * bad["fd_digits_floor"]
    assert bad["kid_digits"] > bad["kid_digits_floor"] + 3 * bad["kid_digits_std"]
    assert bad["class_entropy"] < real["class_entropy"]


@pytest.mark.parametrize(
    ("samples", "match"),
    [
        (torch.full((4, 1, 16, 16), float("nan")), "NaN"),
        (torch.zeros(4, 3, 16, 16), "3×16×16"),
        (torch.zeros(4, 16, 16), "N×C×H×W"),
        (torch.zeros(1, 1, 16, 16), "at least 2"),
    ],
)
def test_evaluate_rejects_bad_input(samples: torch.Tensor, match: str) -> None:
    with pytest.raises(TrustgenError, match=match):
        evaluate_samples(samples, "digits")


# --- extractors -----------------------------------------------------------------------------------


def test_inception_extractor_unavailable_offline() -> None:
    with pytest.raises(TrustgenError, match="torch-fidelity"):
        get_extractor("inception")


def test_extractor_registry() -> None:
    assert extractor_for_dataset("digits") == "digits"
    assert extractor_for_dataset("digits-captioned") == "digits"
    assert extractor_for_dataset("faces-lfw") == "faces"
    with pytest.raises(TrustgenError, match="--extractor"):
        extractor_for_dataset("mri")
    with pytest.raises(TrustgenError, match="unknown feature extractor"):
        get_extractor("vgg")
    ext = get_extractor("digits")
    assert (ext.name, ext.dim) == ("digits", 128)
    # Other sizes and channel counts are converted (gray, 16×16) rather than refused.
    assert ext.features(torch.zeros(3, 3, 32, 32)).shape == (3, 128)


def test_faces_extractor() -> None:
    pytest.importorskip("dlib")
    from skimage.data import lfw_subset

    faces = torch.from_numpy(lfw_subset()[:5]).float()[:, None] * 2 - 1
    faces = nn.functional.interpolate(faces, size=32, mode="bilinear", align_corners=False)
    noise = torch.rand(5, 1, 32, 32, generator=torch.Generator().manual_seed(0)) * 2 - 1
    ext = get_extractor("faces")
    feats = ext.features(torch.cat([faces, noise]))
    assert feats.shape == (10, 128) and np.all(np.isfinite(feats))
    again = ext.features(faces[:2])
    np.testing.assert_allclose(again, feats[:2], atol=1e-5)
    face_noise = np.linalg.norm(feats[:5, None] - feats[None, 5:], axis=-1)
    assert face_noise.min() > 0.4  # far apart in dlib units (same person: < 0.6)


# --- quality scores -------------------------------------------------------------------------------


def test_ssim_and_ms_ssim() -> None:
    x = load_dataset("digits", "test").images[:32]
    noise = torch.rand(x.shape, generator=torch.Generator().manual_seed(0)) * 2 - 1
    assert ssim(x, x) == pytest.approx(1.0, abs=1e-5)
    assert ssim(x, noise) < 0.3
    assert ms_ssim(x, x) == pytest.approx(1.0, abs=1e-5)
    assert ms_ssim(x, noise) < ms_ssim(x, x.roll(1, 0)) < 1.0
    with pytest.raises(TrustgenError):
        ssim(x, x[:, :, :8])


def test_class_scores() -> None:
    probs = np.array([[0.9, 0.1], [0.6, 0.4]])
    assert classifier_confidence(probs) == pytest.approx(0.75)
    np.testing.assert_allclose(class_histogram([0, 1, 1, 1], 4), [0.25, 0.75, 0.0, 0.0])
    assert class_entropy(np.arange(10), 10) == pytest.approx(math.log(10))
    assert class_entropy([3, 3, 3], 10) == pytest.approx(0.0)
    with pytest.raises(TrustgenError):
        class_histogram([0, 12], 10)
