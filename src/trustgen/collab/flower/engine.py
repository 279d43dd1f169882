"""The server side of CollaFuse on Flower: the in-process engine's loop, with clients behind a ``Grid``.

:class:`FlowerEngine` is a :class:`~trustgen.collab.engine.CollabEngine` whose clients are remote.
Its ``clients`` list holds local stand-ins built from the same settings (they give the cut, the
architecture and the schedule to the measurement code; their weights are never trained). One round
sends every connected node a ``train.collafuse_step`` with K steps, waits ``round_timeout`` for the
replies, validates every batch with the server role's own checks, then trains the server on the
batches in the in-process order (step by step, client by client) — so with the same seeds a Flower run
reproduces an in-process run exactly. Missing and rejected clients are logged per round; the server
model is checkpointed after every round and ``resume`` continues from the last one.
"""

from __future__ import annotations

import json
import math
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from trustgen.collab.engine import CollabEngine
from trustgen.collab.flower.config import FederationSettings
from trustgen.collab.flower.records import (
    COST,
    FINISH,
    HANDOFF,
    IMAGES,
    JOB,
    LOSSES,
    META,
    PAYLOAD,
    TRAIN,
    cut_batches_from,
    job_record,
    message_bytes,
    to_array,
    to_tensor,
)
from trustgen.collab.payload import CutPayload, PayloadRejected
from trustgen.core.errors import TrustgenError


class FederationStopped(TrustgenError):
    """Fewer clients than ``min_clients`` answered a round: the run stops (its checkpoint stays)."""


@dataclass
class Traffic:
    """Bytes of the Flower messages against the raw tensor bytes they carry."""

    message_up: int = 0  # train replies
    message_down: int = 0  # train and finish instructions
    raw_up: int = 0  # hand-off batches and labels
    raw_down: int = 0  # hand-off images and labels for generation
    evaluation: int = 0  # finished images sent back for scoring (measurement only, not protocol)
    samples_up: int = 0
    images_down: int = 0
    message_down_generation: int = 0  # the finish instructions' share of message_down

    def summary(self) -> dict[str, Any]:
        raw = self.raw_up + self.raw_down
        return {**self.__dict__,
                "traffic_ratio": (self.message_up + self.message_down) / raw if raw else None,
                "message_bytes_per_train_sample": self.message_up / self.samples_up if self.samples_up else None,
                "message_bytes_per_generated_image": self.message_down_generation / self.images_down
                if self.images_down else None}


