"""How much of a client's data the server can learn from what it receives.

Three views, per client:

1. The authors' metrics (CollaFuse, ECIS 2024): distance between what the server sees or makes —
   hand-off images ``x_{t_c−1}`` received, ``x̂_{t_c−1}`` generated — and the client's real images
   (Fréchet distance in a feature space, and mean pixel MSE over all pairs).
2. An honest-but-curious server's **reconstruction attack**: from each received hand-off image it
   estimates ``x̂0`` with the linear MMSE (Tweedie) estimate under a Gaussian prior that it fits to the
   hand-off images themselves — the server knows ``ᾱ_{t_c−1}`` and the mean and covariance of what it
   receives, nothing else. We report MSE and SSIM of ``x̂0`` against the true ``x0``, and the
   **re-identification rate**: how often ``x̂0``'s nearest neighbour in the client's training set is its
   own source image (chance = 1/training-set size).
3. **Membership**: can the server tell the client's training images from held-out ones? Score = the
   distance from a candidate image to the nearest reconstruction; we report the AUROC.

A second attacker uses the server's own trained denoiser (:func:`server_model_reconstruction`); a run
reports both (``*_linear``, ``*_model``) and, as the headline numbers, the stronger of the two.
"""

from __future__ import annotations

from typing import Any

import numpy as np


def fit_handoff_prior(x_handoff: Any, alpha_bar: float, eps: float = 1e-6) -> tuple[np.ndarray, np.ndarray]:
    """Mean and covariance of ``x0`` implied by hand-off images: ``E x_h = √ā μ``, ``Cov x_h = ā Σ + (1−ā) I``."""
    h = np.asarray(x_handoff, dtype=np.float64).reshape(len(x_handoff), -1)
    mu_h = h.mean(axis=0)
    cov_h = np.cov(h, rowvar=False)
    mu = mu_h / np.sqrt(alpha_bar)
    sigma = (cov_h - (1 - alpha_bar) * np.eye(h.shape[1])) / alpha_bar
    w, v = np.linalg.eigh((sigma + sigma.T) / 2)
    sigma = (v * np.clip(w, eps, None)) @ v.T
    return mu, sigma


