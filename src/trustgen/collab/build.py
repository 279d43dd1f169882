"""Assemble clients and a server from settings and a data set (partitioned by label), and each client's
(training, held-out) split of its partition."""

from __future__ import annotations

import numpy as np

from trustgen.collab.config import CollabSettings
from trustgen.collab.engine import CollabEngine
from trustgen.collab.roles import CollabClient, CollabServer
from trustgen.collab.schedule import cut_timestep, server_scheduler_config
from trustgen.core.data import ImageDataset, load_dataset, parse_partition
from trustgen.core.errors import TrustgenError
from trustgen.diffusion.config import DiffusionTrainSettings
from trustgen.diffusion.training import new_model


def model_settings(settings: CollabSettings, seed: int) -> DiffusionTrainSettings:
    """The per-denoiser settings of a CollaFuse run (every side uses the same architecture, as the authors)."""
    return DiffusionTrainSettings(
        dataset=settings.dataset, conditioning=settings.conditioning, num_train_timesteps=settings.num_train_timesteps,
        beta_schedule=settings.beta_schedule, seed=seed, unet=settings.unet,
    )


def partition(settings: CollabSettings, data: ImageDataset) -> list[ImageDataset]:
    """The clients' data: ``data`` split by ``settings.partition`` (seeded)."""
    import numpy as np

    labels = data.labels.numpy() if data.labels is not None else np.zeros(len(data), dtype=int)
    parts = parse_partition(settings.partition, labels, settings.clients, settings.seed)
    if any(len(p) == 0 for p in parts):
        raise TrustgenError("a client partition is empty: use fewer clients or a larger Dirichlet alpha")
    return [data.subset(p) for p in parts]


def build_client(settings: CollabSettings, client_id: int, data: ImageDataset) -> CollabClient:
    """Client ``client_id``'s role with a fresh (seeded) denoiser: the same object wherever it is built
    (in process, or on the client's own Flower node)."""
    t_c = cut_timestep(settings.client_cuts()[client_id], settings.num_train_timesteps)
    model = new_model(model_settings(settings, settings.seed + 1 + client_id), data)
    return CollabClient(client_id, data, model, t_c, batch_size=settings.batch_size, lr=settings.lr,
                        ema_decay=settings.ema_decay, cond_dropout=settings.cond_dropout,
                        seed=settings.seed + 101 + client_id)


def build_engine(settings: CollabSettings, client_data: list[ImageDataset]) -> CollabEngine:
    """Fresh (seeded) client denoisers for ``t < t_c`` and a server denoiser for ``t ≥ t_c``."""
    if settings.conditioning == "class" and any(d.labels is None for d in client_data):
        raise TrustgenError(f"dataset {settings.dataset!r} has no labels: use conditioning=none")
    T = settings.num_train_timesteps
    cuts = [cut_timestep(c, T) for c in settings.client_cuts()]
    common = {"lr": settings.lr, "ema_decay": settings.ema_decay, "cond_dropout": settings.cond_dropout}
    clients = [build_client(settings, i, data) for i, data in enumerate(client_data)]
    served = {i: t_c for i, t_c in enumerate(cuts) if t_c < T}
    server = None
    if served:
        levels = sorted(set(served.values())) if settings.handoff == "exact" else [min(served.values())]
        models = {}
        for level in levels:
            model = new_model(model_settings(settings, settings.seed), client_data[0])
            widest = max(served.values()) if settings.handoff == "marginal" else level  # noisiest hand-off served
            model.scheduler_config = server_scheduler_config(model.scheduler_config, level, settings.handoff,
                                                             range_t_c=widest)
            model.meta["role"] = f"CollaFuse server, handoff={settings.handoff}, t_c={level}"
            models[level] = model
        by_cut = {t_c: models[t_c] if settings.handoff == "exact" else models[levels[0]] for t_c in served.values()}
        server = CollabServer(by_cut, served, settings.handoff, seed=settings.seed + 100, full_T=T,
                              num_classes=client_data[0].num_classes, **common)
    return CollabEngine(clients, server, settings.client_cuts(), sampler=settings.sampler)


HELDOUT_FRACTION = 0.15


def split_heldout(data: ImageDataset, seed: int) -> tuple[ImageDataset, ImageDataset]:
    """A client's partition → (training images, held-out images), seeded."""
    perm = np.random.default_rng(seed).permutation(len(data))
    n_out = max(2, round(len(data) * HELDOUT_FRACTION))
    return data.subset(np.sort(perm[n_out:])), data.subset(np.sort(perm[:n_out]))


def client_splits(settings: CollabSettings) -> list[tuple[ImageDataset, ImageDataset]]:
    """Every client's (training, held-out) images: the data set partitioned, then each part split 85/15."""
    parts = partition(settings, load_dataset(settings.dataset))
    return [split_heldout(p, settings.seed + i) for i, p in enumerate(parts)]
