"""``trustgen collab sweep``: one CollaFuse run per cut (and hand-off), the table and the trade-off plot; and
``collab privacy``: the reconstruction attack against every cut, without training."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from trustgen.collab.config import CollabSettings
from trustgen.collab.report import pooled_fd_key, privacy_report, sweep_report
from trustgen.core.errors import TrustgenError
from trustgen.core.runs import RunDir


def parse_cuts(text: str) -> list[float]:
    """``"0,0.2,1"`` → ``[0.0, 0.2, 1.0]``; every cut in [0, 1]."""
    try:
        cuts = [float(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise TrustgenError(f"bad --cuts {text!r}: expected numbers like 0,0.2,0.4") from None
    if not cuts or any(not 0 <= c <= 1 for c in cuts):
        raise TrustgenError(f"bad --cuts {text!r}: every cut must be in [0, 1]")
    return sorted(set(cuts))


def run_sweep(settings: CollabSettings, cuts: list[float], out: Path, *, handoffs: tuple[str, ...] = ("exact",),
              marginal_cuts: list[float] | None = None, fedavg: bool = True, jobs: int = 1,
              progress: bool = False) -> dict[str, Any]:
    """Run every (cut, hand-off) pair into ``out/c<cut>-<handoff>/`` (and FedAvg) and summarise them.

    The marginal hand-off runs at every intermediate cut, or only at ``marginal_cuts`` when given.

    A run folder that already holds a finished run (``metrics.json``) with the same settings is reused,
    so an interrupted sweep resumes where it stopped. ``jobs > 1`` runs that many in parallel processes
    (one thread each).
    """
    tasks: list[tuple[str, CollabSettings, Path]] = []
    for cut in cuts:
        for handoff in handoffs:
            skipped = cut in (0.0, 1.0) or (marginal_cuts is not None and cut not in marginal_cuts)
            if handoff == "marginal" and skipped:
                continue  # no hand-off to differ at the ends, or not asked for
            tasks.append(("collab", settings.model_copy(update={"cut": cut, "handoff": handoff}),
                          out / f"c{cut:g}-{handoff}"))
    if fedavg:
        tasks.append(("fedavg", settings, out / "fedavg"))
    results = _run_tasks(tasks, jobs, progress)
    rows = [r for (kind, _, _), r in zip(tasks, results, strict=True) if kind == "collab"]
    by_cut = {(r["cut"], r["handoff"]): r for r in rows}
    baselines = {"local_only": by_cut.get((1.0, "exact")), "centralised": by_cut.get((0.0, "exact")),
                 "fedavg": results[-1] if fedavg else None}
    metrics = {"rows": rows, "baselines": baselines}
    with RunDir(out) as run:
        run.write_config(settings)
        plot_tradeoff(rows, run.file("tradeoff.png"))
        run.write_report(sweep_report(rows, baselines))
        run.write_metrics(metrics)
    return metrics


def finished_run(folder: Path, settings: CollabSettings) -> dict[str, Any] | None:
    """The metrics of a finished run in ``folder`` made with exactly ``settings``, else ``None``."""
    from pydantic import ValidationError

    from trustgen.core.config import read_yaml
    from trustgen.core.safe_io import read_json

    if not (folder / "metrics.json").is_file() or not (folder / "config.yaml").is_file():
        return None
    try:
        done = CollabSettings.model_validate(read_yaml(folder / "config.yaml"))
        metrics = read_json(folder / "metrics.json")
    except (TrustgenError, ValidationError):
        return None
    return metrics if done.model_dump() == settings.model_dump() else None


def _run_task(kind: str, settings: CollabSettings, folder: Path, progress: bool = False) -> dict[str, Any]:
    from trustgen.collab.experiment import run_collab, run_fedavg

    done = finished_run(folder, settings)
    if done is not None:
        return done
    run = run_collab if kind == "collab" else run_fedavg
    return run(settings, folder, progress=progress)


def _one_thread() -> None:
    import torch

    torch.set_num_threads(1)


def _run_tasks(tasks: list[tuple[str, CollabSettings, Path]], jobs: int, progress: bool) -> list[dict[str, Any]]:
    """Every run, in order; one bar counts the runs (each run in this process shows its own bars below it)."""
    from trustgen.core.progress import track

    description = f"sweep: {len(tasks)} runs" + (f", {jobs} at a time" if jobs > 1 else "")
    if jobs <= 1:
        return [_run_task(kind, s, folder, progress)
                for kind, s, folder in track(tasks, description=description, enabled=progress)]
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, as_completed

    with ProcessPoolExecutor(max_workers=jobs, mp_context=multiprocessing.get_context("spawn"),
                             initializer=_one_thread) as pool:
        futures = [pool.submit(_run_task, kind, s, folder) for kind, s, folder in tasks]
        for _ in track(as_completed(futures), description=description, enabled=progress, total=len(futures)):
            pass
        return [f.result() for f in futures]


def plot_tradeoff(rows: list[dict[str, Any]], path: Path) -> None:
    """Pooled fidelity, re-identification and client compute against the cut c."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from trustgen.core.runs import atomic_path

    fig, axes = plt.subplots(1, 3, figsize=(13, 3.6))
    for handoff, style in (("exact", "o-"), ("marginal", "s--")):
        sel = sorted((r for r in rows if r["handoff"] == handoff), key=lambda r: r["cut"])
        if not sel:
            continue
        c = [r["cut"] for r in sel]
        axes[0].plot(c, [r["pooled"][pooled_fd_key(r)] for r in sel], style, label=handoff)
        axes[1].plot(c, [r["pooled"]["reid_rate"] for r in sel], style, label=handoff)
        axes[2].plot(c, [sum(x["flops_per_image"] for x in r["clients"]) / len(r["clients"]) / 1e9 for r in sel],
                     style, label=handoff)
    if rows:
        axes[0].axhline(rows[0]["pooled"][pooled_fd_key(rows[0]) + "_floor"], color="gray", lw=0.8, label="real floor")
        axes[1].axhline(rows[0]["pooled"]["reid_chance"], color="gray", lw=0.8, label="chance")
    for ax, title in zip(axes, ("pooled FD (lower is better)", "re-identification rate", "client GFLOPs / image"),
                         strict=True):
        ax.set_xlabel("client share c")
        ax.set_title(title)
        ax.legend(fontsize=8)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110)
    plt.close(fig)