@dataclass
class FlowerEngine(CollabEngine):
    """CollaFuse with the clients on Flower nodes (see the module docstring)."""

    grid: Any = None
    clients_are_local: bool = False  # ``clients`` are stand-ins; the trained client models live on the nodes
    federation: FederationSettings = field(default_factory=FederationSettings)
    settings_json: str = ""
    out: Path = Path(".")
    log: Callable[[str], None] = print
    run_key: str = field(default_factory=lambda: secrets.token_hex(8))
    node_of: dict[int, int] = field(default_factory=dict)  # client id → the node that last answered for it
    missing: dict[int, list[int]] = field(default_factory=dict)  # client id → rounds it did not answer
    rejections: list[dict[str, Any]] = field(default_factory=list)
    node_errors: list[dict[str, Any]] = field(default_factory=list)  # error replies (unavailable or failed nodes)
    traffic: Traffic = field(default_factory=Traffic)
    rounds_done: int = 0
    seconds: dict[str, float] = field(default_factory=lambda: {"waiting": 0.0, "server_training": 0.0})

    # ---- training -------------------------------------------------------------------------------------

    def train(self, steps: int, lr: Callable[[int], float], progress: bool = False,
              on_round: Callable[[int, dict[str, list[float]]], None] | None = None) -> dict[str, list[float]]:
        """``ceil(steps / K)`` rounds of K steps each; resumes after the last checkpoint if asked to."""
        from trustgen.core.progress import track

        K = self.federation.local_steps
        losses: dict[str, list[float]] = {"server": [], **{f"client_{c.client_id}": [] for c in self.clients}}
        if self.federation.resume:
            losses = self._load_checkpoint(losses)
        rounds = math.ceil(steps / K)
        start = self.rounds_done + 1  # only the run's first round waits for every client to join
        for round_id in track(range(start, rounds + 1), enabled=progress,
                              description=f"Flower rounds of {K} steps"):
            first = (round_id - 1) * K
            lrs = [lr(s) for s in range(first, min(first + K, steps))]
            batches = self._train_round(round_id, first, lrs, losses, wait=round_id == start)
            began = time.perf_counter()
            for k, step_lr in enumerate(lrs):
                for client_id in sorted(batches):
                    if self.server is not None:
                        self.send("cut_payload", batches[client_id][k])
                        self._deliver(batches[client_id][k], first + k, step_lr, losses["server"])
            self.seconds["server_training"] += time.perf_counter() - began
            self.rounds_done = round_id
            self._save_checkpoint(losses)
            if on_round is not None:
                on_round(first + len(lrs), losses)
        if self.server is not None:
            self.server.done_training()
        return losses

    def _nodes(self, wait: bool) -> list[int]:
        """The connected nodes; at the start, wait (up to ``join_timeout``) until every client's is there."""
        deadline = time.monotonic() + (self.federation.join_timeout if wait else 0.0)
        while True:
            nodes = sorted(self.grid.get_node_ids())
            if len(nodes) >= len(self.clients) or time.monotonic() >= deadline:
                return nodes
            time.sleep(0.5)

    def _exchange(self, messages: list[Any]) -> list[Any]:
        self.traffic.message_down += sum(message_bytes(m) for m in messages)
        began = time.perf_counter()
        replies = list(self.grid.send_and_receive(messages, timeout=self.federation.round_timeout))
        self.seconds["waiting"] += time.perf_counter() - began
        return replies

    def _train_round(self, round_id: int, first: int, lrs: list[float], losses: dict[str, list[float]],
                     wait: bool) -> dict[int, list[CutPayload]]:
        """Send one round, collect and validate the replies: client id → its K batches."""
        from flwr.app import Message, RecordDict

        nodes = self._nodes(wait)
        job = job_record(self.settings_json, self.run_key, round=round_id, first_step=first, lrs=lrs)
        messages = [Message(RecordDict({JOB: job}), dst_node_id=node, message_type=TRAIN, group_id=str(round_id))
                    for node in nodes]
        batches: dict[int, list[CutPayload]] = {}
        waited = self.seconds["waiting"]
        replies = self._exchange(messages)
        self.log(f"round {round_id}: {len(replies)} of {len(messages)} nodes answered in "
                 f"{self.seconds['waiting'] - waited:.1f} s")
        destination = {m.metadata.message_id: m.metadata.dst_node_id for m in messages}  # ids set on sending
        for reply in replies:
            self.traffic.message_up += message_bytes(reply)
            node = reply.metadata.src_node_id
            if reply.has_error():  # the node is gone or its ClientApp failed: the client counts as missing
                # Flower answers for a vanished node itself (the error comes from the SuperLink's id)
                node = destination.get(reply.metadata.reply_to_message_id, node)
                self.node_errors.append({"round": round_id, "node": node, "reason": reply.error.reason})
                self.log(f"round {round_id}: node {node} failed: {reply.error.reason}")
                continue
            try:
                client_id, payloads, client_losses = self._read_train_reply(reply, round_id, len(lrs))
                if client_id in batches:
                    raise PayloadRejected(f"client {client_id} answered twice in round {round_id} (node {node})")
            except PayloadRejected as exc:
                self._reject(round_id, node, str(exc))
                continue
            batches[client_id] = payloads
            self.node_of[client_id] = node
            losses[f"client_{client_id}"].extend(client_losses)
        for client in self.clients:
            if client.client_id not in batches:
                self.missing.setdefault(client.client_id, []).append(round_id)
                self.log(f"round {round_id}: client {client.client_id} missing (no valid reply within the "
                         f"{self.federation.round_timeout:g} s round time-out)")
        if len(batches) < self.federation.min_clients:
            self._write_report()
            raise FederationStopped(f"round {round_id}: only {len(batches)} of {len(self.clients)} clients answered "
                                    f"(--min-clients {self.federation.min_clients}); resume with --resume")
        return batches

    def _read_train_reply(self, reply: Any, round_id: int, steps: int) -> tuple[int, list[CutPayload], list[float]]:
        if reply.metadata.group_id != str(round_id) or META not in reply.content:
            raise PayloadRejected(f"reply for round {reply.metadata.group_id!r} without meta, expected {round_id}")
        meta = reply.content[META]
        client_id = int(meta["client_id"])
        if not 0 <= client_id < len(self.clients) or int(meta["round"]) != round_id:
            raise PayloadRejected(f"reply claims client {client_id}, round {meta['round']}")
        losses = [float(v) for v in reply.content[LOSSES]["client"]] if LOSSES in reply.content else []
        if self.server is None or client_id not in self.server.client_cuts:
            return client_id, [], losses
        if PAYLOAD not in reply.content:
            raise PayloadRejected(f"client {client_id}: no payload")
        model = self.server.model_for(client_id)
        per_batch = self.clients[client_id].batch_size * math.prod(model.image_shape) * 4
        payloads = cut_batches_from(reply.content[PAYLOAD], client_id, steps, max_bytes=2 * steps * per_batch + 1024)
        for payload in payloads:  # all K checked before the server trains on any of them
            payload.validate(model.image_shape, self.server.num_classes)
        for payload in payloads:
            self.traffic.raw_up += payload.nbytes()
            self.traffic.samples_up += int(payload.x_cut.shape[0])
        return client_id, payloads, losses

    def _reject(self, round_id: int, node: int, reason: str) -> None:
        self.rejections.append({"round": round_id, "node": node, "reason": reason})
        self.rejected.append(reason)
        self.log(f"round {round_id}: rejected a reply from node {node}: {reason}")

    # ---- generation -----------------------------------------------------------------------------------

    def finish_on_client(self, client_id: int, x: Any, labels: Any, chain: list[int],
                         generator: Any) -> tuple[Any, int, float]:
        """Send the hand-off images to the client's node; it finishes them with its own model."""
        from flwr.app import ArrayRecord, Message, RecordDict

        node = self.node_of.get(client_id)
        if node is None or node not in set(self.grid.get_node_ids()):
            raise TrustgenError(f"client {client_id} is not connected: its generation cannot be finished")
        handoff = ArrayRecord({"x": to_array(x), "rng": to_array(generator.get_state())})
        if labels is not None:
            handoff["labels"] = to_array(labels)
        job = job_record(self.settings_json, self.run_key, chain=chain, sampler=self.sampler, round=self.rounds_done)
        message = Message(RecordDict({JOB: job, HANDOFF: handoff}), dst_node_id=node, message_type=FINISH,
                          group_id=f"finish-{client_id}")
        before = self.traffic.message_down
        replies = [r for r in self._exchange([message]) if r.has_content()]
        self.traffic.message_down_generation += self.traffic.message_down - before
        self.traffic.raw_down += int(x.numel() * x.element_size()) + (0 if labels is None else
                                                                       int(labels.numel() * labels.element_size()))
        self.traffic.images_down += int(x.shape[0])
        if not replies:
            raise TrustgenError(f"client {client_id} did not finish its generation within "
                                f"{self.federation.round_timeout:g} s")
        reply = replies[0]
        self.traffic.evaluation += message_bytes(reply)
        cost = reply.content[COST]
        return to_tensor(reply.content[IMAGES]["x"]), int(cost["unet_evals"]), float(cost["seconds"])

    # ---- checkpoints and the report ---------------------------------------------------------------------

    def _checkpoint_dir(self) -> Path:
        return self.out / "checkpoints"

    def _save_checkpoint(self, losses: dict[str, list[float]]) -> None:
        """The server's models, optimisers, EMA and generator after this round, written atomically."""
        from trustgen.core.checkpoint import STATE_FILE, new_checkpoint
        from trustgen.core.safe_io import save_state_dict

        with new_checkpoint(self._checkpoint_dir(), "round", self.rounds_done, digits=5, keep_older=False) as tmp:
            tensors: dict[str, Any] = {}
            structures: dict[str, Any] = {}
            if self.server is not None:
                tensors["rng"] = self.server.generator.get_state()
                for level, model in sorted(self.server.models.items()):
                    trainer_tensors, structures[str(level)] = self.server.trainers[id(model)].state_tensors(
                        f"{level}.")
                    tensors.update(trainer_tensors)
                save_state_dict(tensors, tmp / "server.safetensors")
            state = {"round": self.rounds_done, "run_key": self.run_key, "losses": losses, "missing": self.missing,
                     "rejections": self.rejections, "node_errors": self.node_errors, "rejected": self.rejected,
                     "bytes_up": self.bytes_up,
                     "samples_up": self.samples_up, "traffic": self.traffic.__dict__, "node_of": self.node_of,
                     "optimizers": structures}
            (tmp / STATE_FILE).write_text(json.dumps(state), encoding="utf-8")

    def _load_checkpoint(self, losses: dict[str, list[float]]) -> dict[str, list[float]]:
        from trustgen.core.checkpoint import STATE_FILE, latest_checkpoint
        from trustgen.core.safe_io import load_state_dict, read_json

        last = latest_checkpoint(self.out, "round")
        if last is None:
            self.log("resume: no checkpoint yet, starting at round 1")
            return losses
        state = read_json(last / STATE_FILE)
        if self.server is not None:
            tensors = load_state_dict(last / "server.safetensors")
            self.server.generator.set_state(tensors["rng"])
            for level, model in self.server.models.items():
                self.server.trainers[id(model)].load_state_tensors(tensors, state["optimizers"][str(level)],
                                                                   f"{level}.")
        self.rounds_done, self.run_key = int(state["round"]), str(state["run_key"])
        self.missing = {int(k): v for k, v in state["missing"].items()}
        self.node_of = {int(k): int(v) for k, v in state["node_of"].items()}
        self.rejections, self.rejected = state["rejections"], state["rejected"]
        self.node_errors = state["node_errors"]
        self.bytes_up = {int(k): v for k, v in state["bytes_up"].items()}
        self.samples_up = {int(k): v for k, v in state["samples_up"].items()}
        self.traffic = Traffic(**state["traffic"])
        self.log(f"resume: continuing after round {self.rounds_done} from {last}")
        return {k: list(v) for k, v in state["losses"].items()}

    def federation_report(self) -> dict[str, Any]:
        """The Flower-specific metrics: traffic, who was missing when, what was rejected, where time went."""
        summary = self.traffic.summary()
        return {"traffic_ratio": summary.pop("traffic_ratio"), "traffic": summary,
                "federation": {"rounds": self.rounds_done, "local_steps": self.federation.local_steps,
                               "min_clients": self.federation.min_clients,
                               "missing_rounds": {str(k): v for k, v in sorted(self.missing.items())},
                               "rejections": self.rejections, "node_errors": self.node_errors,
                               "seconds": dict(self.seconds)}}

    def _write_report(self) -> None:
        from trustgen.collab.report import federation_markdown
        from trustgen.core.runs import write_text_atomic

        write_text_atomic(self.out / "federation.md", federation_markdown(self.federation_report()))
