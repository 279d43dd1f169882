"""CollaFuse on Flower, in process: the Flower adapters against a Grid that calls the ClientApp directly.

Exactness against the in-process engine, rounds of K steps, bad payloads (rejected, logged, server
untouched), dropouts and rejoin from the node's saved state, ``--min-clients``, and a server restart
from its checkpoint with no client progress lost. Real Flower processes: ``test_flower_deploy.py``.
"""

from __future__ import annotations

import json

import pytest
import torch
from flower_support import FakeGrid
from test_protocol import tiny

from trustgen.collab.build import build_engine
from trustgen.collab.experiment import client_splits, server_weight_norm
from trustgen.collab.flower.config import FederationSettings
from trustgen.collab.flower.engine import FederationStopped, FlowerEngine
from trustgen.collab.flower.records import PAYLOAD, cut_batches_from, message_bytes, to_array
from trustgen.collab.payload import PayloadRejected

LR = 1e-3


def settings(**kw):
    return tiny(**{"num_train_timesteps": 20, "cut": 0.5, "warmup_steps": 0, **kw})


def flower_engine(s, grid, tmp_path, **fed) -> FlowerEngine:
    local = build_engine(s, [train for train, _ in client_splits(s)])
    return FlowerEngine(local.clients, local.server, local.cuts, grid=grid, settings_json=s.model_dump_json(),
                        federation=FederationSettings(**{"local_steps": 2, "join_timeout": 0, **fed}),
                        out=tmp_path / "run", log=lambda line: None)


def in_process_norm(s) -> float:
    engine = build_engine(s, [train for train, _ in client_splits(s)])
    engine.train(s.steps, lambda step: LR)
    return server_weight_norm(engine.server)


def test_flower_rounds_reproduce_the_in_process_engine(tmp_path):
    s = settings(steps=3)
    engine = flower_engine(s, FakeGrid(3), tmp_path, local_steps=2)
    losses = engine.train(s.steps, lambda step: LR)
    assert engine.rounds_done == 2 and len(losses["server"]) == 3 * 3 and len(losses["client_1"]) == 3
    assert server_weight_norm(engine.server) == pytest.approx(in_process_norm(s), abs=1e-9)
    report = engine.federation_report()
    assert report["federation"]["missing_rounds"] == {} and report["federation"]["rejections"] == []
    assert 1.0 < report["traffic_ratio"] < 2.0  # tiny batches: the settings in every instruction weigh in
    assert engine.traffic.samples_up == 3 * 3 * 8


def test_generation_through_messages_equals_in_process(tmp_path):
    s = settings(steps=2)
    engine = flower_engine(s, FakeGrid(3), tmp_path)
    engine.train(s.steps, lambda step: LR)
    reference = build_engine(s, [train for train, _ in client_splits(s)])
    reference.train(s.steps, lambda step: LR)
    images, stats = engine.generate(1, 4, labels=[0, 1, 2, 3], seed=5)
    expected, ref_stats = reference.generate(1, 4, labels=[0, 1, 2, 3], seed=5)
    assert torch.equal(images, expected)
    assert (stats.client_unet_evals, stats.server_unet_evals) == (ref_stats.client_unet_evals, 10) == (10, 10)
    assert engine.traffic.images_down == 4 and engine.traffic.message_down_generation > 4 * 16 * 16 * 4


@pytest.mark.parametrize("kind", ["nan", "shape", "dtype", "big"])
def test_bad_payloads_are_rejected_and_leave_the_server_untouched(tmp_path, kind):
    s = settings(steps=2, clients=2, cut=[0.5, 1.0])  # client 1 is local-only: a valid reply without payload
    grid = FakeGrid(2)
    grid.corrupt[(0, "1")] = kind
    engine = flower_engine(s, grid, tmp_path, local_steps=1)
    before = {k: v.clone() for k, v in engine.server.model.unet.state_dict().items()}
    engine._train_round(1, 0, [LR], {"server": [], "client_0": [], "client_1": []}, wait=False)
    assert all(torch.equal(before[k], v) for k, v in engine.server.model.unet.state_dict().items())
    assert [r["round"] for r in engine.rejections] == [1] and engine.missing == {0: [1]}
    reason = engine.rejections[0]["reason"]
    assert {"nan": "NaN", "shape": "shape", "dtype": "float32", "big": "limit"}[kind] in reason, reason
    batches = engine._train_round(2, 1, [LR], {"server": [], "client_0": [], "client_1": []}, wait=False)
    assert sorted(batches) == [0, 1] and len(batches[0]) == 1  # the next round goes on normally


