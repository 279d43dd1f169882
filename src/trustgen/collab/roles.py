"""The two CollaFuse roles as plain Python objects (no transport inside).

A :class:`CollabClient` owns a data partition and a denoiser for ``t < t_c``; it trains that denoiser
on its raw images and, from the same batch, forms the hand-off images it sends up. A
:class:`CollabServer` owns one denoiser for ``t ≥ t_c`` shared by all clients and trains it on the
hand-off images it receives. Generation: the server runs ``T → t_c`` for a client's request and
hands ``x̂_{t_c−1}`` down; the client finishes ``t_c → 0`` with its own model.
"""

from __future__ import annotations

from typing import Any

from trustgen.collab.payload import CutPayload, HandoffImages, PayloadRejected
from trustgen.collab.schedule import noise_to_cut, server_timestep
from trustgen.core.data import ImageDataset
from trustgen.diffusion.bundle import DiffusionModel
from trustgen.diffusion.sampling import Conditioning, denoise, denoise_ddim
from trustgen.diffusion.trainer import DenoiserTrainer


def _class_kwargs(labels: Any, null_label: int | None, drop: Any) -> dict[str, Any]:
    """UNet class-label input with classifier-free dropout to the null class."""
    import torch

    if labels is None or null_label is None:
        return {}
    return {"class_labels": torch.where(drop, torch.full_like(labels, null_label), labels)}


def run_chain(model: DiffusionModel, x: Any, timesteps: list[int], labels: Any, generator: Any,
              *, sampler: str = "ddpm", stop_noisy: bool = False) -> Any:
    """Denoise ``x`` over an explicit descending list of the model's own timesteps (DDPM or DDIM steps).

    By default the last step lands on the clean estimate. ``stop_noisy`` makes it land on the next
    integer timestep instead (the authors' marginal server stops at the noisy state ``x_{t_c−1}``).
    """
    from diffusers import DDPMScheduler

    from trustgen.collab.schedule import alpha_bars

    if not timesteps:
        return x
    cond = Conditioning(labels=labels, null_label=len(model.class_names or []) or None)
    if sampler == "ddim":
        end = float(alpha_bars(model.scheduler_config)[timesteps[-1] - 1]) if stop_noisy and timesteps[-1] > 0 else 1.0
        return denoise_ddim(model, x, timesteps, cond, final_alpha_bar=end)
    scheduler = DDPMScheduler.from_config(model.scheduler_config)
    grid = [*timesteps, timesteps[-1] - 1] if stop_noisy and timesteps[-1] > 0 else timesteps
    scheduler.set_timesteps(timesteps=grid)
    return denoise(model, x, scheduler, timesteps, cond, generator)


class CollabClient:
    """One data owner: its partition, its low-noise denoiser, and what it sends at the cut."""

    def __init__(self, client_id: int, data: ImageDataset, model: DiffusionModel, t_c: int, *,
                 batch_size: int, lr: float, ema_decay: float, cond_dropout: float, seed: int):
        import torch

        self.client_id = client_id
        self.data = data
        self.model = model
        self.t_c = t_c
        self.T = model.num_train_timesteps
        self.batch_size = batch_size
        self.cond_dropout = cond_dropout
        self.trainer = DenoiserTrainer(model, lr=lr, ema_decay=ema_decay) if t_c > 0 else None
        self.generator = torch.Generator().manual_seed(seed)
        self.null_label = data.num_classes if model.conditioning == "class" else None

    def train_step(self, step: int, lr: float) -> tuple[float | None, CutPayload | None]:
        """Train the own denoiser on ``t < t_c`` and form this batch's hand-off payload (if a server exists)."""
        import torch

        g = self.generator
        rows = torch.randint(0, len(self.data), (self.batch_size,), generator=g)
        x0 = self.data.images[rows]
        labels = self.data.labels[rows] if self.null_label is not None and self.data.labels is not None else None
        loss = None
        if self.trainer is not None:
            t = torch.randint(0, self.t_c, (self.batch_size,), generator=g)
            noise = torch.randn(x0.shape, generator=g)
            drop = torch.rand((self.batch_size,), generator=g) < self.cond_dropout
            loss = self.trainer.step(x0, t, noise, _class_kwargs(labels, self.null_label, drop), lr=lr, step=step)
        payload = None
        if self.t_c < self.T:
            eps_c = torch.randn(x0.shape, generator=g)  # the client's own noise: never sent
            x_cut = noise_to_cut(x0, self.t_c, self.model.scheduler_config, eps_c).float()
            payload = CutPayload(self.client_id, x_cut, labels)
        return loss, payload

    def finish(self, x_start: Any, labels: Any, timesteps: list[int], generator: Any, sampler: str = "ddpm") -> Any:
        """Denoise the server's hand-off images (or pure noise, at ``c = 1``) down to clean images."""
        return run_chain(self.model, x_start, timesteps, labels, generator, sampler=sampler).clamp(-1, 1)

    def done_training(self) -> None:
        if self.trainer is not None:
            self.trainer.finish()