def privacy_curve(settings: CollabSettings, cuts: list[float], progress: bool = False) -> list[dict[str, Any]]:
    """The server's reconstruction attack at every cut, without training anything.

    The attack only uses what the server receives (hand-off images at noise level ``ᾱ_{t_c−1}``) and the
    clients' data, so its curve over ``c`` is a property of the noise schedule and the data; it is the
    same as the disclosure numbers of ``collab run`` at those cuts (same seeds).
    """
    import numpy as np
    import torch

    from trustgen.collab.build import client_splits
    from trustgen.collab.disclosure import mean_pairwise_mse, reconstruction_attack
    from trustgen.collab.schedule import cut_timestep, handoff_alpha_bar, noise_to_cut
    from trustgen.core.progress import track
    from trustgen.diffusion.config import DiffusionTrainSettings
    from trustgen.diffusion.training import scheduler_config

    sched = scheduler_config(DiffusionTrainSettings(num_train_timesteps=settings.num_train_timesteps,
                                                    beta_schedule=settings.beta_schedule))
    parts = client_splits(settings)
    rows = []
    for cut in track(cuts, description="reconstruction attack per cut", enabled=progress):
        t_c = cut_timestep(cut, settings.num_train_timesteps)
        if t_c == settings.num_train_timesteps:
            rows.append({"cut": cut, "t_c": t_c, "alpha_bar": None, "reid_rate": 0.0, "membership_auroc": 0.5,
                         "recon_mse": None, "reid_chance": float(np.mean([1 / len(tr) for tr, _ in parts]))})
            continue
        a = handoff_alpha_bar(sched, t_c)
        per_client = []
        for train, heldout in parts:
            g = torch.Generator().manual_seed(settings.seed + 3)
            x0 = train.images
            received = noise_to_cut(x0, t_c, sched, torch.randn(x0.shape, generator=g)).numpy()
            attack = reconstruction_attack(received, x0.numpy(), np.arange(len(x0)), x0.numpy(),
                                           heldout.images.numpy(), a)
            attack["mse_received_vs_real"] = mean_pairwise_mse(received, x0.numpy())  # the authors' metric
            per_client.append(attack)
        row: dict[str, Any] = {"cut": cut, "t_c": t_c, "alpha_bar": a}
        for key in per_client[0]:
            row[key] = float(np.mean([c[key] for c in per_client]))
        rows.append(row)
    return rows


def run_privacy(settings: CollabSettings, cuts: list[float], out: Path, *, progress: bool = False
                ) -> dict[str, Any]:
    """``collab privacy``: :func:`privacy_curve` into a run folder (``config.yaml``, ``report.md``,
    ``metrics.json`` with one row per cut)."""
    rows = privacy_curve(settings, cuts, progress=progress)
    metrics = {"rows": rows}
    with RunDir(out) as run:
        run.write_config(settings)
        run.write_report(privacy_report(rows))
        run.write_metrics(metrics)
    return metrics
