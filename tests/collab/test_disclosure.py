"""The server's reconstruction attack: it must work where the noise is low and fail where it is high."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from trustgen.collab.disclosure import (
    fit_handoff_prior,
    mean_pairwise_mse,
    reconstruction_attack,
    tweedie_reconstruction,
)


def test_tweedie_is_the_exact_posterior_mean_for_gaussian_data():
    rng = np.random.default_rng(0)
    d, n, a = 4, 20000, 0.5
    cov = np.diag([1.0, 0.5, 0.2, 0.1])
    x0 = rng.multivariate_normal(np.ones(d), cov, n)
    xh = np.sqrt(a) * x0 + np.sqrt(1 - a) * rng.standard_normal((n, d))
    x_hat = tweedie_reconstruction(xh, a, fit_handoff_prior(xh, a))
    # per-dimension posterior variance of a Gaussian: σ²(1−a) / (aσ² + 1 − a)
    expected = np.diag(cov) * (1 - a) / (a * np.diag(cov) + 1 - a)
    assert np.allclose(((x_hat - x0) ** 2).mean(axis=0), expected, rtol=0.05)


@pytest.mark.parametrize(("alpha_bar", "reid_low", "reid_high"), [(0.98, 0.9, 1.0), (0.02, 0.0, 0.1)])
def test_reidentification_tracks_the_noise_level(digits_train, alpha_bar, reid_low, reid_high):
    rows = torch.randperm(len(digits_train), generator=torch.Generator().manual_seed(1))
    x0 = digits_train.images[rows[:300]]
    g = torch.Generator().manual_seed(0)
    xh = alpha_bar**0.5 * x0 + (1 - alpha_bar) ** 0.5 * torch.randn(x0.shape, generator=g)
    held = digits_train.images[rows[300:400]].numpy()
    result = reconstruction_attack(xh.numpy(), x0.numpy(), np.arange(300), x0.numpy(), held, alpha_bar)
    assert reid_low <= result["reid_rate"] <= reid_high
    assert result["reid_chance"] == pytest.approx(1 / 300)
    if alpha_bar > 0.5:
        assert result["membership_auroc"] > 0.9 and result["recon_ssim"] > 0.8
    else:
        assert 0.35 < result["membership_auroc"] < 0.75


def test_pairwise_mse_matches_a_direct_computation():
    rng = np.random.default_rng(1)
    a, b = rng.normal(size=(5, 3, 4)), rng.normal(size=(7, 3, 4))
    direct = np.mean([((x - y) ** 2).mean() for x in a for y in b])
    assert mean_pairwise_mse(a, b) == pytest.approx(direct)


def test_server_model_attack_is_exact_with_an_oracle_denoiser(digits_train):
    """With the ideal ε-predictor of a one-image data set, the server-model attack recovers that image."""
    from types import SimpleNamespace

    from trustgen.collab.build import build_engine
    from trustgen.collab.config import CollabSettings
    from trustgen.collab.disclosure import server_model_reconstruction
    from trustgen.collab.schedule import alpha_bars, handoff_alpha_bar, noise_to_cut

    settings = CollabSettings(clients=1, cut=0.3, num_train_timesteps=100, partition="iid", conditioning="none",
                              unet={"block_out_channels": (8, 16), "norm_num_groups": 4, "attention_head_dim": 4})
    engine = build_engine(settings, [digits_train.subset(range(20))])
    server, full = engine.server, engine.clients[0].model.scheduler_config
    x0 = digits_train.images[:1]
    own, a_full = alpha_bars(server.model.scheduler_config), alpha_bars(full)

    class Oracle(torch.nn.Module):  # E[ε | x'] when every x_h comes from the single image x0
        def forward(self, x, t, **_):
            k = int(t[0])
            r, a_t = float(own[k]), float(a_full[30 + k])
            return SimpleNamespace(sample=(1 - r) ** 0.5 / (1 - a_t) * (x - a_t**0.5 * x0))

    server.model.unet = Oracle()
    g = torch.Generator().manual_seed(0)
    received = noise_to_cut(x0.repeat(8, 1, 1, 1), 30, full, torch.randn((8, *x0.shape[1:]), generator=g))
    assert handoff_alpha_bar(full, 30) < 0.95  # the hand-off images are noisy ...
    x_hat = server_model_reconstruction(server, 0, received, None, full, g)
    assert torch.allclose(x_hat, x0.expand_as(x_hat), atol=1e-4)  # ... and the oracle recovers x0 exactly



@pytest.mark.parametrize("cut", [0.5, 0.0])
def test_generated_handoff_mse_is_measured_on_the_runs_own_generation(tmp_path, monkeypatch, cut):
    """``mse_generated_handoff_vs_real`` compares the hand-off images of the measured generation with the
    client's data: not those of the two-image full-sampler cost probe that follows it on a K-step grid
    (the bug behind the sweep's 169 and 35,494), and at c = 0 the clamped images the client receives.
    Scoring and the attacks are stubbed: this checks which images reach them."""
    from trustgen.collab import experiment
    from trustgen.collab.build import build_engine
    from trustgen.collab.config import CollabSettings

    tiny = {"block_out_channels": (8, 16), "norm_num_groups": 4, "attention_head_dim": 4}
    settings = CollabSettings(clients=2, num_train_timesteps=20, sample_steps=5, samples_per_client=6, steps=1,
                              batch_size=8, partition="iid", cut=cut, unet=tiny)
    sent: dict[int, list] = {}
    scored: dict[int, tuple] = {}

    def make_engine(s, parts):
        engine = build_engine(s, parts)
        engine.listeners.append(lambda kind, msg: sent.setdefault(msg.client_id, []).append(msg.x_handoff)
                                if kind == "handoff_images" else None)
        return engine

    def disclosure(engine, client, train, heldout, handoff_generated, seed):
        scored[client.client_id] = (handoff_generated, train.images)
        return {"recon_mse": None, "recon_ssim": None, "reid_rate": 0.0, "reid_chance": 1.0, "membership_auroc": 0.5,
                "mse_generated_handoff_vs_real": mean_pairwise_mse(handoff_generated.numpy(), train.images.numpy())}

    monkeypatch.setattr(experiment, "_disclosure", disclosure)
    monkeypatch.setattr(experiment, "_fidelity", lambda *a: {"fd_digits": 0.0, "fd_floor": 0.0})
    monkeypatch.setattr("trustgen.core.metrics.evaluate_samples", lambda *a, **k: {"fd_digits": 0.0})
    metrics = experiment.run_collab(settings, tmp_path, make_engine=make_engine)
    for client in metrics["clients"]:
        generation, *probe = sent[client["id"]]
        assert len(generation) == 6 and [len(p) for p in probe] == [2]  # the run's generation, then the probe
        handoff, real = scored[client["id"]]
        assert torch.equal(handoff, generation.clamp(-1, 1) if cut == 0 else generation)
        if cut == 0:
            assert client["mse_generated_handoff_vs_real"] <= 4  # two images in [-1, 1]
