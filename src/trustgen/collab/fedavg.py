"""FedAvg baseline (McMahan et al., 2017): every client trains a full denoiser locally, the server averages.

For a fair comparison with CollaFuse the baseline spends the same total number of optimisation steps:
a CollaFuse round costs each client one step of its own denoiser and the server one step on that
client's payload, so ``rounds × 2`` steps per client; FedAvg gives each client ``local_steps`` steps per
communication round and averages the full weights (weighted by data size) after every round.
What crosses the network is model weights, not images: the image reconstruction attack does not apply.
"""

from __future__ import annotations

import copy
from typing import Any

from trustgen.collab.config import CollabSettings
from trustgen.core.data import ImageDataset
from trustgen.diffusion.bundle import DiffusionModel


def train_fedavg(settings: CollabSettings, client_data: list[ImageDataset], *, local_steps: int = 10,
                 progress: bool = False) -> tuple[DiffusionModel, dict[str, Any]]:
    """Train one global full-chain denoiser by FedAvg; returns its EMA model and the cost record."""
    import torch

    from trustgen.collab.build import model_settings
    from trustgen.core.progress import track
    from trustgen.diffusion.config import DiffusionTrainSettings
    from trustgen.diffusion.trainer import DenoiserTrainer
    from trustgen.diffusion.training import learning_rate, new_model

    global_model = new_model(model_settings(settings, settings.seed), client_data[0])
    T = global_model.num_train_timesteps
    total_steps = settings.steps * 2
    local_steps = min(local_steps, total_steps)
    rounds = total_steps // local_steps
    schedule = DiffusionTrainSettings(steps=total_steps, lr=settings.lr, warmup_steps=settings.warmup_steps)
    weights = torch.tensor([len(d) for d in client_data], dtype=torch.float64)
    weights = weights / weights.sum()
    g = torch.Generator().manual_seed(settings.seed + 500)
    ema = {k: v.detach().clone() for k, v in global_model.unet.state_dict().items()}
    null = client_data[0].num_classes
    bytes_per_round = 2 * sum(p.numel() * p.element_size() for p in global_model.unet.parameters())
    for r in track(range(rounds), description="FedAvg", enabled=progress):
        states = []
        for data in client_data:
            local = copy.deepcopy(global_model)
            trainer = DenoiserTrainer(local, lr=settings.lr, ema_decay=0.0)
            for k in range(local_steps):
                step = r * local_steps + k
                rows = torch.randint(0, len(data), (settings.batch_size,), generator=g)
                t = torch.randint(0, T, (settings.batch_size,), generator=g)
                noise = torch.randn((settings.batch_size, *local.image_shape), generator=g)
                kwargs: dict[str, Any] = {}
                if local.conditioning == "class" and data.labels is not None:
                    drop = torch.rand((settings.batch_size,), generator=g) < settings.cond_dropout
                    kwargs["class_labels"] = torch.where(drop, torch.full_like(rows, null or 0), data.labels[rows])
                trainer.step(data.images[rows], t, noise, kwargs, lr=learning_rate(schedule, step), step=step)
            states.append(local.unet.state_dict())
        averaged = {name: sum(w * s[name].double() for w, s in zip(weights, states, strict=True)).to(value.dtype)
                    for name, value in states[0].items()}
        global_model.unet.load_state_dict(averaged)
        decay = min(settings.ema_decay ** local_steps, (1 + r) / (10 + r))
        for name, value in averaged.items():
            ema[name].copy_(decay * ema[name].double() + (1 - decay) * value.double())
    global_model.unet.load_state_dict(ema)
    global_model.unet.eval()
    cost = {"rounds": rounds, "local_steps": local_steps, "steps_per_client": rounds * local_steps,
            "bytes_per_client_per_round": bytes_per_round, "unet_evals_per_image": T}
    return global_model, cost
