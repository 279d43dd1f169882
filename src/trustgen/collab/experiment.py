"""``trustgen collab run``: train a CollaFuse federation in process, then measure fidelity, disclosure and cost.

Each client's partition is split 85/15 into its training images and its held-out images. Fidelity is
scored per client against its held-out images (with the real-vs-real floor) and pooled against the
data set's test split; disclosure and cost as described in :mod:`trustgen.collab.disclosure` and
:mod:`trustgen.collab.cost`.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from trustgen.collab.build import client_splits
from trustgen.collab.config import CollabSettings
from trustgen.collab.report import denoiser_card, fedavg_card, fedavg_report, run_report
from trustgen.core.data import ImageDataset
from trustgen.core.runs import RunDir


def request_labels(settings: CollabSettings, train: ImageDataset, client: int) -> Any:
    """Labels a client asks to generate: drawn (seeded) from its own label distribution."""
    import torch

    if settings.conditioning != "class" or train.labels is None:
        return None
    rng = np.random.default_rng(settings.seed + 7 + client)
    return torch.as_tensor(rng.choice(train.labels.numpy(), settings.samples_per_client))


def _fidelity(images: Any, heldout: ImageDataset, train: ImageDataset, settings: CollabSettings) -> dict[str, Any]:
    from trustgen.core.metrics import extractor_for_dataset, frechet_distance, get_extractor

    seed = settings.seed
    ext = get_extractor(settings.extractor or extractor_for_dataset(settings.dataset))
    feats, real = ext.features(images), ext.features(heldout.images)
    rng = np.random.default_rng(seed)
    floor_rows = np.sort(rng.choice(len(train), min(len(images), len(train)), replace=False))
    out = {f"fd_{ext.name}": frechet_distance(feats, real),
           "fd_floor": frechet_distance(ext.features(train.images[floor_rows]), real)}
    if hasattr(ext, "probabilities"):
        out["confidence"] = float(ext.probabilities(images).max(axis=1).mean())
    return out


def _disclosure(engine: Any, client: Any, train: ImageDataset, heldout: ImageDataset, handoff_generated: Any,
                seed: int) -> dict[str, Any]:
    """The three disclosure views for one client; the headline keys are the stronger of the two attacks."""
    import torch

    from trustgen.collab.disclosure import (
        mean_pairwise_mse,
        reconstruction_attack,
        score_reconstruction,
        server_model_reconstruction,
    )
    from trustgen.collab.schedule import handoff_alpha_bar, noise_to_cut

    if engine.server is None or client.t_c >= client.T:
        return {"recon_mse": None, "recon_ssim": None, "reid_rate": 0.0, "reid_chance": 1.0 / len(train),
                "membership_auroc": 0.5, "disclosure": "nothing leaves the client (c = 1)"}
    g = torch.Generator().manual_seed(seed)
    x0 = train.images
    received = noise_to_cut(x0, client.t_c, client.model.scheduler_config, torch.randn(x0.shape, generator=g))
    a = handoff_alpha_bar(client.model.scheduler_config, client.t_c)
    real, rows = x0.numpy(), np.arange(len(x0))
    linear = reconstruction_attack(received.numpy(), real, rows, real, heldout.images.numpy(), a)
    result: dict[str, Any] = dict(linear)
    if client.t_c > 0:
        labels = train.labels if engine.server.num_classes is not None else None
        x_hat = server_model_reconstruction(engine.server, client.client_id, received, labels,
                                            client.model.scheduler_config, g)
        learned = score_reconstruction(x_hat.numpy(), real, rows, real, heldout.images.numpy())
        result.update({f"{k}_linear": v for k, v in linear.items() if k != "reid_chance"})
        result.update({f"{k}_model": v for k, v in learned.items() if k != "reid_chance"})
        if learned["reid_rate"] > linear["reid_rate"]:
            result.update(learned)
        result["strongest_attack"] = "model" if learned["reid_rate"] > linear["reid_rate"] else "linear"
    result["mse_received_vs_real"] = mean_pairwise_mse(received.numpy(), real)
    result["mse_generated_handoff_vs_real"] = mean_pairwise_mse(handoff_generated.numpy(), real)
    return result


def server_weight_norm(server: Any) -> float | None:
    """L2 norm of all server denoisers' parameters after training (``None`` without a server)."""
    import torch

    if server is None:
        return None
    models = {id(m): m for m in server.models.values()}.values()
    return float(torch.sqrt(sum((p.detach().double() ** 2).sum() for m in models for p in m.unet.parameters())))


