"""A client's state on its Flower node: in ``context.state`` between messages, and on disk between runs.

Flower builds a new ``ClientApp`` (in deployment: a new process) for every message, so a
:class:`~trustgen.collab.roles.CollabClient` is rebuilt from the settings each time and its state —
denoiser weights, EMA copy, AdamW state, the client's random generator, the last round it trained and
the reply it sent for that round — is loaded from the node's ``context.state`` (an ``ArrayRecord`` of
tensors and a ``ConfigRecord`` of JSON). ``context.state`` lives as long as one run on one SuperNode
process; for a client that restarts (rejoin) or a server that resumes (a new run) the same state is also
written after every round to ``<state-dir>/client<ID>-<run key>.safetensors`` (atomic, never pickle).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from trustgen.collab.config import CollabSettings
from trustgen.collab.roles import CollabClient

TENSORS, PROGRESS = "client_tensors", "client_progress"
_DATA_CACHE: dict[tuple[str, int], Any] = {}


def client_data(settings: CollabSettings, settings_json: str, client_id: int) -> Any:
    """Client ``client_id``'s training images (its own partition; cached per process)."""
    from trustgen.collab.build import client_splits

    key = (settings_json, client_id)
    if key not in _DATA_CACHE:
        _DATA_CACHE.clear()
        _DATA_CACHE[key] = client_splits(settings)[client_id][0]
    return _DATA_CACHE[key]


def _state_tensors(client: CollabClient) -> tuple[dict[str, Any], dict[str, Any]]:
    tensors: dict[str, Any] = {"rng": client.generator.get_state()}
    structure: dict[str, Any] = {}
    if client.trainer is not None:
        trainer_tensors, structure = client.trainer.state_tensors()
        tensors.update(trainer_tensors)
    return tensors, structure


def _load_tensors(client: CollabClient, tensors: dict[str, Any], structure: dict[str, Any]) -> None:
    client.generator.set_state(tensors["rng"])
    if client.trainer is not None:
        client.trainer.load_state_tensors(tensors, structure)


@dataclass
class ClientNode:
    """A client role plus what the node remembers about the federation (last round, last reply)."""

    client: CollabClient
    run_key: str
    round: int = 0  # the last round this client trained
    reply: dict[str, Any] | None = None  # that round's reply tensors, re-sent if the server asks again

    @classmethod
    def restore(cls, settings: CollabSettings, settings_json: str, client_id: int, run_key: str,
                context: Any, state_dir: Path | None) -> ClientNode:
        """The client as its node left it: from ``context.state``, else from the state file, else fresh."""
        from trustgen.collab.build import build_client

        client = build_client(settings, client_id, client_data(settings, settings_json, client_id))
        node = cls(client, run_key)
        saved = node._from_context(context)
        if saved is None and state_dir is not None and node.path(state_dir).is_file():
            saved = node._from_file(node.path(state_dir))
        if saved is not None:
            tensors, meta = saved
            _load_tensors(client, tensors, meta["optimizer"])
            node.round = int(meta["round"])
            reply = {k[len("reply."):]: v for k, v in tensors.items() if k.startswith("reply.")}
            node.reply = reply or None
        return node

    def path(self, state_dir: Path) -> Path:
        return state_dir / f"client{self.client.client_id}-{self.run_key}.safetensors"

    def _snapshot(self) -> tuple[dict[str, Any], dict[str, Any]]:
        tensors, structure = _state_tensors(self.client)
        tensors.update({f"reply.{k}": v for k, v in (self.reply or {}).items()})
        return tensors, {"round": self.round, "run_key": self.run_key, "optimizer": structure}

    def _from_context(self, context: Any) -> tuple[dict[str, Any], dict[str, Any]] | None:
        if TENSORS not in context.state or PROGRESS not in context.state:
            return None
        meta = json.loads(str(context.state[PROGRESS]["meta"]))
        if meta.get("run_key") != self.run_key:
            return None
        from trustgen.collab.flower.records import to_tensor

        return {k: to_tensor(a) for k, a in context.state[TENSORS].items()}, meta

    @staticmethod
    def _from_file(path: Path) -> tuple[dict[str, Any], dict[str, Any]]:
        from safetensors import safe_open

        from trustgen.core.errors import CorruptFileError

        try:
            with safe_open(str(path), framework="pt") as f:
                meta = json.loads((f.metadata() or {})["meta"])
                return {k: f.get_tensor(k) for k in f.keys()}, meta  # noqa: SIM118 (safe_open has no __iter__)
        except (OSError, KeyError, ValueError) as exc:
            raise CorruptFileError(f"cannot read client state {path}: {exc}") from None

    def save(self, context: Any, state_dir: Path | None) -> None:
        """Store the state in ``context.state`` and, with a state directory, atomically on disk."""
        from flwr.app import ArrayRecord, ConfigRecord

        from trustgen.collab.flower.records import to_array
        from trustgen.core.safe_io import save_state_dict

        tensors, meta = self._snapshot()
        record = ArrayRecord()
        for name, value in tensors.items():
            record[name] = to_array(value)
        context.state[TENSORS] = record
        context.state[PROGRESS] = ConfigRecord({"meta": json.dumps(meta)})
        if state_dir is not None:
            save_state_dict(tensors, self.path(state_dir), metadata={"meta": json.dumps(meta)})
