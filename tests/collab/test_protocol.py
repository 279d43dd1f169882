"""CollaFuse protocol: cut maths, what crosses the boundary, exact UNet-evaluation counts, bad payloads."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from trustgen.collab.build import build_engine, partition
from trustgen.collab.config import CollabSettings
from trustgen.collab.engine import inspect_payloads
from trustgen.collab.payload import CutPayload
from trustgen.collab.schedule import (
    alpha_bars,
    cut_timestep,
    handoff_alpha_bar,
    handoff_range,
    marginal_client_timesteps,
    server_scheduler_config,
    split_timesteps,
)
from trustgen.core.errors import TrustgenError
from trustgen.diffusion.config import DiffusionTrainSettings
from trustgen.diffusion.training import scheduler_config

TINY = {"block_out_channels": (8, 16), "norm_num_groups": 4, "attention_head_dim": 4}


def tiny(**kw) -> CollabSettings:
    base = {"clients": 3, "num_train_timesteps": 40, "batch_size": 8, "steps": 2, "partition": "iid", "unet": TINY}
    return CollabSettings(**{**base, **kw})


@pytest.fixture(scope="module")
def clients_data(digits_train):
    return partition(tiny(), digits_train.subset(range(300)))


def test_cut_convention_and_bad_cuts():
    assert [cut_timestep(c, 1000) for c in (0, 0.2, 0.45, 1)] == [0, 200, 450, 1000]
    for bad in (-0.1, 1.5):
        with pytest.raises(TrustgenError, match=r"cut must be in \[0, 1\]"):
            cut_timestep(bad, 1000)


@pytest.mark.parametrize("t_c", [1, 200, 700])
def test_exact_server_schedule_is_the_conditional_forward_process(t_c):
    base = scheduler_config(DiffusionTrainSettings())
    full = alpha_bars(base)
    sub = alpha_bars(server_scheduler_config(base, t_c, "exact"))
    a_h = handoff_alpha_bar(base, t_c)
    assert len(sub) == 1000 - t_c
    # x_t | x_{t_c-1} composed with x_{t_c-1} | x0 equals the marginal x_t | x0, in mean and variance
    assert torch.allclose(sub * a_h, full[t_c:], rtol=1e-4, atol=1e-7)
    assert torch.allclose(sub * (1 - a_h) + (1 - sub), 1 - full[t_c:], rtol=1e-4, atol=1e-7)


@pytest.mark.parametrize("handoff", ["exact", "marginal"])
def test_the_full_T_server_chain_stays_in_the_handoff_range(handoff, clients_data):
    """The cosine schedule's last β is 0.999: a DDPM step there divides by √0.001, so an x0 estimate that is
    not clipped to the hand-off range blew the full-T chain up to |x| ~ 10³ (seen in the sweep's cost probe,
    and in every full-T generation of an exact-hand-off run)."""
    engine = build_engine(tiny(cut=0.5, handoff=handoff), clients_data)
    config, t_c = engine.server.model.scheduler_config, engine.clients[0].t_c
    bound = handoff_range(engine.clients[0].model.scheduler_config, t_c)
    assert config["clip_sample"] and config["clip_sample_range"] == pytest.approx(bound)
    assert handoff_range(config, 0) == 1.0  # at c = 0 the server's data are the clean images
    seen = inspect_payloads(engine)
    engine.generate(0, 2, labels=[1, 2], sample_steps=None)
    x = seen[0][1].x_handoff
    # exact: the last server step lands on the clipped estimate; marginal: one noisy step past it
    assert float(x.abs().max()) <= (bound + 1e-5 if handoff == "exact" else 2 * bound)


def test_split_timesteps_gives_the_client_exactly_its_share():
    for t_c in (0, 1, 200, 999, 1000):
        server, client = split_timesteps(1000, t_c, None)
        assert len(client) == t_c and len(server) == 1000 - t_c
        assert client == list(range(t_c - 1, -1, -1))
    server, client = split_timesteps(1000, 250, 50)
    assert len(server) + len(client) == 50 and client[0] == 249 and all(t < 250 for t in client)
    marginal = marginal_client_timesteps(1000, 0.2, 200)
    assert marginal[0] == 359 and marginal[-1] == 0 and len(marginal) == 200  # c + c(1-c) = 0.36


@pytest.mark.parametrize("cut", [0.0, 0.5])
def test_only_handoff_images_and_labels_cross_the_boundary(cut, clients_data):
    engine = build_engine(tiny(cut=cut), clients_data)
    seen = inspect_payloads(engine)
    engine.train(2, lr=lambda s: 1e-3)
    assert len(seen) == 2 * 3 and engine.rejected == []
    for kind, msg in seen:
        assert kind == "cut_payload" and isinstance(msg, CutPayload)
        assert {f.name for f in dataclasses.fields(msg)} == {"client_id", "x_cut", "labels"}
        assert msg.x_cut.dtype == torch.float32 and msg.labels.dtype == torch.int64
        own = clients_data[msg.client_id].images.flatten(1)
        # distance of each sent image to its nearest raw training image of the sender
        nearest = torch.cdist(msg.x_cut.flatten(1), own).min(dim=1).values
        if cut == 0.0:
            assert torch.all(nearest < 1e-5)  # c = 0 is the centralised baseline: raw data goes up
        else:
            assert torch.all(nearest > 1.0)  # at c = 0.5 only noisy images leave the client
    assert engine.bytes_up[0] == 2 * 8 * (16 * 16 * 4 + 8)


@pytest.mark.parametrize(("cut", "client_evals"), [(0.0, 0), (0.25, 10), (0.5, 20), (1.0, 40)])
def test_generation_costs_the_client_exactly_t_c_unet_evaluations(cut, client_evals, clients_data):
    engine = build_engine(tiny(cut=cut), clients_data)
    calls = {"client": 0, "server": 0}
    engine.clients[1].model.unet.register_forward_hook(lambda *a: calls.__setitem__("client", calls["client"] + 1))
    if engine.server is not None:
        engine.server.model.unet.register_forward_hook(lambda *a: calls.__setitem__("server", calls["server"] + 1))
    seen = inspect_payloads(engine)
    images, stats = engine.generate(1, 4, labels=[0, 1, 2, 3])
    assert images.shape == (4, 1, 16, 16) and torch.isfinite(images).all()
    assert calls["client"] == stats.client_unet_evals == client_evals
    assert calls["server"] == stats.server_unet_evals == 40 - client_evals
    assert stats.bytes_down == (16 * 16 * 4 if cut < 1 else 0)
    assert [kind for kind, _ in seen] == (["handoff_images"] if cut < 1 else [])


def test_marginal_handoff_runs_with_the_authors_overlap(clients_data):
    engine = build_engine(tiny(cut=0.5, handoff="marginal"), clients_data)
    engine.train(1, lr=lambda s: 1e-3)
    images, stats = engine.generate(0, 3, labels=[1, 2, 3])
    assert images.shape == (3, 1, 16, 16) and stats.client_unet_evals == 20 and stats.server_unet_evals == 20


def test_malformed_payloads_are_rejected_and_the_run_goes_on(clients_data):
    engine = build_engine(tiny(cut=0.5), clients_data)
    good = torch.zeros(4, 1, 16, 16)
    labels = torch.zeros(4, dtype=torch.int64)
    bad = [
        CutPayload(0, torch.full((4, 1, 16, 16), float("nan")), labels),
        CutPayload(0, torch.zeros(4, 1, 8, 8), labels),
        CutPayload(0, good.double(), labels),
        CutPayload(0, good, torch.full((4,), 10, dtype=torch.int64)),
        CutPayload(0, good, None),
    ]
    losses: list[float] = []
    for payload in bad:
        engine._deliver(payload, 0, 1e-3, losses)
    engine._deliver(CutPayload(1, good, labels), 0, 1e-3, losses)
    assert len(engine.rejected) == 5 and len(losses) == 1
    assert "NaN" in engine.rejected[0] and "shape" in engine.rejected[1] and "float32" in engine.rejected[2]
    assert engine.bytes_up == {1: 4 * 256 * 4 + 4 * 8}


@pytest.mark.parametrize(("handoff", "server_models"), [("exact", 2), ("marginal", 1)])
def test_per_client_cuts(handoff, server_models, clients_data):
    engine = build_engine(tiny(cut=[0.25, 0.5, 1.0], handoff=handoff), clients_data)
    seen = inspect_payloads(engine)
    engine.train(2, lr=lambda s: 1e-3)
    assert [c.t_c for c in engine.clients] == [10, 20, 40]
    assert len({id(m) for m in engine.server.models.values()}) == server_models
    assert sorted({msg.client_id for kind, msg in seen if kind == "cut_payload"}) == [0, 1]  # c = 1 sends nothing
    for client, evals in ((0, 10), (1, 20), (2, 40)):
        images, stats = engine.generate(client, 2, labels=[3, 4])
        assert stats.client_unet_evals == evals and stats.server_unet_evals == 40 - evals
        assert torch.isfinite(images).all()


def test_per_client_cuts_must_match_the_clients():
    with pytest.raises(ValueError, match="2 per-client cuts for 3 clients"):
        tiny(cut=[0.2, 0.4])


@pytest.mark.parametrize("handoff", ["exact", "marginal"])
def test_ddim_generation_costs_the_client_its_share(handoff, clients_data):
    engine = build_engine(tiny(cut=0.5, handoff=handoff, sampler="ddim"), clients_data)
    engine.train(1, lr=lambda s: 1e-3)
    images, stats = engine.generate(0, 3, labels=[1, 2, 3])
    assert (stats.client_unet_evals, stats.server_unet_evals) == (20, 20)
    _, grid = engine.generate(0, 3, labels=[1, 2, 3], sample_steps=10)
    assert (grid.client_unet_evals, grid.server_unet_evals) == (5, 5)
    assert images.shape == (3, 1, 16, 16) and torch.isfinite(images).all()