def _full_sampler_probe(engine: Any, client: int, labels: Any, seed: int) -> Any:
    """Generation cost with the full T-step sampler (two images), when the run samples on a K-step grid."""
    return engine.generate(client, 2, labels=None if labels is None else labels[:2], sample_steps=None,
                           seed=seed + 13)[1]


def run_collab(settings: CollabSettings, out: Path, *, progress: bool = False,
               make_engine: Callable[[CollabSettings, list[ImageDataset]], Any] | None = None,
               engine_name: str = "in-process",
               extra_metrics: Callable[[Any], dict[str, Any]] | None = None) -> dict[str, Any]:
    """Train, generate, measure; writes the run folder and returns ``metrics.json``'s content.

    ``make_engine`` (default :func:`~trustgen.collab.build.build_engine`) builds the engine that moves the
    payloads: the in-process one, or a Flower one whose clients live on other nodes. ``engine_name`` is
    reported as ``engine`` and ``extra_metrics(engine)`` adds that engine's own keys (traffic, dropouts).
    """
    import torch

    from trustgen.collab.build import build_engine
    from trustgen.collab.cost import forward_flops, train_step_flops_per_sample
    from trustgen.collab.schedule import cut_timestep
    from trustgen.core.figures import save_grid
    from trustgen.core.metrics import evaluate_samples
    from trustgen.core.progress import track
    from trustgen.core.seeding import seed_everything
    from trustgen.diffusion.config import DiffusionTrainSettings
    from trustgen.diffusion.training import learning_rate

    seed_everything(settings.seed)
    parts = client_splits(settings)
    engine = (make_engine or build_engine)(settings, [train for train, _ in parts])
    handoffs: dict[int, Any] = {}
    engine.listeners.append(lambda kind, msg: handoffs.__setitem__(msg.client_id, msg.x_handoff)
                            if kind == "handoff_images" else None)
    schedule = DiffusionTrainSettings(steps=settings.steps, lr=settings.lr, warmup_steps=settings.warmup_steps)
    with RunDir(out) as run:
        run.start_over(settings)
        run.log(f"collab run: {settings.clients} clients, cut {settings.cut}, handoff {settings.handoff}")
        every = max(settings.steps // 20, 1)

        def log_round(step: int, losses: dict[str, list[float]]) -> None:
            if step % every == 0:
                run.log(f"round {step}: " + ", ".join(f"{k} {np.mean(v[-every:]):.4f}" for k, v in losses.items() if v))

        losses = engine.train(settings.steps, lambda s: learning_rate(schedule, s), progress=progress,
                              on_round=log_round)
        models = save_models(engine, settings, run)
        clients, pooled_images = [], []
        for i, (train, heldout) in enumerate(track(parts, description="generation, scores and attacks per client",
                                                   enabled=progress)):
            client = engine.clients[i]
            labels = request_labels(settings, train, i)
            images, stats = engine.generate(i, settings.samples_per_client, labels=labels,
                                            sample_steps=settings.sample_steps, seed=settings.seed + 11 + i)
            # the hand-off of *this* generation, taken before the full-sampler cost probe below sends its own
            # (two images from another sampler) through the same listener; at c = 0 the final images
            generated_handoff = handoffs.pop(i) if client.t_c > 0 and i in handoffs else images
            pooled_images.append(images)
            save_grid(images[:50], run.file(f"samples_client{i}.png"), nrow=10)
            record: dict[str, Any] = {"id": i, "cut": settings.client_cuts()[i], "t_c": client.t_c,
                                      "train_images": len(train), "heldout_images": len(heldout)}
            record.update(_fidelity(images, heldout, train, settings))
            flops = forward_flops(client.model)
            full = stats if settings.sample_steps is None else _full_sampler_probe(engine, i, labels, settings.seed)
            record.update({
                "unet_evals_per_image": stats.client_unet_evals,
                "unet_evals_per_image_full_sampler": full.client_unet_evals,
                "server_unet_evals_per_image": stats.server_unet_evals,
                "flops_per_image": stats.client_unet_evals * flops,
                "flops_per_train_sample": train_step_flops_per_sample(client.model) if client.t_c > 0 else 0,
                "client_seconds_per_image": stats.client_seconds,
                "server_seconds_per_image": stats.server_seconds,
                "bytes_up_per_sample": engine.bytes_up.get(i, 0) / max(engine.samples_up.get(i, 0), 1),
                "bytes_down_per_image": stats.bytes_down,
            })
            record.update(_disclosure(engine, client, train, heldout, generated_handoff, settings.seed + 3))
            clients.append(record)
            run.log(f"client {i}: {record}")
        pooled = evaluate_samples(torch.cat(pooled_images), settings.dataset, extractor=settings.extractor,
                                  seed=settings.seed)
        for key in ("recon_mse", "recon_ssim", "reid_rate", "reid_chance", "membership_auroc"):
            values = [c[key] for c in clients if c.get(key) is not None]
            pooled[key] = float(np.mean(values)) if values else None
        T = settings.num_train_timesteps
        t_c = [cut_timestep(c, T) for c in settings.client_cuts()] if isinstance(settings.cut, list) else \
            cut_timestep(settings.cut, T)
        metrics = {"engine": engine_name, "cut": settings.cut, "T": T, "t_c": t_c, "handoff": settings.handoff,
                   "sampler": settings.sampler, "server_weight_norm": server_weight_norm(engine.server),
                   "clients": clients, "pooled": pooled, "rejected_payloads": len(engine.rejected),
                   "final_losses": {k: float(np.mean(v[-50:])) if v else None for k, v in losses.items()},
                   "models": {name: str(folder.relative_to(run.path)) for name, folder in models.items()}}
        metrics.update(extra_metrics(engine) if extra_metrics is not None else {})
        write_model_cards(models, settings, {**{f"client-{c['id']}": c for c in clients}, "server": pooled})
        run.write_report(run_report(metrics))
        run.write_metrics(metrics)
    return metrics


def save_models(engine: Any, settings: CollabSettings, run: RunDir) -> dict[str, Path]:
    """The trained denoisers (EMA weights, diffusers layout, safetensors) under ``OUT/models/``: ``client-I``
    for every client that trains (``t_c > 0``) and whose weights live here, ``server`` (``server-tcN`` per
    cut level when an exact-hand-off server keeps several). Returns name → folder; cards come at the end."""
    folders: dict[str, Path] = {}
    if engine.clients_are_local:  # a Flower engine's clients train on their own nodes: only stand-ins here
        for client in engine.clients:
            if client.trainer is not None:
                folders[f"client-{client.client_id}"] = client.model.save(run.file(f"models/client-{client.client_id}"))
    if engine.server is not None:
        levels = sorted(engine.server.models)
        for level in levels:
            name = "server" if len(levels) == 1 else f"server-tc{level}"
            folders[name] = engine.server.models[level].save(run.file(f"models/{name}"))
    return folders


def write_model_cards(models: dict[str, Path], settings: CollabSettings, measured: dict[str, dict[str, Any]]) -> None:
    """A ``card.json`` beside each saved denoiser (zoo format): what made it, its data, seed, steps, the
    metrics measured with it, and the SHA-256 of every file."""
    from trustgen.core.zoo import write_card

    for name, folder in models.items():
        write_card(folder, denoiser_card(name, settings, measured.get(name, measured["server"])))


def run_fedavg(settings: CollabSettings, out: Path, *, progress: bool = False) -> dict[str, Any]:
    """The FedAvg baseline on the same partitions, step budget and fidelity measurement as ``run_collab``."""
    import torch

    from trustgen.collab.fedavg import train_fedavg
    from trustgen.core.figures import save_grid
    from trustgen.core.metrics import evaluate_samples
    from trustgen.core.progress import track
    from trustgen.core.zoo import write_card
    from trustgen.diffusion.sampling import sample

    parts = client_splits(settings)
    with RunDir(out) as run:
        run.start_over(settings)
        model, cost = train_fedavg(settings, [train for train, _ in parts], progress=progress)
        models = {"global": model.save(run.file("models/global"))}
        clients, pooled_images = [], []
        for i, (train, heldout) in enumerate(track(parts, description="FedAvg generation and scores per client",
                                                   enabled=progress)):
            labels = request_labels(settings, train, i)
            images = sample(model, settings.samples_per_client, labels=labels, sampler=settings.sampler,
                            steps=settings.sample_steps, seed=settings.seed + 11 + i)
            pooled_images.append(images)
            save_grid(images[:50], run.file(f"samples_client{i}.png"), nrow=10)
            clients.append({"id": i, **_fidelity(images, heldout, train, settings), **cost})
        pooled = evaluate_samples(torch.cat(pooled_images), settings.dataset, extractor=settings.extractor,
                                  seed=settings.seed)
        metrics = {"baseline": "fedavg", "clients": clients, "pooled": pooled, **cost,
                   "models": {"global": "models/global"}}
        write_card(models["global"], fedavg_card(settings, pooled))
        run.write_report(fedavg_report(cost))
        run.write_metrics(metrics)
    return metrics
