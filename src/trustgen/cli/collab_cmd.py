"""``trustgen collab``: CollaFuse collaborative diffusion (in process here; on Flower in ``collab_flower_cmd``)."""

from __future__ import annotations

from pathlib import Path

import typer

from trustgen.cli.collab_options import collab_settings, parse_cut
from trustgen.cli.common import JsonOption, OutOption, emit, out_dir, progress_enabled

app = typer.Typer(help="CollaFuse: clients keep data and run the last c·T steps; a server runs the rest.",
                  no_args_is_help=True)


PresetOption = typer.Option(None, "--preset", help="digits (3 clients, Dirichlet 0.3) or mri (3 hospitals).")


@app.command()
def run(
    overrides: list[str] = typer.Argument(None, metavar="[KEY=VALUE]...", help="Setting overrides."),
    preset: str = PresetOption,
    dataset: str = typer.Option(None, "--dataset"),
    clients: int = typer.Option(None, "--clients"),
    cut: str = typer.Option(None, "--cut", help="Client share c of the T steps in [0, 1], or one per client."),
    partition: str = typer.Option(None, "--partition", help="iid or dirichlet:ALPHA."),
    steps: int = typer.Option(None, "--steps", help="Training rounds."),
    handoff: str = typer.Option(None, "--handoff", help="exact (default) or marginal (the authors')."),
    sampler: str = typer.Option(None, "--sampler", help="ddpm (default) or ddim."),
    sample_steps: int = typer.Option(None, "--sample-steps", help="Steps at generation (default all T)."),
    config: Path = typer.Option(None, "--config", help="YAML file of settings."),
    seed: int = typer.Option(None, "--seed"),
    out: Path = OutOption,
    as_json: bool = JsonOption,
) -> None:
    """One CollaFuse run: train in process, then fidelity, disclosure and cost per client and pooled."""
    from trustgen.collab.experiment import run_collab
    from trustgen.core.data import dataset_info

    settings = collab_settings(overrides, config, preset, dataset=dataset, clients=clients, cut=parse_cut(cut),
                         partition=partition, steps=steps, handoff=handoff, sampler=sampler, sample_steps=sample_steps,
                         seed=seed)
    dataset_info(settings.dataset)
    folder = out_dir(out, "collab-run")
    metrics = run_collab(settings, folder, progress=progress_enabled(as_json))
    summary = {k: v for k, v in metrics["pooled"].items() if not isinstance(v, list)}
    emit(metrics if as_json else {"cut": metrics["cut"], "t_c": metrics["t_c"], **summary}, as_json, folder)


@app.command()
def sweep(
    overrides: list[str] = typer.Argument(None, metavar="[KEY=VALUE]...", help="Setting overrides."),
    cuts: str = typer.Option("0,0.2,0.4,0.6,0.8,1.0", "--cuts", help="Comma-separated client shares."),
    handoffs: str = typer.Option("exact,marginal", "--handoffs", help="Hand-offs to compare."),
    marginal_cuts: str = typer.Option(None, "--marginal-cuts",
                                      help="Run the marginal hand-off only at these cuts (default: every cut)."),
    preset: str = PresetOption,
    dataset: str = typer.Option(None, "--dataset"),
    clients: int = typer.Option(None, "--clients"),
    partition: str = typer.Option(None, "--partition"),
    steps: int = typer.Option(None, "--steps"),
    config: Path = typer.Option(None, "--config"),
    seed: int = typer.Option(None, "--seed"),
    jobs: int = typer.Option(1, "--jobs", min=1, help="Runs in parallel (separate processes, one thread each)."),
    out: Path = OutOption,
    as_json: bool = JsonOption,
) -> None:
    """Runs over several cuts: a table, trade-off.png, sample grids per client and cut, and the baselines.

    Finished runs in OUT with the same settings are reused, so a stopped sweep resumes."""
    from trustgen.collab.sweep import parse_cuts, run_sweep
    from trustgen.core.data import dataset_info
    from trustgen.core.errors import TrustgenError

    chosen = tuple(h.strip() for h in handoffs.split(",") if h.strip())
    if not chosen or any(h not in ("exact", "marginal") for h in chosen):
        raise TrustgenError(f"bad --handoffs {handoffs!r}: use exact, marginal or both")
    settings = collab_settings(overrides, config, preset, dataset=dataset, clients=clients, partition=partition,
                         steps=steps, seed=seed)
    dataset_info(settings.dataset)
    folder = out_dir(out, "collab-sweep")
    metrics = run_sweep(settings, parse_cuts(cuts), folder, handoffs=chosen, jobs=jobs,
                        marginal_cuts=parse_cuts(marginal_cuts) if marginal_cuts else None,
                        progress=progress_enabled(as_json))
    emit(metrics if as_json else {"runs": len(metrics["rows"]), "report": str(folder / "report.md")}, as_json, folder)


@app.command()
def privacy(
    overrides: list[str] = typer.Argument(None, metavar="[KEY=VALUE]...", help="Setting overrides."),
    cuts: str = typer.Option("0,0.1,0.2,0.3,0.4,0.5,0.6,0.7,0.8,0.9,1.0", "--cuts", help="Client shares."),
    dataset: str = typer.Option(None, "--dataset"),
    clients: int = typer.Option(None, "--clients"),
    partition: str = typer.Option(None, "--partition"),
    seed: int = typer.Option(None, "--seed"),
    out: Path = OutOption,
    as_json: bool = JsonOption,
) -> None:
    """The server's reconstruction attack against every cut (no training needed): the honest privacy curve."""
    from trustgen.collab.sweep import parse_cuts, run_privacy
    from trustgen.core.data import dataset_info

    settings = collab_settings(overrides, None, dataset=dataset, clients=clients, partition=partition, seed=seed)
    dataset_info(settings.dataset)
    folder = out_dir(out, "collab-privacy")
    metrics = run_privacy(settings, parse_cuts(cuts), folder, progress=progress_enabled(as_json))
    emit(metrics if as_json else {f"reid_rate@c={r['cut']:g}": r["reid_rate"] for r in metrics["rows"]}, as_json,
         folder)


def _register_flower() -> None:
    from trustgen.cli.collab_flower_cmd import register_commands

    register_commands(app)


_register_flower()
