"""The in-process engine: N clients and one server exchanging payloads in one Python process.

Training follows the authors' schedule: in every step each client, in turn, takes one step on its
own denoiser and sends that batch's hand-off images; the server takes one step on them. Every
message passes through :meth:`CollabEngine.send`, which lets listeners (tests, byte counters)
inspect it, and rejects a malformed payload without stopping the run.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from trustgen.collab.payload import CutPayload, HandoffImages, PayloadRejected
from trustgen.collab.roles import CollabClient, CollabServer
from trustgen.collab.schedule import marginal_client_timesteps, split_timesteps

Listener = Callable[[str, Any], None]


@dataclass
class GenerationStats:
    """Cost of one generation request, per image (UNet evaluations counted by forward hooks)."""

    client_unet_evals: int
    server_unet_evals: int
    bytes_down: int
    client_seconds: float = 0.0
    server_seconds: float = 0.0


@dataclass
class CollabEngine:
    """Runs the protocol between ``clients`` and ``server`` (``None`` when every client is local-only)."""

    clients: list[CollabClient]
    server: CollabServer | None
    cuts: list[float]  # every client's share c
    sampler: str = "ddpm"
    listeners: list[Listener] = field(default_factory=list)
    rejected: list[str] = field(default_factory=list)
    bytes_up: dict[int, int] = field(default_factory=dict)
    samples_up: dict[int, int] = field(default_factory=dict)
    clients_are_local: bool = True  # the clients' trained weights are in this process (not on Flower nodes)

    def send(self, kind: str, message: Any) -> None:
        """Every message crossing the boundary goes through here."""
        for listen in self.listeners:
            listen(kind, message)

    def train(self, steps: int, lr: Callable[[int], float], progress: bool = False,
              on_round: Callable[[int, dict[str, list[float]]], None] | None = None) -> dict[str, list[float]]:
        """``steps`` rounds: each client one step and one payload, the server one step per payload.
        ``on_round(step, losses)`` is called after every round (run folders log from it)."""
        from trustgen.core.progress import track

        losses: dict[str, list[float]] = {"server": [], **{f"client_{c.client_id}": [] for c in self.clients}}
        for step in track(range(steps), description="collaborative training", enabled=progress):
            for client in self.clients:
                loss, payload = client.train_step(step, lr(step))
                if loss is not None:
                    losses[f"client_{client.client_id}"].append(loss)
                if payload is not None and self.server is not None:
                    self.send("cut_payload", payload)
                    self._deliver(payload, step, lr(step), losses["server"])
            if on_round is not None:
                on_round(step + 1, losses)
        for client in self.clients:
            client.done_training()
        if self.server is not None:
            self.server.done_training()
        return losses

    def _deliver(self, payload: CutPayload, step: int, lr: float, server_losses: list[float]) -> None:
        assert self.server is not None
        try:
            server_losses.append(self.server.train_on(payload, step, lr))
        except PayloadRejected as exc:
            self.rejected.append(str(exc))
            return
        self.bytes_up[payload.client_id] = self.bytes_up.get(payload.client_id, 0) + payload.nbytes()
        self.samples_up[payload.client_id] = self.samples_up.get(payload.client_id, 0) + int(payload.x_cut.shape[0])

    def generate(self, client_id: int, n: int, *, labels: Any = None, sample_steps: int | None = None,
                 seed: int = 0) -> tuple[Any, GenerationStats]:
        """``n`` images for client ``client_id``: server ``T → t_c``, hand-off, client ``t_c → 0``."""
        import time

        import torch

        client = self.clients[client_id]
        T, t_c = client.T, client.t_c
        server_chain, client_chain = split_timesteps(T, t_c, sample_steps)
        if self.server is not None and self.server.handoff == "marginal":
            client_chain = marginal_client_timesteps(T, self.cuts[client_id], len(client_chain))
        g = torch.Generator().manual_seed(seed)
        if labels is not None:
            labels = torch.as_tensor(labels, dtype=torch.long)
        began = time.perf_counter()
        server_calls = [0]
        if self.server is not None and server_chain:
            with count_calls(self.server.model_for(client_id).unet) as server_calls:
                message = self.server.generate(client_id, n, labels, server_chain, g, self.sampler)
            self.send("handoff_images", message)
            x, bytes_down = message.x_handoff, message.nbytes()
        else:
            x, bytes_down = torch.randn((n, *client.model.image_shape), generator=g), 0
        handed = time.perf_counter()
        images, client_evals, client_seconds = self.finish_on_client(client_id, x, labels, client_chain, g)
        stats = GenerationStats(client_evals, server_calls[0], bytes_down // n, client_seconds / n,
                                (handed - began) / n)
        return images, stats

    def finish_on_client(self, client_id: int, x: Any, labels: Any, chain: list[int],
                         generator: Any) -> tuple[Any, int, float]:
        """The client's half of generation: (images, its UNet evaluations, its seconds).

        In process the client is called directly; a transport engine (``collab.flower``) overrides this
        to send the hand-off images to the client's node instead."""
        import time

        client = self.clients[client_id]
        began = time.perf_counter()
        with count_calls(client.model.unet) as calls:
            images = client.finish(x, labels, chain, generator, self.sampler)
        return images, calls[0], time.perf_counter() - began


@contextmanager
def count_calls(module: Any) -> Iterator[list[int]]:
    """Count the forward calls of ``module`` inside the block (one UNet call per denoising step and batch)."""
    calls = [0]
    handle = module.register_forward_hook(lambda *_: calls.__setitem__(0, calls[0] + 1))
    try:
        yield calls
    finally:
        handle.remove()


def inspect_payloads(engine: CollabEngine) -> list[tuple[str, Any]]:
    """Record every message that crosses the boundary (for audits and tests)."""
    seen: list[tuple[str, Any]] = []
    engine.listeners.append(lambda kind, msg: seen.append((kind, msg)))
    return seen


__all__ = ["CollabEngine", "CutPayload", "GenerationStats", "HandoffImages", "inspect_payloads"]