def tweedie_reconstruction(x_handoff: Any, alpha_bar: float, prior: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    """Linear MMSE estimate ``E[x0 | x_h]`` under the Gaussian prior ``prior = (μ, Σ)`` (exact when x0 is Gaussian)."""
    mu, sigma = prior
    h = np.asarray(x_handoff, dtype=np.float64).reshape(len(x_handoff), -1)
    if alpha_bar >= 1.0:
        return h
    a = np.sqrt(alpha_bar)
    cov_h = alpha_bar * sigma + (1 - alpha_bar) * np.eye(len(mu))
    gain = np.linalg.solve(cov_h, a * sigma).T  # Σ a (ā Σ + (1−ā) I)^{-1}
    return mu + (h - a * mu) @ gain.T


def reidentification_rate(x_hat: np.ndarray, train: np.ndarray, source: np.ndarray) -> float:
    """Fraction of reconstructions whose nearest training image (L2) is their own source."""
    import torch

    d = torch.cdist(torch.as_tensor(x_hat, dtype=torch.float64), torch.as_tensor(train, dtype=torch.float64))
    return float((d.argmin(dim=1).numpy() == np.asarray(source)).mean())


def membership_auroc(x_hat: np.ndarray, members: np.ndarray, nonmembers: np.ndarray) -> float:
    """AUROC of "distance to the nearest reconstruction" separating members (small) from non-members."""
    import torch
    from sklearn.metrics import roc_auc_score

    recon = torch.as_tensor(x_hat, dtype=torch.float64)
    score_in = torch.cdist(torch.as_tensor(members, dtype=torch.float64), recon).min(dim=1).values.numpy()
    score_out = torch.cdist(torch.as_tensor(nonmembers, dtype=torch.float64), recon).min(dim=1).values.numpy()
    y = np.r_[np.ones(len(score_in)), np.zeros(len(score_out))]
    return float(roc_auc_score(y, -np.r_[score_in, score_out]))


def mean_pairwise_mse(a: np.ndarray, b: np.ndarray) -> float:
    """Mean pixel MSE over all pairs (a_i, b_j) — the authors' disclosure MSE."""
    a = a.reshape(len(a), -1).astype(np.float64)
    b = b.reshape(len(b), -1).astype(np.float64)
    sq = (a**2).sum(1)[:, None] + (b**2).sum(1)[None, :] - 2 * a @ b.T
    return float(np.clip(sq, 0, None).mean() / a.shape[1])


def reconstruction_attack(x_handoff: Any, x0: Any, source: np.ndarray, train: Any, heldout: Any,
                          alpha_bar: float) -> dict[str, float]:
    """Run the server's linear attack on hand-off images of known source rows; see the module docstring."""
    prior = fit_handoff_prior(x_handoff, alpha_bar)
    x_hat = np.clip(tweedie_reconstruction(x_handoff, alpha_bar, prior), -1, 1)
    return score_reconstruction(x_hat, x0, source, train, heldout)


def score_reconstruction(x_hat: Any, x0: Any, source: np.ndarray, train: Any, heldout: Any) -> dict[str, float]:
    """MSE, SSIM, re-identification and membership AUROC of reconstructions ``x_hat`` of ``x0`` (rows ``source``)."""
    import torch

    from trustgen.core.metrics import ssim

    shape = tuple(x0.shape[1:])
    x_hat = np.asarray(x_hat, dtype=np.float64).reshape(len(x_hat), -1)
    truth = np.asarray(x0, dtype=np.float64).reshape(len(x0), -1)
    flat_train = np.asarray(train, dtype=np.float64).reshape(len(train), -1)
    flat_out = np.asarray(heldout, dtype=np.float64).reshape(len(heldout), -1)
    recon_images = torch.as_tensor(x_hat, dtype=torch.float32).reshape(-1, *shape)
    return {
        "recon_mse": float(((x_hat - truth) ** 2).mean()),
        "recon_ssim": float(ssim(recon_images, torch.as_tensor(x0, dtype=torch.float32))),
        "reid_rate": reidentification_rate(x_hat, flat_train, source),
        "reid_chance": 1.0 / len(flat_train),
        "membership_auroc": membership_auroc(x_hat, flat_train, flat_out),
    }


def server_model_reconstruction(server: Any, client_id: int, x_handoff: Any, labels: Any, full_config: dict[str, Any],
                                generator: Any, level: float = 0.8) -> Any:
    """The server's own denoiser turned against the hand-off images: an estimate of ``x0`` (clipped to [-1, 1]).

    Exact hand-off: the server's model ``ε̂`` at its own step ``k`` estimates ``E[x_h | x']`` for
    ``x' = √r_k·x_h + √(1−r_k)·ε`` (``r_k = ᾱ_{t_c+k}/ᾱ_{t_c−1}``). Its score is ``−ε̂/√(1−r_k)``, the same
    as that of the marginal ``x' ~ q(x_{t_c+k} | x0)``, so Tweedie's formula gives the one-step estimate
    ``x̂0 = (x' − (1−ᾱ_{t_c+k})/√(1−r_k)·ε̂)/√ᾱ_{t_c+k}``; ``k`` is the first step with ``r_k ≤ level``.
    Marginal hand-off: the server's model (trained on the full schedule) is simply continued from
    ``t_c − 1`` down to 0 with 20 DDIM steps.
    """
    import torch

    from trustgen.collab.roles import run_chain
    from trustgen.collab.schedule import alpha_bars
    from trustgen.diffusion.sampling import Conditioning, predict_noise

    model, t_c = server.model_for(client_id), server.client_cuts[client_id]
    x_h = torch.as_tensor(x_handoff, dtype=torch.float32)
    with torch.no_grad():
        if server.handoff == "marginal":
            steps = sorted({int(t) for t in np.linspace(0, t_c - 1, 20).round()}, reverse=True)
            return run_chain(model, x_h, steps, labels, generator, sampler="ddim").clamp(-1, 1)
        own = alpha_bars(model.scheduler_config)
        k = int(torch.nonzero(own <= level)[0]) if bool((own <= level).any()) else len(own) - 1
        r = float(own[k])
        a_t = float(alpha_bars(full_config)[t_c + k])
        noisy = r**0.5 * x_h + (1 - r) ** 0.5 * torch.randn(x_h.shape, generator=generator)
        cond = Conditioning(labels=labels, null_label=len(model.class_names or []) or None)
        eps = torch.cat([predict_noise(model, noisy[i:i + 256], k, cond.rows(slice(i, i + 256)))
                         for i in range(0, len(noisy), 256)])
        return ((noisy - (1 - a_t) / (1 - r) ** 0.5 * eps) / a_t**0.5).clamp(-1, 1)