def test_payload_record_checks_before_deserialising():
    from flwr.app import ArrayRecord

    x = torch.zeros(2, 8, 1, 16, 16)
    with pytest.raises(PayloadRejected, match="limit"):
        cut_batches_from(ArrayRecord({"x_cut": to_array(x)}), 0, 2, max_bytes=100)
    with pytest.raises(PayloadRejected, match="expected 3 batches"):
        cut_batches_from(ArrayRecord({"x_cut": to_array(x)}), 0, 3, max_bytes=10**6)
    with pytest.raises(PayloadRejected, match="holds"):
        cut_batches_from(ArrayRecord({"x_cut": to_array(x), "eps": to_array(x)}), 0, 2, max_bytes=10**6)
    assert len(cut_batches_from(ArrayRecord({"x_cut": to_array(x)}), 0, 2, max_bytes=10**6)) == 2


def test_dropout_is_reported_and_the_client_rejoins_from_its_saved_state(tmp_path):
    s = settings(steps=4)
    grid = FakeGrid(3, state_dir=tmp_path / "nodes")
    engine = flower_engine(s, grid, tmp_path, local_steps=1, min_clients=2)
    losses = {"server": [], **{f"client_{i}": [] for i in range(3)}}
    engine._train_round(1, 0, [LR], losses, wait=False)
    grid.kill(2)
    engine._train_round(2, 1, [LR], losses, wait=False)
    engine._train_round(3, 2, [LR], losses, wait=False)
    saved = json.loads(_file_meta(tmp_path / "nodes" / "node2"))
    assert saved["round"] == 1  # what the killed node had saved
    grid.start(2)  # restarted SuperNode: new node id, empty context.state, same state folder
    engine._train_round(4, 3, [LR], losses, wait=False)
    assert engine.missing == {2: [2, 3]} and len(losses["client_2"]) == 2
    assert json.loads(_file_meta(tmp_path / "nodes" / "node2"))["round"] == 4
    grid.kill(0)
    grid.kill(1)
    with pytest.raises(FederationStopped, match="only 1 of 3 clients"):
        engine._train_round(5, 4, [LR], losses, wait=False)
    text = (tmp_path / "run" / "federation.md").read_text()
    assert "| 2 | 2, 3 |" in text and "| 0 | 5 |" in text


def _file_meta(folder) -> str:
    from safetensors import safe_open

    (path,) = folder.glob("client*.safetensors")
    with safe_open(str(path), framework="pt") as f:
        return f.metadata()["meta"]


def test_server_restart_resumes_from_its_checkpoint_without_losing_client_progress(tmp_path):
    s = settings(steps=4)
    reference = in_process_norm(s)
    grid = FakeGrid(3, state_dir=tmp_path / "nodes")
    grid.crash_after = ("3", 3)  # the clients trained round 3, the server dies before training on it
    engine = flower_engine(s, grid, tmp_path, local_steps=1)
    with pytest.raises(KeyboardInterrupt):
        engine.train(s.steps, lambda step: LR)
    assert sorted(p.name for p in (tmp_path / "run" / "checkpoints").iterdir()) == ["round-00002"]
    fresh = FakeGrid(3, state_dir=tmp_path / "nodes")  # a new run: new nodes, empty context.state
    resumed = flower_engine(s, fresh, tmp_path, local_steps=1, resume=True)
    resumed.train(s.steps, lambda step: LR)
    assert fresh.rounds == ["3", "4"]
    # round 3 is answered from the clients' stored replies: no step taken twice, none lost
    assert server_weight_norm(resumed.server) == pytest.approx(reference, abs=1e-9)
    assert resumed.run_key == engine.run_key


def test_message_bytes_count_the_arrays():
    from flower_support import FakeGrid as _  # noqa: F401  (sets Flower's task identity)
    from flwr.app import ArrayRecord, Message, RecordDict

    x = torch.zeros(64, 1, 16, 16)
    msg = Message(RecordDict({PAYLOAD: ArrayRecord({"x_cut": to_array(x)})}), dst_node_id=1, message_type="train")
    assert x.numel() * 4 < message_bytes(msg) < x.numel() * 4 * 1.02