class CollabServer:
    """The shared high-noise denoiser, trained on every client's hand-off images.

    ``models`` maps each client's cut ``t_c`` to the denoiser that serves it. With the marginal hand-off
    (and whenever all clients share one cut) that is one model for everybody. With the exact hand-off and
    per-client cuts the conditional forward process differs per cut level, so the server keeps one
    denoiser per distinct cut, each shared by the clients that use that cut.
    """

    def __init__(self, models: dict[int, DiffusionModel], client_cuts: dict[int, int], handoff: str, *, lr: float,
                 ema_decay: float, cond_dropout: float, seed: int, num_classes: int | None, full_T: int):
        import torch

        self.models = models
        self.client_cuts = client_cuts
        self.handoff = handoff
        self.full_T = full_T
        first = next(iter(models.values()))
        self.num_classes = num_classes if first.conditioning == "class" else None
        self.cond_dropout = cond_dropout
        self.trainers = {id(m): DenoiserTrainer(m, lr=lr, ema_decay=ema_decay) for m in models.values()}
        self.generator = torch.Generator().manual_seed(seed)

    @property
    def model(self) -> DiffusionModel:
        """The server's denoiser (the one for the lowest cut when there are several)."""
        return self.models[min(self.models)]

    def model_for(self, client_id: int) -> DiffusionModel:
        return self.models[self.client_cuts[client_id]]

    def train_on(self, payload: CutPayload, step: int, lr: float) -> float:
        """Validate a payload and take one step on it with the server's own timesteps and noise."""
        import torch

        if payload.client_id not in self.client_cuts:
            raise PayloadRejected(f"payload from unknown client {payload.client_id}")
        model = self.model_for(payload.client_id)
        payload.validate(model.image_shape, self.num_classes)
        g = self.generator
        t_c = self.client_cuts[payload.client_id]
        n = payload.x_cut.shape[0]
        low, high = server_timestep(t_c, t_c, self.handoff), server_timestep(self.full_T, t_c, self.handoff)
        t = torch.randint(low, high, (n,), generator=g)
        noise = torch.randn(payload.x_cut.shape, generator=g)
        drop = torch.rand((n,), generator=g) < self.cond_dropout
        kwargs = _class_kwargs(payload.labels, self.num_classes, drop)
        return self.trainers[id(model)].step(payload.x_cut, t, noise, kwargs, lr=lr, step=step)

    def generate(self, client_id: int, n: int, labels: Any, chain: list[int], generator: Any,
                 sampler: str = "ddpm") -> HandoffImages:
        """Run the server's part of the chain (full-chain timesteps ``chain``, all ``≥ t_c``) from noise."""
        import torch

        model, t_c = self.model_for(client_id), self.client_cuts[client_id]
        x = torch.randn((n, *model.image_shape), generator=generator)
        if self.handoff == "exact":
            own = [server_timestep(t, t_c, "exact") for t in chain]
            x = run_chain(model, x, own, labels, generator, sampler=sampler)
        else:  # marginal: the full schedule, stopping after the step at t_c (the authors' chain state)
            x = run_chain(model, x, chain, labels, generator, sampler=sampler, stop_noisy=True)
        return HandoffImages(client_id, x.float())

    def done_training(self) -> None:
        for trainer in self.trainers.values():
            trainer.finish()
