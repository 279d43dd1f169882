"""Test helpers for CollaFuse on Flower: an in-process Grid, and a ClientApp that misbehaves on request."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from trustgen.collab.flower.client_app import make_client_app

Corruption = Callable[[Any], Any]


def _as_float64(x: Any) -> Any:
    return x.double()


CORRUPTIONS: dict[str, Corruption] = {
    "nan": lambda x: x * float("nan"),
    "shape": lambda x: x[..., :8, :8],
    "dtype": _as_float64,
    "big": lambda x: x.repeat(1, 1, 1, 4, 4),
}


def corrupt_reply(reply: Any, kind: str) -> Any:
    """Replace the hand-off batches of a train reply by a malformed version (``CORRUPTIONS[kind]``)."""
    from trustgen.collab.flower.records import PAYLOAD, to_array, to_tensor

    if reply.has_content() and PAYLOAD in reply.content:
        record = reply.content[PAYLOAD]
        record["x_cut"] = to_array(CORRUPTIONS[kind](to_tensor(record["x_cut"])))
    return reply


def fault_mod(message: Any, context: Any, call_next: Any) -> Any:
    """A ClientApp mod for deployment tests: ``TRUSTGEN_TEST_FAULTS="2:nan,3:shape"`` corrupts this node's
    train replies in those rounds (read from the SuperNode's environment)."""
    reply = call_next(message, context)
    faults = dict(item.split(":") for item in os.environ.get("TRUSTGEN_TEST_FAULTS", "").split(",") if item)
    if message.metadata.message_type.startswith("train") and message.metadata.group_id in faults:
        corrupt_reply(reply, faults[message.metadata.group_id])
    return reply


app = make_client_app(mods=[fault_mod])


class FakeGrid:
    """A Grid that calls the ClientApp in this process: one Context per node, nodes that go down and come
    back (with a new node id and an empty Context, like a restarted SuperNode), and reply corruption."""

    def __init__(self, clients: int, state_dir: Any = None):
        from flwr.supercore.task_identity import TaskIdentity

        TaskIdentity.run_id, TaskIdentity.node_id, TaskIdentity.task_id = 1, 0, 1
        self.client_app = make_client_app()
        self.state_dir = state_dir
        self.contexts: dict[int, Any] = {}
        self.client_of: dict[int, int] = {}
        self.down: set[int] = set()
        self.corrupt: dict[tuple[int, str], str] = {}  # (client, round) → corruption
        self.crash_after: tuple[str, int] | None = None  # raise after the clients answered this group id
        self.rounds: list[str] = []
        for client in range(clients):
            self.start(client)

    def start(self, client: int) -> int:
        """(Re)start client ``client``'s node: a fresh node id and an empty ``context.state``."""
        from flwr.app import Context, RecordDict

        node = 1000 + len(self.contexts)
        config: dict[str, Any] = {"partition-id": client, "num-partitions": 99}
        if self.state_dir is not None:
            config["state-dir"] = str(self.state_dir / f"node{client}")
        self.contexts[node] = Context(run_id=1, node_id=node, node_config=config, state=RecordDict(), run_config={})
        self.client_of[node] = client
        return node

    def kill(self, client: int) -> None:
        self.down |= {n for n, c in self.client_of.items() if c == client}

    def get_node_ids(self) -> list[int]:
        return [n for n in self.contexts if n not in self.down]

    def send_and_receive(self, messages: list[Any], *, timeout: float | None = None) -> list[Any]:
        replies = []
        for message in messages:
            node = message.metadata.dst_node_id
            if node in self.down:
                continue
            message.metadata.__dict__["_message_id"] = f"m{len(self.rounds)}-{node}"
            reply = self.client_app(message, self.contexts[node])
            reply.metadata.__dict__["_src_node_id"] = node
            kind = self.corrupt.get((self.client_of[node], message.metadata.group_id))
            replies.append(corrupt_reply(reply, kind) if kind else reply)
        self.rounds.append(messages[0].metadata.group_id)
        if self.crash_after == (messages[0].metadata.group_id, len(self.rounds)):
            raise KeyboardInterrupt("server killed")
        return replies
