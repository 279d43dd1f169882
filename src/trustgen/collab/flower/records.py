"""What Flower messages carry for CollaFuse, and what they cost in bytes.

Up (``train.collafuse_step`` reply): ``payload`` — an ``ArrayRecord`` with ``x_cut`` (K×B×C×H×W float32,
the K hand-off batches of one round) and ``labels`` (K×B int64); ``meta`` — a ``ConfigRecord`` with the
client id and the round; ``losses`` — the client's K losses. The message's ``group_id`` is the round.
Down (``query.finish``): ``handoff`` — ``x`` (the server's hand-off images), ``labels`` and ``rng`` (the
sampling stream's state, so a Flower run reproduces the in-process one).

Arrays are read back without pickle (``numpy.load(allow_pickle=False)`` inside Flower) and their byte
size is checked before they are deserialised at all.
"""

from __future__ import annotations

import json
from typing import Any

from trustgen.collab.payload import CutPayload, PayloadRejected

PAYLOAD, META, LOSSES, JOB, HANDOFF, IMAGES, COST = "payload", "meta", "losses", "job", "handoff", "images", "cost"
TRAIN, FINISH = "train.collafuse_step", "query.finish"


def to_array(tensor: Any) -> Any:
    """A torch tensor as a Flower ``Array`` (exact bytes, dtype and shape)."""
    from flwr.app import Array

    return Array(tensor.detach().cpu().contiguous().numpy())


def to_tensor(array: Any) -> Any:
    """A Flower ``Array`` back as a (writable) torch tensor."""
    import torch

    return torch.from_numpy(array.numpy().copy())


def job_record(settings_json: str, run_key: str, **values: Any) -> Any:
    """The ``job`` ``ConfigRecord`` of an instruction: the run's settings, its key, and per-message values."""
    from flwr.app import ConfigRecord

    return ConfigRecord({"settings": settings_json, "run_key": run_key, **values})


def cut_batches_record(payloads: list[CutPayload]) -> Any:
    """One round's hand-off batches of one client as an ``ArrayRecord`` (stacked along a new first axis)."""
    import torch
    from flwr.app import ArrayRecord

    record = ArrayRecord()
    record["x_cut"] = to_array(torch.stack([p.x_cut for p in payloads]))
    if payloads[0].labels is not None:
        record["labels"] = to_array(torch.stack([p.labels for p in payloads]))
    return record


def cut_batches_from(record: Any, client_id: int, steps: int, max_bytes: int) -> list[CutPayload]:
    """The ``steps`` hand-off batches in a reply's ``payload`` record; :class:`PayloadRejected` if the record
    is malformed or an array is larger than ``max_bytes`` (checked before it is deserialised).

    The per-batch checks (shape, dtype, finite values, labels) are the server role's own
    (:meth:`CutPayload.validate`), run by the caller."""
    if set(record.keys()) - {"x_cut", "labels"} or "x_cut" not in record:
        raise PayloadRejected(f"client {client_id}: payload record holds {sorted(record.keys())}")
    for name, array in record.items():
        if len(array.data) > max_bytes:
            raise PayloadRejected(f"client {client_id}: {name} is {len(array.data)} bytes, limit {max_bytes}")
    x = to_tensor(record["x_cut"])
    labels = to_tensor(record["labels"]) if "labels" in record else None
    if x.ndim < 1 or x.shape[0] != steps or (labels is not None and (labels.ndim < 1 or labels.shape[0] != steps)):
        raise PayloadRejected(f"client {client_id}: expected {steps} batches, got x_cut of shape {tuple(x.shape)}")
    return [CutPayload(client_id, x[k], None if labels is None else labels[k]) for k in range(steps)]


def message_bytes(message: Any) -> int:
    """Bytes of a Flower message as it crosses the wire: every object it is deflated into (the message,
    its records, its arrays and their chunks) — what the SuperLink and SuperNodes push and pull."""
    from flwr.supercore.inflatable.inflatable_object import get_all_nested_objects

    return sum(len(obj.deflate()) for obj in get_all_nested_objects(message).values())


def dumps(value: Any) -> str:
    """Compact JSON for ``ConfigRecord`` strings."""
    return json.dumps(value, separators=(",", ":"), sort_keys=True)
