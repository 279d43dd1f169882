"""The CollaFuse ``ClientApp``: thin handlers that drive a :class:`~trustgen.collab.roles.CollabClient`.

* ``train.collafuse_step`` — K local steps (``CollabClient.train_step``), replying with the K hand-off
  batches. A round the client has already trained (the server restarted and asks again) is answered
  with the stored reply, so no step is taken twice and none is lost.
* ``query.finish`` — the client's half of generation (``CollabClient.finish``) from the server's
  hand-off images, replying with the images and the client's UNet evaluations and seconds.

The node's ``node_config`` gives ``partition-id`` (the client id) and optionally ``state-dir`` (where the
state survives a restart); the settings arrive with every instruction.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from trustgen.collab.flower.node_state import ClientNode
from trustgen.collab.flower.records import COST, HANDOFF, IMAGES, JOB, LOSSES, META, PAYLOAD, to_array, to_tensor


def _node(message: Any, context: Any) -> ClientNode:
    from trustgen.collab.config import CollabSettings

    job = message.content[JOB]
    settings_json = str(job["settings"])
    settings = CollabSettings.model_validate_json(settings_json)
    state_dir = context.node_config.get("state-dir")
    return ClientNode.restore(settings, settings_json, int(context.node_config["partition-id"]), str(job["run_key"]),
                              context, Path(str(state_dir)) if state_dir else None)


def _meta(node: ClientNode, round_id: int) -> Any:
    from flwr.app import ConfigRecord

    return ConfigRecord({"client_id": node.client.client_id, "round": round_id})


def train(message: Any, context: Any) -> Any:
    """``train.collafuse_step``: the round's K local steps and their hand-off batches."""
    import torch
    from flwr.app import ArrayRecord, Message, MetricRecord, RecordDict

    job = message.content[JOB]
    round_id, first, lrs = int(job["round"]), int(job["first_step"]), [float(v) for v in job["lrs"]]
    node = _node(message, context)
    if node.round > round_id:
        raise ValueError(f"client {node.client.client_id} already trained round {node.round}, asked for {round_id}")
    if node.round < round_id:
        losses, payloads = [], []
        for k, lr in enumerate(lrs):
            loss, payload = node.client.train_step(first + k, lr)
            losses.append(loss)
            if payload is not None:  # None only for a local-only client (c = 1)
                payloads.append(payload)
        reply: dict[str, Any] = {}
        if payloads:
            reply["x_cut"] = torch.stack([p.x_cut for p in payloads])
            if payloads[0].labels is not None:
                reply["labels"] = torch.stack([p.labels for p in payloads])
        if losses and losses[0] is not None:
            reply["losses"] = torch.tensor(losses, dtype=torch.float64)
        node.round, node.reply = round_id, reply
        node.save(context, Path(str(context.node_config["state-dir"])) if context.node_config.get("state-dir")
                  else None)
    content = RecordDict({META: _meta(node, round_id)})
    stored = node.reply or {}
    if "x_cut" in stored:
        content[PAYLOAD] = ArrayRecord({name: to_array(stored[name]) for name in ("x_cut", "labels") if name in stored})
    if "losses" in stored:
        content[LOSSES] = MetricRecord({"client": [float(v) for v in stored["losses"]]})
    return Message(content, reply_to=message)


def finish(message: Any, context: Any) -> Any:
    """``query.finish``: denoise the server's hand-off images down to clean images on this client."""
    import time

    import torch
    from flwr.app import ArrayRecord, Message, MetricRecord, RecordDict

    from trustgen.collab.engine import count_calls

    node = _node(message, context)
    node.client.done_training()  # sample with the EMA weights, as the in-process engine does
    handoff = message.content[HANDOFF]
    generator = torch.Generator()
    generator.set_state(to_tensor(handoff["rng"]))
    labels = to_tensor(handoff["labels"]) if "labels" in handoff else None
    chain = [int(t) for t in message.content[JOB]["chain"]]
    sampler = str(message.content[JOB]["sampler"])
    began = time.perf_counter()
    with count_calls(node.client.model.unet) as calls:
        images = node.client.finish(to_tensor(handoff["x"]), labels, chain, generator, sampler)
    cost = MetricRecord({"unet_evals": calls[0], "seconds": time.perf_counter() - began})
    return Message(RecordDict({IMAGES: ArrayRecord({"x": to_array(images)}), COST: cost,
                               META: _meta(node, int(message.content[JOB]["round"]))}), reply_to=message)


def make_client_app(mods: list[Any] | None = None) -> Any:
    """A ``ClientApp`` with the two CollaFuse handlers (``mods`` wrap them, e.g. size logging)."""
    from flwr.clientapp import ClientApp

    client_app = ClientApp(mods=mods)
    client_app.train("collafuse_step")(train)
    client_app.query("finish")(finish)
    return client_app


app = make_client_app()
