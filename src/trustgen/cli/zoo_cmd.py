"""``trustgen zoo``: the shipped small models."""

from __future__ import annotations

from typing import Any

import typer

app = typer.Typer(help="Shipped small models (trained here by `make zoo`).", no_args_is_help=True)


def _scalars(metrics: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
                     for k, v in metrics.items() if isinstance(v, int | float) and not isinstance(v, bool))


@app.command("list")
def list_cmd(as_json: bool = typer.Option(False, "--json", help="Print the cards as JSON (every metric).")) -> None:
    """List the zoo models with what their cards say: the command that made each, data, seed, steps, the
    metrics measured on it and the SHA-256 of every file (checked whenever the model is loaded)."""
    import json

    from trustgen.core.zoo import list_models

    cards = list_models()
    if as_json:
        typer.echo(json.dumps([c.to_dict() for c in cards], indent=2))
        return
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    console = Console()
    for c in cards:
        table = Table.grid(padding=(0, 2))
        table.add_column(style="dim", no_wrap=True)
        table.add_column(overflow="fold")
        table.add_row("command", escape(c.command))
        table.add_row("data", f"{escape(c.data)}; seed {c.seed}; {c.steps:,} steps")
        table.add_row("metrics", escape(_scalars(c.metrics)) or "—")
        nested = [k for k, v in c.metrics.items() if isinstance(v, dict | list)]
        if "evaluated_with" in c.metrics:
            table.add_row("measured by", escape(str(c.metrics["evaluated_with"])))
        if nested:
            table.add_row("", f"(also {', '.join(nested)}: see --json)")
        for i, (name, digest) in enumerate(c.files.items()):
            table.add_row("sha256" if i == 0 else "", f"{digest}  {escape(name)}")
        console.print(f"[bold]{c.name}[/bold] ({c.kind}) {escape(c.description)}")
        console.print(table)
        console.print()
