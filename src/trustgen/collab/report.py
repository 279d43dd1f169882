"""What CollaFuse's run folders say in words: ``report.md`` of ``collab run``, ``sweep``, ``privacy`` and the
FedAvg baseline, Flower's ``federation.md``, and the cards of the saved denoisers. Plain functions of the
metrics; the experiments write what they return."""

from __future__ import annotations

from typing import Any

from trustgen.collab.config import CollabSettings
from trustgen.core.runs import metrics_table
from trustgen.core.zoo import ZooCard

__all__ = [
    "denoiser_card",
    "fedavg_card",
    "fedavg_report",
    "federation_markdown",
    "pooled_fd_key",
    "privacy_report",
    "run_report",
    "sweep_report",
]


def _scalars(record: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in record.items() if isinstance(v, int | float) and not isinstance(v, bool)}


def run_report(m: dict[str, Any]) -> str:
    """``report.md`` of ``collab run``: per client fidelity, cost and disclosure; the sample grids."""
    rows = ["| client | fd | floor | confidence | client evals/image | bytes up/sample | recon MSE | re-id (chance) |",
            "|---|---|---|---|---|---|---|---|"]
    for c in m["clients"]:
        fd_key = next(k for k in c if k.startswith("fd_") and k != "fd_floor")
        recon = "—" if c["recon_mse"] is None else f"{c['recon_mse']:.3f}"
        rows.append(f"| {c['id']} | {c[fd_key]:.2f} | {c['fd_floor']:.2f} | {c.get('confidence', float('nan')):.3f} | "
                    f"{c['unet_evals_per_image']} | {c['bytes_up_per_sample']:.0f} | {recon} | "
                    f"{c['reid_rate']:.3f} ({c['reid_chance']:.4f}) |")
    grids = "\n".join(f"![client {c['id']}](samples_client{c['id']}.png)" for c in m["clients"])
    return (f"# CollaFuse run: c = {m['cut']}, t_c = {m['t_c']} of T = {m['T']}, hand-off {m['handoff']}\n\n"
            + "\n".join(rows) + f"\n\nRejected payloads: {m['rejected_payloads']}.\n\n{grids}\n")


def fedavg_report(cost: dict[str, Any]) -> str:
    """``report.md`` of the FedAvg baseline."""
    return f"# FedAvg baseline\n\n{cost['rounds']} rounds × {cost['local_steps']} local steps.\n"


def pooled_fd_key(row: dict[str, Any]) -> str:
    """The Fréchet-distance key of a run's pooled scores (``fd_digits``, ``fd_pixels``, …)."""
    return next(k for k in row["pooled"] if k.startswith("fd_") and not k.endswith("_floor"))


def sweep_report(rows: list[dict[str, Any]], baselines: dict[str, Any]) -> str:
    """``report.md`` of ``collab sweep``: one table row per (cut, hand-off), FedAvg last; the trade-off plot."""
    lines = ["| c | hand-off | t_c | pooled FD | floor | confidence | client evals/image (full sampler) | re-id | "
             "chance | membership AUROC |", "|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        p, key = r["pooled"], pooled_fd_key(r)
        first = r["clients"][0]
        evals = f"{first['unet_evals_per_image']} ({first.get('unet_evals_per_image_full_sampler', '—')})"
        lines.append(f"| {r['cut']:g} | {r['handoff']} | {r['t_c']} | {p[key]:.2f} | {p[key + '_floor']:.2f} | "
                     f"{p.get('confidence', float('nan')):.3f} | {evals} | {p['reid_rate']:.3f} | "
                     f"{p['reid_chance']:.4f} | {p['membership_auroc']:.3f} |")
    fed = baselines.get("fedavg")
    if fed:
        key = pooled_fd_key(fed)
        lines.append(f"| FedAvg | weights | — | {fed['pooled'][key]:.2f} | {fed['pooled'][key + '_floor']:.2f} | "
                     f"{fed['pooled'].get('confidence', float('nan')):.3f} | all | — | — | — |")
    return "# CollaFuse sweep\n\n" + "\n".join(lines) + "\n\n![trade-off](tradeoff.png)\n"


def privacy_report(rows: list[dict[str, Any]]) -> str:
    """``report.md`` of ``collab privacy``: the reconstruction attack's numbers at each cut."""
    table = "\n\n".join(f"### c = {r['cut']:g}\n\n" + metrics_table(r) for r in rows)
    return "# Reconstruction attack against the cut\n\n" + table + "\n"


def federation_markdown(report: dict[str, Any]) -> str:
    """``federation.md``: which client was missing for which rounds, and which replies were rejected."""
    fed = report["federation"]
    lines = [f"# Federation: {fed['rounds']} rounds of {fed['local_steps']} steps", "",
             "| client | missing rounds |", "|---|---|"]
    lines += [f"| {c} | {', '.join(map(str, r))} |" for c, r in fed["missing_rounds"].items()] or ["| — | none |"]
    lines += ["", "| round | node | rejected because |", "|---|---|---|"]
    lines += [f"| {r['round']} | {r['node']} | {r['reason']} |" for r in fed["rejections"]] or ["| — | — | none |"]
    lines += ["", "| round | node | error reply (node unavailable or ClientApp failed) |", "|---|---|---|"]
    lines += [f"| {r['round']} | {r['node']} | {r['reason']} |" for r in fed["node_errors"]] or ["| — | — | none |"]
    ratio = report.get("traffic_ratio")
    lines += ["", f"Traffic ratio (message bytes / raw tensor bytes): {ratio:.3f}" if ratio else ""]
    return "\n".join(lines) + "\n"


def denoiser_card(name: str, settings: CollabSettings, record: dict[str, Any]) -> ZooCard:
    """The card (zoo format) of saved denoiser ``name`` of a run: ``client-I`` with client I's metrics in
    ``record``, or a server's (``server``, ``server-tcN``) with the pooled ones."""
    T = settings.num_train_timesteps
    if name.startswith("client-"):
        i = int(name.split("-")[1])
        role = (f"CollaFuse client {i}'s denoiser for t < t_c = {record['t_c']} of T = {T}; it finishes the "
                "server's hand-off images")
        data = f"{settings.dataset}: client {i}'s partition ({record['train_images']} training images)"
    else:
        role = (f"CollaFuse server denoiser for t >= t_c of T = {T} ({settings.handoff} hand-off; its own "
                "schedule in scheduler/), trained on every client's hand-off images")
        data = f"{settings.dataset}: hand-off images of {settings.clients} clients ({settings.partition})"
    return ZooCard(name=name, kind="diffusion", description=role + " (EMA weights)",
                   command="trustgen collab run --config config.yaml (the run folder's)",
                   data=data, seed=settings.seed, steps=settings.steps, metrics=_scalars(record))


def fedavg_card(settings: CollabSettings, pooled: dict[str, Any]) -> ZooCard:
    """The card of FedAvg's global denoiser."""
    return ZooCard(
        name="fedavg-global", kind="diffusion",
        description=f"FedAvg baseline: one full-chain denoiser averaged over {settings.clients} clients (EMA weights)",
        command="trustgen collab sweep (the FedAvg baseline; settings in config.yaml)",
        data=f"{settings.dataset}: {settings.clients} clients ({settings.partition})", seed=settings.seed,
        steps=settings.steps * 2, metrics=_scalars(pooled))
